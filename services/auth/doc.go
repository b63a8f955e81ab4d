// Package auth is the shop's login service: POST /login {user_id} issues a session token (the user id signed
// with HMAC-SHA256) and GET /session resolves a Bearer token back to the user. Users are read from Postgres
// and cached; a small simulated latency (latency.go) keeps it mostly in the 10-80 ms band. Like the catalog it
// has nothing to do with the v2.4.0 changes and must stay healthy through the incident.
package auth
