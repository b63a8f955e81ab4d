package schema

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sandbox-labs/sandbox/internal/testpg"
)

func queryInt(t *testing.T, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestMigrateAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Postgres container (skipped with -short)")
	}
	url := testpg.Start(t)
	ctx := context.Background()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Fresh database: nothing applied.
	st, cur, err := Status(ctx, url)
	if err != nil {
		t.Fatalf("status on empty db: %v", err)
	}
	if cur != 0 || len(st) != 5 || st[0].Applied {
		t.Fatalf("fresh status: current %d, %+v", cur, st)
	}

	// Base schema only.
	got, err := Up(ctx, url, 4, Options{})
	if err != nil {
		t.Fatalf("up to 4: %v", err)
	}
	if len(got) != 4 || got[3].Version != 4 || got[0].Direction != "up" {
		t.Fatalf("up to 4 applied %+v", got)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM users"); n != 1000 {
		t.Errorf("users seeded %d, want 1000", n)
	}
	if n := queryInt(t, db, "SELECT count(DISTINCT name) FROM products"); n != 200 {
		t.Errorf("distinct products %d, want 200", n)
	}
	if n := queryInt(t, db, "SELECT rollout_percent FROM feature_flags WHERE name='discount_codes' AND enabled"); n != 15 {
		t.Errorf("discount_codes rollout %d, want 15", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM discount_codes WHERE active AND code IN ('SAVE10','WELCOME15','SPRING20')"); n != 3 {
		t.Errorf("active seeded codes %d, want 3", n)
	}
	// v2.3.0 insert shape works on the base schema.
	const v230Insert = "INSERT INTO orders (user_id, total_cents, status, idempotency_key) VALUES (1, 500, 'created', $1)"
	if _, err := db.Exec(v230Insert, "k-base"); err != nil {
		t.Fatalf("v2.3.0 insert on base schema: %v", err)
	}

	// Unknown target: error, nothing changed.
	if _, err := Up(ctx, url, 42, Options{}); err == nil {
		t.Fatal("up to unknown version 42 succeeded")
	}
	if _, cur, _ := Status(ctx, url); cur != 4 {
		t.Fatalf("after rejected target, current = %d, want 4", cur)
	}

	// Version 5, faulty form: existing rows are backfilled, v2.3.0 inserts fail with 23502.
	got, err = Up(ctx, url, 0, Options{})
	if err != nil || len(got) != 1 || got[0].Version != 5 || got[0].Name != "order_metadata" {
		t.Fatalf("up to latest: %+v, %v", got, err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM orders WHERE order_metadata = '{}'::jsonb"); n != 1 {
		t.Errorf("backfilled rows %d, want 1", n)
	}
	_, err = db.Exec(v230Insert, "k-after")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23502" {
		t.Fatalf("v2.3.0 insert after faulty v5: err %v, want SQLSTATE 23502", err)
	}
	if _, err := db.Exec("INSERT INTO orders (user_id, total_cents, status, idempotency_key, order_metadata) VALUES (2, 700, 'created', 'k-v240', '{\"source\":\"web\"}')"); err != nil {
		t.Fatalf("v2.4.0 insert: %v", err)
	}
	st, cur, err = Status(ctx, url)
	if err != nil || cur != 5 || !st[4].Applied || st[4].AppliedAt.IsZero() {
		t.Fatalf("status after up: current %d, %+v, %v", cur, st, err)
	}

	// Down to 4 drops the column (and the metadata written since).
	got, err = Down(ctx, url, 4)
	if err != nil || len(got) != 1 || got[0].Version != 5 || got[0].Direction != "down" {
		t.Fatalf("down to 4: %+v, %v", got, err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM information_schema.columns WHERE table_name='orders' AND column_name='order_metadata'"); n != 0 {
		t.Errorf("order_metadata still present after down")
	}
	if _, err := db.Exec(v230Insert, "k-after-down"); err != nil {
		t.Errorf("v2.3.0 insert after down: %v", err)
	}

	// Safe form: v2.3.0 inserts keep working.
	if _, err := Up(ctx, url, 5, Options{SafeOrderMetadata: true}); err != nil {
		t.Fatalf("safe up: %v", err)
	}
	if _, err := db.Exec(v230Insert, "k-safe"); err != nil {
		t.Errorf("v2.3.0 insert after safe v5: %v", err)
	}
	var meta string
	if err := db.QueryRow("SELECT order_metadata::text FROM orders WHERE idempotency_key='k-safe'").Scan(&meta); err != nil || meta != "{}" {
		t.Errorf("safe default metadata %q, %v", meta, err)
	}

	// Down to 0 removes everything but goose's own table.
	got, err = Down(ctx, url, 0)
	if err != nil || len(got) != 5 {
		t.Fatalf("down to 0: %+v, %v", got, err)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM information_schema.tables WHERE table_schema='public' AND table_name <> 'goose_db_version'"); n != 0 {
		t.Errorf("%d tables left after down to 0", n)
	}
	if _, cur, _ := Status(ctx, url); cur != 0 {
		t.Errorf("current after down to 0 = %d", cur)
	}
}
