package grade

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/services/schema"
)

// TestIntegrationReadDB runs the real migrations on a real Postgres and reads the state the grader judges
// through every shape the incident gives the orders table.
func TestIntegrationReadDB(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Postgres container (skipped with -short)")
	}
	url := testpg.Start(t)
	ctx := context.Background()

	d, err := ReadDB(ctx, url)
	if err != nil {
		t.Fatalf("read empty db: %v", err)
	}
	if d.MigrationVersion != 0 || d.OrderMetadataExists || d.OrdersCount != 0 {
		t.Fatalf("empty db state %+v", d)
	}
	if _, err := schema.Up(ctx, url, 4, schema.Options{}); err != nil {
		t.Fatalf("up to 4: %v", err)
	}
	exec := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`INSERT INTO orders (user_id, total_cents) SELECT g, 1000 FROM generate_series(1, 5) g`)
	if _, err := schema.Up(ctx, url, 5, schema.Options{}); err != nil {
		t.Fatalf("up to 5: %v", err)
	}
	// v2.4.0 writes metadata on new orders.
	exec(`INSERT INTO orders (user_id, total_cents, order_metadata) SELECT g, 1000, '{"source":"web"}' FROM generate_series(1, 3) g`)
	d, err = ReadDB(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if d.MigrationVersion != 5 || !d.OrderMetadataExists || d.OrderMetadataNullable || d.OrderMetadataDefault != nil ||
		d.OrdersCount != 8 || d.MetadataRows != 3 {
		t.Fatalf("after migration 5: %+v", d)
	}
	// The live checks name the trap for v2.3.0 orders on this schema.
	st := LiveState{Versions: map[string][]string{"orders": {"v2.3.0"}}}
	d.Apply(&st)
	if c := schemaCompatible(&st, nil, analyze(nil, &st, nil)); c.Passed {
		t.Fatalf("v2.3.0 on NOT NULL without default passed: %s", c.Detail)
	}

	exec(`ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}'`)
	d, _ = ReadDB(ctx, url)
	if d.OrderMetadataDefault == nil || *d.OrderMetadataDefault == "" {
		t.Fatalf("default not read: %+v", d)
	}
	d.Apply(&st)
	if c := schemaCompatible(&st, nil, analyze(nil, &st, nil)); !c.Passed {
		t.Fatalf("v2.3.0 with a default failed: %s", c.Detail)
	}

	if _, err := schema.Down(ctx, url, 4); err != nil {
		t.Fatalf("down to 4: %v", err)
	}
	d, err = ReadDB(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if d.MigrationVersion != 4 || d.OrderMetadataExists || d.MetadataRows != 0 || d.OrdersCount != 8 {
		t.Fatalf("after down migration: %+v", d)
	}
	st.MetadataRowsMax = 3
	d.Apply(&st)
	if c := noDataLoss(&st, analyze(nil, &st, nil)); c.Passed {
		t.Fatalf("dropped metadata not reported: %s", c.Detail)
	}
}
