package sandbox

import (
	"context"
	"fmt"
	"time"

	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/status"
)

// ScenarioFactor compresses the scenario clock: one real minute is fifteen on the card's clock, so the
// 14:00 deploy and the 14:15 spike play out in about a minute.
const ScenarioFactor = 15

// WaitSteady polls the control room until the edge carries at least half the configured load with every
// route serving, or the timeout passes.
func WaitSteady(ctx context.Context, cr *ControlRoom, loadRPS float64, window, timeout time.Duration) (status.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last status.Snapshot
	var lastErr error
	for {
		s, err := cr.Status(ctx, window)
		if err == nil {
			last = s
			if steady(s, loadRPS) {
				return s, nil
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil && last.Name == "" {
				return last, fmt.Errorf("traffic not steady after %s: %w", timeout, lastErr)
			}
			return last, fmt.Errorf("traffic not steady after %s (edge %.1f rps, want %.1f)", timeout, last.Edge.RPS, loadRPS/2)
		case <-time.After(time.Second):
		}
	}
}

func steady(s status.Snapshot, loadRPS float64) bool {
	if s.Edge.RPS < loadRPS/2 || len(s.Endpoints) < len(status.Routes) {
		return false
	}
	for _, ep := range s.Endpoints {
		if ep.Requests == 0 {
			return false
		}
	}
	return true
}

// Page is what the on-call engineer is paged with once the errors have spiked.
type Page struct {
	Name       string
	DeployAt   time.Time
	Before     status.Snapshot
	Now        status.Snapshot
	Changelog  []release.PR
	Affected   []string
	Unaffected []string
}

// RolloutV240 ships v2.4.0 over v2.3.0 the way the CD pipeline would: migrations, then orders, payments and
// checkout one at a time (orders first: its new code must be live before its column is required).
func (e *Engine) RolloutV240(ctx context.Context, name string, progress Progress) (time.Time, DeployResult, error) {
	return e.rolloutV240(ctx, name, progress, nil)
}

// rolloutV240 is RolloutV240 for a scheduled rollout: still (when set) says whether it is still wanted, asked
// before anything changes and again once the deploy holds the sandbox's lock.
func (e *Engine) rolloutV240(ctx context.Context, name string, progress Progress, still func(context.Context) (bool, error)) (time.Time, DeployResult, error) {
	if still != nil {
		if ok, err := still(ctx); err != nil {
			return time.Time{}, DeployResult{}, err
		} else if !ok {
			return time.Time{}, DeployResult{}, ErrRolloutSuperseded
		}
	}
	ep, err := e.Endpoints(ctx, name)
	if err != nil {
		return time.Time{}, DeployResult{}, err
	}
	cr := ep.ControlRoom()
	at := time.Now().UTC()
	if err := cr.Post(ctx, "/api/scenario", map[string]any{"deploy_at": at, "factor": ScenarioFactor}); err != nil {
		progress("warning: could not set the scenario clock: " + err.Error())
	}
	res, err := e.Deploy(ctx, DeployOptions{Name: name, Services: []string{"orders", "payments", "checkout"}, Version: "v2.4.0", Actor: "pipeline",
		LockWait: 2 * time.Minute, StillWanted: still}, progress) // a trainee's change in flight finishes first, as in a real pipeline
	return at, res, err
}

// WaitSpike polls until the edge error rate over window passes threshold.
func WaitSpike(ctx context.Context, cr *ControlRoom, threshold float64, window, timeout time.Duration) (status.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last status.Snapshot
	for {
		if s, err := cr.Status(ctx, window); err == nil {
			last = s
			if s.Edge.ErrorRate >= threshold {
				return s, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("edge error rate did not pass %.1f%% within %s (now %.2f%%)", threshold*100, timeout, last.Edge.ErrorRate*100)
		case <-time.After(time.Second):
		}
	}
}

// Classify splits routes into affected and unaffected by comparing error rates before and now.
func Classify(before, now status.Snapshot) (affected, unaffected []string) {
	prev := map[string]status.Endpoint{}
	for _, e := range before.Endpoints {
		prev[e.Route] = e
	}
	for _, e := range now.Endpoints {
		if e.ErrorRate >= 0.01 && e.ErrorRate > prev[e.Route].ErrorRate*3 {
			affected = append(affected, e.Route)
		} else {
			unaffected = append(unaffected, e.Route)
		}
	}
	return affected, unaffected
}

// ScenarioClock renders a real time on the scenario's clock (deploy at 14:00).
func ScenarioClock(deployAt, t time.Time) string {
	base := time.Date(2000, 1, 1, 14, 0, 0, 0, time.UTC)
	return base.Add(t.Sub(deployAt) * ScenarioFactor).Format("15:04")
}
