package dbstate_test

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/services/control/dbstate"
	"github.com/sandbox-labs/sandbox/services/schema"
	"github.com/sandbox-labs/sandbox/services/status"
)

var clock = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func check(t *testing.T, w *dbstate.Watch, p *pgxpool.Pool) []dbstate.Loss {
	t.Helper()
	clock = clock.Add(2 * time.Second)
	losses, err := w.Check(context.Background(), p, clock)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return losses
}

func noLoss(t *testing.T, what string, w *dbstate.Watch, p *pgxpool.Pool) {
	t.Helper()
	if l := check(t, w, p); len(l) != 0 {
		t.Fatalf("%s: reported as data loss: %+v", what, l)
	}
}

// shop is the incident up to the point a trainee acts: orders 1-5 and payments 1-3 from before the deploy,
// the v2.4.0 migration, orders 6-8 with metadata and 9 with '{}', and the shop's own status updates.
func shop(t *testing.T, base string, opts dbstate.WatchOptions) (*pgxpool.Pool, *dbstate.Watch, string) {
	t.Helper()
	u := testpg.FreshDB(t, base)
	p := pool(t, u)
	w := dbstate.NewWatch(opts)
	noLoss(t, "an empty database", w, p)
	up(t, u, 4)
	exec(t, p, `INSERT INTO orders (user_id, total_cents) SELECT g, 100 * g FROM generate_series(1, 5) g`)
	exec(t, p, `INSERT INTO payments (order_id, amount_cents, method, status) SELECT g, 100 * g, 'card', 'succeeded' FROM generate_series(1, 3) g`)
	noLoss(t, "the v2.3.0 baseline", w, p)
	up(t, u, 5)
	noLoss(t, "the v2.4.0 migration", w, p)
	exec(t, p, `INSERT INTO orders (user_id, total_cents, order_metadata) VALUES
		(6, 600, '{"source":"web","release":"v2.4.0"}'), (7, 700, '{"source":"app","release":"v2.4.0"}'),
		(8, 800, '{"source":"api","release":"v2.4.0"}'), (9, 900, '{}')`)
	noLoss(t, "v2.4.0 inserts", w, p)
	exec(t, p, `UPDATE orders SET status = 'paid' WHERE id >= 6`) // orders.charge, after every payment
	noLoss(t, "the shop's status updates", w, p)
	if in := w.Summary(); in.Tables[0].Rows != 9 || in.Tables[0].MetadataRows != 3 || in.Tables[1].Rows != 3 || in.VerifiedAt != clock {
		t.Fatalf("summary %+v", in)
	}
	return p, w, u
}

// Every way a trainee can lose rows or metadata is reported once, with what was lost.
func TestWatchReportsEveryLoss(t *testing.T) {
	base := testpg.Start(t)
	cases := []struct {
		name string
		act  func(t *testing.T, p *pgxpool.Pool, u string)
		want dbstate.Loss
	}{
		{"UPDATE overwrites metadata", func(t *testing.T, p *pgxpool.Pool, u string) {
			exec(t, p, `UPDATE orders SET order_metadata = '{"x":1}'`)
		}, dbstate.Loss{Table: "orders", Cause: status.CauseOverwritten, Overwritten: 3, MetadataRows: 3, IDs: []int64{6, 7, 8}, ColumnExists: true}},
		{"UPDATE to the default", func(t *testing.T, p *pgxpool.Pool, u string) {
			exec(t, p, `UPDATE orders SET order_metadata = '{}' WHERE id = 7`)
		}, dbstate.Loss{Table: "orders", Cause: status.CauseOverwritten, Overwritten: 1, MetadataRows: 1, IDs: []int64{7}, ColumnExists: true}},
		{"UPDATE to NULL", func(t *testing.T, p *pgxpool.Pool, u string) {
			exec(t, p, `ALTER TABLE orders ALTER COLUMN order_metadata DROP NOT NULL`)
			exec(t, p, `UPDATE orders SET order_metadata = NULL WHERE id = 8`)
		}, dbstate.Loss{Table: "orders", Cause: status.CauseOverwritten, Overwritten: 1, MetadataRows: 1, IDs: []int64{8}, ColumnExists: true}},
		{"DROP and ADD in one statement", func(t *testing.T, p *pgxpool.Pool, u string) {
			exec(t, p, `ALTER TABLE orders DROP COLUMN order_metadata, ADD COLUMN order_metadata jsonb NOT NULL DEFAULT '{}'`)
		}, dbstate.Loss{Table: "orders", Cause: status.CauseColumnReplaced, Overwritten: 3, MetadataRows: 3, IDs: []int64{6, 7, 8}, ColumnExists: true}},
		{"the down migration", func(t *testing.T, p *pgxpool.Pool, u string) {
			if _, err := schema.Down(context.Background(), u, 4); err != nil {
				t.Fatal(err)
			}
		}, dbstate.Loss{Table: "orders", Cause: status.CauseColumnDropped, Overwritten: 3, MetadataRows: 3, IDs: []int64{6, 7, 8}}},
		{"DELETE of an order from before the deploy", func(t *testing.T, p *pgxpool.Pool, u string) {
			exec(t, p, `DELETE FROM orders WHERE id = 2`)
		}, dbstate.Loss{Table: "orders", Cause: status.CauseRowsDeleted, Deleted: 1, IDs: []int64{2}, ColumnExists: true}},
		{"DELETE of an order with metadata", func(t *testing.T, p *pgxpool.Pool, u string) {
			exec(t, p, `DELETE FROM orders WHERE id IN (6, 9)`)
		}, dbstate.Loss{Table: "orders", Cause: status.CauseRowsDeleted, Deleted: 2, MetadataRows: 1, IDs: []int64{6, 9}, ColumnExists: true}},
		{"DELETE of a payment", func(t *testing.T, p *pgxpool.Pool, u string) {
			exec(t, p, `DELETE FROM payments WHERE id = 3`)
		}, dbstate.Loss{Table: "payments", Cause: status.CauseRowsDeleted, Deleted: 1, IDs: []int64{3}}},
		{"TRUNCATE payments", func(t *testing.T, p *pgxpool.Pool, u string) {
			exec(t, p, `TRUNCATE payments`)
		}, dbstate.Loss{Table: "payments", Cause: status.CauseTableEmptied, Deleted: 3, IDs: []int64{1, 2, 3}}},
		{"DROP TABLE payments", func(t *testing.T, p *pgxpool.Pool, u string) {
			exec(t, p, `DROP TABLE payments`)
		}, dbstate.Loss{Table: "payments", Cause: status.CauseTableDropped, Deleted: 3, IDs: []int64{1, 2, 3}}},
		{"a row replaced under the same id", func(t *testing.T, p *pgxpool.Pool, u string) {
			exec(t, p, `DELETE FROM orders WHERE id = 6`)
			exec(t, p, `INSERT INTO orders (id, user_id, total_cents, order_metadata) VALUES (6, 6, 600, '{"source":"forged"}')`)
		}, dbstate.Loss{Table: "orders", Cause: status.CauseOverwritten, Overwritten: 1, MetadataRows: 1, IDs: []int64{6}, ColumnExists: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, w, u := shop(t, base, dbstate.WatchOptions{})
			tc.act(t, p, u)
			got := check(t, w, p)
			if len(got) != 1 || !reflect.DeepEqual(got[0], tc.want) {
				t.Fatalf("losses %+v, want [%+v]", got, tc.want)
			}
			noLoss(t, "the same loss a second time", w, p)
		})
	}
}

// What a trainee (or the shop) may do without losing anything is never reported.
func TestWatchIgnoresWhatLosesNothing(t *testing.T) {
	base := testpg.Start(t)
	p, w, u := shop(t, base, dbstate.WatchOptions{})
	steps := []struct{ what, sql string }{
		{"the safe fix", `ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}'`},
		{"DROP NOT NULL", `ALTER TABLE orders ALTER COLUMN order_metadata DROP NOT NULL`},
		{"v2.3.0 inserts after the fix", `INSERT INTO orders (user_id, total_cents) VALUES (10, 1000), (11, 1100)`},
		{"a v2.3.0 insert leaving NULL", `ALTER TABLE orders ALTER COLUMN order_metadata DROP DEFAULT; INSERT INTO orders (user_id, total_cents) VALUES (12, 1200)`},
		{"the expand-contract backfill", `UPDATE orders SET order_metadata = '{}' WHERE order_metadata IS NULL`},
		{"data added where there was none", `UPDATE orders SET order_metadata = '{"backfilled":true}' WHERE id IN (1, 9)`},
		{"more status updates", `UPDATE orders SET status = 'payment_failed' WHERE id = 7`},
		{"a type change that keeps the values", `ALTER TABLE orders ALTER COLUMN order_metadata TYPE json USING order_metadata::json`},
		{"and back", `ALTER TABLE orders ALTER COLUMN order_metadata TYPE jsonb USING order_metadata::jsonb`},
		{"a table rewrite", `VACUUM FULL orders`},
		{"payments keep coming", `INSERT INTO payments (order_id, amount_cents, method, status) VALUES (10, 1000, 'wallet', 'succeeded')`},
	}
	for _, s := range steps {
		exec(t, p, s.sql)
		noLoss(t, s.what, w, p)
	}

	// An insert that commits after a later id was taken in appears below the high-water mark: kept, not lost.
	ctx := context.Background()
	tx, err := p.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO orders (user_id, total_cents, order_metadata) VALUES (20, 2000, '{"late":true}')`); err != nil {
		t.Fatal(err)
	}
	exec(t, p, `INSERT INTO orders (user_id, total_cents, order_metadata) VALUES (21, 2100, '{"early":true}')`)
	noLoss(t, "a later id committed first", w, p)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	noLoss(t, "the earlier id committing late", w, p)
	exec(t, p, `UPDATE orders SET order_metadata = '{}' WHERE order_metadata @> '{"late":true}'`)
	if l := check(t, w, p); len(l) != 1 || l[0].Overwritten != 1 {
		t.Fatalf("the late row's metadata is watched once kept: %+v", l)
	}

	// Down is a loss once; up again adds the column back empty, which loses nothing more.
	if _, err := schema.Down(ctx, u, 4); err != nil {
		t.Fatal(err)
	}
	if l := check(t, w, p); len(l) != 1 || l[0].Cause != status.CauseColumnDropped {
		t.Fatalf("down migration: %+v", l)
	}
	up(t, u, 5)
	noLoss(t, "migrating up again", w, p)
}

// The watch outlives a restart: rows unchanged are not reported again, a change made while the control room
// was down is.
func TestWatchSurvivesRestart(t *testing.T) {
	base := testpg.Start(t)
	dir := t.TempDir()
	p, w, _ := shop(t, base, dbstate.WatchOptions{Dir: dir})
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	meta := w.Meta()
	w, err := dbstate.RestoreWatch(dbstate.WatchOptions{Dir: dir}, &meta)
	if err != nil {
		t.Fatal(err)
	}
	if in := w.Summary(); in.Tables[0].Rows != 9 || !in.VerifiedAt.IsZero() {
		t.Fatalf("restored summary %+v: rows kept, none verified yet", in)
	}
	noLoss(t, "a restart", w, p)
	if in := w.Summary(); in.VerifiedAt != clock {
		t.Fatalf("verified at %v after the first check, want %v", in.VerifiedAt, clock)
	}
	exec(t, p, `INSERT INTO orders (user_id, total_cents, order_metadata) VALUES (30, 3000, '{"source":"web"}')`)
	noLoss(t, "an insert", w, p)
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	meta = w.Meta()

	// Down: the metadata is overwritten and payment 1 deleted, then the control room comes back.
	exec(t, p, `UPDATE orders SET order_metadata = '{}' WHERE id IN (6, 10)`)
	exec(t, p, `DELETE FROM payments WHERE id = 1`)
	w, err = dbstate.RestoreWatch(dbstate.WatchOptions{Dir: dir}, &meta)
	if err != nil {
		t.Fatal(err)
	}
	got := check(t, w, p)
	want := []dbstate.Loss{
		{Table: "orders", Cause: status.CauseOverwritten, Overwritten: 2, MetadataRows: 2, IDs: []int64{6, 10}, ColumnExists: true},
		{Table: "payments", Cause: status.CauseRowsDeleted, Deleted: 1, IDs: []int64{1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after a restart: %+v, want %+v", got, want)
	}

	// A data dir without state.json is a new sandbox: chunk files left there are not its baseline.
	fresh, err := dbstate.RestoreWatch(dbstate.WatchOptions{Dir: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in := fresh.Summary(); in.Tables[0].Rows != 0 {
		t.Fatalf("stale chunks reloaded: %+v", in)
	}
}

// With a budget smaller than the table, a check reads a bounded number of rows; a quiet UPDATE deep in the
// table is still found within one rotation, and the loud changes on the next check.
func TestWatchBudget(t *testing.T) {
	base := testpg.Start(t)
	u := testpg.FreshDB(t, base)
	up(t, u, 5)
	p := pool(t, u)
	exec(t, p, `INSERT INTO orders (user_id, total_cents, order_metadata)
		SELECT g, g, jsonb_build_object('n', g) FROM generate_series(1, 10 * 1024) g`)
	w := dbstate.NewWatch(dbstate.WatchOptions{Budget: 1024})
	noLoss(t, "the baseline", w, p)
	if in := w.Summary(); in.Tables[0].Rows != 10*1024 {
		t.Fatalf("baseline %+v", in)
	}

	exec(t, p, `UPDATE orders SET order_metadata = '{"n":"forged"}' WHERE id = 3000`) // chunk 2 of 10
	found := 0
	for i := 1; i <= 10 && found == 0; i++ {
		if l := check(t, w, p); len(l) == 1 && l[0].Overwritten == 1 && l[0].IDs[0] == 3000 {
			found = i
		}
	}
	// Each check verifies the two newest chunks and one more: the other 8 take 8 checks.
	if found == 0 || found > 8 {
		t.Fatalf("a quiet UPDATE in an old chunk found after %d checks, want within 8", found)
	}
	if in := w.Summary(); in.VerifiedAt.IsZero() {
		t.Fatalf("every chunk verified after a rotation, yet %+v", in)
	}

	// A DELETE moves pg_stat_user_tables.n_tup_del: every chunk is due and verified first.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DELETE FROM orders WHERE id IN (100, 5000)`); err != nil {
		t.Fatal(err)
	}
	waitDeletesCounted(t, conn, 2)
	got := check(t, w, p)
	if len(got) != 1 || got[0].Deleted != 2 || !reflect.DeepEqual(got[0].IDs, []int64{100, 5000}) {
		t.Fatalf("the check after the DELETE: %+v, want both rows", got)
	}

	// Dropping and adding the column again changes its attnum: caught on the next check.
	exec(t, p, `ALTER TABLE orders DROP COLUMN order_metadata, ADD COLUMN order_metadata jsonb NOT NULL DEFAULT '{}'`)
	got = check(t, w, p)
	if len(got) != 1 || got[0].Cause != status.CauseColumnReplaced || got[0].Overwritten != 10*1024-2 {
		t.Fatalf("the check after DROP+ADD: %+v", got)
	}
}

// waitDeletesCounted waits for the statistics collector to count n deletes on orders (it flushes within a
// second or so of the transaction).
func waitDeletesCounted(t *testing.T, conn *pgx.Conn, n int64) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int64
		if err := conn.QueryRow(ctx, `SELECT COALESCE(n_tup_del, 0) FROM pg_stat_user_tables WHERE relname = 'orders'`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("n_tup_del %d after 10 s, want %d", got, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// BenchmarkWatchCheck is the cost of one check at steady state (no new rows, nothing lost) against a real
// Postgres, for orders and payments tables of n rows each (80% of the orders with order_metadata, as after a
// long v2.4.0 run). A check verifies at most the two newest chunks plus DefaultBudget rows per table, so its
// cost stops growing with the tables; rows/op is how many rows one check verified.
//
//	go test ./services/control/dbstate -run '^$' -bench WatchCheck -benchtime 20x
//	WATCH_BENCH_LARGE=1 adds n=1,000,000 (a few minutes to load)
func BenchmarkWatchCheck(b *testing.B) {
	base := testpg.Start(b)
	sizes := []int{10_000, 100_000}
	if os.Getenv("WATCH_BENCH_LARGE") != "" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("orders=%d", n), func(b *testing.B) {
			u := testpg.FreshDB(b, base)
			if _, err := schema.Up(context.Background(), u, 5, schema.Options{}); err != nil {
				b.Fatal(err)
			}
			p, err := pgxpool.New(context.Background(), u)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			ctx := context.Background()
			for _, sql := range []string{
				fmt.Sprintf(`INSERT INTO orders (user_id, total_cents, status, order_metadata) SELECT g %% 1000, 1000 + g, 'paid',
					CASE WHEN g <= %d THEN '{}'::jsonb ELSE jsonb_build_object('source', 'web', 'client', 'checkout',
					'discount_ui', g %% 7 = 0, 'release', 'v2.4.0') END FROM generate_series(1, %d) g`, n/5, n),
				fmt.Sprintf(`INSERT INTO payments (order_id, amount_cents, method, status, sdk_version, provider_ref)
					SELECT g, 1000, 'card', 'succeeded', '4.0', 'ref-' || g FROM generate_series(1, %d) g`, n),
				`VACUUM ANALYZE`,
			} {
				if _, err := p.Exec(ctx, sql); err != nil {
					b.Fatal(err)
				}
			}
			w := dbstate.NewWatch(dbstate.WatchOptions{Intake: n})
			now := time.Now()
			if _, err := w.Check(ctx, p, now); err != nil { // the baseline
				b.Fatal(err)
			}
			verified := min(n, dbstate.DefaultBudget+2*dbstate.ChunkSize)
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(2 * time.Second)
				losses, err := w.Check(ctx, p, now)
				if err != nil || len(losses) != 0 {
					b.Fatalf("check: %v %+v", err, losses)
				}
			}
			b.ReportMetric(float64(2*verified), "rows/op") // orders and payments
		})
	}
}
