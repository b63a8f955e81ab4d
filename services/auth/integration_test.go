package auth

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/services/schema"
)

func TestPGSourceLoadsSeededUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Postgres container (skipped with -short)")
	}
	url := testpg.Start(t)
	ctx := context.Background()
	if _, err := schema.Up(ctx, url, 1, schema.Options{}); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a := New([]byte("k"), PGSource{Pool: pool}, zap.NewNop())
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{1, 500, 1000} {
		if u, ok, _ := a.user(id); !ok || u.Email == "" {
			t.Errorf("user %d not loaded: %+v", id, u)
		}
	}
	if _, ok, _ := a.user(1001); ok {
		t.Error("user 1001 should not exist")
	}
}
