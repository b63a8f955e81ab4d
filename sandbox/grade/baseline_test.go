package grade

import (
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/services/status"
)

// TestEdgeSLOAgainstTheSandboxesOwnBaseline: a correct fix on a busy host (p99 back at the sandbox's own
// pre-deploy figure, above the SLO) passes and says which rule applied; the incident's p99 fails on a quiet
// host and on a busy one; errors fail whatever the baseline.
func TestEdgeSLOAgainstTheSandboxesOwnBaseline(t *testing.T) {
	th := DefaultThresholds()
	snap := func(base, p99, errRate float64) *status.Snapshot {
		s := &status.Snapshot{WindowS: 60, Edge: status.Edge{Requests: 2400, ErrorRate: errRate, P99Ms: p99}}
		if base > 0 {
			s.Baseline = &status.Baseline{P99Ms: base, Frozen: true}
		}
		return s
	}
	for _, c := range []struct {
		name               string
		base, p99, errRate float64
		pass               bool
		rule               string
	}{
		{"quiet host, fixed", 200, 210, 0.001, true, "SLO 300 ms"},
		{"quiet host, incident", 200, 450, 0.15, false, "SLO 300 ms"},
		{"quiet host, errors fixed but p99 still high", 200, 450, 0.001, false, "SLO 300 ms"},
		{"busy host, fixed", 280, 330, 0.002, true, "pre-deploy p99 of 280 ms"},
		{"busy host, incident latency", 280, 560, 0.002, false, "pre-deploy p99 of 280 ms"},
		{"busy host, errors remain", 280, 300, 0.05, false, "pre-deploy p99 of 280 ms"},
		{"overloaded host, capped at 2x SLO", 700, 650, 0.001, false, "pre-deploy p99 of 700 ms"},
		{"no baseline measured", 0, 310, 0.001, false, "SLO 300 ms"},
	} {
		ch := edgeSLO(snap(c.base, c.p99, c.errRate), th)
		if ch.Passed != c.pass || !strings.Contains(ch.Detail, c.rule) {
			t.Errorf("%s: passed=%v detail %q; want passed=%v naming %q", c.name, ch.Passed, ch.Detail, c.pass, c.rule)
		}
	}
	if l, _ := P99Limit(&status.Baseline{P99Ms: 700}, th); l != 600 {
		t.Errorf("limit for a 700 ms baseline = %.0f, want the 600 ms cap", l)
	}
}
