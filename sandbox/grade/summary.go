package grade

import (
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// Summary is what a timeline says of an incident so far, read the way the grader reads it: a game day's
// leaderboard shows it for every team while their attempts are still open. It carries no answer key.
type Summary struct {
	Spike       *time.Time // spike_start after the release (the page)
	FirstLook   *time.Time // the first thing the trainee did after the page: a look or a change
	FirstChange *time.Time // the first change after the page
	Recovered   *time.Time // the control room's last recovered event after the spike
	Trap        bool       // orders code that does not write order_metadata ran against NOT NULL without a default
	TrapAt      *time.Time
	DataLoss    bool
	LostRows    int64
	Hints       int // hints taken (each fault and level once)
	Commands    int
}

// Summarize replays tl as the grader does (all faults active unless sandbox_up or the verdict names them).
func Summarize(tl []status.Event) Summary {
	ev := analyze(tl, nil, activeFaults(nil, tl))
	s := Summary{DataLoss: ev.DataLoss != nil, LostRows: ev.LostRows, Hints: len(ev.Hints),
		Commands: ev.CommandCount, Recovered: ev.Recover}
	// The trap counts once the release is out (the grader's rule); during the rollout itself the
	// migration runs before the new code, which no team caused.
	if ev.Trap != nil && !ev.Baseline.IsZero() && ev.Trap.From.After(ev.Baseline) {
		s.Trap = true
		t := ev.Trap.From
		s.TrapAt = &t
	}
	if !ev.HasSpike {
		return s
	}
	spike := ev.Ref
	s.Spike = &spike
	// What the control room observes while the pipeline still rolls v2.4.0 out (and just after) is the
	// pipeline's doing, not the team's: observed changes count from observedGrace after it finished.
	first := func(as []action) *time.Time {
		for _, a := range as {
			if a.At.Before(spike) || a.Observed && (ev.Baseline.IsZero() || !a.At.After(ev.Baseline.Add(observedGrace))) {
				continue
			}
			t := a.At
			return &t
		}
		return nil
	}
	s.FirstChange = first(ev.Changes)
	s.FirstLook = first(ev.Looks)
	if s.FirstChange != nil && (s.FirstLook == nil || s.FirstChange.Before(*s.FirstLook)) {
		s.FirstLook = s.FirstChange
	}
	return s
}
