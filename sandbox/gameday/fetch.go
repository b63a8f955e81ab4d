package gameday

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox"
)

// StatusWindow is the window of each team's status snapshot on the leaderboard: long enough that the share
// of checkouts in the traffic (which turns the route's error rate into failed checkouts) is steady.
const StatusWindow = 2 * time.Minute

// Fetch reads every team's control room (status snapshot, timeline, series) side by side, each bounded by
// timeout. A team whose sandbox or control room does not answer comes back with Err set, never dropped.
func Fetch(ctx context.Context, e *sandbox.Engine, teams []Team, timeout time.Duration) []TeamData {
	out := make([]TeamData, len(teams))
	var wg sync.WaitGroup
	for i, t := range teams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			out[i] = fetchOne(ctx, e, t)
		}()
	}
	wg.Wait()
	return out
}

func fetchOne(ctx context.Context, e *sandbox.Engine, t Team) TeamData {
	d := TeamData{Team: t}
	ep, err := e.Endpoints(ctx, t.Sandbox)
	if err != nil {
		d.Err = err
		return d
	}
	if ep.Control == "" {
		d.Err = fmt.Errorf("the control room of sandbox %q is not running", t.Sandbox)
		return d
	}
	cr := ep.ControlRoom()
	tl, err := cr.Timeline(ctx)
	if err != nil {
		d.Err = err
		return d
	}
	d.Timeline = tl
	snap, err := cr.Status(ctx, StatusWindow)
	if err != nil {
		d.Err = err
		return d
	}
	d.Snapshot = &snap
	if err := cr.Get(ctx, "/api/series", &d.Series); err != nil {
		d.Err = err
	}
	return d
}

// Keeper remembers each team's last answer, so a watch keeps showing a team whose sandbox stopped answering
// (marked unreachable, with its last figures) instead of dropping it, even once its sandbox is gone.
type Keeper struct {
	mu   sync.Mutex
	last map[string]TeamData
	seen map[string]time.Time
}

// Merge returns data with every team that answered before but not now filled in from its last answer,
// and every team known before but missing now added back.
func (k *Keeper) Merge(data []TeamData, now time.Time) []TeamData {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.last == nil {
		k.last, k.seen = map[string]TeamData{}, map[string]time.Time{}
	}
	present := map[string]bool{}
	out := make([]TeamData, 0, len(data))
	for _, d := range data {
		present[d.Team.Sandbox] = true
		if d.Err == nil {
			k.last[d.Team.Sandbox], k.seen[d.Team.Sandbox] = d, now
			out = append(out, d)
			continue
		}
		if prev, ok := k.last[d.Team.Sandbox]; ok {
			prev.Err, prev.Stale = d.Err, k.seen[d.Team.Sandbox]
			out = append(out, prev)
			continue
		}
		out = append(out, d)
	}
	for name, prev := range k.last {
		if !present[name] {
			prev.Err, prev.Stale = fmt.Errorf("sandbox %q is gone from the engine", name), k.seen[name]
			out = append(out, prev)
		}
	}
	return out
}
