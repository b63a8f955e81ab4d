package grade

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/payments"
	"github.com/sandbox-labs/sandbox/services/status"
)

// fakeGateway is an edge that behaves like v2.4.0 with the flag leak and the SDK break on saved_card, and
// records what the probes sent. It is the code around the probes, not the thing under test.
type fakeGateway struct {
	mu       sync.Mutex
	bodies   map[string][]map[string]any
	users    map[string][]string
	noiseFor string // path whose first request gets the edge's noise 502
	fixed    bool   // all faults gone
	broken   string // the stored-credential path the SDK break hits (the seed picks it); "" = saved_card
	cohort   uint32 // the seeded cohort share; 0 = the card's 15
}

func (g *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Method != http.MethodPost ||
		r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad probe", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	first := len(g.bodies[r.URL.Path]) == 0
	g.bodies[r.URL.Path] = append(g.bodies[r.URL.Path], body)
	g.users[r.URL.Path] = append(g.users[r.URL.Path], r.Header.Get("X-User-ID"))
	g.mu.Unlock()
	if first && r.URL.Path == g.noiseFor {
		w.Header().Set("X-Sandbox-Edge-Error", "noise")
		http.Error(w, "noise", http.StatusBadGateway)
		return
	}
	switch r.URL.Path {
	case "/api/checkout":
		share := g.cohort
		if share == 0 {
			share = 15
		}
		if _, ok := body["discount_code"]; ok && cohort(r.Header.Get("X-User-ID")) >= share {
			http.Error(w, `{"error":"discount codes are not offered to this user"}`, http.StatusBadRequest)
			return
		}
		if g.broken != "" && body["payment_method"] == g.broken && !g.fixed {
			http.Error(w, `{"error":"payments answered 500"}`, http.StatusBadGateway)
			return
		}
		if _, ok := body["discount_code"]; !ok && !g.fixed {
			http.Error(w, `{"error":"discount validation failed: discount_code is missing"}`, http.StatusInternalServerError)
			return
		}
	case "/api/orders":
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":4242,"status":"created"}`))
		return
	case "/api/payments":
		broken := g.broken
		if broken == "" {
			broken = "saved_card"
		}
		if body["payment_method"] == broken && !g.fixed {
			http.Error(w, "charge: interface conversion: Charge(amount) vs Charge(amount, options)", http.StatusInternalServerError)
			return
		}
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write([]byte(`{}`))
}

func newFakeGateway() *fakeGateway {
	return &fakeGateway{bodies: map[string][]map[string]any{}, users: map[string][]string{}}
}

func cohort(user string) uint32 {
	h := fnv.New32a()
	h.Write([]byte("discount_codes:" + user))
	return h.Sum32() % 100
}

func TestRunProbesAgainstGateway(t *testing.T) {
	g := newFakeGateway()
	g.noiseFor = "/api/orders"
	srv := httptest.NewServer(g)
	defer srv.Close()
	got := RunProbes(context.Background(), srv.Client(), srv.URL+"/")
	byCheck := map[string][]ProbeResult{}
	for _, p := range got {
		byCheck[p.Check] = append(byCheck[p.Check], p)
	}
	if p := byCheck[CheckProbeCheckoutNoCode][0]; p.Code != 500 || !strings.Contains(p.Body, "discount_code is missing") {
		t.Errorf("no-code checkout = %+v", p)
	}
	if p := byCheck[CheckProbeCheckoutCode][0]; p.Code != 201 {
		t.Errorf("code checkout = %+v", p)
	}
	if p := byCheck[CheckProbeOrder][0]; p.Code != 201 || p.Attempts != 2 {
		t.Errorf("order probe did not retry past the edge noise: %+v", p)
	}
	pays := byCheck[CheckProbePayment]
	if len(pays) != len(PaymentMethods) || pays[0].Code != 201 || pays[1].Code != 500 || pays[1].Name != "saved_card" ||
		pays[2].Name != "wallet" || pays[2].Code != 201 {
		t.Errorf("payments = %+v", pays)
	}
	// What the probes sent: the card's shapes, the order id fed to the payment, cohort-consistent users.
	co := g.bodies["/api/checkout"]
	if co[1]["discount_code"] != ProbeDiscountCode || co[1]["payment_method"] != "saved_card" || co[0]["payment_method"] != "card" {
		t.Errorf("checkout bodies %v", co)
	}
	items := co[0]["items"].([]any)[0].(map[string]any)
	if items["product_id"] != 1.0 || items["qty"] != 1.0 {
		t.Errorf("items %v", items)
	}
	for _, p := range g.bodies["/api/payments"] {
		if p["order_id"] != 4242.0 || p["amount_cents"] == nil {
			t.Errorf("payment body %v", p)
		}
	}
	u0, u1 := g.users["/api/checkout"][0], g.users["/api/checkout"][1]
	n0, _ := strconv.Atoi(u0)
	// Outside the cohort at every seeded share (up to 20%), inside it at every share (from 10%).
	if n0 < 1 || n0 > 1000 || cohort(u0) < 20 || cohort(u1) >= 10 {
		t.Errorf("users: no-code %s (cohort %d), with-code %s (cohort %d)", u0, cohort(u0), u1, cohort(u1))
	}
	checks := Evaluate(Observation{Probes: got}, DefaultThresholds())
	if c := find(t, checks, CheckProbePayment); c.Passed || !strings.Contains(c.Detail, "saved_card) -> 500") {
		t.Errorf("payment check %+v", c)
	}
	if c := find(t, checks, CheckProbeOrder); !c.Passed {
		t.Errorf("order check %+v", c)
	}
}

// TestProbesJudgeEverySeededVariant: the seed moves the SDK break between saved_card (even seeds, 0) and
// wallet (odd) and the cohort share between 10% and 20%; the probes find the break and stay inside/outside
// the cohort whichever variant runs, so no variant passes with payments broken or fails a fixed shop.
func TestProbesJudgeEverySeededVariant(t *testing.T) {
	for _, seed := range []int64{0, 7, 12, 11, 20} {
		broken := payments.StoredCredentialPath(seed)
		share := uint32(15)
		if seed != 0 {
			share = uint32(10 + uint64(seed)%11)
		}
		g := newFakeGateway()
		g.broken, g.cohort = broken, share
		srv := httptest.NewServer(g)
		checks := Evaluate(Observation{Probes: RunProbes(context.Background(), srv.Client(), srv.URL)}, DefaultThresholds())
		if c := find(t, checks, CheckProbePayment); c.Passed || !strings.Contains(c.Detail, broken+") -> 500") {
			t.Errorf("seed %d (%s breaks): payment check %+v", seed, broken, c)
		}
		if c := find(t, checks, CheckProbeCheckoutCode); c.Passed == (broken == "saved_card") {
			// The with-code probe pays with saved_card: it fails exactly when saved_card is the broken path.
			t.Errorf("seed %d (cohort %d%%): with-code checkout %+v", seed, share, c)
		}
		g.fixed = true
		for _, c := range Evaluate(Observation{Probes: RunProbes(context.Background(), srv.Client(), srv.URL)}, DefaultThresholds()) {
			if strings.HasPrefix(c.ID, "probe_") && !c.Passed {
				t.Errorf("seed %d, fixed shop: %s failed: %s", seed, c.ID, c.Detail)
			}
		}
		srv.Close()
	}
}

func TestRunProbesHealthyAndUnreachable(t *testing.T) {
	g := newFakeGateway()
	g.fixed = true
	srv := httptest.NewServer(g)
	for _, p := range RunProbes(context.Background(), srv.Client(), srv.URL) {
		if !p.OK() {
			t.Errorf("healthy gateway probe failed: %+v", p)
		}
	}
	srv.Close()
	for _, p := range RunProbes(context.Background(), &http.Client{Timeout: time.Second}, srv.URL) {
		if p.Code != 0 || p.Err == "" || !strings.Contains(p.String(), "no response") {
			t.Errorf("closed gateway probe = %+v", p)
		}
	}
}

// fakeControl serves the control room's JSON API.
func fakeControl(t *testing.T, state string, snap status.Snapshot, tl []status.Event) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("window") != "1m0s" {
			http.Error(w, "want window=1m0s, got "+r.URL.RawQuery, http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(snap)
	})
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, state) })
	mux.HandleFunc("GET /api/timeline", func(w http.ResponseWriter, r *http.Request) { _ = json.NewEncoder(w).Encode(tl) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestLiveChecksFromControlRoom(t *testing.T) {
	r := newRun(t)
	r.rollback(20*time.Second, "all", "v2.3.0")
	g := newFakeGateway()
	gw := httptest.NewServer(g)
	defer gw.Close()
	// What the control room serves at /api/state: status.DBState, encoded by the control room's own types.
	b, err := json.Marshal(r.state.DBState)
	if err != nil {
		t.Fatal(err)
	}
	snap := r.snap
	snap.Services = []status.Service{{Service: "orders", Versions: r.vers["orders"]}, {Service: "catalog", Versions: []string{"v2.3.0"}},
		{Service: "auth", Versions: []string{"v2.3.0"}}}
	ctl := fakeControl(t, string(b), snap, r.events)
	checks, obs, err := LiveChecks(context.Background(), LiveInput{GatewayURL: gw.URL, ControlURL: ctl.URL})
	if err != nil {
		t.Fatal(err)
	}
	if obs.State.Orders != 3000 || obs.State.MetadataRows != 900 || !obs.State.OrderMetadata.Exists || obs.State.OrderMetadata.HasDefault() ||
		obs.State.Integrity == nil || obs.State.Integrity.Tables[0].MetadataRows != 900 {
		t.Errorf("state %+v", obs.State)
	}
	if len(obs.Timeline) != len(r.events) {
		t.Errorf("timeline %d events, want %d", len(obs.Timeline), len(r.events))
	}
	if c := find(t, checks, CheckSchemaCompatible); c.Passed || !strings.Contains(c.Explain, "ROLLBACK TRAP") {
		t.Errorf("schema check %+v", c)
	}
	if c := find(t, checks, CheckEdgeSLO); c.Passed {
		t.Errorf("edge check %+v", c)
	}
	res := Grade(Input{Checks: checks, Timeline: obs.Timeline, State: obs.State})
	if ratingOf(res, AreaRollback) != Novice || ExitCode(res, nil) != ExitNotPassed {
		t.Errorf("rollback %v passed %v", ratingOf(res, AreaRollback), res.Passed)
	}
}

// ParseState reads only the shape the control room serves; the shapes it never sent are refused, not
// half-read into zero values.
func TestParseStateRejectsOtherShapes(t *testing.T) {
	st, err := ParseState([]byte(`{"at":"2026-05-01T12:00:00Z","ok":true,"orders_table":true,
		"order_metadata":{"exists":true,"nullable":true,"default":"'{}'::jsonb","data_type":"jsonb"},"migration_version":5,
		"flags":[],"orders":10,"metadata_rows":4,"max_order_id":10,
		"integrity":{"since":"2026-05-01T11:00:00Z","verified_at":"2026-05-01T12:00:00Z","tables":[{"table":"orders","high_water":10,"rows":10,"metadata_rows":4}]}}`))
	if err != nil || !st.OrderMetadata.Nullable || !st.OrderMetadata.HasDefault() || st.Orders != 10 || st.Integrity.Tables[0].MetadataRows != 4 {
		t.Fatalf("served state %+v %v", st, err)
	}
	for _, body := range []string{
		`{`,
		`{"order_metadata_exists":true,"orders_count":10,"metadata_rows":4,"versions":{"orders":["v2.4.0"]}}`,
		`{"db":{"ok":true,"orders":3000,"metadata_rows":900},"metadata_rows_max":900}`,
	} {
		if _, err := ParseState([]byte(body)); err == nil {
			t.Errorf("accepted %s", body)
		}
	}
}

func TestCollectFailsWithoutControlRoom(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	_, _, err := LiveChecks(context.Background(), LiveInput{ControlURL: srv.URL})
	if err == nil || ExitCode(nil, err) != ExitCouldNotRun {
		t.Fatalf("unreachable control room: err %v", err)
	}
}

func TestUnaffectedForgivesOneNoiseError(t *testing.T) {
	snap := func(errs float64) *status.Snapshot {
		s := &status.Snapshot{}
		for _, r := range []string{"/api/search", "/api/catalog", "/api/auth"} {
			e := status.Endpoint{Route: r, Requests: 120}
			if r == "/api/search" {
				e.Errors, e.ErrorRate = errs, errs/120
			}
			s.Endpoints = append(s.Endpoints, e)
		}
		return s
	}
	th := DefaultThresholds()
	if c := unaffectedUntouched(snap(1), &evidence{}, th); !c.Passed {
		t.Errorf("one noise error in 120 requests failed the check: %s", c.Detail)
	}
	if c := unaffectedUntouched(snap(3), &evidence{}, th); c.Passed {
		t.Errorf("3 errors in 120 requests (2.5%%) passed: %s", c.Detail)
	}
}
