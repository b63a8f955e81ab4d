// Package loadgen plays the shop's customers and its web UI: users 1..1000 send a fixed mix of search,
// catalog, auth, checkout, orders and payments requests through the gateway at SANDBOX_LOAD_RPS, spread
// evenly, each with X-User-ID and a unique Idempotency-Key. Like the real web UI it reads the discount_codes
// feature flag from Postgres and shows the discount field only to the flag's cohort, so only ~15% of
// checkouts carry a discount_code; each user pays with a stable method (card or the saved-card path). It
// counts what users experienced (ok, error, dropped) in loadgen_requests_total and GET /stats.
package loadgen
