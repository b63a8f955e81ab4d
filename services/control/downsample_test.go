package control

import (
	"runtime"
	"testing"
	"time"
)

func TestDownsampleKeepsTheSpikeAndTheRecentPast(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var pts []Point
	for i := range 60 { // two minutes at 2 s
		p := Point{T: t0.Add(time.Duration(i) * 2 * time.Second), RPS: 40, ErrorRate: 0.001, P99Ms: 200,
			Routes: map[string]float64{"/api/orders": 0.001}}
		if i == 7 { // one point of a short spike
			p.ErrorRate, p.P99Ms, p.Routes["/api/orders"] = 0.3, 900, 0.6
		}
		pts = append(pts, p)
	}
	cutoff := t0.Add(90 * time.Second)
	got := downsample(pts, cutoff)
	// 90 s before the cutoff in 30 s buckets, then every point from the cutoff on.
	recent := 0
	for _, p := range pts {
		if !p.T.Before(cutoff) {
			recent++
		}
	}
	if len(got) != 3+recent {
		t.Fatalf("%d points, want 3 buckets + %d recent", len(got), recent)
	}
	if got[0].ErrorRate != 0.3 || got[0].P99Ms != 900 || got[0].Routes["/api/orders"] != 0.6 || got[0].RPS != 40 {
		t.Errorf("the spike's bucket %+v: want the worst error rate and p99 kept, the mean rps", got[0])
	}
	if pts[7].Routes["/api/orders"] != 0.6 || pts[8].Routes["/api/orders"] != 0.001 {
		t.Error("downsample changed its input's route maps")
	}
	if again := downsample(got, cutoff); len(again) != len(got) || again[0].ErrorRate != got[0].ErrorRate {
		t.Errorf("downsampling twice changed the series: %d points", len(again))
	}
}

// TestSeriesStaysBoundedOverSixHours: six hours of scrapes at the default interval keep the series to full
// resolution for the last half hour and a point per 30 s before it, the spike included.
func TestSeriesStaysBoundedOverSixHours(t *testing.T) {
	if testing.Short() {
		t.Skip("ticks a control room through six simulated hours")
	}
	h, points, heap := sixHours(t)
	t.Logf("after six hours: %d series points, heap in use %.1f MiB", points, float64(heap)/(1<<20))
	max := int(FullResolution/DefaultInterval) + int(6*time.Hour/CoarseStep) + int(compactEvery/DefaultInterval) + 2
	if points > max {
		t.Errorf("%d series points after six hours, want at most %d", points, max)
	}
	peak := 0.0
	for _, p := range h.c.Series(time.Time{}) {
		peak = max64(peak, p.ErrorRate)
	}
	if peak < 0.2 {
		t.Errorf("the hour-one spike is gone from the chart: peak error rate %.3f", peak)
	}
}

func max64(a, b float64) float64 {
	if a > b {
		return a
	}
	return b
}

// sixHours runs a control room through six hours of 2 s scrapes of one gateway, with a spike in hour one,
// and returns the harness, the series length and the heap in use afterwards.
func sixHours(tb testing.TB) (*harness, int, uint64) {
	h := newHarness(tb)
	gw := newInstance(tb, "gateway", "v2.3.0")
	h.topo.set("gateway", gw)
	for i := range int(6 * time.Hour / DefaultInterval) {
		if i >= 1800 && i < 1830 {
			gw.serve("/api/orders", "500", 30, 0.4)
		}
		gw.serve("/api/orders", "200", 80, 0.2)
		h.clock.Advance(DefaultInterval)
		h.tick()
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return h, len(h.c.Series(time.Time{})), ms.HeapInuse
}

// BenchmarkControlRoomSixHours reports the series length and heap after six hours of scrapes:
// go test -run '^$' -bench SixHours -benchtime 1x ./services/control
func BenchmarkControlRoomSixHours(b *testing.B) {
	for b.Loop() {
		_, points, heap := sixHours(b)
		b.ReportMetric(float64(points), "points")
		b.ReportMetric(float64(heap)/(1<<20), "MiB-heap")
	}
}
