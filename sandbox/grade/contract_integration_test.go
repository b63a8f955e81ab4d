package grade

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/services/control"
	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/schema"
	"github.com/sandbox-labs/sandbox/services/status"
)

// TestIntegrationContractDataLoss runs the real control room (its Controller, observer and HTTP API) on a
// real Postgres through the incident, lets a trainee act, and feeds exactly what the control room serves at
// /api/state, /api/status and /api/timeline into the grader's collector and checks. The data-loss check must
// fail after each destructive action and pass for a run with only the shop's normal writes.
func TestIntegrationContractDataLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Postgres container (skipped with -short)")
	}
	base := testpg.Start(t)
	cases := []struct {
		name     string
		act      func(t *testing.T, db *pgxpool.Pool, u string)
		lost     bool
		mentions string // in the failing check's detail
	}{
		{"a clean run with normal inserts", func(t *testing.T, db *pgxpool.Pool, u string) {
			sqlExec(t, db, `INSERT INTO orders (user_id, total_cents, order_metadata) VALUES (40, 4000, '{"source":"web"}')`)
			sqlExec(t, db, `INSERT INTO payments (order_id, amount_cents, method, status) VALUES (40, 4000, 'card', 'succeeded')`)
			sqlExec(t, db, `UPDATE orders SET status = 'paid' WHERE id = (SELECT max(id) FROM orders)`)
			sqlExec(t, db, `ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}'`)
		}, false, ""},
		{"UPDATE overwriting order_metadata", func(t *testing.T, db *pgxpool.Pool, u string) {
			sqlExec(t, db, `UPDATE orders SET order_metadata = '{"x":1}'`)
		}, true, "order_metadata overwritten in 3 orders"},
		{"DROP and ADD with a default in one statement", func(t *testing.T, db *pgxpool.Pool, u string) {
			sqlExec(t, db, `ALTER TABLE orders DROP COLUMN order_metadata, ADD COLUMN order_metadata jsonb NOT NULL DEFAULT '{}'`)
		}, true, "dropped and added again: the metadata of 3 orders is gone"},
		{"DELETE of an order from before the deploy", func(t *testing.T, db *pgxpool.Pool, u string) {
			sqlExec(t, db, `DELETE FROM orders WHERE id = 1`)
		}, true, "1 row deleted from orders (id 1)"},
		{"DELETE of a payment", func(t *testing.T, db *pgxpool.Pool, u string) {
			sqlExec(t, db, `DELETE FROM payments WHERE id = 2`)
		}, true, "1 row deleted from payments (id 2)"},
		{"the down migration", func(t *testing.T, db *pgxpool.Pool, u string) {
			if _, err := schema.Down(context.Background(), u, 4); err != nil {
				t.Fatal(err)
			}
		}, true, "order_metadata dropped: the metadata of 3 orders is gone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			u := testpg.FreshDB(t, base)
			if _, err := schema.Up(ctx, u, 4, schema.Options{}); err != nil {
				t.Fatal(err)
			}
			db, err := pgxpool.New(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// v2.3.0: orders 1-3 and their payments, before the deploy.
			sqlExec(t, db, `INSERT INTO orders (user_id, total_cents, status) SELECT g, 100 * g, 'paid' FROM generate_series(1, 3) g`)
			sqlExec(t, db, `INSERT INTO payments (order_id, amount_cents, method, status) SELECT g, 100 * g, 'card', 'succeeded' FROM generate_series(1, 3) g`)

			room := startControlRoom(t, db)
			room.tickFor(30 * time.Second) // the baseline (no gateway here: after the grace period)

			// v2.4.0: the migration, orders written with metadata, their payments and status updates.
			if _, err := schema.Up(ctx, u, 5, schema.Options{}); err != nil {
				t.Fatal(err)
			}
			sqlExec(t, db, `INSERT INTO orders (user_id, total_cents, order_metadata) VALUES
				(4, 400, '{"source":"web","release":"v2.4.0"}'), (5, 500, '{"source":"app","release":"v2.4.0"}'),
				(6, 600, '{"source":"api","release":"v2.4.0"}')`)
			sqlExec(t, db, `INSERT INTO payments (order_id, amount_cents, method, status) SELECT g, 100 * g, 'card', 'succeeded' FROM generate_series(4, 6) g`)
			sqlExec(t, db, `UPDATE orders SET status = 'paid' WHERE id > 3`)
			room.tickFor(4 * time.Second)

			tc.act(t, db, u)
			// The grader starts right away; the control room keeps ticking while it waits for a check of
			// every row made after the grade began.
			stop := room.tickInBackground()
			obs, err := Collect(ctx, LiveInput{ControlURL: room.srv.URL, DatabaseURL: u, Fresh: 20 * time.Second})
			stop()
			if err != nil {
				t.Fatal(err)
			}
			if obs.State == nil || obs.State.Integrity == nil {
				t.Fatalf("state without the watch: %+v", obs.State)
			}
			c := find(t, Evaluate(obs, DefaultThresholds()), CheckNoDataLoss)
			if c.Passed == tc.lost {
				t.Fatalf("no_data_loss passed=%v, want %v: %s", c.Passed, !tc.lost, c.Detail)
			}
			if tc.lost && !strings.Contains(c.Detail, tc.mentions) {
				t.Fatalf("detail lacks %q: %s", tc.mentions, c.Detail)
			}
			if !tc.lost && !strings.Contains(c.Detail, "7 orders (4 with order_metadata) and 7 payments") {
				t.Fatalf("clean run detail: %s", c.Detail)
			}
			// The evidence is the observer's: one data_loss event per change, however many checks followed.
			var losses []status.Event
			for _, e := range obs.Timeline {
				if e.Kind == status.EventDataLoss {
					losses = append(losses, e)
				}
			}
			if want := map[bool]int{true: 1, false: 0}[tc.lost]; len(losses) != want || want == 1 && losses[0].Actor != "observed" {
				t.Fatalf("data_loss events %+v, want %d from the observer", losses, want)
			}
			t.Logf("%s: %s", c.ID, c.Detail)
		})
	}
}

type controlRoom struct {
	t   *testing.T
	c   *control.Controller
	srv *httptest.Server

	mu  sync.Mutex
	now time.Time
}

func startControlRoom(t *testing.T, db *pgxpool.Pool) *controlRoom {
	t.Helper()
	r := &controlRoom{t: t, now: time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC)}
	c, err := control.New(control.Options{Name: "contract", Version: "v2.4.0", DataDir: t.TempDir(), DB: db,
		Discover: control.StaticDiscoverer(nil), Now: r.clock, Log: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	s := platform.NewServer(platform.Config{Service: "control", Env: func(string) string { return "" }}, zap.NewNop())
	c.Mount(s)
	r.c, r.srv = c, httptest.NewServer(s.Mux)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *controlRoom) clock() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.now
}

func (r *controlRoom) tick() {
	r.mu.Lock()
	r.now = r.now.Add(2 * time.Second)
	r.mu.Unlock()
	r.c.Tick(context.Background())
}

func (r *controlRoom) tickFor(d time.Duration) {
	for range int(d / (2 * time.Second)) {
		r.tick()
	}
}

// tickInBackground ticks every 100 ms until the returned stop is called.
func (r *controlRoom) tickInBackground() (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
				r.tick()
			}
		}
	}()
	return func() { close(done); <-exited }
}

func sqlExec(t *testing.T, db *pgxpool.Pool, sql string) {
	t.Helper()
	if _, err := db.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
