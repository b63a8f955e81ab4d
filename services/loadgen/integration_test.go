package loadgen

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/services/schema"
)

func TestPollReadsFlagAndOrders(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Postgres container (skipped with -short)")
	}
	url := testpg.Start(t)
	ctx := context.Background()
	if _, err := schema.Up(ctx, url, 4, schema.Options{}); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l := New(Config{Target: "http://127.0.0.1:1"}, prometheus.NewRegistry(), zap.NewNop())
	l.SetFlag(Flag{})
	l.pollOnce(ctx, pool)
	if f := l.Flag(); f != (Flag{Enabled: true, RolloutPercent: 15}) {
		t.Errorf("seeded flag read as %+v", f)
	}
	if _, err := pool.Exec(ctx, "UPDATE feature_flags SET enabled = false, rollout_percent = 40 WHERE name = 'discount_codes'"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "INSERT INTO orders (user_id, total_cents, status) VALUES (33, 1200, 'created')"); err != nil {
		t.Fatal(err)
	}
	l.pollOnce(ctx, pool)
	if f := l.Flag(); f.Enabled || f.RolloutPercent != 40 {
		t.Errorf("updated flag read as %+v", f)
	}
	if id, ok := l.book.order(33, rand.New(rand.NewPCG(1, 1))); !ok || id != 1 {
		t.Errorf("order of user 33 from the database: %d %v", id, ok)
	}
	if _, err := pool.Exec(ctx, "DELETE FROM feature_flags"); err != nil {
		t.Fatal(err)
	}
	l.pollOnce(ctx, pool)
	if f := l.Flag(); f.Enabled {
		t.Errorf("deleted flag read as %+v, want disabled", f)
	}
}
