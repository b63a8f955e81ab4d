package control

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sandbox-labs/sandbox/services/status"
)

// InstanceScrape is what one scrape of one instance found.
type InstanceScrape struct {
	Role       string
	Address    string
	Version    string
	SDKVersion string
	Healthy    bool
	ScrapeErr  error
	Families   map[string]*dto.MetricFamily
}

// scrapeAll fetches /metrics and /healthz of every instance concurrently.
func scrapeAll(ctx context.Context, client *http.Client, instances map[string][]string) []InstanceScrape {
	var (
		mu  sync.Mutex
		out []InstanceScrape
		wg  sync.WaitGroup
	)
	for role, addrs := range instances {
		for _, addr := range addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := scrapeOne(ctx, client, role, addr)
				mu.Lock()
				out = append(out, s)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Role != out[j].Role {
			return out[i].Role < out[j].Role
		}
		return out[i].Address < out[j].Address
	})
	return out
}

func scrapeOne(ctx context.Context, client *http.Client, role, addr string) InstanceScrape {
	s := InstanceScrape{Role: role, Address: addr}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		s.Healthy = healthy(hctx, client, addr)
	}()
	mctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	s.Families, s.ScrapeErr = fetchMetrics(mctx, client, addr)
	wg.Wait()
	if s.ScrapeErr == nil {
		if fam := s.Families["app_build_info"]; fam != nil {
			for _, m := range fam.GetMetric() {
				s.Version = label(m, "version")
				s.SDKVersion = label(m, "sdk_version")
			}
		}
	}
	return s
}

func healthy(ctx context.Context, client *http.Client, addr string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func fetchMetrics(ctx context.Context, client *http.Client, addr string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("metrics request: %w", err)
	}
	// Ask for the text format: that is what the parser reads.
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %d", addr, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse metrics of %s: %w", addr, err)
	}
	return fams, nil
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// edgeCounters extracts edge_requests_total and edge_request_duration_seconds from a gateway scrape.
func edgeCounters(fams map[string]*dto.MetricFamily) InstanceCounters {
	ic := InstanceCounters{}
	get := func(route string) *RouteCounters {
		rc := ic[route]
		if rc == nil {
			rc = &RouteCounters{Codes: map[string]float64{}}
			ic[route] = rc
		}
		return rc
	}
	if fam := fams["edge_requests_total"]; fam != nil {
		for _, m := range fam.GetMetric() {
			rc := get(label(m, "route"))
			rc.Codes[label(m, "code")] += metricValue(m)
		}
	}
	if fam := fams["edge_request_duration_seconds"]; fam != nil {
		for _, m := range fam.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			rc := get(label(m, "route"))
			// Several series per route (should there be extra labels) are summed bucket by bucket.
			var le, cum []float64
			for _, b := range h.GetBucket() {
				if math.IsInf(b.GetUpperBound(), 1) {
					continue
				}
				le = append(le, b.GetUpperBound())
				cum = append(cum, float64(b.GetCumulativeCount()))
			}
			if rc.Le == nil {
				rc.Le, rc.Cum = le, cum
			} else if sameLe(rc.Le, le) {
				for i := range cum {
					rc.Cum[i] += cum[i]
				}
			}
			rc.Count += float64(h.GetSampleCount())
		}
	}
	return ic
}

// loadgenTotals sums loadgen_requests_total by outcome over every loadgen instance.
func loadgenTotals(scrapes []InstanceScrape) *status.Loadgen {
	var lg *status.Loadgen
	for _, s := range scrapes {
		if s.Role != "loadgen" || s.ScrapeErr != nil {
			continue
		}
		fam := s.Families["loadgen_requests_total"]
		if fam == nil {
			continue
		}
		if lg == nil {
			lg = &status.Loadgen{}
		}
		for _, m := range fam.GetMetric() {
			v := metricValue(m)
			lg.Sent += v
			switch label(m, "outcome") {
			case "ok":
				lg.OK += v
			case "error":
				lg.Errors += v
			case "dropped":
				lg.Dropped += v
			}
		}
	}
	return lg
}
