package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/services/control/web"
	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/status"
)

// Mount adds the JSON API and the dashboard to s.
func (c *Controller) Mount(s *platform.Server) {
	s.Handle("GET /api/status", c.handleStatus)
	s.Handle("GET /api/series", c.handleSeries)
	s.Handle("GET /api/timeline", c.handleTimeline)
	s.Handle("POST /api/events", c.handlePostEvent)
	s.Handle("GET /api/state", c.handleState)
	s.Handle("GET /api/scenario", c.handleGetScenario)
	s.Handle("POST /api/scenario", c.handlePostScenario)
	s.Handle("GET /api/attempts", c.handleAttempts)
	s.Handle("GET /api/attempts/{n}/timeline", c.handleAttemptTimeline)
	fsrv := http.FileServerFS(web.FS())
	s.Handle("GET /", fsrv.ServeHTTP)
}

func apiError(w http.ResponseWriter, code int, msg string) {
	platform.WriteJSON(w, code, map[string]string{"error": msg})
}

func (c *Controller) handleStatus(w http.ResponseWriter, r *http.Request) {
	window := 30 * time.Second
	if v := r.URL.Query().Get("window"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > RingKeep {
			apiError(w, http.StatusBadRequest, fmt.Sprintf("window %q: want a duration in (0, %s]", v, RingKeep))
			return
		}
		window = d
	}
	platform.WriteJSON(w, http.StatusOK, c.Status(window))
}

func (c *Controller) handleSeries(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			apiError(w, http.StatusBadRequest, "since: want RFC3339")
			return
		}
		since = t
	}
	platform.WriteJSON(w, http.StatusOK, c.Series(since))
}

func (c *Controller) handleTimeline(w http.ResponseWriter, r *http.Request) {
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			apiError(w, http.StatusBadRequest, "after: want a sequence number")
			return
		}
		after = n
	}
	platform.WriteJSON(w, http.StatusOK, c.timeline.Events(after))
}

func (c *Controller) handlePostEvent(w http.ResponseWriter, r *http.Request) {
	if gerr := c.guard.check(r); gerr != nil {
		apiError(w, gerr.code, gerr.msg)
		return
	}
	b, gerr := readBody(w, r, maxBigEventBytes)
	if gerr != nil {
		apiError(w, gerr.code, gerr.msg)
		return
	}
	var e status.Event
	if err := json.Unmarshal(b, &e); err != nil {
		apiError(w, http.StatusBadRequest, "event json: "+err.Error())
		return
	}
	e, gerr = validatePosted(e, len(b))
	if gerr != nil {
		apiError(w, gerr.code, gerr.msg)
		return
	}
	if c.timeline.Posted() >= maxPostedEvents {
		apiError(w, http.StatusInsufficientStorage, fmt.Sprintf("the record holds %d posted events, its limit", maxPostedEvents))
		return
	}
	e.At = c.opts.Now()
	c.noteDeployEvent(e.Kind)
	stored, err := c.AddEvent(e)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	// The rollout's start is the scenario clock's 14:00 unless someone set it explicitly.
	if e.Kind == status.EventDeployStarted && c.Scenario().DeployAt.IsZero() {
		sc := c.Scenario()
		sc.DeployAt = stored.At
		if err := c.SetScenario(sc); err != nil {
			c.opts.Log.Error("persist scenario", zap.Error(err))
		}
	}
	platform.WriteJSON(w, http.StatusCreated, stored)
}

func (c *Controller) handleState(w http.ResponseWriter, r *http.Request) {
	st := c.State()
	if st == nil {
		msg := "database not polled yet"
		if c.opts.DB == nil {
			msg = "no database configured"
		}
		apiError(w, http.StatusServiceUnavailable, msg)
		return
	}
	platform.WriteJSON(w, http.StatusOK, st)
}

// scenarioView is the scenario clock as the API shows it.
type scenarioView struct {
	DeployAt *time.Time `json:"deploy_at"`
	Factor   float64    `json:"factor"`
	Clock    string     `json:"clock"`
}

func (c *Controller) viewScenario() scenarioView {
	sc := c.Scenario()
	v := scenarioView{Factor: sc.Factor, Clock: sc.Clock(c.opts.Now())}
	if !sc.DeployAt.IsZero() {
		t := sc.DeployAt
		v.DeployAt = &t
	}
	return v
}

func (c *Controller) handleGetScenario(w http.ResponseWriter, r *http.Request) {
	platform.WriteJSON(w, http.StatusOK, c.viewScenario())
}

func (c *Controller) handlePostScenario(w http.ResponseWriter, r *http.Request) {
	if gerr := c.guard.check(r); gerr != nil {
		apiError(w, gerr.code, gerr.msg)
		return
	}
	b, gerr := readBody(w, r, maxEventBytes)
	if gerr != nil {
		apiError(w, gerr.code, gerr.msg)
		return
	}
	var j scenarioJSON
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &j); err != nil {
			apiError(w, http.StatusBadRequest, "scenario json: "+err.Error())
			return
		}
	}
	sc, err := c.Scenario().merge(j)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if j.DeployAt == "" {
		sc.DeployAt = c.opts.Now().UTC() // posting without a time means "the rollout starts now"
	}
	if err := c.SetScenario(sc); err != nil {
		apiError(w, http.StatusInternalServerError, err.Error())
		return
	}
	platform.WriteJSON(w, http.StatusOK, c.viewScenario())
}

// Run is `sandbox serve control`.
func Run(ctx context.Context, cfg platform.Config) error {
	log := platform.NewLogger(cfg)
	defer func() { _ = log.Sync() }()
	srv := platform.NewServer(cfg, log)

	opts := Options{Name: cfg.Name, Version: cfg.Release.Version, DataDir: cfg.Get("SANDBOX_DATA_DIR", "/data"),
		TokenDigest: cfg.Get(status.ControlTokenEnv, ""),
		Interval:    cfg.Duration("SANDBOX_SCRAPE_INTERVAL", DefaultInterval), Log: log}
	attempt, err := strconv.Atoi(cfg.Get(status.AttemptEnv, "0"))
	if err != nil || attempt < 0 {
		return fmt.Errorf("%s=%q: want an attempt number", status.AttemptEnv, cfg.Get(status.AttemptEnv, ""))
	}
	opts.Attempt = attempt
	if host, err := os.Hostname(); err == nil {
		_, port, _ := net.SplitHostPort(cfg.Listen)
		opts.Self = net.JoinHostPort(host, port)
	}
	if spec := cfg.Get("SANDBOX_DISCOVERY_STATIC", ""); spec != "" {
		m, err := ParseStatic(spec)
		if err != nil {
			return err
		}
		opts.Discover = StaticDiscoverer(m)
	} else {
		opts.Discover = DNSDiscoverer(nil, "8080")
	}
	sc, err := ParseScenario(cfg.Get("SANDBOX_SCENARIO", ""))
	if err != nil {
		return err
	}
	opts.Scenario = sc
	if cfg.DatabaseURL != "" {
		pc, err := pgxpool.ParseConfig(cfg.DatabaseURL)
		if err != nil {
			return fmt.Errorf("parse database url: %w", err)
		}
		pc.MaxConns = 2
		// The pool connects lazily: the control room starts (and serves its record) while Postgres is down.
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			return fmt.Errorf("database pool: %w", err)
		}
		defer pool.Close()
		opts.DB = pool
	}
	opts.Client = platform.HTTPClient(2 * time.Second)

	events := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "control_events_total",
		Help: "Timeline events recorded, by kind."}, []string{"kind"})
	srv.Metrics.Registry.MustRegister(events)
	opts.OnEvent = func(e status.Event) { events.WithLabelValues(e.Kind).Inc() }

	c, err := New(opts)
	if err != nil {
		return err
	}
	c.Mount(srv)
	loopCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.Loop(loopCtx) }()
	err = srv.Run(ctx)
	stop()
	<-done
	if cerr := c.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
