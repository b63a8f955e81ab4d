// Package gateway is the shop's edge: it proxies /api/* route families to the role aliases on port 8080
// (resolving the alias again for every new connection, so rolling deploys move traffic), retries once after
// a jittered backoff on connection errors and 5xx for GET or Idempotency-Key requests (the backoff is what
// makes failing requests slow and lifts edge p99), and fails a deterministic SANDBOX_NOISE_RATE share of
// each family with 502 so a healthy shop sits at about 0.1% edge errors. Its edge_* metrics are what the
// control room and the candidate read as "the edge".
package gateway
