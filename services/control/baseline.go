package control

import (
	"slices"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// The pre-deploy baseline is re-measured every tick over BaselineWindow until something deploys, then kept.
const (
	BaselineWindow      = 60 * time.Second
	minBaselineCoverage = 15 * time.Second // a shorter window (just started) is not a baseline yet
	minBaselineRequests = 150
)

// deployKinds freeze the baseline: the shop is about to change, or has.
var deployKinds = []string{status.EventDeployStarted, status.EventMigration, status.EventRollback,
	status.EventVersionObserved, status.EventSchemaObserved, status.EventMigrationVersion}

// trackBaselineLocked updates the baseline from the ring unless evs (this tick's events) show a deploy, in
// which case it freezes the last one measured. c.mu is held.
func (c *Controller) trackBaselineLocked(now time.Time, evs []status.Event) {
	if c.baseline != nil && c.baseline.Frozen {
		return
	}
	for _, e := range evs {
		if slices.Contains(deployKinds, e.Kind) {
			c.freezeBaselineLocked()
			return
		}
	}
	// A new version seen but not yet reported (versionDebounce) is already serving: not baseline traffic.
	if len(c.obs.Pending) > 0 {
		return
	}
	w, ok := c.ring.Window(BaselineWindow)
	if !ok || w.Elapsed() < minBaselineCoverage || w.Total.Requests < minBaselineRequests {
		return
	}
	c.baseline = &status.Baseline{At: now.UTC(), WindowS: w.Elapsed().Seconds(), P99Ms: w.Total.Quantile(0.99) * 1000,
		ErrorRate: w.Total.ErrorRate(), Requests: w.Total.Requests}
}

// freezeBaselineLocked keeps the baseline as it is: measured up to the last tick before the deploy.
func (c *Controller) freezeBaselineLocked() {
	if c.baseline != nil {
		c.baseline.Frozen = true
	}
}

// noteDeployEvent freezes the baseline when the API records a deploy, before the next tick can measure
// any of it.
func (c *Controller) noteDeployEvent(kind string) {
	if !slices.Contains(deployKinds, kind) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.freezeBaselineLocked()
}
