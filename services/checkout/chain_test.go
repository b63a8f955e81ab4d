package checkout

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/services/orders"
	"github.com/sandbox-labs/sandbox/services/payments"
	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/provider"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/schema"
)

// chain runs the real call chain checkout -> orders -> payments -> provider in-process on one Postgres.
type chain struct {
	checkout *fixture
	logs     *observer.ObservedLogs
}

func startChain(t *testing.T, pool *pgxpool.Pool, checkoutRel, ordersRel, paymentsRel release.Release) *chain {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	cfgFor := func(role string, rel release.Release) platform.Config {
		return platform.Config{Service: role, Release: rel, Env: func(string) string { return "" }}
	}
	serve := func(s *platform.Server) *httptest.Server {
		ts := httptest.NewServer(s.Mux)
		t.Cleanup(ts.Close)
		return ts
	}
	ps := platform.NewServer(cfgFor("provider", release.V230()), zap.NewNop())
	provider.Mount(ps, provider.Latency{})
	prov := serve(ps)

	pc := cfgFor("payments", paymentsRel)
	pays := platform.NewServer(pc, log)
	payments.New(pc, log, payments.PGStore{DB: pool}, prov.URL, http.DefaultClient, pays.Metrics.Registry).Mount(pays)
	pay := serve(pays)

	oc := cfgFor("orders", ordersRel)
	os := platform.NewServer(oc, log)
	orders.New(oc, log, pool, pay.URL, http.DefaultClient, os.Metrics.Registry).Mount(os)
	ord := serve(os)

	cc := cfgFor("checkout", checkoutRel)
	cs := platform.NewServer(cc, log)
	svc := New(cc, log, PGStore{DB: pool}, ord.URL, cs.Metrics.Registry)
	svc.Mount(cs)
	return &chain{checkout: &fixture{srv: serve(cs), svc: svc, logs: logs}, logs: logs}
}

func TestChainAgainstPostgres(t *testing.T) {
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

	// PGStore reads the seeded catalogue, codes and flag.
	st := PGStore{DB: pool}
	if d, err := st.Discount(ctx, "SAVE10"); err != nil || d.PercentOff != 10 || !d.Active {
		t.Fatalf("discount: %+v %v", d, err)
	}
	if _, err := st.Discount(ctx, "NOPE"); err != ErrNotFound {
		t.Fatalf("unknown discount: %v", err)
	}
	if f, err := st.Flag(ctx, release.FlagDiscountCodes); err != nil || !f.Enabled || f.RolloutPercent != 15 {
		t.Fatalf("flag: %+v %v", f, err)
	}
	in, out := cohortUsers(t)
	v24 := release.V240(nil, 0)
	c := startChain(t, pool, v24, v24, v24)

	// Fault 1: no discount_code -> 500 in checkout.
	if code, _ := c.checkout.checkout(t, body(noCode, out)); code != http.StatusInternalServerError {
		t.Fatalf("flag leak: %d", code)
	}
	// The cohort with a valid code and a card pays, with metadata recorded by v2.4.0 orders.
	code, resp := c.checkout.checkout(t, strings.Replace(body(validCode, in), "saved_card", "card", 1))
	if code != http.StatusCreated || resp["discount_percent"].(float64) != 10 {
		t.Fatalf("cohort card checkout: %d %v", code, resp)
	}
	var md, sdk string
	if err := pool.QueryRow(ctx, `SELECT o.order_metadata->>'discount_ui', p.sdk_version FROM orders o JOIN payments p ON p.order_id = o.id
		WHERE p.status = 'succeeded' ORDER BY o.id DESC LIMIT 1`).Scan(&md, &sdk); err != nil || md != "true" || sdk != "4.0" {
		t.Fatalf("stored order: discount_ui=%q sdk=%q %v", md, sdk, err)
	}
	// Fault 3: saved_card reaches payments and fails the method-shape conversion -> 502 at checkout.
	code, resp = c.checkout.checkout(t, body(validCode, in))
	if code != http.StatusBadGateway || !strings.Contains(resp["error"].(string), "no such method") {
		t.Fatalf("sdk break through the chain: %d %v", code, resp)
	}
	if n := len(c.logs.FilterMessageSnippet("payments.chargeStoredCredential: no such method").All()); n != 1 {
		t.Fatalf("payments logged %d no-such-method lines", n)
	}

	// Fault 2 after a naive rollback of orders: every checkout that reaches orders fails with 23502.
	c = startChain(t, pool, release.V230(), release.V230(), release.V230())
	code, resp = c.checkout.checkout(t, body(noCode, out))
	if code != http.StatusBadGateway || !strings.Contains(resp["error"].(string), "23502") {
		t.Fatalf("naive rollback: %d %v", code, resp)
	}
	// Fix forward instead: v2.4.0 orders, patched checkout and payments -> everything works.
	fixed := release.V240(nil, 0)
	fixed.Version, fixed.Patches = "v2.4.1", []string{release.PatchCheckoutNullGuard, release.PatchPaymentsCallV4Signature}
	c = startChain(t, pool, fixed, fixed, fixed)
	for _, b := range []string{body(noCode, out), body(validCode, in), strings.Replace(body(noCode, out), "card", "saved_card", 1)} {
		if code, resp := c.checkout.checkout(t, b); code != http.StatusCreated {
			t.Fatalf("fixed release: %d %v for %s", code, resp, b)
		}
	}
}
