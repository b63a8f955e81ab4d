package grade

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/services/schema"
	"github.com/sandbox-labs/sandbox/services/status"
)

// TestIntegrationReadDB runs the real migrations on a real Postgres and reads the state the grader judges
// directly (with the control room's own reader) through every shape the incident gives the orders table.
func TestIntegrationReadDB(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Postgres container (skipped with -short)")
	}
	url := testpg.Start(t)
	ctx := context.Background()

	d, err := readDB(ctx, url)
	if err != nil {
		t.Fatalf("read empty db: %v", err)
	}
	if d.MigrationVersion != 0 || d.OrderMetadata.Exists || d.Orders != 0 || d.Integrity != nil {
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
	d, err = readDB(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	c := d.OrderMetadata
	if d.MigrationVersion != 5 || !c.Exists || c.Nullable || c.Default != nil || d.Orders != 8 || d.MetadataRows != 3 {
		t.Fatalf("after migration 5: %+v", d)
	}
	// The live checks name the trap for v2.3.0 orders on this schema.
	snap := &status.Snapshot{Services: []status.Service{{Service: "orders", Versions: []string{"v2.3.0"}}}}
	st := LiveState{DBState: d}
	if c := schemaCompatible(&st, snap, analyze(nil, &st, nil)); c.Passed {
		t.Fatalf("v2.3.0 on NOT NULL without default passed: %s", c.Detail)
	}

	exec(`ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}'`)
	d, _ = readDB(ctx, url)
	if !d.OrderMetadata.HasDefault() {
		t.Fatalf("default not read: %+v", d)
	}
	st.DBState = d
	if c := schemaCompatible(&st, snap, analyze(nil, &st, nil)); !c.Passed {
		t.Fatalf("v2.3.0 with a default failed: %s", c.Detail)
	}

	if _, err := schema.Down(ctx, url, 4); err != nil {
		t.Fatalf("down to 4: %v", err)
	}
	d, err = readDB(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if d.MigrationVersion != 4 || d.OrderMetadata.Exists || d.MetadataRows != 0 || d.Orders != 8 {
		t.Fatalf("after down migration: %+v", d)
	}
	st.DBState = d
	snap.Services[0].Versions = []string{"v2.4.0"}
	// The detail (shown before the attempt ends) says what was seen; the explanation (after) says why.
	if c := schemaCompatible(&st, snap, analyze(nil, &st, nil)); c.Passed || !strings.Contains(c.Detail, "incompatible") ||
		!strings.Contains(c.Explain, "42703") {
		t.Fatalf("v2.4.0 against the dropped column: passed %v, detail %q, explain %q", c.Passed, c.Detail, c.Explain)
	}
}
