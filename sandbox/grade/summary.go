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
	s := Summary{Trap: ev.Trap != nil, DataLoss: ev.DataLoss != nil, LostRows: ev.LostRows, Hints: len(ev.Hints),
		Commands: ev.CommandCount, Recovered: ev.Recover}
	if ev.Trap != nil {
		t := ev.Trap.From
		s.TrapAt = &t
	}
	if !ev.HasSpike {
		return s
	}
	spike := ev.Ref
	s.Spike = &spike
	first := func(as []action) *time.Time {
		for _, a := range as {
			if !a.At.Before(spike) {
				t := a.At
				return &t
			}
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
