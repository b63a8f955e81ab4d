package catalog

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/services/schema"
)

func TestPGSourceReadsSeededCatalog(t *testing.T) {
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
	c := New(PGSource{Pool: pool}, zap.NewNop())
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	ps := c.snapshot()
	if len(ps) != 200 || ps[0].ID != 1 || ps[199].ID != 200 {
		t.Fatalf("loaded %d products", len(ps))
	}
	hidden := 0
	for _, p := range ps {
		if p.PriceCents <= 0 || p.Name == "" {
			t.Errorf("bad product %+v", p)
		}
		if !p.Searchable {
			hidden++
		}
	}
	if hidden != 8 {
		t.Errorf("%d products hidden from search, want 8", hidden)
	}
}
