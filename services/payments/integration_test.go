package payments

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/schema"
)

func TestPGStore(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Postgres container (skipped with -short)")
	}
	url := testpg.Start(t)
	ctx := context.Background()
	if _, err := schema.Up(ctx, url, release.MigrationBase, schema.Options{}); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	st := PGStore{DB: pool}
	var oid int64
	if err := pool.QueryRow(ctx, `INSERT INTO orders (user_id, total_cents) VALUES (1, 2500) RETURNING id`).Scan(&oid); err != nil {
		t.Fatal(err)
	}
	if total, err := st.OrderTotal(ctx, oid); err != nil || total != 2500 {
		t.Fatalf("OrderTotal: %d %v", total, err)
	}
	if _, err := st.OrderTotal(ctx, oid+1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing order: %v", err)
	}
	ok, err := st.Insert(ctx, Payment{OrderID: oid, AmountCents: 2500, Method: MethodCard, Status: "succeeded", SDKVersion: "4.0", ProviderRef: "ch_1"})
	if err != nil || ok.ID == 0 || ok.CreatedAt.IsZero() {
		t.Fatalf("insert: %+v %v", ok, err)
	}
	failed, err := st.Insert(ctx, Payment{OrderID: oid, AmountCents: 2500, Method: MethodSavedCard, Status: "failed", SDKVersion: "4.0"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, failed.ID)
	if err != nil || got.Status != "failed" || got.ProviderRef != "" || got.Method != MethodSavedCard {
		t.Fatalf("get failed payment: %+v %v", got, err)
	}
	if got, _ := st.Get(ctx, ok.ID); got.ProviderRef != "ch_1" || got.SDKVersion != "4.0" {
		t.Fatalf("get ok payment: %+v", got)
	}
	if _, err := st.Get(ctx, 424242); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing payment: %v", err)
	}
}
