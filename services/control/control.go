// Package control is the control room: it discovers the shop's instances by alias, scrapes their metrics and
// health, polls Postgres, keeps the edge time series and the event timeline, persists all of it in its data
// dir, and serves the JSON API the CLI, the dashboard and the grader read.
package control

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/services/control/dbstate"
	"github.com/sandbox-labs/sandbox/services/status"
)

// Defaults.
const (
	DefaultInterval = 2 * time.Second
	SeriesWindow    = 10 * time.Second // trailing window of each series point
	RingKeep        = 10 * time.Minute // longest ?window= the status API answers
	ringSaveEvery   = 30 * time.Second
	initialGrace    = 20 * time.Second // wait this long for the gateway before recording the baseline anyway
	dbInitialGrace  = 60 * time.Second // ... and this long for the database
)

// Options configure a Controller; Run fills them from the environment.
type Options struct {
	Name     string
	Version  string // the control room's own release version
	Self     string // the control room's own address, listed under role "control"
	DataDir  string
	Interval time.Duration
	Discover Discoverer
	DB       dbstate.Querier // nil: no database configured
	// Watch tunes the data-loss watch over rows already seen; its Dir defaults to DataDir/watch.
	Watch    dbstate.WatchOptions
	Scenario Scenario
	Now      func() time.Time
	Client   *http.Client
	Log      *zap.Logger
	// TokenDigest is the hex SHA-256 of the sandbox's secret; writes must present the secret. Empty: no
	// writes through the API at all (a control room not started by `sandbox up`).
	TokenDigest string
	// OnEvent, when set, is called for every event appended (metrics).
	OnEvent func(status.Event)
	// Attempt, when above the attempt DataDir records, archives that record as a past attempt and starts a
	// fresh one (see StartAttempt). 0 keeps whatever DataDir holds.
	Attempt int
}

// Point is one series point: edge figures over the SeriesWindow trailing the scrape at T.
type Point struct {
	T         time.Time          `json:"t"`
	RPS       float64            `json:"rps"`
	ErrorRate float64            `json:"error_rate"`
	P99Ms     float64            `json:"p99_ms"`
	Scenario  string             `json:"scenario,omitempty"`
	Routes    map[string]float64 `json:"routes"` // route family -> error rate
}

// persisted is state.json.
type persisted struct {
	DB       *dbstate.State     `json:"db,omitempty"`
	Observer *observer          `json:"observer"`
	Scenario Scenario           `json:"scenario"`
	Baseline *status.Baseline   `json:"baseline,omitempty"`
	Watch    *dbstate.WatchMeta `json:"watch,omitempty"` // the rows themselves are in DataDir/watch
}

// Controller holds the control room's live and persisted state.
type Controller struct {
	opts     Options
	timeline *Timeline
	series   *jsonLines
	guard    *writeGuard

	mu         sync.RWMutex
	ring       Ring
	points     []Point
	scrapes    []InstanceScrape
	discovered map[string][]string
	loadgen    *status.Loadgen
	db         *dbstate.State
	obs        *observer
	watch      *dbstate.Watch    // used by Tick only
	watchMeta  dbstate.WatchMeta // the watch's persisted part as of the last Tick
	scenario   Scenario
	baseline   *status.Baseline
	compacted  time.Time // when the series was last downsampled
	start      time.Time
	ringSaved  time.Time
}

// New opens (or creates) the data dir and reloads the timeline, series, ring and baseline from it.
func New(opts Options) (*Controller, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 2 * time.Second}
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Discover == nil {
		opts.Discover = DNSDiscoverer(nil, "8080")
	}
	if opts.Scenario.Factor <= 0 {
		opts.Scenario.Factor = DefaultFactor
	}
	if opts.Watch.Dir == "" {
		opts.Watch.Dir = filepath.Join(opts.DataDir, "watch")
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if opts.Attempt > 0 {
		if _, err := StartAttempt(opts.DataDir, opts.Attempt, opts.Now()); err != nil {
			return nil, err
		}
	}
	c := &Controller{opts: opts, ring: Ring{Keep: RingKeep}, obs: newObserver(), scenario: opts.Scenario,
		start: opts.Now(), guard: newWriteGuard(opts.TokenDigest)}
	var err error
	if c.timeline, err = OpenTimeline(opts.DataDir, opts.Now); err != nil {
		return nil, err
	}
	var p persisted
	found, err := readJSON(c.path("state.json"), &p)
	if err != nil {
		return nil, err
	}
	if found {
		c.db = p.DB
		c.baseline = p.Baseline
		if p.Observer != nil {
			c.obs = p.Observer
			if c.obs.Versions == nil {
				c.obs.Versions = map[string][]string{}
			}
			if c.obs.Pending == nil {
				c.obs.Pending = map[string]pending{}
			}
		}
		// A scenario set through the API outlives the environment's.
		if !p.Scenario.DeployAt.IsZero() || opts.Scenario.DeployAt.IsZero() {
			c.scenario = p.Scenario
		}
		if c.scenario.Factor <= 0 {
			c.scenario.Factor = opts.Scenario.Factor
		}
	}
	// The rows already seen outlive a restart: a change made while the control room was down is still a loss,
	// and rows that did not change are not reported again.
	if c.watch, err = dbstate.RestoreWatch(opts.Watch, p.Watch); err != nil {
		return nil, err
	}
	c.watchMeta = c.watch.Meta()
	var samples []EdgeSample
	if _, err := readJSON(c.path("ring.json"), &samples); err != nil {
		opts.Log.Warn("edge ring not reloaded", zap.Error(err))
	}
	c.ring.Set(samples)
	err = readJSONLines(c.path("series.jsonl"), func(b []byte) error {
		var pt Point
		if err := jsonUnmarshal(b, &pt); err != nil {
			return err
		}
		c.points = append(c.points, pt)
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.points, c.compacted = downsample(c.points, opts.Now().Add(-FullResolution)), opts.Now()
	if c.series, err = openJSONLines(c.path("series.jsonl")); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Controller) path(name string) string { return filepath.Join(c.opts.DataDir, name) }

// Close persists the ring and state and closes files.
func (c *Controller) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err1 := c.saveLocked(true)
	err2 := c.series.Close()
	err3 := c.timeline.Close()
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) saveLocked(ring bool) error {
	wm := c.watchMeta
	if err := writeJSONAtomic(c.path("state.json"), persisted{DB: c.db, Observer: c.obs, Scenario: c.scenario, Baseline: c.baseline, Watch: &wm}); err != nil {
		return err
	}
	if ring {
		c.ringSaved = c.opts.Now()
		return writeJSONAtomic(c.path("ring.json"), c.ring.Samples())
	}
	return nil
}

// Timeline returns the event record.
func (c *Controller) Timeline() *Timeline { return c.timeline }

// AddEvent appends an event (from the API or the observer).
func (c *Controller) AddEvent(e status.Event) (status.Event, error) {
	e, err := c.timeline.Append(e)
	if err != nil {
		return e, err
	}
	if c.opts.OnEvent != nil {
		c.opts.OnEvent(e)
	}
	return e, nil
}

// Loop ticks every interval until ctx ends.
func (c *Controller) Loop(ctx context.Context) {
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		c.Tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick discovers, scrapes, polls the database, records events and a series point, and persists.
func (c *Controller) Tick(ctx context.Context) {
	instances := c.opts.Discover(ctx)
	scrapes := scrapeAll(ctx, c.opts.Client, instances)
	var db *dbstate.State
	var losses []dbstate.Loss
	if c.opts.DB != nil {
		pctx, cancel := context.WithTimeout(ctx, c.opts.Interval)
		st := dbstate.Poll(pctx, c.opts.DB, c.opts.Now())
		if st.OK {
			var err error
			if losses, err = c.watch.Check(pctx, c.opts.DB, st.At); err != nil {
				c.opts.Log.Warn("data-loss watch", zap.Error(err))
			}
		}
		cancel()
		st.Integrity = c.watch.Summary()
		db = &st
	}
	now := c.opts.Now()

	sample := EdgeSample{At: now, Instances: map[string]InstanceCounters{}}
	live := map[string][]string{}
	for _, s := range scrapes {
		if s.ScrapeErr != nil {
			c.opts.Log.Debug("scrape failed", zap.String("role", s.Role), zap.String("addr", s.Address), zap.Error(s.ScrapeErr))
			continue
		}
		if s.Role == "gateway" {
			sample.Instances[s.Address] = edgeCounters(s.Families)
		}
		if s.Version != "" && !slices.Contains(live[s.Role], s.Version) {
			live[s.Role] = append(live[s.Role], s.Version)
		}
	}
	for _, v := range live {
		sort.Strings(v)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.discovered, c.scrapes, c.loadgen = instances, scrapes, loadgenTotals(scrapes)
	c.ring.Add(sample)

	var evs []status.Event
	evs = append(evs, c.obs.observeVersions(now, live)...)
	if db != nil {
		if !db.OK {
			c.opts.Log.Debug("database poll failed", zap.String("error", db.Error))
		}
		// Keep the last good poll for /api/state while the database is down, marked by the failed one's error.
		if db.OK || c.db == nil {
			c.db = db
		} else {
			stale := *c.db
			stale.OK, stale.Error = false, db.Error
			c.db = &stale
		}
		evs = append(evs, c.obs.observeDB(now, *db)...)
		evs = append(evs, lossEvents(now, losses)...)
	}
	w15, ok15 := c.ring.Window(SpikeWindow)
	evs = append(evs, c.obs.observeEdge(now, w15, ok15)...)

	if !c.obs.Initialized {
		_, gw := live["gateway"]
		dbDone := c.opts.DB == nil || c.obs.DB != nil || now.Sub(c.start) >= dbInitialGrace
		if dbDone && (gw || now.Sub(c.start) >= initialGrace) {
			c.obs.Initialized = true
			// The initial event comes first: it is the baseline the others are measured against.
			evs = append([]status.Event{initialEvent(now, c.obs.Versions, c.obs.DB)}, evs...)
		}
	}
	c.trackBaselineLocked(now, evs)
	for _, e := range evs {
		if _, err := c.AddEvent(e); err != nil {
			c.opts.Log.Error("record event", zap.String("kind", e.Kind), zap.Error(err))
		}
	}
	// The watch's new baseline is persisted only once its losses are on record.
	if err := c.watch.Save(); err != nil {
		c.opts.Log.Error("persist data-loss watch", zap.Error(err))
	}
	c.watchMeta = c.watch.Meta()

	if w, ok := c.ring.Window(SeriesWindow); ok {
		pt := Point{T: now.UTC(), Scenario: c.scenario.Clock(now), Routes: map[string]float64{}}
		if s := w.Elapsed().Seconds(); s > 0 {
			pt.RPS = w.Total.Requests / s
		}
		pt.ErrorRate, pt.P99Ms = w.Total.ErrorRate(), w.Total.Quantile(0.99)*1000
		for _, r := range status.Routes {
			pt.Routes[r] = w.Routes[r].ErrorRate()
		}
		c.points = append(c.points, pt)
		if err := c.series.Append(pt, false); err != nil {
			c.opts.Log.Error("persist series", zap.Error(err))
		}
		if now.Sub(c.compacted) >= compactEvery {
			c.points, c.compacted = downsample(c.points, now.Add(-FullResolution)), now
		}
	}
	if err := c.saveLocked(now.Sub(c.ringSaved) >= ringSaveEvery); err != nil {
		c.opts.Log.Error("persist state", zap.Error(err))
	}
}

// Status computes the snapshot over window.
func (c *Controller) Status(window time.Duration) status.Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	now := c.opts.Now()
	snap := status.Snapshot{Name: c.opts.Name, At: now.UTC(), WindowS: window.Seconds(),
		Scenario: c.scenario.Clock(now), Endpoints: []status.Endpoint{}, Services: []status.Service{},
		Loadgen: c.loadgen}
	w, ok := c.ring.Window(window)
	for _, r := range status.Routes {
		f := newFigures()
		if ok {
			f = w.Routes[r]
		}
		snap.Endpoints = append(snap.Endpoints, endpointOf(r, f, w.Elapsed()))
	}
	if ok {
		e := endpointOf("", w.Total, w.Elapsed())
		snap.Edge = status.Edge{RPS: e.RPS, ErrorRate: e.ErrorRate, P99Ms: e.P99Ms, Requests: e.Requests, Errors: e.Errors}
	}
	byRole := map[string][]InstanceScrape{}
	for _, s := range c.scrapes {
		byRole[s.Role] = append(byRole[s.Role], s)
	}
	for _, role := range status.Roles {
		svc := status.Service{Service: role, Versions: []string{}}
		if role == "control" {
			svc.Versions = []string{c.opts.Version}
			svc.Healthy = true
			svc.Instances = []status.Instance{{Address: c.opts.Self, Version: c.opts.Version, Healthy: true}}
			snap.Services = append(snap.Services, svc)
			continue
		}
		svc.Healthy = len(byRole[role]) > 0
		for _, s := range byRole[role] {
			svc.Instances = append(svc.Instances, status.Instance{Address: s.Address, Version: s.Version,
				SDKVersion: s.SDKVersion, Healthy: s.Healthy})
			svc.Healthy = svc.Healthy && s.Healthy
			if s.Version != "" && !slices.Contains(svc.Versions, s.Version) {
				svc.Versions = append(svc.Versions, s.Version)
			}
		}
		sort.Strings(svc.Versions)
		snap.Services = append(snap.Services, svc)
	}
	if c.db != nil {
		snap.Flags = c.db.Flags
	}
	if c.baseline != nil {
		b := *c.baseline
		snap.Baseline = &b
	}
	return snap
}

// Series returns the points after since (all with a zero since).
func (c *Controller) Series(since time.Time) []Point {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := []Point{}
	for _, p := range c.points {
		if p.T.After(since) {
			out = append(out, p)
		}
	}
	return out
}

// State returns the latest database poll (nil before the first).
func (c *Controller) State() *dbstate.State {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.db
}

// Scenario returns the scenario clock settings.
func (c *Controller) Scenario() Scenario {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.scenario
}

// SetScenario replaces the scenario clock settings and persists them.
func (c *Controller) SetScenario(sc Scenario) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scenario = sc
	return c.saveLocked(false)
}
