// Package catalog serves the shop's product catalog: GET /search?q=, GET /products and GET /products/{id}.
// Products come from Postgres and are cached in memory (refreshed every 30 s), so the catalog stays fast and
// healthy whatever happens to orders. A simulated work latency (latency.go: mostly 5-60 ms, a 2% tail up to
// 300 ms) is part of what puts the healthy edge p99 near 200 ms. It is one of the endpoints that must stay
// healthy through the incident, which makes it the candidate's control group.
package catalog
