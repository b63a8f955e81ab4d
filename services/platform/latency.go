package platform

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
