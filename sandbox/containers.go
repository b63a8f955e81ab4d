package sandbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/sandbox-labs/sandbox/sandbox/engine"
	"github.com/sandbox-labs/sandbox/services/status"
)

// Memory limits per container: small enough that the whole shop fits a laptop, large enough for Go services.
const (
	serviceMemory  = 128 << 20
	postgresMemory = 512 << 20
	// Process (thread) limits: a Go service runs a few dozen threads, Postgres a process per connection.
	servicePids  = 256
	postgresPids = 512
)

// serviceRuntimeEnv fits the Go runtime of a shop service to its small container: the collector runs at half
// the default heap growth (GOGC=50: a service's live heap is a few MiB, so this costs little CPU and keeps its
// anonymous memory near the live heap), and a soft limit well under the container's (GOMEMLIMIT) makes the
// collector work harder, and hand memory back, long before the kernel's OOM killer would act. Set on every
// service container, first start or deploy; a spec's own value wins.
var serviceRuntimeEnv = []string{"GOGC=50", "GOMEMLIMIT=48MiB"}

// withRuntimeEnv adds serviceRuntimeEnv to env where env does not set the variable itself.
func withRuntimeEnv(env []string) []string {
	out := append([]string(nil), env...)
	for _, kv := range serviceRuntimeEnv {
		k := kv[:strings.IndexByte(kv, '=')+1]
		if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, k) }) {
			out = append(out, kv)
		}
	}
	return out
}

// LabelPrevious on a container names the release it replaced, so `rollback` needs no state file;
// LabelRolledBack marks a container that a rollback started, so a second `rollback` does not flip it forward.
const (
	LabelPrevious   = "io.sandbox.previous"
	LabelRolledBack = "io.sandbox.rolled-back"
)

// Instance is one running container of a sandbox.
type Instance struct {
	ID       string
	Name     string
	Service  string
	Version  string
	Previous string
	Rollback bool // started by a rollback
	State    string
	Health   string
	Created  time.Time
	Seal     string // LabelSeal: see SealValid
}

// Instances lists a sandbox's containers (optionally one service), oldest first.
func (e *Engine) Instances(ctx context.Context, name string, service ...string) ([]Instance, error) {
	list, err := e.ContainerList(ctx, container.ListOptions{All: true, Filters: NameFilter(name, service...)})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]Instance, 0, len(list))
	for _, c := range list {
		n := ""
		if len(c.Names) > 0 {
			n = strings.TrimPrefix(c.Names[0], "/")
		}
		health := ""
		if i := strings.Index(c.Status, "("); i >= 0 {
			health = strings.Trim(c.Status[i:], "()")
		}
		out = append(out, Instance{ID: c.ID, Name: n, Service: c.Labels[LabelService], Version: c.Labels[LabelVersion],
			Previous: c.Labels[LabelPrevious], Rollback: c.Labels[LabelRolledBack] == "true", State: c.State, Health: health, Created: time.Unix(c.Created, 0),
			Seal: c.Labels[LabelSeal]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// Restarts counts, per service, how often the engine restarted its running containers after a crash (the
// on-failure policy brings a crashed service back, so without this a crash loop would look healthy).
func (e *Engine) Restarts(ctx context.Context, name string) (map[string]int, error) {
	insts, err := e.Instances(ctx, name)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, in := range insts {
		if in.State != "running" && in.State != "restarting" {
			continue
		}
		ins, err := e.ContainerInspect(ctx, in.ID)
		if err != nil {
			continue // removed meanwhile
		}
		if ins.RestartCount > 0 {
			out[in.Service] += ins.RestartCount
		}
	}
	return out, nil
}

// ContainerSpec is everything needed to start one sandbox container.
type ContainerSpec struct {
	Name     string // sandbox name
	Service  string
	Version  string
	Previous string
	Rollback bool
	Image    string
	Env      []string
	Publish  string // container port to publish on 127.0.0.1, e.g. "8080/tcp"
	Mounts   map[string]string
	Cmd      []string
	Health   *container.HealthConfig
	Root     bool // Postgres needs root to initialise its data dir; shop services never run as root
}

// StartContainer creates and starts a container on the sandbox network with the service alias.
func (e *Engine) StartContainer(ctx context.Context, s ContainerSpec) (string, error) {
	netLabels, err := e.networkLabels(ctx, s.Name)
	if err != nil {
		return "", err
	}
	secret := netLabels[LabelSecret]
	labels := ResourceLabels(s.Name, s.Service, s.Version)
	if g := netLabels[LabelGame]; g != "" {
		labels[LabelGame] = g // every container of a game's team, redeploys included, says so
	}
	env := s.Env
	if s.Service == "control" && secret != "" {
		env = append(append([]string(nil), env...), status.ControlTokenEnv+"="+status.TokenDigest(secret))
	}
	if s.Previous != "" {
		labels[LabelPrevious] = s.Previous
	}
	if s.Rollback {
		labels[LabelRolledBack] = "true"
	}
	if !s.Root && IsRole(s.Service) {
		env = withRuntimeEnv(env)
	}
	cfg := &container.Config{Image: s.Image, Env: env, Labels: labels, Cmd: s.Cmd, Healthcheck: s.Health}
	stop := 12
	cfg.StopTimeout = &stop
	pids := int64(servicePids)
	hc := &container.HostConfig{
		NetworkMode: container.NetworkMode(NetworkName(s.Name)),
		Resources:   container.Resources{Memory: serviceMemory, PidsLimit: &pids},
		SecurityOpt: []string{"no-new-privileges"},
		// A container that dies on its own (a crash, the OOM killer, kill -9) comes back, as on a real
		// platform; one stopped on purpose (docker stop, the pipeline's drain) stays stopped.
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyOnFailure},
	}
	if s.Root {
		hc.Resources.Memory = postgresMemory
		pids = postgresPids
		hc.ShmSize = 128 << 20
		// Only what the entrypoints need to take over the data dir and drop to the postgres user.
		hc.CapDrop = []string{"ALL"}
		hc.CapAdd = []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"}
	} else {
		hc.ReadonlyRootfs = true
		hc.CapDrop = []string{"ALL"}
	}
	if s.Publish != "" {
		p := nat.Port(s.Publish)
		cfg.ExposedPorts = nat.PortSet{p: {}}
		hc.PortBindings = nat.PortMap{p: {{HostIP: "127.0.0.1", HostPort: ""}}}
	}
	for vol, target := range s.Mounts {
		hc.Binds = append(hc.Binds, vol+":"+target)
	}
	cname := s.Name + "-" + s.Service + "-" + engine.RandomSuffix(3)
	if secret != "" {
		labels[LabelSeal] = Seal(secret, cname)
	}
	net := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		NetworkName(s.Name): {Aliases: []string{s.Service, cname}},
	}}
	resp, err := e.ContainerCreate(ctx, cfg, hc, net, nil, cname)
	if err != nil {
		return "", fmt.Errorf("create %s container: %w", s.Service, err)
	}
	if err := e.ContainerStart(ctx, resp.ID, container.StartOptions{}); err != nil {
		_ = e.ContainerRemove(context.WithoutCancel(ctx), resp.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		return "", fmt.Errorf("start %s container: %w", s.Service, err)
	}
	return resp.ID, nil
}

// WaitHealthy polls a just-started container's health until healthy, failing fast if it exits or turns
// unhealthy. A crash counts as an exit even though the on-failure restart policy brings the container back:
// Docker shows it "restarting", then running and "starting" again, so waiting would only run out the timeout.
func (e *Engine) WaitHealthy(ctx context.Context, id string, timeout time.Duration) error {
	return engine.Wait(ctx, e, id, timeout, engine.ForHealth())
}

// PublishedPort returns the 127.0.0.1 host port the engine chose for a container port.
func (e *Engine) PublishedPort(ctx context.Context, id, port string) (string, error) {
	return engine.HostPort(ctx, e, id, port)
}

// StopAndRemove drains a container with SIGTERM (the service finishes in-flight requests), then removes it.
func (e *Engine) StopAndRemove(ctx context.Context, id string, grace time.Duration) error {
	secs := int(grace.Seconds())
	var errs []error
	if err := e.ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		errs = append(errs, fmt.Errorf("stop: %w", err))
	}
	if err := e.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
		errs = append(errs, fmt.Errorf("remove: %w", err))
	}
	return errors.Join(errs...)
}
