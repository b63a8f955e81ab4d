package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/internal/testenv"
	"github.com/sandbox-labs/sandbox/services/gateway"
)

func TestPickerExactMix(t *testing.T) {
	p := NewPicker(DefaultMix)
	want := map[Kind]int{}
	total := 0
	for _, s := range DefaultMix {
		want[s.Kind] = s.Percent
		total += s.Percent
	}
	if total != 100 {
		t.Fatalf("mix sums to %d, want 100", total)
	}
	// Every consecutive block of 100 draws carries the mix exactly.
	for block := range 50 {
		got := map[Kind]int{}
		for range 100 {
			got[p.Next()]++
		}
		for k, n := range want {
			if got[k] != n {
				t.Fatalf("block %d: %s drawn %d times, want %d", block, k, got[k], n)
			}
		}
	}
	// Family shares: orders 13, payments 10.
	fam := map[string]int{}
	for _, s := range DefaultMix {
		fam[s.Kind.Route()] += s.Percent
	}
	for r, n := range map[string]int{"/api/search": 30, "/api/catalog": 27, "/api/auth": 12, "/api/checkout": 8, "/api/orders": 13, "/api/payments": 10} {
		if fam[r] != n {
			t.Errorf("family %s = %d%%, want %d%%", r, fam[r], n)
		}
	}
}

func TestPickerInterleaves(t *testing.T) {
	// Evenly spread: checkout (8%) never waits more than 20 draws for its next turn.
	p := NewPicker(DefaultMix)
	last := -1
	for i := range 1000 {
		if p.Next() == KindCheckout {
			if last >= 0 && i-last > 20 {
				t.Fatalf("checkout gap of %d draws at %d", i-last, i)
			}
			last = i
		}
	}
}

func TestCohortStableAndShare(t *testing.T) {
	f := DefaultFlag
	n := 0
	for u := int64(1); u <= NumUsers; u++ {
		in := InCohort(u, f)
		if in != InCohort(u, f) {
			t.Fatalf("user %d cohort not stable", u)
		}
		if in {
			n++
			if !InCohort(u, Flag{Enabled: true, RolloutPercent: 30}) {
				t.Errorf("user %d in the 15%% cohort but not in the 30%% one", u)
			}
		}
		if InCohort(u, Flag{Enabled: false, RolloutPercent: 100}) {
			t.Fatalf("disabled flag put user %d in the cohort", u)
		}
		if InCohort(u, Flag{Enabled: true, RolloutPercent: 0}) || !InCohort(u, Flag{Enabled: true, RolloutPercent: 100}) {
			t.Fatalf("rollout 0/100 wrong for user %d", u)
		}
	}
	if n < 120 || n > 180 {
		t.Errorf("cohort at 15%% has %d of %d users, want about 150", n, NumUsers)
	}
	// The contract's formula, spelled out.
	if InCohort(1, f) != (fnv32a("discount_codes:1")%100 < 15) {
		t.Error("InCohort disagrees with fnv32a(\"discount_codes:\"+id) % 100 < rollout")
	}
}

func TestPaymentMethodSplit(t *testing.T) {
	card := 0
	for u := int64(1); u <= NumUsers; u++ {
		m := MethodFor(u, MethodSavedCard)
		if m != MethodFor(u, MethodSavedCard) {
			t.Fatalf("user %d method not stable", u)
		}
		switch m {
		case MethodCard:
			card++
		case MethodSavedCard:
		default:
			t.Fatalf("user %d method %q", u, m)
		}
		if m == MethodSavedCard && MethodFor(u, "wallet") != "wallet" {
			t.Fatalf("secondary method not honoured for user %d", u)
		}
	}
	if lo, hi := NumUsers*(CardSharePercent-5)/100, NumUsers*(CardSharePercent+5)/100; card < lo || card > hi {
		t.Errorf("card users %d of %d, want about %d%%", card, NumUsers, CardSharePercent)
	}
}

func TestClassify(t *testing.T) {
	mk := func(code int, edge string) *http.Response {
		h := http.Header{}
		if edge != "" {
			h.Set(gateway.HeaderEdgeError, edge)
		}
		return &http.Response{StatusCode: code, Header: h}
	}
	cases := []struct {
		resp *http.Response
		err  error
		want Outcome
	}{
		{nil, errors.New("connection refused"), Dropped},
		{mk(502, gateway.EdgeErrUnreachable), nil, Dropped},
		{mk(502, gateway.EdgeErrNoise), nil, Error},
		{mk(502, ""), nil, Error},
		{mk(500, ""), nil, Error},
		{mk(422, ""), nil, Error},
		{mk(200, ""), nil, OK},
		{mk(201, ""), nil, OK},
	}
	for i, c := range cases {
		if got := Classify(c.resp, c.err); got != c.want {
			t.Errorf("case %d: %v", i, got)
		}
	}
}

// shop is a fake set of upstream services behind a real gateway; it records what users sent.
type shop struct {
	mu   sync.Mutex
	reqs []seenReq
	id   atomic.Int64
}

type seenReq struct {
	Method, Path, User, Key, Auth string
	Body                          map[string]json.RawMessage
}

func (s *shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	sr := seenReq{Method: r.Method, Path: r.URL.Path, User: r.Header.Get("X-User-ID"),
		Key: r.Header.Get("Idempotency-Key"), Auth: r.Header.Get("Authorization")}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &sr.Body); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
	}
	s.mu.Lock()
	s.reqs = append(s.reqs, sr)
	s.mu.Unlock()
	id := s.id.Add(1)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "POST" && r.URL.Path == "/login":
		fmt.Fprintf(w, `{"token":"tok-%s"}`, sr.User)
	case r.Method == "POST" && r.URL.Path == "/checkout":
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"order":{"id":%d}}`, id)
	case r.Method == "POST":
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"id":%d}`, id)
	default:
		io.WriteString(w, `{}`)
	}
}

func (s *shop) all() []seenReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenReq(nil), s.reqs...)
}

// edge starts a real gateway in front of a fake shop; roles listed in dead point at a closed port.
func edge(t *testing.T, dead ...string) (*shop, string) {
	t.Helper()
	sh := &shop{}
	up := httptest.NewServer(sh)
	t.Cleanup(up.Close)
	host := strings.TrimPrefix(up.URL, "http://")
	roles := map[string]string{}
	for _, r := range gateway.Routes {
		roles[r.Upstream] = host
	}
	for _, d := range dead {
		roles[d] = closedAddr(t)
	}
	g := gateway.New(gateway.Config{Upstreams: roles, Backoff: time.Millisecond, Timeout: 5 * time.Second},
		prometheus.NewRegistry(), zap.NewNop())
	gw := httptest.NewServer(g.Handler())
	t.Cleanup(gw.Close)
	return sh, gw.URL
}

func closedAddr(t *testing.T) string { return testenv.RefusedAddr(t) }

func metricValue(t *testing.T, l *Loadgen, route string, out Outcome) float64 {
	t.Helper()
	var m dto.Metric
	if err := l.requests.WithLabelValues(route, string(out)).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestRequestsThroughGateway(t *testing.T) {
	sh, url := edge(t)
	l := New(Config{Target: url, RPS: 1}, prometheus.NewRegistry(), zap.NewNop())
	r := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	p := NewPicker(DefaultMix)
	const n = 600
	for i := range n {
		user := int64(1 + i%NumUsers)
		if out := l.Do(ctx, p.Next(), user, r); out != OK {
			t.Fatalf("request %d: %s", i, out)
		}
	}
	reqs := sh.all()
	if len(reqs) != n {
		t.Fatalf("shop saw %d requests, want %d", len(reqs), n)
	}
	keys := map[string]bool{}
	checkouts, withCode := 0, 0
	for _, q := range reqs {
		if q.User == "" || q.Key == "" || keys[q.Key] {
			t.Fatalf("request %s %s: user %q key %q (keys must be unique)", q.Method, q.Path, q.User, q.Key)
		}
		keys[q.Key] = true
		uid, _ := strconv.ParseInt(q.User, 10, 64)
		if pm, ok := q.Body["payment_method"]; ok && string(pm) != strconv.Quote(MethodFor(uid, MethodSavedCard)) {
			t.Errorf("user %d sent payment_method %s", uid, pm)
		}
		if q.Path == "/checkout" {
			checkouts++
			code, has := q.Body["discount_code"]
			if has != InCohort(uid, DefaultFlag) {
				t.Errorf("user %d (cohort %v) sent discount_code field: %v", uid, InCohort(uid, DefaultFlag), has)
			}
			if has {
				withCode++
				if string(code) != strconv.Quote(CodeFor(uid)) {
					t.Errorf("user %d sent code %s", uid, code)
				}
			}
		}
		if q.Path == "/session" && q.Auth != "Bearer tok-"+q.User {
			t.Errorf("session for user %s with %q", q.User, q.Auth)
		}
		if q.Path == "/payments" && q.Method == "POST" {
			if _, ok := q.Body["order_id"]; !ok {
				t.Errorf("payment charge without order_id: %v", q.Body)
			}
		}
	}
	if checkouts != n*8/100 {
		t.Errorf("%d checkouts of %d, want %d", checkouts, n, n*8/100)
	}
	st := l.Stats()
	if st.Sent != n || st.OK != n || st.Errors != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v", st.counts)
	}
	if got := metricValue(t, l, "/api/search", OK); got != float64(st.ByRoute["/api/search"].OK) || got != n*30/100 {
		t.Errorf("search ok metric %v, stats %+v", got, st.ByRoute["/api/search"])
	}
}

func TestFlagChangesWhoSendsDiscount(t *testing.T) {
	sh, url := edge(t)
	l := New(Config{Target: url, RPS: 1}, prometheus.NewRegistry(), zap.NewNop())
	r := rand.New(rand.NewPCG(3, 4))
	var user int64
	for u := int64(1); u <= NumUsers; u++ {
		if InCohort(u, DefaultFlag) {
			user = u
			break
		}
	}
	l.Do(context.Background(), KindCheckout, user, r)
	l.SetFlag(Flag{Enabled: false, RolloutPercent: 15})
	l.Do(context.Background(), KindCheckout, user, r)
	reqs := sh.all()
	if _, has := reqs[0].Body["discount_code"]; !has {
		t.Error("cohort user did not send a discount code while the flag was on")
	}
	if _, has := reqs[1].Body["discount_code"]; has {
		t.Error("flag off: the UI must hide the field and send no discount_code")
	}
}

func TestDroppedClassification(t *testing.T) {
	_, url := edge(t, "payments", "orders")
	l := New(Config{Target: url, RPS: 1}, prometheus.NewRegistry(), zap.NewNop())
	r := rand.New(rand.NewPCG(5, 6))
	ctx := context.Background()
	if out := l.Do(ctx, KindOrdersList, 7, r); out != Dropped {
		t.Errorf("orders unreachable behind the gateway: %s, want dropped", out)
	}
	if out := l.Do(ctx, KindSearch, 7, r); out != OK {
		t.Errorf("search: %s, want ok", out)
	}
	// No gateway at all: transport error.
	l2 := New(Config{Target: "http://" + closedAddr(t), RPS: 1}, prometheus.NewRegistry(), zap.NewNop())
	if out := l2.Do(ctx, KindSearch, 7, r); out != Dropped {
		t.Errorf("no gateway: %s, want dropped", out)
	}
	if got := metricValue(t, l, "/api/orders", Dropped); got != 1 {
		t.Errorf("orders dropped metric %v", got)
	}
	if st := l.Stats(); st.Dropped != 1 || st.OK != 1 || st.ByRoute["/api/orders"].Dropped != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPaymentsUseKnownOrders(t *testing.T) {
	sh, url := edge(t)
	l := New(Config{Target: url, RPS: 1}, prometheus.NewRegistry(), zap.NewNop())
	r := rand.New(rand.NewPCG(7, 8))
	ctx := context.Background()
	// No order known yet: a charge becomes an order creation.
	l.Do(ctx, KindPaymentsCharge, 9, r)
	l.Do(ctx, KindPaymentsCharge, 9, r)
	l.Do(ctx, KindPaymentsGet, 9, r)
	reqs := sh.all()
	if reqs[0].Path != "/orders" || reqs[0].Method != "POST" {
		t.Fatalf("first charge without orders went to %s %s", reqs[0].Method, reqs[0].Path)
	}
	if reqs[1].Path != "/payments" || string(reqs[1].Body["order_id"]) != "1" {
		t.Errorf("second charge: %s %v, want POST /payments for order 1", reqs[1].Path, reqs[1].Body)
	}
	if reqs[2].Method != "GET" || reqs[2].Path != "/payments/2" {
		t.Errorf("payment lookup: %s %s, want GET /payments/2", reqs[2].Method, reqs[2].Path)
	}
}

func TestLoopAndStatsEndpoint(t *testing.T) {
	sh, url := edge(t)
	l := New(Config{Target: url, RPS: 500}, prometheus.NewRegistry(), zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Loop(ctx); close(done) }()
	testenv.WaitFor(t, 30*time.Second, "200 requests sent", func() bool { return l.Stats().Sent >= 200 })
	cancel()
	<-done // Loop waits for its in-flight requests
	st := l.Stats()
	// Requests cut off by the cancel count as dropped; every other one reached the shop and succeeded.
	if st.Errors != 0 || st.OK+st.Dropped != st.Sent || st.OK > int64(len(sh.all())) || st.OK < 150 {
		t.Errorf("stats %+v, shop saw %d", st.counts, len(sh.all()))
	}
	mux := http.NewServeMux()
	l.Mount(func(p string, h http.HandlerFunc) { mux.HandleFunc(p, h) })
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/stats", nil))
	var got struct {
		Sent    int64                     `json:"sent"`
		OK      int64                     `json:"ok"`
		ByRoute map[string]map[string]int `json:"by_route"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Sent != st.Sent || got.OK != st.OK || got.ByRoute["/api/search"]["sent"] == 0 {
		t.Errorf("/stats = %s", rec.Body.String())
	}
}
