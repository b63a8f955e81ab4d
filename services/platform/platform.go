// Package platform is what every shop role shares: config from the environment, a zap JSON logger, an HTTP
// server with /healthz, /metrics and graceful shutdown, Prometheus request metrics and app_build_info.
package platform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/services/release"
)

// Config is read from the container environment (see docs/ARCHITECTURE.md).
type Config struct {
	Service     string
	Name        string
	Release     release.Release
	Listen      string
	DatabaseURL string
	Seed        int64
	Env         func(string) string
	// Listener, when set, is served instead of listening on Listen: tests hand over a port they hold, so
	// no other process can take it between picking and listening.
	Listener net.Listener
}

// Get returns an env var with a default.
func (c Config) Get(key, def string) string {
	if v := c.Env(key); v != "" {
		return v
	}
	return def
}

// Float returns a float env var with a default.
func (c Config) Float(key string, def float64) float64 {
	if v, err := strconv.ParseFloat(c.Env(key), 64); err == nil {
		return v
	}
	return def
}

// Duration returns a duration env var with a default.
func (c Config) Duration(key string, def time.Duration) time.Duration {
	if v, err := time.ParseDuration(c.Env(key)); err == nil {
		return v
	}
	return def
}

// ReleaseFile is where an image carries its release manifest.
const ReleaseFile = "/etc/sandbox/release.json"

// LoadConfig reads the SANDBOX_* environment for role.
func LoadConfig(role string, getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	manifest := getenv("SANDBOX_RELEASE")
	if manifest == "" {
		// Images bake their release here; the env var wins so tests and `docker run -e` can override it.
		if b, err := os.ReadFile(ReleaseFile); err == nil {
			manifest = string(b)
		}
	}
	rel, err := release.Decode(manifest)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Service: role, Name: getenv("SANDBOX_NAME"), Release: rel, Listen: getenv("SANDBOX_LISTEN"),
		DatabaseURL: getenv("SANDBOX_DATABASE_URL"), Env: getenv}
	if cfg.Listen == "" {
		cfg.Listen = ":8080"
	}
	if s := getenv("SANDBOX_SEED"); s != "" {
		if cfg.Seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			return Config{}, fmt.Errorf("SANDBOX_SEED %q: not an integer", s)
		}
	} else {
		cfg.Seed = rel.Seed
	}
	return cfg, nil
}

// NewLogger returns a production JSON logger tagged with service and version.
func NewLogger(cfg Config) *zap.Logger {
	zc := zap.NewProductionConfig()
	zc.Sampling = nil
	zc.EncoderConfig.TimeKey = "ts"
	zc.EncoderConfig.EncodeTime = zapTimeEncoder
	log, err := zc.Build()
	if err != nil {
		log = zap.NewNop()
	}
	return log.With(zap.String("service", cfg.Service), zap.String("version", cfg.Release.Version))
}

// DurationBuckets are shared by every latency histogram so dashboards can compare them.
var DurationBuckets = []float64{.005, .01, .025, .05, .075, .1, .15, .2, .25, .3, .35, .4, .45, .5, .6, .75, 1, 1.5, 2, 3, 5}

// Metrics are the per-request metrics every role exports.
type Metrics struct {
	Registry *prometheus.Registry
	Requests *prometheus.CounterVec
	Duration *prometheus.HistogramVec
}

// NewMetrics registers the shared metrics and app_build_info on a fresh registry.
func NewMetrics(cfg Config) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{Registry: reg,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "http_requests_total",
			Help: "HTTP requests handled, by route pattern and status code."}, []string{"service", "route", "method", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "http_request_duration_seconds",
			Help: "HTTP request latency by route pattern.", Buckets: DurationBuckets}, []string{"service", "route", "method"}),
	}
	sdk := ""
	if cfg.Service == "payments" {
		sdk = cfg.Release.SDKVersion()
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "app_build_info",
		Help: "Running release of this instance."}, []string{"service", "version", "sdk_version"})
	info.WithLabelValues(cfg.Service, cfg.Release.Version, sdk).Set(1)
	reg.MustRegister(m.Requests, m.Duration, info, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Server wraps an http.ServeMux with the shared endpoints and middleware.
type Server struct {
	Cfg      Config
	Log      *zap.Logger
	Metrics  *Metrics
	Mux      *http.ServeMux
	draining atomic.Bool
}

// NewServer builds a server for cfg with /healthz and /metrics mounted.
func NewServer(cfg Config, log *zap.Logger) *Server {
	s := &Server{Cfg: cfg, Log: log, Metrics: NewMetrics(cfg), Mux: http.NewServeMux()}
	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	s.Mux.Handle("GET /metrics", promhttp.HandlerFor(s.Metrics.Registry, promhttp.HandlerOpts{}))
	return s
}

// Handle mounts h on pattern (Go 1.22 mux pattern, e.g. "POST /checkout") with request metrics labelled by
// the pattern's path, so metric labels never carry raw paths.
func (s *Server) Handle(pattern string, h http.HandlerFunc) {
	method, route := splitPattern(pattern)
	s.Mux.Handle(pattern, s.instrument(method, route, h))
}

func splitPattern(p string) (method, route string) {
	for i := 0; i < len(p); i++ {
		if p[i] == ' ' {
			return p[:i], p[i+1:]
		}
	}
	return "ANY", p
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (s *Server) instrument(method, route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		w.Header().Set("X-Sandbox-Service", s.Cfg.Service)
		w.Header().Set("X-Sandbox-Version", s.Cfg.Release.Version)
		rec := &statusRecorder{ResponseWriter: w}
		m := method
		if m == "ANY" {
			m = r.Method
		}
		defer func() {
			if p := recover(); p != nil {
				s.Log.Error("panic in handler", zap.String("route", route), zap.Any("panic", p), zap.Stack("stack"))
				if rec.code == 0 {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			code := rec.code
			if code == 0 {
				code = http.StatusOK
			}
			s.Metrics.Requests.WithLabelValues(s.Cfg.Service, route, m, strconv.Itoa(code)).Inc()
			s.Metrics.Duration.WithLabelValues(s.Cfg.Service, route, m).Observe(time.Since(start).Seconds())
		}()
		h(rec, r)
	})
}

// Run serves until ctx is cancelled, then drains: /healthz turns 503, in-flight requests finish (up to
// drain), and the listener closes.
func (s *Server) Run(ctx context.Context) error {
	ln := s.Cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.Cfg.Listen); err != nil {
			return fmt.Errorf("listen %s: %w", s.Cfg.Listen, err)
		}
	}
	// Stamp identity on every response, unmatched routes included, so callers can verify who answered.
	stamp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Sandbox-Service", s.Cfg.Service)
		w.Header().Set("X-Sandbox-Version", s.Cfg.Release.Version)
		s.Mux.ServeHTTP(w, r)
	})
	// Every phase bounded: a client that sends slowly, reads slowly or idles cannot hold a connection open.
	srv := &http.Server{Handler: stamp, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.Log.Info("serving", zap.String("listen", s.Cfg.Listen), zap.Any("release", s.Cfg.Release))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.Log.Info("draining")
	sctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.Log.Info("stopped")
	return nil
}

// Role is the signature every service package exposes as Run.
type Role func(ctx context.Context, cfg Config) error

// WriteJSON writes v as JSON with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = jsonEncoder(w).Encode(v)
}
