// Package schema is the shop's database schema as versioned goose v3 migrations embedded in the binary.
// Versions 1-4 are the v2.3.0 base (users, products, orders, payments, discount_codes, feature_flags and
// their seed rows); version 5 is v2.4.0's PR #905 order_metadata column, shipped by default in its faulty
// form (NOT NULL with the backfill default dropped) so a code-only rollback of orders breaks inserts with
// SQLSTATE 23502. Game days that disable that fault get the safe expand form instead. The CLI migrates with
// Up, Down and Status; goose's own goose_db_version table records what is applied, and a Postgres advisory
// lock keeps two migrators from racing.
package schema
