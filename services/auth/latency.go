package auth

import (
	"context"
	"math/rand/v2"
	"time"
)

// Dist is a simulated work latency: uniform in [Min, Max], except a TailProb share uniform in [Max, TailMax].
type Dist struct {
	Min, Max time.Duration
	TailProb float64
	TailMax  time.Duration
}

// Simulated work latencies (calibrate the healthy edge p99 here and in the other services).
var (
	LoginLatency    = Dist{Min: 20 * time.Millisecond, Max: 80 * time.Millisecond, TailProb: 0.02, TailMax: 300 * time.Millisecond}
	SessionLatency  = Dist{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond, TailProb: 0.01, TailMax: 100 * time.Millisecond}
	RefreshInterval = 60 * time.Second
)

// Sample draws one latency.
func (d Dist) Sample() time.Duration {
	if d.TailProb > 0 && d.TailMax > d.Max && rand.Float64() < d.TailProb {
		return d.Max + time.Duration(rand.Int64N(int64(d.TailMax-d.Max)+1))
	}
	if d.Max <= d.Min {
		return d.Min
	}
	return d.Min + time.Duration(rand.Int64N(int64(d.Max-d.Min)+1))
}

// Wait sleeps one sample, or until ctx ends.
func (d Dist) Wait(ctx context.Context) {
	s := d.Sample()
	if s <= 0 {
		return
	}
	t := time.NewTimer(s)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
