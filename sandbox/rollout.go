package sandbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"

	"github.com/sandbox-labs/sandbox/services/status"
)

// The v2.4.0 rollout is scheduled, not run by the terminal that typed `sandbox up`: up records when it is due
// and hands it to a pipeline process of its own (see cli `sandbox rollout`), which waits for the due time and
// ships it even if up is interrupted or its terminal closes. This file is that pipeline's logic.

// RolloutTarget is what a scheduled rollout acts on: one sandbox on the engine, or a fake in tests.
type RolloutTarget interface {
	// Present reports whether the sandbox the rollout was scheduled for still exists. It is false, with no
	// error, once that sandbox is removed, including when a new sandbox with the same name replaced it.
	Present(ctx context.Context) (bool, error)
	// Shipped reports whether v2.4.0 already went out (the trainee may have deployed it by hand).
	Shipped(ctx context.Context) (bool, error)
	// Ship runs the pipeline: v2.4.0's migrations, then the rolling replacement.
	Ship(ctx context.Context, progress Progress) error
}

// RolloutOutcome says how a scheduled rollout ended without an error.
type RolloutOutcome string

// Rollout outcomes.
const (
	RolloutShipped        RolloutOutcome = "shipped"
	RolloutAlreadyShipped RolloutOutcome = "already shipped"
	RolloutSandboxGone    RolloutOutcome = "sandbox gone"
)

// Rollout is one scheduled v2.4.0 rollout.
type Rollout struct {
	Due    time.Time
	Target RolloutTarget
	// Poll is how often the sandbox is checked while waiting, so `sandbox down` ends a pending rollout
	// within about this long (default 1s).
	Poll time.Duration
	// Grace is how long engine errors are retried once the rollout is due (default 2m).
	Grace time.Duration
}

// Run waits until the rollout is due and ships v2.4.0, unless it already shipped. It returns
// RolloutSandboxGone as soon as the sandbox is removed or replaced, waiting or not, so nothing outlives its
// sandbox. Engine errors are retried until Grace after the due time.
func (r Rollout) Run(ctx context.Context, progress Progress) (RolloutOutcome, error) {
	poll, grace := r.Poll, r.Grace
	if poll <= 0 {
		poll = time.Second
	}
	if grace <= 0 {
		grace = 2 * time.Minute
	}
	var lastErr error
	failed := func(err error) error {
		if lastErr == nil {
			progress("warning: " + err.Error() + " (retrying)")
		}
		lastErr = err
		if time.Now().After(r.Due.Add(grace)) {
			return fmt.Errorf("gave up %s after the rollout was due: %w", grace, err)
		}
		return nil
	}
	for {
		present, err := r.Target.Present(ctx)
		switch {
		case ctx.Err() != nil:
			return "", ctx.Err()
		case err != nil:
			if err := failed(err); err != nil {
				return "", err
			}
		case !present:
			return RolloutSandboxGone, nil
		case !time.Now().Before(r.Due):
			shipped, err := r.Target.Shipped(ctx)
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			if err != nil {
				if err := failed(err); err != nil {
					return "", err
				}
				break
			}
			if shipped {
				return RolloutAlreadyShipped, nil
			}
			if err := r.Target.Ship(ctx, progress); errors.Is(err, ErrRolloutSuperseded) {
				return RolloutSandboxGone, nil
			} else if err != nil {
				return "", err
			}
			return RolloutShipped, nil
		default:
			lastErr = nil
		}
		wait := poll
		if d := time.Until(r.Due); d > 0 && d < wait {
			wait = d
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
	}
}

// SandboxID is the ID of sandbox name's network. It names this incarnation of the sandbox: a `down` and a new
// `up` with the same name make another one, so a rollout scheduled for the old one never hits the new one.
func (e *Engine) SandboxID(ctx context.Context, name string) (string, error) {
	nets, err := e.NetworkList(ctx, network.ListOptions{Filters: NameFilter(name, "network")})
	if err != nil {
		return "", fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		if n.Name == NetworkName(name) {
			return n.ID, nil
		}
	}
	return "", fmt.Errorf("no sandbox named %q on this engine; start one with `sandbox up --name %s`", name, name)
}

// RolloutTarget is attempt number attempt of the sandbox called name whose network has ID sandboxID, as a
// scheduled rollout sees it. A `sandbox reset` starts a new attempt, so a rollout scheduled for an earlier
// one finds its sandbox gone (attempt 0: any attempt).
func (e *Engine) RolloutTarget(name, sandboxID string, attempt int) RolloutTarget {
	return &engineTarget{e: e, name: name, id: sandboxID, attempt: attempt}
}

type engineTarget struct {
	e        *Engine
	name, id string
	attempt  int
}

func (t *engineTarget) Present(ctx context.Context) (bool, error) {
	n, err := t.e.NetworkInspect(ctx, t.id, network.InspectOptions{})
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspect the network of sandbox %q: %w", t.name, err)
	}
	if n.ID != t.id || n.Name != NetworkName(t.name) || n.Labels[LabelManaged] != "true" || n.Labels[LabelName] != t.name {
		return false, nil
	}
	if t.attempt > 0 {
		cur, err := t.e.Attempt(ctx, t.name)
		if err != nil {
			return false, err
		}
		return cur == t.attempt, nil
	}
	return true, nil
}

func (t *engineTarget) Shipped(ctx context.Context) (bool, error) {
	secret, err := t.e.Secret(ctx, t.name)
	if err != nil {
		return false, err
	}
	live := map[string][]string{}
	for _, svc := range ReleaseServices {
		insts, err := t.e.Instances(ctx, t.name, svc)
		if err != nil {
			return false, err
		}
		for _, in := range insts {
			if in.State == "running" && (secret == "" || SealValid(secret, in.Name, in.Seal)) {
				live[svc] = append(live[svc], in.Version)
			}
		}
	}
	// The timeline also knows a v2.4.0 deploy that has since been rolled back; without a control room
	// the live versions decide alone.
	var tl []status.Event
	if ep, err := t.e.Endpoints(ctx, t.name); err == nil && ep.Control != "" {
		tl, _ = ep.ControlRoom().Timeline(ctx)
	}
	return V240Shipped(tl, live), nil
}

func (t *engineTarget) Ship(ctx context.Context, progress Progress) error {
	// Checked again once the pipeline holds the sandbox's lock: a reset that held it meanwhile started a
	// new attempt this rollout was not scheduled for.
	_, _, err := t.e.rolloutV240(ctx, t.name, progress, t.Present)
	return err
}

// ErrRolloutSuperseded means the sandbox a rollout was scheduled for was removed or reset before it shipped.
var ErrRolloutSuperseded = errors.New("the sandbox was removed or reset since the rollout was scheduled")

// V240Shipped reports whether v2.4.0 has gone out to every release service: each one was deployed to v2.4.0
// (the timeline records a deploy, not a rollback, naming it), or each one runs only v2.4.0 now (live: role ->
// versions of its running instances). A partial deploy by hand is not a shipped release; the pipeline then
// rolls the rest.
func V240Shipped(tl []status.Event, live map[string][]string) bool {
	deployed := map[string]bool{}
	for _, ev := range tl {
		if ev.Kind == status.EventDeployStarted && ev.To == "v2.4.0" {
			for _, s := range strings.Split(ev.Service, ",") {
				deployed[strings.TrimSpace(s)] = true
			}
		}
	}
	byTimeline, byLive := true, true
	for _, svc := range ReleaseServices {
		byTimeline = byTimeline && deployed[svc]
		vs := live[svc]
		byLive = byLive && len(vs) > 0 && !slices.ContainsFunc(vs, func(v string) bool { return v != "v2.4.0" })
	}
	return byTimeline || byLive
}

// RolloutState is what the timeline says about the scheduled v2.4.0 rollout.
type RolloutState struct {
	Due      time.Time // when it is due (zero: never scheduled)
	Started  time.Time // the pipeline began deploying v2.4.0 (zero: not yet)
	Finished time.Time // the pipeline's deploy of v2.4.0 finished (zero: not yet)
	// Shipped: v2.4.0 went out to every release service, by the pipeline or by hand (see V240Shipped).
	Shipped bool
}

// Pending reports whether the rollout is scheduled and has neither started nor been made moot by hand.
func (r RolloutState) Pending() bool { return !r.Due.IsZero() && r.Started.IsZero() && !r.Shipped }

// InProgress reports whether the pipeline is deploying v2.4.0 right now.
func (r RolloutState) InProgress() bool { return !r.Started.IsZero() && r.Finished.IsZero() }

// RolloutFromTimeline reads the scheduled rollout's state from the control room's timeline.
func RolloutFromTimeline(tl []status.Event) RolloutState {
	var r RolloutState
	for _, ev := range tl {
		switch {
		case ev.Kind == status.EventRolloutScheduled:
			if due, err := time.Parse(time.RFC3339, ev.Data["due"]); err == nil {
				r.Due = due
			}
		case ev.Actor != "pipeline" || ev.To != "v2.4.0":
		case ev.Kind == status.EventDeployStarted && r.Started.IsZero():
			r.Started = ev.At
		case ev.Kind == status.EventDeployFinished && r.Finished.IsZero():
			r.Finished = ev.At
		}
	}
	r.Shipped = V240Shipped(tl, nil)
	return r
}
