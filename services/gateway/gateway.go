package gateway

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/topology"
)

// Tunables (defaults; env overrides in ConfigFromEnv). The retry backoff is what turns a failing request
// into a slow one: with ~15% of requests failing, edge p99 moves from ~200 ms to ~450 ms.
const (
	DefaultBackoff   = 320 * time.Millisecond // SANDBOX_RETRY_BACKOFF
	DefaultJitter    = 100 * time.Millisecond // SANDBOX_RETRY_JITTER: uniform extra 0..jitter
	DefaultNoiseRate = 0.001                  // SANDBOX_NOISE_RATE
	DefaultTimeout   = 10 * time.Second       // SANDBOX_UPSTREAM_TIMEOUT, per attempt
	maxBody          = 1 << 20
)

// Edge error markers (header X-Sandbox-Edge-Error).
const (
	HeaderEdgeError     = "X-Sandbox-Edge-Error"
	EdgeErrUnreachable  = "upstream_unreachable"
	EdgeErrNoise        = "noise"
	retryReasonConn     = "connection"
	retryReason5xx      = "5xx"
	headerIdempotency   = "Idempotency-Key"
	headerUpstreamSvc   = "X-Sandbox-Upstream-Service"
	headerUpstreamVer   = "X-Sandbox-Upstream-Version"
	headerSandboxSvc    = "X-Sandbox-Service"
	headerSandboxVer    = "X-Sandbox-Version"
	upstreamEnvPrefix   = "SANDBOX_UPSTREAM_"
	defaultUpstreamPort = "8080"
)

// Route maps an edge route family to an upstream role and path prefix.
type Route = topology.Route

// Routes is the edge routing table (services/topology).
var Routes = topology.Routes

// Config tunes the gateway.
type Config struct {
	// Upstreams maps role -> host:port; missing roles use "<role>:8080".
	Upstreams map[string]string
	Backoff   time.Duration
	Jitter    time.Duration
	NoiseRate float64
	Timeout   time.Duration
}

// ConfigFromEnv reads SANDBOX_RETRY_BACKOFF, SANDBOX_RETRY_JITTER, SANDBOX_NOISE_RATE,
// SANDBOX_UPSTREAM_TIMEOUT and SANDBOX_UPSTREAM_<ROLE>=host:port.
func ConfigFromEnv(cfg platform.Config) Config {
	gc := Config{Upstreams: map[string]string{},
		Backoff:   cfg.Duration("SANDBOX_RETRY_BACKOFF", DefaultBackoff),
		Jitter:    cfg.Duration("SANDBOX_RETRY_JITTER", DefaultJitter),
		NoiseRate: cfg.Float("SANDBOX_NOISE_RATE", DefaultNoiseRate),
		Timeout:   cfg.Duration("SANDBOX_UPSTREAM_TIMEOUT", DefaultTimeout),
	}
	for _, r := range Routes {
		if v := cfg.Env(upstreamEnvPrefix + strings.ToUpper(r.Upstream)); v != "" {
			gc.Upstreams[r.Upstream] = v
		}
	}
	return gc
}

// noise fails exactly rate of calls: an integer accumulator in parts per billion, so the share over N
// requests is exact (floor(N*rate)) and reproducible, not random.
type noise struct {
	mu  sync.Mutex
	ppb int64
	acc int64
}

const billion = 1_000_000_000

func newNoise(rate float64) *noise {
	rate = math.Max(0, math.Min(1, rate))
	// Start half-way, so the first error comes after ~1/(2*rate) requests rather than at the very end.
	return &noise{ppb: int64(math.Round(rate * billion)), acc: billion / 2}
}

func (n *noise) fire() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.acc += n.ppb
	if n.acc >= billion {
		n.acc -= billion
		return true
	}
	return false
}

// Gateway is the edge proxy.
type Gateway struct {
	cfg      Config
	client   *http.Client
	log      *zap.Logger
	noise    *noise
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	retries  *prometheus.CounterVec
}

// New builds a gateway and registers its edge metrics on reg.
func New(gc Config, reg prometheus.Registerer, log *zap.Logger) *Gateway {
	if gc.Timeout <= 0 {
		gc.Timeout = DefaultTimeout
	}
	client := platform.HTTPClient(gc.Timeout)
	// The edge passes redirects through to the caller instead of following them.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	g := &Gateway{cfg: gc, client: client, log: log, noise: newNoise(gc.NoiseRate),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edge_requests_total",
			Help: "Edge requests by route family and final status code."}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "edge_request_duration_seconds",
			Help: "Edge latency by route family, including retries and backoff.", Buckets: platform.DurationBuckets}, []string{"route"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edge_upstream_retries_total",
			Help: "Upstream retries by route family and reason (connection or 5xx)."}, []string{"route", "reason"}),
	}
	reg.MustRegister(g.requests, g.duration, g.retries)
	return g
}

// Mount registers every route family (and a 404 for everything else) on s, with platform request metrics.
func (g *Gateway) Mount(s *platform.Server) { g.register(s.Handle) }

// Handler returns the routing table as a plain handler (tests, embedding).
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	g.register(func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, h) })
	return mux
}

func (g *Gateway) register(handle func(string, http.HandlerFunc)) {
	for _, r := range Routes {
		h := g.handler(r)
		handle(r.Family, h)
		handle(r.Family+"/", h)
	}
	// Unknown paths are not an edge route family: 404, no edge metrics.
	handle("/", func(w http.ResponseWriter, r *http.Request) {
		platform.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no such edge route"})
	})
}

func (g *Gateway) upstreamHost(role string) string {
	if h := g.cfg.Upstreams[role]; h != "" {
		return h
	}
	return role + ":" + defaultUpstreamPort
}

// hopHeaders are connection-scoped and never forwarded.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te",
	"Trailer", "Transfer-Encoding", "Upgrade"}

func (g *Gateway) handler(rt Route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := g.serve(w, r, rt)
		g.requests.WithLabelValues(rt.Family, strconv.Itoa(code)).Inc()
		g.duration.WithLabelValues(rt.Family).Observe(time.Since(start).Seconds())
	}
}

func edgeError(w http.ResponseWriter, code int, marker, msg string) int {
	w.Header().Set(HeaderEdgeError, marker)
	platform.WriteJSON(w, code, map[string]string{"error": msg, "edge_error": marker})
	return code
}

// HeaderRequestID is the request id the edge assigns when a client sent none.
const HeaderRequestID = "X-Request-ID"

func newRequestID() string {
	b := make([]byte, 8)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// serve proxies one request and returns the status code sent.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, rt Route) int {
	// Noise is decided per request up front and is final: it is never retried, so the healthy share is exact.
	// One accumulator for all edge traffic: any window with N requests holds floor(N*rate) +/- 1 noise
	// errors, spread over the routes in proportion to their traffic.
	if g.noise.fire() {
		return edgeError(w, http.StatusBadGateway, EdgeErrNoise, "edge background error")
	}
	// Buffer the body so a retry replays it byte for byte.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		platform.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "read request body"})
		return http.StatusBadRequest
	}
	if len(body) > maxBody {
		platform.WriteJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "body too large"})
		return http.StatusRequestEntityTooLarge
	}
	// Every request carries an id through the shop, as an edge would give it: services log it on errors.
	if r.Header.Get(HeaderRequestID) == "" {
		r.Header.Set(HeaderRequestID, newRequestID())
	}
	w.Header().Set(HeaderRequestID, r.Header.Get(HeaderRequestID))
	retryable := r.Method == http.MethodGet || r.Header.Get(headerIdempotency) != ""
	p := rt.Rewrite + strings.TrimPrefix(r.URL.Path, rt.Family)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	target := "http://" + g.upstreamHost(rt.Upstream) + p
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}

	var resp *http.Response
	for attempt := 0; ; attempt++ {
		resp, err = g.attempt(r, target, body)
		var reason string
		switch {
		case err != nil:
			reason = retryReasonConn
		case resp.StatusCode >= 500:
			reason = retryReason5xx
		}
		if reason == "" || !retryable || attempt == 1 || r.Context().Err() != nil {
			break
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			resp = nil
		}
		g.retries.WithLabelValues(rt.Family, reason).Inc()
		if !g.sleep(r.Context()) {
			break
		}
	}
	if err != nil || resp == nil {
		g.log.Warn("upstream unreachable", zap.String("route", rt.Family), zap.String("upstream", rt.Upstream), zap.Error(err))
		return edgeError(w, http.StatusBadGateway, EdgeErrUnreachable, "upstream "+rt.Upstream+" unreachable")
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, vs := range resp.Header {
		switch http.CanonicalHeaderKey(k) {
		case headerSandboxSvc:
			h[headerUpstreamSvc] = vs
			continue
		case headerSandboxVer:
			h[headerUpstreamVer] = vs
			continue
		}
		h[k] = vs
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	return resp.StatusCode
}

func (g *Gateway) sleep(ctx context.Context) bool {
	d := g.cfg.Backoff
	if g.cfg.Jitter > 0 {
		d += time.Duration(rand.Int64N(int64(g.cfg.Jitter) + 1))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (g *Gateway) attempt(r *http.Request, target string, body []byte) (*http.Response, error) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	out.Header = r.Header.Clone()
	for _, k := range hopHeaders {
		out.Header.Del(k)
	}
	out.Header.Del(HeaderEdgeError)
	if len(body) == 0 {
		out.Body = http.NoBody
	}
	resp, err := g.client.Do(out)
	if err != nil {
		return nil, fmt.Errorf("upstream %s %s: %w", r.Method, target, err)
	}
	return resp, nil
}

// Run serves the gateway role.
func Run(ctx context.Context, cfg platform.Config) error {
	log := platform.NewLogger(cfg)
	defer log.Sync() //nolint:errcheck
	s := platform.NewServer(cfg, log)
	gc := ConfigFromEnv(cfg)
	log.Info("gateway config", zap.Duration("backoff", gc.Backoff), zap.Duration("jitter", gc.Jitter),
		zap.Float64("noise_rate", gc.NoiseRate), zap.Any("upstreams", gc.Upstreams))
	New(gc, s.Metrics.Registry, log).Mount(s)
	if err := s.Run(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}
