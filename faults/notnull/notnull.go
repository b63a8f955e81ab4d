// Package notnull is everything about one fault, the NOT NULL migration (PR #905), which makes a code-only rollback of orders break every insert, that is not the
// service's own code: its catalogue entry (story, hints, fixes, prevention, the grader's keywords), its
// changelog entry and diff, and the hotfix and decoy patches a fix-forward release may apply against it. The
// catalogue (faults) and the patch registry (sandbox/patches) list it; the service asks its switch by name
// through the release manifest (release.Release.FaultActive, HasPatch).
package notnull

import (
	"github.com/sandbox-labs/sandbox/faults/fault"
	"github.com/sandbox-labs/sandbox/services/release"
)

// Fault is the catalogue entry.
var Fault = fault.Fault{
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
	Resources: []fault.Resource{
		{Title: "Martin Fowler: ParallelChange (expand/contract)", URL: "https://martinfowler.com/bliki/ParallelChange.html"},
		{Title: "Martin Fowler and Pramod Sadalage: Evolutionary Database Design",
			URL: "https://martinfowler.com/articles/evodb.html"},
		fault.ResourceCanary,
	},
	Aliases: []string{"migration", "not-null", "notnull", "schema", "orders", "order-metadata", "23502", "database", "db"},
}

// PR is the v2.4.0 changelog entry that ships this fault.
var PR = fault.PR{
	Number: release.PROrderMetadata, Title: "Add order_metadata column to orders table", Service: "orders",
	Author: "lars.petersen", Fault: release.FaultNotNullTrap,
	Description: `Stores where an order came from (source, client, whether the discount UI was shown, release) in a
new orders.order_metadata jsonb column, for the growth team's attribution reports.

Migration 5 adds the column NOT NULL with DEFAULT '{}' so existing rows are backfilled, then drops the
default so every new order must say where it came from. orders now writes the column on insert and returns
it on reads.`,
	Diff: fault.Diff("services/schema/migrations/00005_order_metadata.sql",
		fault.Hunk(0, "", `
+-- +goose Up
+ALTER TABLE orders ADD COLUMN order_metadata jsonb NOT NULL DEFAULT '{}';
+ALTER TABLE orders ALTER COLUMN order_metadata DROP DEFAULT;
+
+-- +goose Down
+ALTER TABLE orders DROP COLUMN order_metadata;
`)) + fault.Diff("services/orders/orders.go",
		fault.Hunk(86, "const (", `
 	orderColumns    = `+"`id, user_id, total_cents, status, discount_code, idempotency_key, created_at`"+`
+	orderColumnsV24 = orderColumns + `+"`, order_metadata`"+`
-	insertV230      = `+"`INSERT INTO orders (user_id, total_cents, status, discount_code, idempotency_key)"+`
-VALUES ($1, $2, 'created', NULLIF($3, ''), NULLIF($4, ''))
+	insertV240 = `+"`INSERT INTO orders (user_id, total_cents, status, discount_code, idempotency_key, order_metadata)"+`
+VALUES ($1, $2, 'created', NULLIF($3, ''), NULLIF($4, ''), $5)
 ON CONFLICT (idempotency_key) DO NOTHING
`),
		fault.Hunk(196, "func (s *Service) createOrder(ctx context.Context, req CreateRequest, key string) (Order, bool, error) {", `
 	args := []any{req.UserID, total, req.DiscountCode, key}
+	if s.writeMeta {
+		args = append(args, s.metadata(req))
+	}
`)),
}

// Fixes are the patches that remove this fault.
var Fixes = []fault.Patch{
	{
		ID: release.PatchOrdersKeepSchema, Title: "orders: keep writing order_metadata (no code change)", Service: "orders",
		Fixes:       release.FaultNotNullTrap,
		Description: "Keep the v2.4.0 orders code, which writes order_metadata, in the fix-forward release even if PR #905 is reverted elsewhere. Documents that the schema stays at migration 5.",
		Why:         "orders code that writes order_metadata is compatible with the NOT NULL column; a code-only rollback of orders is what breaks.",
		Diff: fault.Diff("services/orders/orders.go",
			fault.Hunk(100, "func New(cfg platform.Config, log *zap.Logger, db *pgxpool.Pool, paymentsURL string, hc *http.Client, reg prometheus.Registerer) *Service {", `
-		writeMeta:  rel.HasPR(release.PROrderMetadata),
+		// orders.order_metadata is NOT NULL without a default since migration 5: never ship code that omits it.
+		writeMeta:  rel.HasPR(release.PROrderMetadata) || rel.HasPatch(release.PatchOrdersKeepSchema),
`)),
	},
}

// Decoys are patches that look like fixes for this fault's symptom and are not.
var Decoys = []fault.Patch{
	{
		ID: release.PatchOrdersCatch23502, Title: "orders: retry inserts that hit a not-null violation", Service: "orders",
		Fixes:       fault.Decoy,
		Description: "Retry an order insert up to 3 times when Postgres answers 23502, in case a concurrent migration is still running.",
		Why:         "23502 is deterministic: code that omits order_metadata fails on every attempt.",
		Diff: fault.Diff("services/orders/orders.go",
			fault.Hunk(208, "func (s *Service) createOrder(ctx context.Context, req CreateRequest, key string) (Order, bool, error) {", `
 	attempts := 1
+	if s.catch23502 {
+		attempts = catchAttempts
+	}
`)),
	},
	{
		ID: release.PatchCheckoutRaiseTimeout, Title: "checkout: raise the orders call timeout to 10s", Service: "checkout",
		Fixes:       fault.Decoy,
		Description: "Give orders more time to answer during the incident (3 s -> 10 s).",
		Why:         "Nothing times out: the failures are immediate 500s from validateDiscount and downstream errors.",
		Diff: fault.Diff("services/checkout/checkout.go",
			fault.Hunk(94, "func New(cfg platform.Config, log *zap.Logger, store Store, ordersURL string, reg prometheus.Registerer) *Service {", `
 	timeout := OrdersTimeout
+	if rel.HasPatch(release.PatchCheckoutRaiseTimeout) {
+		timeout = OrdersTimeoutRaised
+	}
`)),
	},
}
