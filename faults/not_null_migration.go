package faults

import "github.com/sandbox-labs/sandbox/services/release"

var notNullMigration = Fault{
	ID:      release.FaultNotNullTrap,
	PR:      release.PROrderMetadata,
	Service: "orders",
	Title:   "Add order_metadata column to orders table",
	Name:    "orders",
	Seen:    "order creation: POST /api/orders, and checkout through it",
	Symptom: "v2.4.0 itself works, but the migration left orders.order_metadata NOT NULL with no default. " +
		"Rolling orders back to v2.3.0, whose INSERT never names the column, makes every order insert fail: " +
		"the rollback makes checkout and order creation worse, not better.",
	Affected: []string{"/api/checkout", "/api/orders"},
	SignalsInLogs: []string{
		"orders: insert failed with SQLSTATE 23502 (not_null_violation) on column order_metadata",
		"only while an orders instance that predates PR #905 (v2.3.0) serves traffic",
		"checkout: create order returned 500 from orders",
	},
	Hints: []string{
		"Does v2.3.0's order insert use SELECT * or named columns? Which columns does it set?",
		"There is a NOT NULL constraint on orders.order_metadata. Will inserts that don't mention it work?",
		"v2.3.0 never sets order_metadata. NOT NULL without a default means every v2.3.0 insert fails with 23502.",
		"Ways out: ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}' (or DROP NOT NULL) and then " +
			"roll the code back; or keep orders on v2.4.0 (its code is fine) and roll back only what is broken; " +
			"or fix forward with a patched release that keeps the schema. Do not run the down migration.",
	},
	Fixes: []string{
		"ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}' (or DROP NOT NULL), then roll back code",
		"keep orders on v2.4.0 and roll back only checkout and payments",
		"fix forward with a patched release that keeps the schema",
	},
	Dangerous: []string{
		"a code-only rollback of orders to v2.3.0 while order_metadata is NOT NULL without a default (23502 on every insert)",
		"the down migration (DROP COLUMN order_metadata): destroys the metadata written since the deploy",
	},
	Prevention: []string{
		"expand-contract (parallel change): add the column nullable or with a default, start writing it, " +
			"backfill, and only then make it NOT NULL in a later release",
		"test every migration against the previous release's code (N-1 compatibility) before it ships",
		"make rollback safety part of the release checklist: is the schema still compatible with the old code?",
	},
	Keywords: []string{"expand", "contract", "default", "nullable", "backfill", "23502", "not null",
		"backward", "compatib", "old code", "v2.3.0", "n-1", "rollback", "migration", "insert", "schema"},
	CodePath: [][]string{
		{"insert", "create order", "createorder", "write", "order creation"},
		{"order_metadata", "metadata", "not null", "23502", "column", "schema", "migration"},
	},
	CodePathRef: "orders' INSERT INTO orders (v2.3.0 lists its columns and never sets order_metadata) " +
		"against migration 5, which drops the backfill default and leaves the column NOT NULL",
	Functions: []string{"createOrder"},
	Resources: []Resource{
		{Title: "Martin Fowler: ParallelChange (expand/contract)", URL: "https://martinfowler.com/bliki/ParallelChange.html"},
		{Title: "Martin Fowler and Pramod Sadalage: Evolutionary Database Design",
			URL: "https://martinfowler.com/articles/evodb.html"},
		ResourceCanary,
	},
	Aliases: []string{"migration", "not-null", "notnull", "schema", "orders", "order-metadata", "23502", "database", "db"},
}
