package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/internal/testenv"
)

// seen records what an upstream received.
type seen struct {
	mu    sync.Mutex
	paths []string
	body  []string
	keys  []string
	ids   []string
}

func (s *seen) add(r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paths = append(s.paths, r.URL.RequestURI())
	s.body = append(s.body, string(b))
	s.keys = append(s.keys, r.Header.Get("Idempotency-Key"))
	s.ids = append(s.ids, r.Header.Get(HeaderRequestID))
}

// TestEveryRequestCarriesAnID: the edge gives a request without one an id, keeps a client's own, sends it
// upstream and back, so a service's error line can be tied to the request that hit it.
func TestEveryRequestCarriesAnID(t *testing.T) {
	cat, cs := upstream(t, 200)
	_, _, edge := newGateway(t, map[string]string{"catalog": hostOf(cat)}, 0)
	r1 := do(t, "GET", edge.URL+"/api/catalog", "", nil)
	r2 := do(t, "GET", edge.URL+"/api/catalog", "", map[string]string{HeaderRequestID: "client-42"})
	if len(cs.ids) != 2 || len(cs.ids[0]) != 16 || cs.ids[0] != r1.Header.Get(HeaderRequestID) || cs.ids[1] != "client-42" ||
		r2.Header.Get(HeaderRequestID) != "client-42" {
		t.Errorf("upstream saw ids %q; responses %q, %q", cs.ids, r1.Header.Get(HeaderRequestID), r2.Header.Get(HeaderRequestID))
	}
}

func (s *seen) n() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.paths) }

// upstream answers with codes[i] for the i-th request (the last code repeats).
func upstream(t *testing.T, codes ...int) (*httptest.Server, *seen) {
	t.Helper()
	var s seen
	var i atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.add(r)
		n := int(i.Add(1)) - 1
		if n >= len(codes) {
			n = len(codes) - 1
		}
		w.Header().Set("X-Sandbox-Service", "up")
		w.Header().Set("X-Sandbox-Version", "v9")
		w.WriteHeader(codes[n])
		_, _ = io.WriteString(w, "from upstream")
	}))
	t.Cleanup(srv.Close)
	return srv, &s
}

func newGateway(t *testing.T, roles map[string]string, noiseRate float64) (*Gateway, *prometheus.Registry, *httptest.Server) {
	t.Helper()
	reg := prometheus.NewRegistry()
	g := New(Config{Upstreams: roles, Backoff: time.Millisecond, Jitter: time.Millisecond, NoiseRate: noiseRate,
		Timeout: 5 * time.Second}, reg, zap.NewNop())
	edge := httptest.NewServer(g.Handler())
	t.Cleanup(edge.Close)
	return g, reg, edge
}

func hostOf(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

func do(t *testing.T, method, url, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestRetryOn5xxWithKeyReplaysBody(t *testing.T) {
	up, s := upstream(t, 503, 201)
	g, _, edge := newGateway(t, map[string]string{"checkout": hostOf(up)}, 0)
	body := `{"user_id":7,"items":[{"product_id":3,"qty":2}],"payment_method":"card"}`
	resp := do(t, "POST", edge.URL+"/api/checkout", body, map[string]string{"Idempotency-Key": "k-1"})
	if resp.StatusCode != 201 {
		t.Fatalf("status %d, want 201 after retry", resp.StatusCode)
	}
	if s.n() != 2 {
		t.Fatalf("upstream saw %d requests, want 2", s.n())
	}
	for i := range 2 {
		if s.body[i] != body || s.keys[i] != "k-1" || s.paths[i] != "/checkout" {
			t.Errorf("attempt %d: path %q key %q body %q", i, s.paths[i], s.keys[i], s.body[i])
		}
	}
	if v := counterValue(g.retries.WithLabelValues("/api/checkout", "5xx")); v != 1 {
		t.Errorf("retries{5xx} = %v, want 1", v)
	}
	if v := counterValue(g.requests.WithLabelValues("/api/checkout", "201")); v != 1 {
		t.Errorf("edge_requests_total{201} = %v, want 1", v)
	}
	// The edge keeps its own identity (callers verify X-Sandbox-Service) and reports the upstream's apart.
	if resp.Header.Get("X-Sandbox-Service") == "up" || resp.Header.Get("X-Sandbox-Upstream-Service") != "up" {
		t.Errorf("identity headers: service %q upstream %q", resp.Header.Get("X-Sandbox-Service"), resp.Header.Get("X-Sandbox-Upstream-Service"))
	}
	if resp.Header.Get("X-Sandbox-Upstream-Version") != "v9" {
		t.Errorf("upstream version header %q, want v9", resp.Header.Get("X-Sandbox-Upstream-Version"))
	}
}

func TestNoRetryForPostWithoutKey(t *testing.T) {
	up, s := upstream(t, 500, 200)
	g, _, edge := newGateway(t, map[string]string{"orders": hostOf(up)}, 0)
	resp := do(t, "POST", edge.URL+"/api/orders", `{"user_id":1}`, nil)
	if resp.StatusCode != 500 || s.n() != 1 {
		t.Fatalf("status %d, upstream calls %d; want 500 and 1 call", resp.StatusCode, s.n())
	}
	if n := seriesCount(g.retries); n != 0 {
		t.Errorf("%d retry series recorded, want none", n)
	}
	if v := counterValue(g.requests.WithLabelValues("/api/orders", "500")); v != 1 {
		t.Errorf("edge_requests_total{500} = %v", v)
	}
}

func TestGetRetriedOnceThenPassesThrough5xx(t *testing.T) {
	up, s := upstream(t, 502, 504, 200)
	_, _, edge := newGateway(t, map[string]string{"orders": hostOf(up)}, 0)
	resp := do(t, "GET", edge.URL+"/api/orders?user_id=4", "", nil)
	// Exactly one retry: the second 5xx is final, the third answer is never asked for.
	if resp.StatusCode != 504 || s.n() != 2 {
		t.Fatalf("status %d, calls %d; want 504 after exactly 2 calls", resp.StatusCode, s.n())
	}
	if resp.Header.Get(HeaderEdgeError) != "" {
		t.Errorf("an upstream 5xx must not be marked as an edge error")
	}
	if s.paths[1] != "/orders?user_id=4" {
		t.Errorf("retried path %q", s.paths[1])
	}
}

func TestPathRewrites(t *testing.T) {
	cat, cs := upstream(t, 200)
	auth, as := upstream(t, 200)
	pay, ps := upstream(t, 200)
	_, _, edge := newGateway(t, map[string]string{"catalog": hostOf(cat), "auth": hostOf(auth), "payments": hostOf(pay)}, 0)
	do(t, "GET", edge.URL+"/api/search?q=red+mug", "", nil)
	do(t, "GET", edge.URL+"/api/catalog", "", nil)
	do(t, "GET", edge.URL+"/api/catalog/17", "", nil)
	do(t, "POST", edge.URL+"/api/auth/login", `{"user_id":3}`, nil)
	do(t, "GET", edge.URL+"/api/payments/12", "", nil)
	want := []string{"/search?q=red+mug", "/products", "/products/17"}
	if strings.Join(cs.paths, " ") != strings.Join(want, " ") {
		t.Errorf("catalog saw %v, want %v", cs.paths, want)
	}
	if len(as.paths) != 1 || as.paths[0] != "/login" || as.body[0] != `{"user_id":3}` {
		t.Errorf("auth saw %v %v", as.paths, as.body)
	}
	if len(ps.paths) != 1 || ps.paths[0] != "/payments/12" {
		t.Errorf("payments saw %v", ps.paths)
	}
}

func TestUnknownPathIs404WithoutEdgeMetrics(t *testing.T) {
	g, _, edge := newGateway(t, nil, 1)
	for _, p := range []string{"/", "/api/unknown", "/api/searchx", "/api"} {
		if resp := do(t, "GET", edge.URL+p, "", nil); resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 404", p, resp.StatusCode)
		}
	}
	if n := seriesCount(g.requests); n != 0 {
		t.Errorf("unknown paths produced %d edge series", n)
	}
}

func TestNoiseShareIsExact(t *testing.T) {
	up, s := upstream(t, 200)
	g, _, edge := newGateway(t, map[string]string{"catalog": hostOf(up)}, 0.01)
	const n = 1000
	noise := 0
	for range n {
		resp := do(t, "GET", edge.URL+"/api/search?q=x", "", nil)
		if resp.StatusCode == 502 && resp.Header.Get(HeaderEdgeError) == EdgeErrNoise {
			noise++
		} else if resp.StatusCode != 200 {
			t.Fatalf("unexpected status %d", resp.StatusCode)
		}
	}
	if noise != 10 {
		t.Errorf("noise failures %d of %d, want exactly 10", noise, n)
	}
	if s.n() != n-10 {
		t.Errorf("upstream called %d times; noise must not reach upstream (want %d)", s.n(), n-10)
	}
	if v := counterValue(g.requests.WithLabelValues("/api/search", "502")); v != 10 {
		t.Errorf("edge_requests_total{502} = %v", v)
	}
	// Noise is the edge's own: it never reaches upstream and is never retried.
	if n := seriesCount(g.retries); n != 0 {
		t.Errorf("noise caused %d retry series", n)
	}
}

func TestNoiseDefaultRate(t *testing.T) {
	nz := newNoise(DefaultNoiseRate)
	fired := 0
	for range 100_000 {
		if nz.fire() {
			fired++
		}
	}
	if fired != 100 {
		t.Errorf("default rate fired %d of 100000, want 100", fired)
	}
}

func TestConnectionRefusedRetriedThenUnreachable(t *testing.T) {
	dead := testenv.RefusedAddr(t) // held, never listening: connection refused for the whole test
	g, _, edge := newGateway(t, map[string]string{"payments": dead}, 0)
	resp := do(t, "POST", edge.URL+"/api/payments", `{"order_id":1}`, map[string]string{"Idempotency-Key": "k-9"})
	if resp.StatusCode != 502 || resp.Header.Get(HeaderEdgeError) != EdgeErrUnreachable {
		t.Fatalf("status %d edge error %q, want 502 upstream_unreachable", resp.StatusCode, resp.Header.Get(HeaderEdgeError))
	}
	if v := counterValue(g.retries.WithLabelValues("/api/payments", "connection")); v != 1 {
		t.Errorf("connection retries = %v, want 1", v)
	}
	// Without a key a POST is not retried even on connection errors.
	resp = do(t, "POST", edge.URL+"/api/payments", `{}`, nil)
	if resp.StatusCode != 502 || resp.Header.Get(HeaderEdgeError) != EdgeErrUnreachable {
		t.Fatalf("unkeyed: status %d", resp.StatusCode)
	}
	if v := counterValue(g.retries.WithLabelValues("/api/payments", "connection")); v != 1 {
		t.Errorf("connection retries after unkeyed POST = %v, want still 1", v)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{"SANDBOX_RETRY_BACKOFF": "50ms", "SANDBOX_NOISE_RATE": "0.02",
		"SANDBOX_UPSTREAM_CATALOG": "127.0.0.1:9999"}
	gc := ConfigFromEnv(testConfig(env))
	if gc.Backoff != 50*time.Millisecond || gc.Jitter != DefaultJitter || gc.NoiseRate != 0.02 {
		t.Errorf("config %+v", gc)
	}
	g := New(gc, prometheus.NewRegistry(), zap.NewNop())
	if g.upstreamHost("catalog") != "127.0.0.1:9999" || g.upstreamHost("orders") != "orders:8080" {
		t.Errorf("upstream hosts %q %q", g.upstreamHost("catalog"), g.upstreamHost("orders"))
	}
}
