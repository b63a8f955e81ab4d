package sandbox

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/schema"
	"github.com/sandbox-labs/sandbox/services/status"
	"github.com/sandbox-labs/sandbox/services/topology"
)

// ReleaseServices are the roles a release of this shop changes; `deploy all` and `rollback` act on these.
var ReleaseServices = []string{"orders", "checkout", "payments"}

// DeployOptions configure one run of the deploy pipeline.
type DeployOptions struct {
	Name     string
	Services []string // roles, in rollout order
	Version  string
	Actor    string // "pipeline" (the scripted rollout) or "cli" (the trainee)
	Rollback bool   // a rollback: recorded as such; never touches migrations
	Drain    time.Duration
	LockWait time.Duration // how long to wait for another change to the sandbox to finish
	// StillWanted, when set, is asked once the lock is held; false ends the deploy with ErrRolloutSuperseded
	// before it changes anything (a scheduled rollout whose sandbox was reset while it waited).
	StillWanted func(context.Context) (bool, error)
}

// ServiceDeploy is what happened to one service.
type ServiceDeploy struct {
	Service  string        `json:"service"`
	From     string        `json:"from"`
	To       string        `json:"to"`
	Duration time.Duration `json:"duration_ns"`
	Skipped  string        `json:"skipped,omitempty"`
}

// DeployResult is the outcome of the pipeline.
type DeployResult struct {
	Migrations []schema.Applied `json:"migrations,omitempty"`
	Services   []ServiceDeploy  `json:"services"`
}

// LookupRelease finds a release that exists for sandbox name, with a message listing the known ones.
func (e *Engine) LookupRelease(ctx context.Context, name, version string) (release.Release, error) {
	rels, err := e.Releases(ctx, name)
	if err != nil {
		return release.Release{}, err
	}
	if rel, ok := rels[version]; ok {
		return rel, nil
	}
	known := make([]string, 0, len(rels))
	for v := range rels {
		known = append(known, v)
	}
	sort.Strings(known)
	return release.Release{}, fmt.Errorf("unknown release %q for sandbox %q; known releases: %s (cut a new one with `sandbox release create`)",
		version, name, strings.Join(known, ", "))
}

// Deploy runs the pipeline: the release's pending migrations first (never for a rollback), then for each
// service a rolling replacement: start the new container (it joins the service alias), wait until healthy,
// then drain the old ones with SIGTERM (they stop listening, finish in-flight requests, and exit). Callers
// resolve the alias per connection and retry refused connections, so the switch drops no request.
func (e *Engine) Deploy(ctx context.Context, o DeployOptions, progress Progress) (DeployResult, error) {
	var res DeployResult
	rel, err := e.LookupRelease(ctx, o.Name, o.Version)
	if err != nil {
		return res, err
	}
	for _, s := range o.Services {
		if !IsRole(s) {
			return res, fmt.Errorf("unknown service %q; services: %s", s, strings.Join(Roles, ", "))
		}
	}
	settings, err := e.SandboxSettings(ctx, o.Name)
	if err != nil {
		return res, err
	}
	lock, err := LockSandbox(ctx, o.Name, fmt.Sprintf("sandbox %s %s %s", verb(o.Rollback), strings.Join(o.Services, ","), rel.Version), o.LockWait)
	if err != nil {
		return res, err
	}
	defer lock.Release()
	if o.StillWanted != nil {
		if ok, err := o.StillWanted(ctx); err != nil {
			return res, err
		} else if !ok {
			return res, ErrRolloutSuperseded
		}
	}
	ep, err := e.Endpoints(ctx, o.Name)
	if err != nil {
		return res, err
	}
	if o.Drain == 0 {
		o.Drain = 10 * time.Second
	}
	cr := ep.ControlRoom()
	kind := status.EventDeployStarted
	if o.Rollback {
		kind = status.EventRollback
	}
	record := func(ev status.Event) {
		ev.Actor = o.Actor
		if err := cr.Record(context.WithoutCancel(ctx), ev); err != nil {
			progress("warning: could not record event in the control room: " + err.Error())
		}
	}
	record(status.Event{Kind: kind, Service: strings.Join(o.Services, ","), To: rel.Version, Detail: fmt.Sprintf("%s %s to %s", verb(o.Rollback), strings.Join(o.Services, ","), rel.Version)})

	if !o.Rollback && ep.DatabaseURL != "" {
		_, current, err := schema.Status(ctx, ep.DatabaseURL)
		if err != nil {
			return res, fmt.Errorf("read migration status: %w", err)
		}
		if rel.Migration > current {
			progress(fmt.Sprintf("running migrations %d..%d for %s", current+1, rel.Migration, rel.Version))
			applied, err := schema.Up(ctx, ep.DatabaseURL, rel.Migration, schema.OptionsForRelease(rel))
			res.Migrations = applied
			if err != nil {
				return res, fmt.Errorf("migrate: %w", err)
			}
			record(status.Event{Kind: status.EventMigration, Detail: fmt.Sprintf("up %d", rel.Migration), To: fmt.Sprint(rel.Migration)})
		}
	}
	for _, svc := range o.Services {
		sd, err := e.rollService(ctx, o, settings, svc, rel, progress)
		res.Services = append(res.Services, sd)
		if err != nil {
			return res, err
		}
		if svc == "control" { // a new control room, on a new published port
			if ep, err := e.Endpoints(ctx, o.Name); err == nil && ep.Control != "" {
				cr = ep.ControlRoom()
			}
		}
	}
	record(status.Event{Kind: status.EventDeployFinished, Service: strings.Join(o.Services, ","), To: rel.Version,
		Detail: fmt.Sprintf("%s of %s to %s finished", verb(o.Rollback), strings.Join(o.Services, ","), rel.Version)})
	return res, nil
}

func verb(rollback bool) string {
	if rollback {
		return "rollback"
	}
	return "deploy"
}

func (e *Engine) rollService(ctx context.Context, o DeployOptions, settings Settings, svc string, rel release.Release, progress Progress) (ServiceDeploy, error) {
	start := time.Now()
	sd := ServiceDeploy{Service: svc, To: rel.Version}
	insts, err := e.Instances(ctx, o.Name, svc)
	if err != nil {
		return sd, err
	}
	var olds []Instance
	for _, in := range insts {
		if in.State == "running" {
			olds = append(olds, in)
		}
	}
	if len(olds) > 0 {
		sd.From = olds[len(olds)-1].Version
	}
	if len(olds) > 0 && !slices.ContainsFunc(olds, func(in Instance) bool { return in.Version != rel.Version }) {
		sd.Skipped = "already at " + rel.Version
		progress(fmt.Sprintf("%s is already at %s", svc, rel.Version))
		return sd, nil
	}
	spec := RoleSpec(o.Name, svc, rel.Version, settings)
	spec.Previous, spec.Rollback = sd.From, o.Rollback
	if len(olds) > 0 {
		// Keep whatever environment the running instance had (a trainee may have tuned it).
		if ins, err := e.ContainerInspect(ctx, olds[len(olds)-1].ID); err == nil && ins.Config != nil {
			spec.Env = filterEnv(ins.Config.Env)
		}
	}
	// A role with a volume (the control room) is a singleton: two on one volume would write one record with
	// two sequence counters. It is replaced, not rolled: the old one stops (persisting its state) before the
	// new one starts.
	role, _ := topology.Lookup(svc)
	singleton := role.Singleton()
	if singleton {
		for _, old := range olds {
			progress(fmt.Sprintf("%s: stopping %s (%s) before %s starts on its volume", svc, old.Version, old.Name, rel.Version))
			if err := e.StopAndRemove(context.WithoutCancel(ctx), old.ID, o.Drain); err != nil {
				return sd, fmt.Errorf("stop %s: %w", old.Name, err)
			}
		}
		olds = nil
	} else {
		progress(fmt.Sprintf("%s: starting %s alongside %s", svc, rel.Version, orNone(sd.From)))
	}
	id, err := e.StartContainer(ctx, spec)
	if err != nil {
		return sd, err
	}
	if err := e.WaitHealthy(ctx, id, 60*time.Second); err != nil {
		_ = e.StopAndRemove(context.WithoutCancel(ctx), id, time.Second)
		if singleton {
			return sd, fmt.Errorf("%s %s did not become healthy and %s was stopped before it: start it again with "+
				"`sandbox deploy %s %s --name %s`: %w", svc, rel.Version, orNone(sd.From), svc, sd.From, o.Name, err)
		}
		return sd, fmt.Errorf("%s %s did not become healthy; %s is still serving: %w", svc, rel.Version, orNone(sd.From), err)
	}
	for _, old := range olds {
		progress(fmt.Sprintf("%s: %s healthy, draining %s (%s)", svc, rel.Version, old.Version, old.Name))
		if err := e.StopAndRemove(context.WithoutCancel(ctx), old.ID, o.Drain); err != nil {
			return sd, fmt.Errorf("drain %s: %w", old.Name, err)
		}
	}
	// Leftover stopped containers of this service (crashed or stopped by hand) are removed too.
	for _, in := range insts {
		if in.State != "running" {
			_ = e.ContainerRemove(ctx, in.ID, container.RemoveOptions{Force: true})
		}
	}
	sd.Duration = time.Since(start)
	progress(fmt.Sprintf("%s: now %s (%.1fs)", svc, rel.Version, sd.Duration.Seconds()))
	return sd, nil
}

// filterEnv drops the variables an image sets itself, so the new image's own values win.
func filterEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, "SANDBOX_") && !strings.HasPrefix(kv, "SANDBOX_SERVICE=") && !strings.HasPrefix(kv, "SANDBOX_RELEASE=") {
			out = append(out, kv)
		}
	}
	return out
}

func orNone(v string) string {
	if v == "" {
		return "(nothing)"
	}
	return v
}

// RollbackTargets returns, per release service, the version its running instance replaced. A service whose
// running instance was itself started by a rollback is reported in already (it is back on the older release;
// rolling back again would redeploy the bad one).
func (e *Engine) RollbackTargets(ctx context.Context, name string, services []string) (targets map[string]string, already map[string]string, err error) {
	out := map[string]string{}
	already = map[string]string{}
	for _, svc := range services {
		insts, err := e.Instances(ctx, name, svc)
		if err != nil {
			return nil, nil, err
		}
		for i := len(insts) - 1; i >= 0; i-- {
			if in := insts[i]; in.State == "running" {
				switch {
				case in.Rollback:
					already[svc] = in.Version
				case in.Previous != "" && in.Previous != in.Version:
					out[svc] = in.Previous
				}
				break
			}
		}
	}
	return out, already, nil
}
