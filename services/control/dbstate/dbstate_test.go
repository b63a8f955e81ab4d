package dbstate_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/services/control"
	"github.com/sandbox-labs/sandbox/services/control/dbstate"
	"github.com/sandbox-labs/sandbox/services/schema"
	"github.com/sandbox-labs/sandbox/services/status"
)

func pool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func exec(t *testing.T, p *pgxpool.Pool, sql string) {
	t.Helper()
	if _, err := p.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func up(t *testing.T, url string, target int64) {
	t.Helper()
	if _, err := schema.Up(context.Background(), url, target, schema.Options{}); err != nil {
		t.Fatalf("migrate up to %d: %v", target, err)
	}
}

func TestPollAgainstPostgres(t *testing.T) {
	url := testpg.Start(t)
	ctx := context.Background()
	p := pool(t, url)
	now := time.Now()

	st := dbstate.Poll(ctx, p, now)
	if !st.OK || st.OrdersTable || st.MigrationVersion != 0 || len(st.Flags) != 0 {
		t.Fatalf("empty database: %+v", st)
	}

	up(t, url, 4)
	st = dbstate.Poll(ctx, p, now)
	if !st.OK || !st.OrdersTable || st.MigrationVersion != 4 || st.OrderMetadata.Exists {
		t.Fatalf("v2.3.0 schema: %+v", st)
	}
	if len(st.Flags) != 1 || st.Flags[0] != (status.Flag{Name: "discount_codes", Enabled: true, RolloutPercent: 15}) {
		t.Fatalf("flags %+v", st.Flags)
	}

	up(t, url, 5)
	exec(t, p, `INSERT INTO orders (user_id, total_cents, order_metadata) VALUES
		(1, 100, '{"channel":"web"}'), (2, 200, '{"channel":"app"}'), (3, 300, '{"channel":"web"}'),
		(4, 400, '{}'), (5, 500, '{}')`)
	st = dbstate.Poll(ctx, p, now)
	c := st.OrderMetadata
	if !st.OK || st.MigrationVersion != 5 || !c.Exists || c.Nullable || c.Default != nil || c.DataType != "jsonb" {
		t.Fatalf("faulty v2.4.0 column: %+v", st)
	}
	if st.Orders != 5 || st.MetadataRows != 3 || st.MaxOrderID < 5 {
		t.Fatalf("counts: orders %d metadata %d max id %d", st.Orders, st.MetadataRows, st.MaxOrderID)
	}

	exec(t, p, `ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}'`)
	st = dbstate.Poll(ctx, p, now)
	if st.OrderMetadata.Default == nil || *st.OrderMetadata.Default != "'{}'::jsonb" {
		t.Fatalf("default after SET DEFAULT: %+v", st.OrderMetadata)
	}

	// A database that cannot be reached is reported, not fatal.
	bad, err := pgxpool.New(ctx, "postgres://shop:shop@127.0.0.1:1/shop?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if st := dbstate.Poll(ctx, bad, now); st.OK || st.Error == "" {
		t.Fatalf("unreachable database polled as %+v", st)
	}
}

// The control room's observed DB events, driven by the real migrations and the statements a trainee runs.
func TestObservedDatabaseEvents(t *testing.T) {
	url := testpg.Start(t)
	up(t, url, 5)
	p := pool(t, url)
	exec(t, p, `INSERT INTO orders (user_id, total_cents, order_metadata) VALUES
		(1, 100, '{"channel":"web"}'), (2, 200, '{"channel":"app"}'), (3, 300, '{}')`)

	clock := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	open := func() *control.Controller {
		c, err := control.New(control.Options{Name: "t", DataDir: dir, DB: p,
			Discover: control.StaticDiscoverer(nil), Now: func() time.Time { return clock }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := open()
	defer func() { _ = c.Close() }()
	tick := func() {
		clock = clock.Add(2 * time.Second)
		c.Tick(context.Background())
	}
	kinds := func(after int64) []status.Event { return c.Timeline().Events(after) }

	tick()
	// No shop instance answers here: the baseline is recorded once the grace for the gateway has passed.
	clock = clock.Add(30 * time.Second)
	tick()
	evs := kinds(0)
	if len(evs) != 1 || evs[0].Kind != control.EventObservedInitial || evs[0].Data["migration_version"] != "5" ||
		evs[0].Data["metadata_rows"] != "2" {
		t.Fatalf("startup events %+v, want only observed_initial", evs)
	}
	last := evs[0].Seq
	if st := c.State(); st == nil || st.Orders != 3 || st.MetadataRows != 2 {
		t.Fatalf("state %+v", st)
	}

	// The safe fix: a default on the column.
	exec(t, p, `ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}'`)
	exec(t, p, `UPDATE feature_flags SET enabled = false WHERE name = 'discount_codes'`)
	tick()
	evs = kinds(last)
	if len(evs) != 2 || evs[0].Kind != status.EventSchemaObserved || evs[0].Data["default"] != "'{}'::jsonb" ||
		evs[1].Kind != status.EventFlagObserved || evs[1].Data["enabled"] != "false" || evs[1].Data["rollout_percent"] != "15" {
		t.Fatalf("events after fix %+v", evs)
	}
	last = evs[len(evs)-1].Seq

	// The control room restarts; its baseline survives, so nothing is re-reported.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c = open()
	tick()
	if evs := kinds(last); len(evs) != 0 {
		t.Fatalf("events after restart with unchanged db %+v", evs)
	}

	// Rows deleted while the control room is down are still reported once it is back, and only once.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	exec(t, p, `DELETE FROM orders WHERE id = 3`)
	c = open()
	tick()
	tick()
	evs = kinds(last)
	if len(evs) != 1 || evs[0].Kind != status.EventDataLoss || evs[0].Service != "orders" ||
		evs[0].Data[status.LossDeleted] != "1" || evs[0].Data[status.LossCause] != status.CauseRowsDeleted ||
		evs[0].Detail != "1 row deleted from orders (id 3)" {
		t.Fatalf("events after a delete while down %+v", evs)
	}
	last = evs[0].Seq

	// The dangerous way out: the down migration drops the column and its metadata.
	if _, err := schema.Down(context.Background(), url, 4); err != nil {
		t.Fatal(err)
	}
	tick()
	evs = kinds(last)
	got := map[string]status.Event{}
	for _, e := range evs {
		got[e.Kind] = e
	}
	dl := got[status.EventDataLoss].Data
	if len(evs) != 3 || dl[status.LossRows] != "2" || dl[status.LossOverwritten] != "2" || dl[status.LossCause] != status.CauseColumnDropped ||
		dl[status.LossTable] != "orders" || dl[status.LossColumn] != "false" || got[status.EventSchemaObserved].To != "absent" ||
		got[status.EventMigrationVersion].From != "5" || got[status.EventMigrationVersion].To != "4" {
		t.Fatalf("events after down migration %+v", evs)
	}
	if st := c.State(); st.OrderMetadata.Exists || st.MigrationVersion != 4 || st.MetadataRows != 0 {
		t.Fatalf("state after down %+v", st)
	}
	if in := c.State().Integrity; in == nil || in.Tables[0].Rows != 2 || in.Tables[0].MetadataRows != 0 || in.VerifiedAt != clock {
		t.Fatalf("watch after down %+v", in)
	}
}
