package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"

	"github.com/sandbox-labs/sandbox/services/status"
)

// fakeTarget is a sandbox as a scheduled rollout sees it.
type fakeTarget struct {
	mu         sync.Mutex
	present    func(n int) (bool, error) // n counts calls
	shipped    bool
	shippedErr error
	shipErr    error
	calls      int
	shippedAt  time.Time
}

func (f *fakeTarget) Present(ctx context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.present == nil {
		return true, nil
	}
	return f.present(f.calls)
}

func (f *fakeTarget) Shipped(ctx context.Context) (bool, error) { return f.shipped, f.shippedErr }

func (f *fakeTarget) Ship(ctx context.Context, progress Progress) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shippedAt = time.Now()
	progress("shipping")
	return f.shipErr
}

func noProgress(string) {}

func TestRolloutShipsAtItsDueTimeNotBefore(t *testing.T) {
	f := &fakeTarget{}
	due := time.Now().Add(150 * time.Millisecond)
	out, err := Rollout{Due: due, Target: f, Poll: 20 * time.Millisecond}.Run(t.Context(), noProgress)
	if err != nil || out != RolloutShipped {
		t.Fatalf("Run = %q, %v; want shipped", out, err)
	}
	if f.shippedAt.Before(due) {
		t.Errorf("shipped %s before it was due", due.Sub(f.shippedAt))
	}
	if late := f.shippedAt.Sub(due); late > 100*time.Millisecond {
		t.Errorf("shipped %s after it was due, want on time", late)
	}
	if f.calls < 3 {
		t.Errorf("the sandbox was checked %d times while waiting, want it watched every poll", f.calls)
	}
}

func TestRolloutEndsWhenTheSandboxIsGone(t *testing.T) {
	// `down` (or a new sandbox with the same name) while the rollout waits: it ends at once, shipping nothing.
	f := &fakeTarget{present: func(n int) (bool, error) { return n < 3, nil }}
	start := time.Now()
	out, err := Rollout{Due: time.Now().Add(time.Hour), Target: f, Poll: 10 * time.Millisecond}.Run(t.Context(), noProgress)
	if err != nil || out != RolloutSandboxGone {
		t.Fatalf("Run = %q, %v; want sandbox gone", out, err)
	}
	if !f.shippedAt.IsZero() {
		t.Error("shipped to a sandbox that is gone")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s to notice the sandbox was gone", d)
	}
}

func TestRolloutDoesNothingWhenV240AlreadyShipped(t *testing.T) {
	f := &fakeTarget{shipped: true}
	out, err := Rollout{Due: time.Now(), Target: f}.Run(t.Context(), noProgress)
	if err != nil || out != RolloutAlreadyShipped || !f.shippedAt.IsZero() {
		t.Fatalf("Run = %q, %v (shipped %v); want already shipped and no deploy", out, err, !f.shippedAt.IsZero())
	}
}

func TestRolloutRetriesEngineErrorsThenGivesUp(t *testing.T) {
	// A passing engine hiccup is retried and the rollout still ships.
	f := &fakeTarget{present: func(n int) (bool, error) {
		if n == 2 {
			return false, errors.New("engine busy")
		}
		return true, nil
	}}
	var lines []string
	out, err := Rollout{Due: time.Now().Add(60 * time.Millisecond), Target: f, Poll: 10 * time.Millisecond}.Run(t.Context(), func(s string) { lines = append(lines, s) })
	if err != nil || out != RolloutShipped {
		t.Fatalf("Run = %q, %v; want shipped after the hiccup", out, err)
	}
	if !strings.Contains(strings.Join(lines, "\n"), "engine busy") {
		t.Errorf("the hiccup was not reported: %q", lines)
	}
	// An engine that never answers again: give up Grace after the due time, with the reason.
	down := &fakeTarget{present: func(int) (bool, error) { return false, errors.New("no engine") }}
	_, err = Rollout{Due: time.Now(), Target: down, Poll: 10 * time.Millisecond, Grace: 50 * time.Millisecond}.Run(t.Context(), noProgress)
	if err == nil || !strings.Contains(err.Error(), "no engine") {
		t.Fatalf("Run = %v; want it to give up saying why", err)
	}
	// A failed deploy is the rollout's error.
	bad := &fakeTarget{shipErr: errors.New("orders did not become healthy")}
	if _, err := (Rollout{Due: time.Now(), Target: bad}).Run(t.Context(), noProgress); err == nil || !strings.Contains(err.Error(), "healthy") {
		t.Fatalf("Run = %v; want the deploy's error", err)
	}
}

func TestRolloutStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	f := &fakeTarget{}
	if _, err := (Rollout{Due: time.Now().Add(time.Hour), Target: f, Poll: 10 * time.Millisecond}).Run(ctx, noProgress); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v; want the context's error", err)
	}
	if !f.shippedAt.IsZero() {
		t.Error("shipped after being stopped")
	}
}

func TestV240Shipped(t *testing.T) {
	deploy := func(kind, svc, to string) status.Event { return status.Event{Kind: kind, Service: svc, To: to} }
	all := map[string][]string{"orders": {"v2.4.0"}, "payments": {"v2.4.0"}, "checkout": {"v2.4.0"}}
	cases := []struct {
		name string
		tl   []status.Event
		live map[string][]string
		want bool
	}{
		{"nothing yet", nil, map[string][]string{"orders": {"v2.3.0"}, "payments": {"v2.3.0"}, "checkout": {"v2.3.0"}}, false},
		{"deploy all by hand", []status.Event{deploy(status.EventDeployStarted, "orders,checkout,payments", "v2.4.0")}, nil, true},
		{"deployed then rolled back", []status.Event{deploy(status.EventDeployStarted, "orders,checkout,payments", "v2.4.0"), deploy(status.EventRollback, "orders,checkout,payments", "v2.3.0")},
			map[string][]string{"orders": {"v2.3.0"}, "payments": {"v2.3.0"}, "checkout": {"v2.3.0"}}, true},
		{"one service by hand", []status.Event{deploy(status.EventDeployStarted, "orders", "v2.4.0")}, map[string][]string{"orders": {"v2.4.0"}, "payments": {"v2.3.0"}, "checkout": {"v2.3.0"}}, false},
		{"each service by hand", []status.Event{deploy(status.EventDeployStarted, "orders", "v2.4.0"), deploy(status.EventDeployStarted, "payments", "v2.4.0"), deploy(status.EventDeployStarted, "checkout", "v2.4.0")}, nil, true},
		{"a rollback to v2.4.0 is not a deploy", []status.Event{deploy(status.EventRollback, "orders,checkout,payments", "v2.4.0")}, nil, false},
		{"live on v2.4.0 without a record", nil, all, true},
		{"mid-switch", nil, map[string][]string{"orders": {"v2.4.0"}, "payments": {"v2.3.0", "v2.4.0"}, "checkout": {"v2.4.0"}}, false},
		{"a service down", nil, map[string][]string{"orders": {"v2.4.0"}, "payments": {"v2.4.0"}}, false},
	}
	for _, c := range cases {
		if got := V240Shipped(c.tl, c.live); got != c.want {
			t.Errorf("%s: V240Shipped = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestRolloutFromTimeline(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 13, 59, 0, 0, time.UTC)
	sched := status.Event{Kind: status.EventRolloutScheduled, Actor: "cli", At: t0, Data: map[string]string{"due": "2025-01-02T14:00:00Z"}}
	r := RolloutFromTimeline([]status.Event{{Kind: status.EventSandboxUp}, sched})
	if !r.Pending() || r.InProgress() || !r.Due.Equal(t0.Add(time.Minute)) {
		t.Fatalf("scheduled only: %+v, want pending, due 14:00", r)
	}
	started := status.Event{Kind: status.EventDeployStarted, Actor: "pipeline", Service: "orders,payments,checkout", To: "v2.4.0", At: t0.Add(61 * time.Second)}
	r = RolloutFromTimeline([]status.Event{sched, started})
	if r.Pending() || !r.InProgress() || !r.Started.Equal(started.At) {
		t.Fatalf("started: %+v, want in progress", r)
	}
	finished := status.Event{Kind: status.EventDeployFinished, Actor: "pipeline", To: "v2.4.0", At: t0.Add(90 * time.Second)}
	r = RolloutFromTimeline([]status.Event{sched, started, finished})
	if r.Pending() || r.InProgress() || !r.Shipped {
		t.Fatalf("finished: %+v, want shipped", r)
	}
	// The trainee deployed v2.4.0 before it was due: nothing is pending, the pipeline will do nothing.
	byHand := status.Event{Kind: status.EventDeployStarted, Actor: "cli", Service: "orders,checkout,payments", To: "v2.4.0"}
	if r := RolloutFromTimeline([]status.Event{byHand, sched}); r.Pending() || r.InProgress() {
		t.Fatalf("deployed by hand: %+v, want nothing pending", r)
	}
	if r := RolloutFromTimeline([]status.Event{{Kind: status.EventSandboxUp}}); r.Pending() {
		t.Fatalf("never scheduled (--incident=false): %+v", r)
	}
}

// netEngine is an engine that knows one network, or none.
type netEngine struct {
	client.APIClient
	net  *network.Inspect
	vols []*volume.Volume
}

func (n *netEngine) VolumeList(ctx context.Context, o volume.ListOptions) (volume.ListResponse, error) {
	var out volume.ListResponse
	for _, v := range n.vols {
		if o.Filters.MatchKVList("label", v.Labels) {
			out.Volumes = append(out.Volumes, v)
		}
	}
	return out, nil
}

func (n *netEngine) NetworkInspect(ctx context.Context, id string, _ network.InspectOptions) (network.Inspect, error) {
	if n.net == nil || n.net.ID != id {
		return network.Inspect{}, errdefs.NotFound(errors.New("network " + id + " not found"))
	}
	return *n.net, nil
}

func TestRolloutTargetIsOnlyTheSandboxItWasScheduledFor(t *testing.T) {
	id := strings.Repeat("ab", 32)
	net := &network.Inspect{ID: id, Name: NetworkName("team-1"), Labels: ResourceLabels("team-1", "network", "")}
	fake := &netEngine{net: net}
	e := &Engine{APIClient: fake}
	if ok, err := e.RolloutTarget("team-1", id, 1).Present(t.Context()); !ok || err != nil {
		t.Fatalf("the sandbox it was scheduled for: present=%v err=%v", ok, err)
	}
	// `down` and a new `up` with the same name: a new network, a new ID.
	fake.net = &network.Inspect{ID: strings.Repeat("cd", 32), Name: NetworkName("team-1"), Labels: ResourceLabels("team-1", "network", "")}
	if ok, err := e.RolloutTarget("team-1", id, 1).Present(t.Context()); ok || err != nil {
		t.Fatalf("a new sandbox with the same name: present=%v err=%v, want not present", ok, err)
	}
	// Gone altogether.
	fake.net = nil
	if ok, err := e.RolloutTarget("team-1", id, 1).Present(t.Context()); ok || err != nil {
		t.Fatalf("no sandbox: present=%v err=%v, want not present", ok, err)
	}
	// The right ID but another sandbox's name (asked for the wrong sandbox): not present.
	fake.net = net
	if ok, _ := e.RolloutTarget("team-2", id, 1).Present(t.Context()); ok {
		t.Fatal("a rollout for team-2 must not act on team-1's network")
	}
	// `sandbox reset` starts attempt 2 on the same network: the rollout of attempt 1 stands down, attempt 2's
	// own does not.
	fake.vols = []*volume.Volume{{Name: VolumeName("team-1", "attempt-2"), Labels: map[string]string{LabelManaged: "true",
		LabelName: "team-1", LabelService: "attempt", LabelAttempt: "2"}}}
	if ok, err := e.RolloutTarget("team-1", id, 1).Present(t.Context()); ok || err != nil {
		t.Fatalf("attempt 1's rollout after a reset: present=%v err=%v, want not present", ok, err)
	}
	if ok, err := e.RolloutTarget("team-1", id, 2).Present(t.Context()); !ok || err != nil {
		t.Fatalf("attempt 2's rollout: present=%v err=%v, want present", ok, err)
	}
	// Another sandbox's reset is not this one's.
	fake.vols[0].Labels[LabelName] = "team-9"
	if ok, _ := e.RolloutTarget("team-1", id, 1).Present(t.Context()); !ok {
		t.Fatal("team-9's reset made team-1's rollout stand down")
	}
}

// A reset that held the lock while the due rollout waited for it: the pipeline finds its attempt superseded
// and ends as for a removed sandbox, not as a failed rollout.
func TestRolloutSupersededByAResetIsNotAFailure(t *testing.T) {
	f := &fakeTarget{shipErr: fmt.Errorf("deploy: %w", ErrRolloutSuperseded)}
	out, err := Rollout{Due: time.Now(), Target: f, Poll: 10 * time.Millisecond}.Run(t.Context(), noProgress)
	if err != nil || out != RolloutSandboxGone {
		t.Fatalf("Run = %q, %v; want sandbox gone", out, err)
	}
	f.shipErr = errors.New("engine down")
	if _, err := (Rollout{Due: time.Now(), Target: f}).Run(t.Context(), noProgress); err == nil {
		t.Fatal("a real deploy failure must stay an error")
	}
}
