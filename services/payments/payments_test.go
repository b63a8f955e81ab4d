package payments

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/provider"
	"github.com/sandbox-labs/sandbox/services/release"
)

// memStore is a fake for the storage around the charge logic; PGStore is tested against Postgres.
type memStore struct {
	mu     sync.Mutex
	rows   []Payment
	orders map[int64]int64
}

func (m *memStore) Insert(_ context.Context, p Payment) (Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p.ID = int64(len(m.rows) + 1)
	p.CreatedAt = time.Now()
	m.rows = append(m.rows, p)
	return p, nil
}

func (m *memStore) Get(_ context.Context, id int64) (Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id < 1 || id > int64(len(m.rows)) {
		return Payment{}, ErrNotFound
	}
	return m.rows[id-1], nil
}

func (m *memStore) OrderTotal(_ context.Context, id int64) (int64, error) {
	if t, ok := m.orders[id]; ok {
		return t, nil
	}
	return 0, ErrNotFound
}

// startProvider runs the real provider stub in-process, without its artificial latency.
func startProvider(t *testing.T) (*httptest.Server, *platform.Metrics) {
	t.Helper()
	cfg := platform.Config{Service: "provider", Release: release.V230(), Env: func(string) string { return "" }}
	s := platform.NewServer(cfg, zap.NewNop())
	provider.Mount(s, provider.Latency{})
	ts := httptest.NewServer(s.Mux)
	t.Cleanup(ts.Close)
	return ts, s.Metrics
}

type fixture struct {
	srv      *httptest.Server
	svc      *Service
	store    *memStore
	logs     *observer.ObservedLogs
	provider *platform.Metrics
}

func newFixture(t *testing.T, rel release.Release, seed int64) *fixture {
	t.Helper()
	prov, pm := startProvider(t)
	core, logs := observer.New(zap.InfoLevel)
	cfg := platform.Config{Service: "payments", Release: rel, Seed: seed, Env: func(string) string { return "" }}
	srv := platform.NewServer(cfg, zap.New(core))
	st := &memStore{orders: map[int64]int64{7: 4200}}
	svc := New(cfg, zap.New(core), st, prov.URL, prov.Client(), srv.Metrics.Registry)
	svc.Mount(srv)
	ts := httptest.NewServer(srv.Mux)
	t.Cleanup(ts.Close)
	return &fixture{srv: ts, svc: svc, store: st, logs: logs, provider: pm}
}

func (f *fixture) post(t *testing.T, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := testHTTP.Post(f.srv.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func providerCalls(f *fixture, route string) float64 {
	return counterValue(f.provider.Requests.WithLabelValues("provider", route, "POST", "200"))
}

func charges(f *fixture, sdk, path, result string) float64 {
	return counterValue(f.svc.charges.WithLabelValues(sdk, path, result))
}

func TestV230ChargesEveryPathThroughSDK3(t *testing.T) {
	f := newFixture(t, release.V230(), 0)
	for _, m := range []string{MethodCard, MethodSavedCard, MethodWallet} {
		code, out := f.post(t, "/charge", ChargeRequest{OrderID: 1, AmountCents: 1000, PaymentMethod: m})
		if code != http.StatusCreated || out["status"] != "succeeded" || out["sdk_version"] != "3.1" {
			t.Fatalf("%s: got %d %v", m, code, out)
		}
		if !strings.HasPrefix(out["provider_ref"].(string), "ch_") {
			t.Fatalf("%s: provider_ref %v", m, out["provider_ref"])
		}
	}
	if got := providerCalls(f, "/v3/charges"); got != 3 {
		t.Fatalf("provider v3 calls = %v, want 3", got)
	}
	if got := providerCalls(f, "/v4/charges"); got != 0 {
		t.Fatalf("provider v4 calls = %v, want 0", got)
	}
}

func TestV240SavedCardHitsNoSuchMethod(t *testing.T) {
	f := newFixture(t, release.V240(nil, 0), 0)
	code, out := f.post(t, "/charge", ChargeRequest{OrderID: 1, AmountCents: 1000, PaymentMethod: MethodCard})
	if code != http.StatusCreated || out["sdk_version"] != "4.0" {
		t.Fatalf("card: got %d %v", code, out)
	}
	code, out = f.post(t, "/charge", ChargeRequest{OrderID: 2, AmountCents: 1000, PaymentMethod: MethodSavedCard})
	if code != http.StatusInternalServerError {
		t.Fatalf("saved_card: got %d %v, want 500", code, out)
	}
	if providerCalls(f, "/v4/charges") != 1 || providerCalls(f, "/v3/charges") != 0 {
		t.Fatal("the broken path must fail before reaching the provider")
	}
	if charges(f, "4.0", MethodSavedCard, "error") != 1 || charges(f, "4.0", MethodCard, "ok") != 1 {
		t.Fatal("payments_charges_total does not show the split")
	}
	if f.store.rows[1].Status != "failed" {
		t.Fatalf("failed attempt recorded as %q", f.store.rows[1].Status)
	}
	entries := f.logs.FilterMessageSnippet("no such method").All()
	if len(entries) != 1 {
		t.Fatalf("want one no-such-method log line, got %d", len(entries))
	}
	e := entries[0]
	ctx := e.ContextMap()
	if e.Level != zap.ErrorLevel || ctx["error_kind"] != "NoSuchMethodError" {
		t.Fatalf("log entry %v %v", e.Level, ctx)
	}
	want := "Charge(paymentsdk.Amount) (paymentsdk.Receipt, error)"
	have := "Charge(paymentsdk.Amount, paymentsdk.ChargeOptions) (paymentsdk.Receipt, error)"
	if ctx["expected_signature"] != want || ctx["actual_signature"] != have {
		t.Fatalf("signatures: %v / %v", ctx["expected_signature"], ctx["actual_signature"])
	}
	if !strings.Contains(e.Message, want) || !strings.Contains(e.Message, have) {
		t.Fatalf("message does not name both signatures: %s", e.Message)
	}
	if !strings.HasSuffix(ctx["sdk_package"].(string), "paymentsdk/v4") {
		t.Fatalf("sdk_package %v", ctx["sdk_package"])
	}
	if !strings.Contains(ctx["stack"].(string), "chargeStoredCredential") {
		t.Fatal("stack does not name the failing code path")
	}
}

func TestSeedMovesTheBrokenPath(t *testing.T) {
	if StoredCredentialPath(0) != MethodSavedCard || StoredCredentialPath(3) != MethodWallet || StoredCredentialPath(4) != MethodSavedCard {
		t.Fatal("StoredCredentialPath does not follow the seed")
	}
	f := newFixture(t, release.V240(nil, 3), 3)
	if code, _ := f.post(t, "/charge", ChargeRequest{OrderID: 1, AmountCents: 100, PaymentMethod: MethodSavedCard}); code != http.StatusCreated {
		t.Fatalf("saved_card with seed 3: %d", code)
	}
	if code, _ := f.post(t, "/charge", ChargeRequest{OrderID: 1, AmountCents: 100, PaymentMethod: MethodWallet}); code != http.StatusInternalServerError {
		t.Fatalf("wallet with seed 3: %d", code)
	}
}

func TestFixesAndDecoy(t *testing.T) {
	cases := []struct {
		name    string
		patches []string
		faults  []string
		sdk     string
		ok      bool
	}{
		{"call-v4-signature", []string{release.PatchPaymentsCallV4Signature}, nil, "4.0", true},
		{"pin-sdk-3.1", []string{release.PatchPaymentsPinSDK31}, nil, "3.1", true},
		{"fault disabled", nil, []string{release.FaultFlagLeak}, "4.0", true},
		{"retry decoy", []string{release.PatchPaymentsRetryCharge}, nil, "4.0", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			faults := c.faults
			rel := release.V240(faults, 0)
			rel.Patches = c.patches
			f := newFixture(t, rel, 0)
			code, out := f.post(t, "/charge", ChargeRequest{OrderID: 1, AmountCents: 100, PaymentMethod: MethodSavedCard})
			if (code == http.StatusCreated) != c.ok {
				t.Fatalf("got %d %v, want ok=%v", code, out, c.ok)
			}
			if got := charges(f, c.sdk, MethodSavedCard, map[bool]string{true: "ok", false: "error"}[c.ok]); got != 1 {
				t.Fatalf("payments_charges_total{sdk_version=%s} = %v", c.sdk, got)
			}
			if c.name == "retry decoy" && len(f.logs.FilterMessageSnippet("no such method").All()) != 1 {
				t.Fatal("retry decoy should still log the failure once per request")
			}
		})
	}
}

func TestEdgePaymentsAndGet(t *testing.T) {
	f := newFixture(t, release.V230(), 0)
	code, out := f.post(t, "/payments", ChargeRequest{OrderID: 7, PaymentMethod: MethodCard})
	if code != http.StatusCreated || out["amount_cents"].(float64) != 4200 {
		t.Fatalf("got %d %v", code, out)
	}
	if code, _ := f.post(t, "/payments", ChargeRequest{OrderID: 99, PaymentMethod: MethodCard}); code != http.StatusNotFound {
		t.Fatalf("unknown order: %d", code)
	}
	if code, _ := f.post(t, "/payments", ChargeRequest{OrderID: 7, PaymentMethod: "cash"}); code != http.StatusBadRequest {
		t.Fatalf("bad method: %d", code)
	}
	resp, err := testHTTP.Get(f.srv.URL + "/payments/1")
	if err != nil {
		t.Fatal(err)
	}
	var p Payment
	_ = json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != 200 || p.OrderID != 7 || p.Method != MethodCard {
		t.Fatalf("get: %d %+v", resp.StatusCode, p)
	}
	resp, _ = testHTTP.Get(f.srv.URL + "/payments/42")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("missing payment: %d", resp.StatusCode)
	}
}

func TestNew_RegistersMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := platform.Config{Release: release.V230(), Env: func(string) string { return "" }}
	New(cfg, zap.NewNop(), &memStore{}, "http://127.0.0.1:1", nil, reg)
	if err := reg.Register(prometheus.NewCounterVec(prometheus.CounterOpts{Name: "payments_charges_total"}, []string{"sdk_version", "path", "result"})); err == nil {
		t.Fatal("payments_charges_total was not registered")
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
