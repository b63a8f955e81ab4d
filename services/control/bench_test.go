package control

import (
	"fmt"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/status"
)

// A full ring (10 minutes at 2s) of three gateway instances: the cost of one /api/status or series point.
func BenchmarkWindow(b *testing.B) {
	r := Ring{Keep: RingKeep}
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range 300 {
		s := EdgeSample{At: t0.Add(time.Duration(i) * 2 * time.Second), Instances: map[string]InstanceCounters{}}
		for g := range 3 {
			ic := InstanceCounters{}
			for _, route := range status.Routes {
				rc := &RouteCounters{Codes: map[string]float64{"200": float64(i * 80), "502": float64(i)},
					Le: platform.DurationBuckets, Cum: make([]float64, len(platform.DurationBuckets)), Count: float64(i * 81)}
				for k := range rc.Cum {
					rc.Cum[k] = float64(i * (k + 1))
				}
				ic[route] = rc
			}
			s.Instances[fmt.Sprintf("10.0.0.%d:8080", g)] = ic
		}
		r.Add(s)
	}
	for _, w := range []time.Duration{10 * time.Second, 30 * time.Second, 5 * time.Minute} {
		b.Run(w.String(), func(b *testing.B) {
			for b.Loop() {
				if _, ok := r.Window(w); !ok {
					b.Fatal("no window")
				}
			}
		})
	}
}
