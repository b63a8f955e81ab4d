package checkout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/release"
)

// fakeStore stands in for the database around the discount logic; PGStore is tested against Postgres.
type fakeStore struct {
	mu        sync.Mutex
	flag      Flag
	flagReads int
}

func (f *fakeStore) Prices(_ context.Context, ids []int64) (map[int64]int64, error) {
	out := map[int64]int64{}
	for _, id := range ids {
		if id >= 1 && id <= 200 {
			out[id] = 1000 * id
		}
	}
	return out, nil
}

func (f *fakeStore) Discount(_ context.Context, code string) (Discount, error) {
	switch code {
	case "SAVE10":
		return Discount{Code: code, PercentOff: 10, Active: true}, nil
	case "EXPIRED5":
		return Discount{Code: code, PercentOff: 5}, nil
	}
	return Discount{}, ErrNotFound
}

func (f *fakeStore) Flag(_ context.Context, name string) (Flag, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flagReads++
	if name != f.flag.Name {
		return Flag{}, ErrNotFound
	}
	return f.flag, nil
}

// fakeOrders records what checkout sends to orders POST /orders.
type fakeOrders struct {
	mu     sync.Mutex
	calls  []map[string]any
	keys   []string
	status int
}

func (o *fakeOrders) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	o.mu.Lock()
	o.calls = append(o.calls, body)
	o.keys = append(o.keys, r.Header.Get("Idempotency-Key"))
	status := o.status
	o.mu.Unlock()
	if status == 0 {
		status = http.StatusCreated
	}
	if status >= 500 {
		platform.WriteJSON(w, status, map[string]string{"error": "insert order: ERROR: null value (SQLSTATE 23502)"})
		return
	}
	platform.WriteJSON(w, status, map[string]any{"id": 1, "status": "paid", "total_cents": body["total_cents"],
		"payment": map[string]any{"id": 9, "status": "succeeded"}})
}

type fixture struct {
	srv    *httptest.Server
	svc    *Service
	orders *fakeOrders
	store  *fakeStore
	logs   *observer.ObservedLogs
	calls  int
}

func newFixture(t *testing.T, rel release.Release) *fixture {
	t.Helper()
	fo := &fakeOrders{}
	ots := httptest.NewServer(fo)
	t.Cleanup(ots.Close)
	core, logs := observer.New(zap.InfoLevel)
	cfg := platform.Config{Service: "checkout", Release: rel, Env: func(string) string { return "" }}
	srv := platform.NewServer(cfg, zap.New(core))
	st := &fakeStore{flag: Flag{Name: release.FlagDiscountCodes, Enabled: true, RolloutPercent: 15}}
	svc := New(cfg, zap.New(core), st, ots.URL, srv.Metrics.Registry)
	svc.Mount(srv)
	ts := httptest.NewServer(srv.Mux)
	t.Cleanup(ts.Close)
	return &fixture{srv: ts, svc: svc, orders: fo, store: st, logs: logs}
}

func (f *fixture) checkout(t *testing.T, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/checkout", bytes.NewBufferString(body))
	f.calls++
	req.Header.Set("Idempotency-Key", "k-"+jsonInt(int64(f.calls)))
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func (f *fixture) validations(result string) float64 {
	var m dto.Metric
	_ = f.svc.validations.WithLabelValues(result).Write(&m)
	return m.GetCounter().GetValue()
}

// cohortUser and outsideUser are users inside and outside the 15% discount_codes rollout.
func cohortUsers(t *testing.T) (in, out int64) {
	t.Helper()
	for u := int64(1); in == 0 || out == 0; u++ {
		if release.InCohort(release.FlagDiscountCodes, u, 15) {
			if in == 0 {
				in = u
			}
		} else if out == 0 {
			out = u
		}
	}
	return in, out
}

const (
	noCode    = `{"user_id":%d,"items":[{"product_id":2,"qty":3}],"payment_method":"card"}`
	nullCode  = `{"user_id":%d,"items":[{"product_id":2,"qty":3}],"discount_code":null,"payment_method":"card"}`
	validCode = `{"user_id":%d,"items":[{"product_id":2,"qty":3}],"discount_code":"save10","payment_method":"saved_card"}`
	badCode   = `{"user_id":%d,"items":[{"product_id":2,"qty":3}],"discount_code":"NOPE","payment_method":"card"}`
	blankCode = `{"user_id":%d,"items":[{"product_id":2,"qty":3}],"discount_code":"","payment_method":"card"}`
)

func body(tmpl string, uid int64) string { return strings.Replace(tmpl, "%d", jsonInt(uid), 1) }

func jsonInt(v int64) string { b, _ := json.Marshal(v); return string(b) }

func TestFlagLeakFailsRequestsWithoutCode(t *testing.T) {
	f := newFixture(t, release.V240(nil, 0))
	in, out := cohortUsers(t)
	for _, tmpl := range []string{noCode, nullCode} {
		code, resp := f.checkout(t, body(tmpl, out))
		if code != http.StatusInternalServerError || !strings.Contains(resp["error"].(string), "discount_code is null") {
			t.Fatalf("got %d %v, want 500 discount_code is null", code, resp)
		}
	}
	if len(f.orders.calls) != 0 {
		t.Fatal("a failed validation must not place an order")
	}
	if f.store.flagReads != 0 {
		t.Fatal("v2.4.0 backend must never read the discount_codes flag")
	}
	logs := f.logs.FilterMessage("checkout.validateDiscount: discount_code is null").All()
	if len(logs) != 2 || logs[0].Level != zap.ErrorLevel {
		t.Fatalf("want 2 error log lines, got %d", len(logs))
	}
	if st, _ := logs[0].ContextMap()["stack"].(string); !strings.Contains(st, "checkout.(*Service).validateDiscount") {
		t.Fatalf("stack does not name validateDiscount:\n%s", st)
	}
	// A real service's error line: message, caller, stack, request id; nothing it could not know about
	// itself (the PR that broke it, a fault id).
	for _, l := range logs {
		ctx := l.ContextMap()
		if _, ok := ctx["request_id"]; !ok {
			t.Errorf("error line has no request_id: %v", ctx)
		}
		for k, v := range ctx {
			text := fmt.Sprint(v)
			if k == "pr" || k == "fault" || strings.Contains(text, "892") || strings.Contains(text, "flag-leak") {
				t.Errorf("error line carries the answer: %s=%v", k, v)
			}
		}
	}
	if f.validations("error") != 2 {
		t.Fatalf("checkout_discount_validations_total{result=error} = %v", f.validations("error"))
	}
	// The cohort whose UI shows the field still works, with a code or with the field left blank.
	code, resp := f.checkout(t, body(validCode, in))
	if code != http.StatusCreated || resp["discount_percent"].(float64) != 10 || resp["total_cents"].(float64) != 5400 {
		t.Fatalf("valid code: %d %v", code, resp)
	}
	if code, resp := f.checkout(t, body(blankCode, in)); code != http.StatusCreated || resp["total_cents"].(float64) != 6000 {
		t.Fatalf("blank code: %d %v", code, resp)
	}
	if code, _ := f.checkout(t, body(badCode, in)); code != http.StatusUnprocessableEntity {
		t.Fatalf("unknown code: %d, want 422", code)
	}
	if code, _ := f.checkout(t, strings.Replace(body(validCode, in), "save10", "EXPIRED5", 1)); code != http.StatusUnprocessableEntity {
		t.Fatalf("expired code: %d, want 422", code)
	}
	if f.validations("ok") != 2 || f.validations("invalid") != 2 {
		t.Fatalf("ok=%v invalid=%v", f.validations("ok"), f.validations("invalid"))
	}
	call := f.orders.calls[0]
	if call["total_cents"].(float64) != 5400 || call["discount_code"] != "SAVE10" || f.orders.keys[0] != "k-3" {
		t.Fatalf("orders call %v key %q", call, f.orders.keys[0])
	}
	if md := call["metadata"].(map[string]any); md["discount_ui"] != true {
		t.Fatalf("metadata %v", md)
	}
}

func TestFixesAndDecoys(t *testing.T) {
	in, out := cohortUsers(t)
	cases := []struct {
		name     string
		rel      func() release.Release
		ok       bool
		readFlag bool
	}{
		{"v2.3.0", release.V230, true, false},
		{"reverted PR 892", func() release.Release { r := release.V240(nil, 0); r.Reverted = []int{892}; return r }, true, false},
		{"fault disabled", func() release.Release { return release.V240([]string{release.FaultSDKBreak}, 0) }, true, true},
		{"backend flag gate", withPatch(release.PatchCheckoutBackendFlagGate), true, true},
		{"null guard", withPatch(release.PatchCheckoutNullGuard), true, false},
		{"decoy flag default off", withPatch(release.PatchCheckoutFlagDefaultOff), false, false},
		{"decoy raise timeout", withPatch(release.PatchCheckoutRaiseTimeout), false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.rel())
			code, resp := f.checkout(t, body(noCode, out))
			if (code == http.StatusCreated) != c.ok {
				t.Fatalf("no code: %d %v, want ok=%v", code, resp, c.ok)
			}
			if (f.store.flagReads > 0) != c.readFlag {
				t.Fatalf("flag reads = %d, want read=%v", f.store.flagReads, c.readFlag)
			}
			if !c.ok {
				return
			}
			// A valid code from the cohort applies its percent whenever PR 892 is in.
			code, resp = f.checkout(t, body(validCode, in))
			want := 10.0
			if !c.rel().HasPR(892) {
				want = 0
			}
			if code != http.StatusCreated || resp["discount_percent"].(float64) != want {
				t.Fatalf("valid code: %d %v", code, resp)
			}
		})
	}
}

func withPatch(id string) func() release.Release {
	return func() release.Release { r := release.V240(nil, 0); r.Patches = []string{id}; return r }
}

func TestOrdersFailureIsBadGateway(t *testing.T) {
	f := newFixture(t, release.V230())
	f.orders.status = http.StatusInternalServerError
	code, resp := f.checkout(t, body(noCode, 5))
	if code != http.StatusBadGateway || !strings.Contains(resp["error"].(string), "23502") {
		t.Fatalf("got %d %v", code, resp)
	}
	if len(f.logs.FilterMessage("checkout.placeOrder: orders failed").All()) != 1 {
		t.Fatal("orders failure not logged")
	}
	f.orders.status = http.StatusBadRequest
	if code, _ := f.checkout(t, body(noCode, 5)); code != http.StatusBadRequest {
		t.Fatalf("orders 400 passed through as %d", code)
	}
	if code, _ := f.checkout(t, `{"user_id":5,"items":[{"product_id":999,"qty":1}],"payment_method":"card"}`); code != http.StatusUnprocessableEntity {
		t.Fatalf("unknown product: %d", code)
	}
}

func TestConfigEndpointGatesUI(t *testing.T) {
	in, out := cohortUsers(t)
	get := func(f *fixture, uid int64) bool {
		resp, err := testHTTP.Get(f.srv.URL + "/checkout/config?user_id=" + jsonInt(uid))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c struct{ Flags map[string]bool }
		_ = json.NewDecoder(resp.Body).Decode(&c)
		return c.Flags[release.FlagDiscountCodes]
	}
	f := newFixture(t, release.V240(nil, 0))
	if !get(f, in) || get(f, out) {
		t.Fatal("UI flag should follow the 15% cohort")
	}
	f = newFixture(t, withPatch(release.PatchCheckoutFlagDefaultOff)())
	if get(f, in) {
		t.Fatal("checkout-flag-default-off should hide the field in the UI")
	}
}

func TestFlagCache(t *testing.T) {
	st := &fakeStore{flag: Flag{Name: release.FlagDiscountCodes, Enabled: true, RolloutPercent: 100}}
	fl := NewFlags(st, time.Minute)
	now := time.Unix(0, 0)
	fl.now = func() time.Time { return now }
	if !fl.Enabled(context.Background(), release.FlagDiscountCodes, 1) {
		t.Fatal("100% rollout should include everyone")
	}
	st.flag.Enabled = false
	if !fl.Enabled(context.Background(), release.FlagDiscountCodes, 1) || st.flagReads != 1 {
		t.Fatal("within the TTL the cached value is used")
	}
	now = now.Add(time.Minute)
	if fl.Enabled(context.Background(), release.FlagDiscountCodes, 1) || st.flagReads != 2 {
		t.Fatal("after the TTL the flag is read again")
	}
	if fl.Enabled(context.Background(), "missing", 1) {
		t.Fatal("a missing flag is off")
	}
}
