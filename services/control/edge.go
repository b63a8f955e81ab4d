package control

import (
	"sort"
	"strings"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// RouteCounters are one gateway instance's cumulative edge counters for one route family.
type RouteCounters struct {
	Codes map[string]float64 `json:"codes"` // status code -> requests
	Le    []float64          `json:"le"`    // finite histogram upper bounds, ascending (JSON has no +Inf)
	Cum   []float64          `json:"cum"`   // cumulative bucket counts aligned with Le
	Count float64            `json:"count"` // observations: the +Inf bucket
}

// InstanceCounters are everything the edge figures need from one gateway instance at one scrape.
type InstanceCounters map[string]*RouteCounters // route family -> counters

// EdgeSample is one scrape of every gateway instance, keyed by instance address.
type EdgeSample struct {
	At        time.Time                   `json:"at"`
	Instances map[string]InstanceCounters `json:"instances"`
}

// Ring keeps timestamped cumulative edge samples for window computations.
type Ring struct {
	Keep    time.Duration
	samples []EdgeSample
}

// Add appends a sample and drops the ones older than Keep.
func (r *Ring) Add(s EdgeSample) {
	r.samples = append(r.samples, s)
	cut := s.At.Add(-r.Keep)
	i := 0
	for i < len(r.samples)-1 && r.samples[i].At.Before(cut) {
		i++
	}
	if i > 0 {
		r.samples = append([]EdgeSample(nil), r.samples[i:]...)
	}
}

// Samples returns the ring's samples, oldest first.
func (r *Ring) Samples() []EdgeSample { return r.samples }

// Set replaces the samples (used when reloading from disk).
func (r *Ring) Set(s []EdgeSample) { r.samples = s }

// Figures are the increases over a window for one route family (or the total).
type Figures struct {
	Requests float64
	Errors   float64
	Buckets  map[float64]float64 // finite le -> cumulative count increase
	Count    float64             // observations (+Inf bucket) increase
}

func newFigures() *Figures { return &Figures{Buckets: map[float64]float64{}} }

func (f *Figures) addRoute(delta *RouteCounters) {
	for code, n := range delta.Codes {
		f.Requests += n
		if strings.HasPrefix(code, "5") {
			f.Errors += n
		}
	}
	for i, le := range delta.Le {
		f.Buckets[le] += delta.Cum[i]
	}
	f.Count += delta.Count
}

// ErrorRate is errors / requests as a fraction (0 with no traffic).
func (f *Figures) ErrorRate() float64 {
	if f.Requests <= 0 {
		return 0
	}
	return f.Errors / f.Requests
}

// Quantile interpolates linearly inside the bucket holding rank q*count, like PromQL's histogram_quantile.
// It returns seconds; 0 with no observations.
func (f *Figures) Quantile(q float64) float64 {
	if f.Count <= 0 {
		return 0
	}
	les := make([]float64, 0, len(f.Buckets))
	for le := range f.Buckets {
		les = append(les, le)
	}
	sort.Float64s(les)
	rank := q * f.Count
	prevLe, prevCount := 0.0, 0.0
	for _, le := range les {
		c := f.Buckets[le]
		if c >= rank {
			if c == prevCount {
				return le
			}
			return prevLe + (le-prevLe)*(rank-prevCount)/(c-prevCount)
		}
		prevLe, prevCount = le, c
	}
	// The rank falls in the +Inf bucket: report the highest finite bound, as Prometheus does.
	return prevLe
}

// WindowResult holds the per-route and total figures over a window.
type WindowResult struct {
	From, To time.Time
	Routes   map[string]*Figures
	Total    *Figures
}

// Elapsed is the time the figures cover.
func (w WindowResult) Elapsed() time.Duration { return w.To.Sub(w.From) }

// Window sums per-instance counter increases between consecutive samples covering [end-window, end], where
// end is the newest sample. A counter that went down means the instance restarted: its current value is the
// increase. An instance seen for the first time in the ring contributes its whole count (it started since the
// last scrape).
// ok is false with fewer than two samples.
func (r *Ring) Window(window time.Duration) (WindowResult, bool) {
	n := len(r.samples)
	if n < 2 {
		return WindowResult{}, false
	}
	end := r.samples[n-1]
	start := 0
	// The newest sample at or before end-window, so the figures cover at least the window.
	for i := n - 2; i >= 0; i-- {
		if !r.samples[i].At.After(end.At.Add(-window)) {
			start = i
			break
		}
	}
	res := WindowResult{From: r.samples[start].At, To: end.At, Routes: map[string]*Figures{}, Total: newFigures()}
	for _, route := range status.Routes {
		res.Routes[route] = newFigures()
	}
	// last holds each instance's newest counters seen so far, so an instance that missed a scrape (timeout)
	// is compared with its previous answer instead of being counted from zero.
	last := map[string]InstanceCounters{}
	for i := 0; i < n; i++ {
		cur := r.samples[i]
		for addr, ic := range cur.Instances {
			prev := last[addr]
			last[addr] = ic
			if i <= start {
				continue
			}
			for route, rc := range instanceDelta(prev, ic) {
				f := res.Routes[route]
				if f == nil {
					f = newFigures()
					res.Routes[route] = f
				}
				f.addRoute(rc)
				res.Total.addRoute(rc)
			}
		}
	}
	return res, true
}

// instanceDelta is cur - prev for one instance, or cur when prev is missing or any counter went down (reset).
func instanceDelta(prev, cur InstanceCounters) InstanceCounters {
	if prev == nil || isReset(prev, cur) {
		return cur
	}
	out := InstanceCounters{}
	for route, c := range cur {
		p := prev[route]
		d := &RouteCounters{Codes: map[string]float64{}, Le: c.Le, Cum: make([]float64, len(c.Cum)), Count: c.Count}
		for code, v := range c.Codes {
			if p != nil {
				v -= p.Codes[code]
			}
			d.Codes[code] = v
		}
		if p != nil && sameLe(p.Le, c.Le) {
			for i := range c.Cum {
				d.Cum[i] = c.Cum[i] - p.Cum[i]
			}
			d.Count -= p.Count
		} else {
			copy(d.Cum, c.Cum)
		}
		out[route] = d
	}
	return out
}

func isReset(prev, cur InstanceCounters) bool {
	for route, p := range prev {
		c, ok := cur[route]
		if !ok {
			// A route family the instance no longer reports: only a restart forgets a counter.
			return true
		}
		for code, v := range p.Codes {
			if c.Codes[code] < v {
				return true
			}
		}
		if c.Count < p.Count {
			return true
		}
		if sameLe(p.Le, c.Le) {
			for i := range p.Cum {
				if c.Cum[i] < p.Cum[i] {
					return true
				}
			}
		}
	}
	return false
}

func sameLe(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// endpoint turns figures into the status shape.
func endpointOf(route string, f *Figures, elapsed time.Duration) status.Endpoint {
	e := status.Endpoint{Route: route, Requests: f.Requests, Errors: f.Errors, ErrorRate: f.ErrorRate(),
		P99Ms: f.Quantile(0.99) * 1000}
	if s := elapsed.Seconds(); s > 0 {
		e.RPS = f.Requests / s
	}
	return e
}
