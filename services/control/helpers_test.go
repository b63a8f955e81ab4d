package control

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/status"
)

// fakeClock is the controller's clock in tests: time moves only when the test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// instance is a shop instance served by httptest with a real client_golang registry; restart swaps in a
// fresh registry (counters start from zero, as after a container restart).
type instance struct {
	srv     *httptest.Server
	role    string
	version string
	reg     atomic.Pointer[registry]
	healthy atomic.Bool
	down    atomic.Bool // /metrics answers 500 (a failed scrape)
}

type registry struct {
	reg      *prometheus.Registry
	edge     *prometheus.CounterVec
	dur      *prometheus.HistogramVec
	loadgen  *prometheus.CounterVec
	handler  http.Handler
	buildVer string
}

func newInstance(t testing.TB, role, version string) *instance {
	t.Helper()
	in := &instance{role: role, version: version}
	in.healthy.Store(true)
	in.restart()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !in.healthy.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if in.down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		in.reg.Load().handler.ServeHTTP(w, r)
	})
	in.srv = httptest.NewServer(mux)
	t.Cleanup(in.srv.Close)
	return in
}

func (in *instance) restart() {
	r := &registry{reg: prometheus.NewRegistry(),
		edge: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edge_requests_total", Help: "edge"},
			[]string{"route", "code"}),
		dur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "edge_request_duration_seconds", Help: "edge",
			Buckets: platform.DurationBuckets}, []string{"route"}),
		loadgen: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "loadgen_requests_total", Help: "lg"},
			[]string{"route", "outcome"}),
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "app_build_info", Help: "build"},
		[]string{"service", "version", "sdk_version"})
	sdk := ""
	if in.role == "payments" {
		sdk = "4.0"
	}
	info.WithLabelValues(in.role, in.version, sdk).Set(1)
	r.reg.MustRegister(info)
	switch in.role {
	case "gateway":
		r.reg.MustRegister(r.edge, r.dur)
	case "loadgen":
		r.reg.MustRegister(r.loadgen)
	}
	r.handler = promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
	in.reg.Store(r)
}

func (in *instance) addr() string { return strings.TrimPrefix(in.srv.URL, "http://") }

// serve records n edge requests on route with code, each taking secs.
func (in *instance) serve(route string, code string, n int, secs float64) {
	r := in.reg.Load()
	for range n {
		r.edge.WithLabelValues(route, code).Inc()
		r.dur.WithLabelValues(route).Observe(secs)
	}
}

// fakeTopology is a mutable discoverer: tests add and remove instances between ticks.
type fakeTopology struct {
	mu sync.Mutex
	m  map[string][]string
}

func (tp *fakeTopology) set(role string, ins ...*instance) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.m == nil {
		tp.m = map[string][]string{}
	}
	tp.m[role] = nil
	for _, in := range ins {
		tp.m[role] = append(tp.m[role], in.addr())
	}
}

func (tp *fakeTopology) discover(ctx context.Context) map[string][]string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return StaticDiscoverer(tp.m)(ctx)
}

type harness struct {
	t     testing.TB
	clock *fakeClock
	topo  *fakeTopology
	dir   string
	c     *Controller
}

// testSecret is the sandbox secret the harness's control room knows the digest of.
const testSecret = "test-secret-0123456789abcdef"

func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, clock: newClock(), topo: &fakeTopology{}, dir: t.TempDir()}
	h.open()
	return h
}

func (h *harness) open() {
	h.t.Helper()
	c, err := New(Options{Name: "test", Version: "v2.3.0", Self: "control:8080", DataDir: h.dir,
		Interval: 2 * time.Second, Discover: h.topo.discover, Now: h.clock.Now, TokenDigest: status.TokenDigest(testSecret)})
	if err != nil {
		h.t.Fatal(err)
	}
	h.c = c
	h.t.Cleanup(func() { _ = c.Close() })
}

// reopen simulates a control room restart on the same volume.
func (h *harness) reopen() {
	h.t.Helper()
	if err := h.c.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.open()
}

func (h *harness) tick() { h.c.Tick(context.Background()) }

func (h *harness) events(kind string) []status.Event {
	var out []status.Event
	for _, e := range h.c.Timeline().Events(0) {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func endpoint(s status.Snapshot, route string) status.Endpoint {
	for _, e := range s.Endpoints {
		if e.Route == route {
			return e
		}
	}
	return status.Endpoint{}
}

func approx(a, b float64) bool {
	d := a - b
	return d < 1e-6 && d > -1e-6
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
