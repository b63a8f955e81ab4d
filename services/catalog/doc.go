// Package catalog serves the shop's product catalog: GET /search?q=, GET /products and GET /products/{id}.
// Products come from Postgres and are cached in memory (refreshed every 30 s), so the catalog stays fast
// and healthy whatever happens to orders; a small simulated work latency (named in latency.go) puts it in
// the 5-60 ms range the edge's healthy p99 is calibrated against. It is one of the endpoints that must stay
// healthy through the incident, which makes it the candidate's control group.
package catalog
