package orders

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/schema"
)

// fakePayments stands in for payments POST /charge: saved_card fails, everything else succeeds.
type fakePayments struct{ calls atomic.Int64 }

func (f *fakePayments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	var req struct {
		PaymentMethod string `json:"payment_method"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	if req.PaymentMethod == "saved_card" {
		platform.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": "no such method"})
		return
	}
	platform.WriteJSON(w, http.StatusCreated, map[string]any{"id": 1, "status": "succeeded"})
}

type instance struct {
	srv  *httptest.Server
	svc  *Service
	logs *observer.ObservedLogs
}

func startOrders(t *testing.T, pool *pgxpool.Pool, rel release.Release, paymentsURL string) *instance {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	cfg := platform.Config{Service: "orders", Release: rel, Env: func(string) string { return "" }}
	srv := platform.NewServer(cfg, zap.New(core))
	svc := New(cfg, zap.New(core), pool, paymentsURL, http.DefaultClient, srv.Metrics.Registry)
	svc.Mount(srv)
	ts := httptest.NewServer(srv.Mux)
	t.Cleanup(ts.Close)
	return &instance{srv: ts, svc: svc, logs: logs}
}

func (in *instance) post(t *testing.T, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.srv.URL+"/orders", strings.NewReader(body))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (in *instance) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	resp, err := testHTTP.Get(in.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (in *instance) inserts(result string) float64 {
	var m dto.Metric
	_ = in.svc.inserts.WithLabelValues(result).Write(&m)
	return m.GetCounter().GetValue()
}

const cardOrder = `{"user_id":3,"items":[{"product_id":1,"qty":2}],"payment_method":"card","metadata":{"client":"loadgen"}}`

func TestNotNullMigrationTrap(t *testing.T) {
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
	pay := httptest.NewServer(&fakePayments{})
	t.Cleanup(pay.Close)

	// v2.3.0 on the v2.3.0 schema: orders are priced from products, paid, and replayable by key.
	v23 := startOrders(t, pool, release.V230(), pay.URL)
	code, o := v23.post(t, "k1", cardOrder)
	var price int64
	if err := pool.QueryRow(ctx, `SELECT price_cents FROM products WHERE id = 1`).Scan(&price); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusCreated || o["status"] != "paid" || int64(o["total_cents"].(float64)) != 2*price {
		t.Fatalf("v2.3.0 create: %d %v", code, o)
	}
	id := o["id"].(float64)
	code, again := v23.post(t, "k1", cardOrder)
	if code != http.StatusOK || again["id"].(float64) != id {
		t.Fatalf("replay: %d %v", code, again)
	}
	code, failed := v23.post(t, "k2", strings.Replace(cardOrder, `"card"`, `"saved_card"`, 1))
	if code != http.StatusBadGateway || failed["order"].(map[string]any)["status"] != "payment_failed" {
		t.Fatalf("payment failure: %d %v", code, failed)
	}

	// Migration 5 (PR #905) as shipped: NOT NULL without a default.
	if _, err := schema.Up(ctx, url, release.MigrationOrderMetadata, schema.Options{}); err != nil {
		t.Fatal(err)
	}
	v24 := startOrders(t, pool, release.V240(nil, 0), pay.URL)
	code, o = v24.post(t, "k3", cardOrder)
	if code != http.StatusCreated {
		t.Fatalf("v2.4.0 create: %d %v", code, o)
	}
	md := o["metadata"].(map[string]any)
	if md["release"] != "v2.4.0" || md["client"] != "loadgen" || md["source"] != "api" {
		t.Fatalf("metadata %v", md)
	}
	if code, got := v24.get(t, "/orders/"+jsonNum(o["id"])); code != 200 || got["metadata"] == nil {
		t.Fatalf("v2.4.0 get: %d %v", code, got)
	}

	// Naive rollback: v2.3.0 code on the new schema fails every insert with 23502, and still reads fine.
	for _, rel := range []release.Release{release.V230(), withPatch(release.PatchOrdersCatch23502)} {
		old := startOrders(t, pool, rel, pay.URL)
		code, o = old.post(t, "", cardOrder)
		if code != http.StatusInternalServerError || !strings.Contains(o["error"].(string), "23502") {
			t.Fatalf("%v: v2.3.0 insert after migration 5: %d %v", rel.Patches, code, o)
		}
		entries := old.logs.FilterMessageSnippet("SQLSTATE 23502").All()
		if len(entries) != 1 {
			t.Fatalf("want one 23502 log line, got %d", len(entries))
		}
		f := entries[0].ContextMap()
		if f["sqlstate"] != "23502" || f["column"] != "order_metadata" || f["table"] != "orders" ||
			!strings.Contains(f["statement"].(string), "INSERT INTO orders (user_id, total_cents, status, discount_code, idempotency_key)") {
			t.Fatalf("log fields %v", f)
		}
		if old.inserts("error") != 1 || old.inserts("ok") != 0 {
			t.Fatal("orders_inserts_total does not show the failure")
		}
		if code, got := old.get(t, "/orders/"+jsonNum(id)); code != 200 || got["metadata"] != nil {
			t.Fatalf("v2.3.0 get after migration: %d %v", code, got)
		}
		if code, got := old.get(t, "/orders?user_id=3"); code != 200 || len(got["orders"].([]any)) != 3 {
			t.Fatalf("v2.3.0 list after migration: %d %v", code, got)
		}
	}

	// The safe way back: give the column a default, then v2.3.0 code inserts again.
	if _, err := pool.Exec(ctx, `ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}'`); err != nil {
		t.Fatal(err)
	}
	if code, o := v23.post(t, "", cardOrder); code != http.StatusCreated {
		t.Fatalf("v2.3.0 after SET DEFAULT: %d %v", code, o)
	}
}

func TestKeepSchemaPatchWritesMetadataWithoutPR905(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Postgres container (skipped with -short)")
	}
	url := testpg.Start(t)
	ctx := context.Background()
	if _, err := schema.Up(ctx, url, release.MigrationOrderMetadata, schema.Options{}); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	pay := httptest.NewServer(&fakePayments{})
	t.Cleanup(pay.Close)
	rel := release.V240(nil, 0)
	rel.Version, rel.Reverted, rel.Patches = "v2.4.1", []int{release.PROrderMetadata}, []string{release.PatchOrdersKeepSchema}
	in := startOrders(t, pool, rel, pay.URL)
	code, o := in.post(t, "", cardOrder)
	if code != http.StatusCreated || o["metadata"].(map[string]any)["release"] != "v2.4.1" {
		t.Fatalf("keep-schema: %d %v", code, o)
	}
	// Without the patch, reverting PR #905 is the naive rollback.
	rel.Patches = nil
	if code, _ := startOrders(t, pool, rel, pay.URL).post(t, "", cardOrder); code != http.StatusInternalServerError {
		t.Fatalf("reverted PR 905 without keep-schema: %d", code)
	}
	if code, _ := in.post(t, "", `{"user_id":3,"items":[{"product_id":9999,"qty":1}],"payment_method":"card"}`); code != http.StatusUnprocessableEntity {
		t.Fatalf("unknown product: %d", code)
	}
}

func withPatch(id string) release.Release {
	r := release.V230()
	r.Patches = []string{id}
	return r
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(bytes.TrimSpace(b))
}
