package control

import "time"

// The series keeps every point for FullResolution, then one point per CoarseStep: the whole incident stays
// on the chart while a sandbox left running for days does not fill the control room's 128 MiB.
const (
	FullResolution = 30 * time.Minute
	CoarseStep     = 30 * time.Second
	compactEvery   = 5 * time.Minute
)

// downsample merges the points older than cutoff into one per CoarseStep bucket. A merged point keeps the
// worst error rates and p99 of its bucket (a spike must not vanish from the chart), the mean request rate,
// and the last point's time and scenario clock. Points are in time order; already merged ones merge again
// without change.
func downsample(points []Point, cutoff time.Time) []Point {
	out := make([]Point, 0, len(points))
	var cur *Point
	var bucket time.Time
	var n int
	var rpsSum float64
	flush := func() {
		if cur != nil {
			cur.RPS = rpsSum / float64(n)
			out = append(out, *cur)
			cur = nil
		}
	}
	for _, p := range points {
		if !p.T.Before(cutoff) {
			flush()
			out = append(out, p)
			continue
		}
		b := p.T.Truncate(CoarseStep)
		if cur == nil || !b.Equal(bucket) {
			flush()
			cp := p
			cp.Routes = make(map[string]float64, len(p.Routes))
			for r, v := range p.Routes {
				cp.Routes[r] = v
			}
			cur, bucket, n, rpsSum = &cp, b, 1, p.RPS
			continue
		}
		n++
		rpsSum += p.RPS
		cur.T, cur.Scenario = p.T, p.Scenario
		cur.ErrorRate = max(cur.ErrorRate, p.ErrorRate)
		cur.P99Ms = max(cur.P99Ms, p.P99Ms)
		for r, v := range p.Routes {
			cur.Routes[r] = max(cur.Routes[r], v)
		}
	}
	flush()
	return out
}
