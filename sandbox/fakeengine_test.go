package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/status"
)

// fakeEngine is an in-memory Docker engine with just the calls the deploy pipeline makes. The embedded
// client.APIClient is nil: any other call panics, so a test notices a code path it did not expect.
type fakeEngine struct {
	client.APIClient

	mu         sync.Mutex
	networks   []network.Summary
	images     []image.Summary
	containers map[string]*fakeContainer // by ID
	clock      int64                     // creation time (Unix seconds) of the next container
	calls      []call

	scripts map[string]script // by image ref: what a container made from that image does
	stopErr map[string]error  // by container name: ContainerStop fails (the container keeps running)
}

// script is what a new container does.
type script struct {
	createErr, startErr error
	health              []string // Health.Status on successive inspects once running; the last one stays (nil: "healthy")
	exits               bool     // the process exits at once with exitCode...
	exitCode            int
	restarted           bool // ...or it crashed and its restart policy already brought it back (still "starting")
	logs                string
}

// call is one state-changing engine call; grace is the stop timeout in seconds.
type call struct {
	op, target string
	grace      int
}

type fakeContainer struct {
	id, name, image string
	labels          map[string]string
	env             []string
	restartPolicy   container.RestartPolicyMode
	created         int64
	state           string // created, running, restarting, exited
	exitCode        int
	restarts        int
	health          []string
	ports           nat.PortMap
	logs            string
}

const fakeName = "team-1"

// newFakeSandbox is sandbox team-1 as `up` leaves it: v2.3.0 and v2.4.0 built, every role running v2.3.0
// healthy, and a control room (cr) that records the events the CLI posts.
func newFakeSandbox(t *testing.T) (*fakeEngine, *Engine, *fakeControlRoom) {
	t.Helper()
	cr := newFakeControlRoom(t)
	f := &fakeEngine{containers: map[string]*fakeContainer{}, clock: 1_700_000_000, scripts: map[string]script{}, stopErr: map[string]error{}}
	settings, _ := json.Marshal(Settings{Seed: 7, ScrapeInterval: "2s"})
	labels := ResourceLabels(fakeName, "network", "")
	labels[LabelSettings], labels[LabelSecret] = string(settings), cr.secret
	f.networks = []network.Summary{{ID: "net1", Name: NetworkName(fakeName), Labels: labels}}
	for _, rel := range []release.Release{release.V230(), release.V240(nil, 7)} {
		f.addRelease(rel)
	}
	for _, role := range Roles {
		c := f.seed(role, "v2.3.0", "")
		if role == "control" {
			c.ports = nat.PortMap{"8080/tcp": {{HostIP: "127.0.0.1", HostPort: cr.port}}}
		}
	}
	return f, &Engine{APIClient: f}, cr
}

// addRelease adds rel's role images, labelled as EnsureRoleImage labels them.
func (f *fakeEngine) addRelease(rel release.Release) {
	for _, role := range Roles {
		f.images = append(f.images, image.Summary{ID: "sha256:" + role + rel.Version, RepoTags: []string{ImageRef(fakeName, role, rel.Version)},
			Labels: map[string]string{LabelImage: "true", LabelManaged: "true", LabelName: fakeName, LabelService: role,
				LabelVersion: rel.Version, LabelRelease: rel.Encode()}})
	}
}

// removeImage deletes an image, as `docker rmi` would.
func (f *fakeEngine) removeImage(ref string) {
	f.images = slices.DeleteFunc(f.images, func(im image.Summary) bool { return slices.Contains(im.RepoTags, ref) })
}

// seed adds a running, healthy, sealed container of role at version, as a CLI-created one looks on inspect
// (the image's own SANDBOX_SERVICE and SANDBOX_RELEASE merged into its environment).
func (f *fakeEngine) seed(role, version, previous string, extraEnv ...string) *fakeContainer {
	f.clock++
	name := fmt.Sprintf("%s-%s-old%03d", fakeName, role, f.clock%1000)
	labels := ResourceLabels(fakeName, role, version)
	labels[LabelSeal] = Seal(f.networks[0].Labels[LabelSecret], name)
	if previous != "" {
		labels[LabelPrevious] = previous
	}
	env := append(RoleEnv(fakeName, role, Settings{Seed: 7}), "PATH=/bin", "SANDBOX_SERVICE="+role, `SANDBOX_RELEASE={"version":"`+version+`"}`)
	c := &fakeContainer{id: fmt.Sprintf("%064d", f.clock), name: name, image: ImageRef(fakeName, role, version), labels: labels,
		env: append(env, extraEnv...), restartPolicy: container.RestartPolicyOnFailure, created: f.clock, state: "running", health: []string{"healthy"}}
	f.containers[c.id] = c
	return c
}

func (f *fakeEngine) record(op, target string, grace int) {
	f.calls = append(f.calls, call{op, target, grace})
}

// ops are the recorded calls of one kind ("create" targets are image refs, the others container names).
func (f *fakeEngine) ops(op string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if c.op == op {
			out = append(out, c.target)
		}
	}
	return out
}

// live is "state version" of every container of service, oldest first (removed ones are gone).
func (f *fakeEngine) live(service string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var cs []*fakeContainer
	for _, c := range f.containers {
		if c.labels[LabelService] == service {
			cs = append(cs, c)
		}
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].created < cs[j].created })
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.state+" "+c.labels[LabelVersion])
	}
	return out
}

// newest is the most recently created container of service.
func (f *fakeEngine) newest(t *testing.T, service string) *fakeContainer {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var n *fakeContainer
	for _, c := range f.containers {
		if c.labels[LabelService] == service && (n == nil || c.created > n.created) {
			n = c
		}
	}
	if n == nil {
		t.Fatalf("no %s container", service)
	}
	return n
}

func (f *fakeEngine) lookup(id string) (*fakeContainer, error) {
	if c, ok := f.containers[id]; ok {
		return c, nil
	}
	return nil, errdefs.NotFound(fmt.Errorf("No such container: %s", id))
}

func (f *fakeEngine) NetworkList(_ context.Context, o network.ListOptions) ([]network.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []network.Summary
	for _, n := range f.networks {
		if o.Filters.MatchKVList("label", n.Labels) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (f *fakeEngine) ImageList(_ context.Context, o image.ListOptions) ([]image.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []image.Summary
	for _, im := range f.images {
		if o.Filters.MatchKVList("label", im.Labels) {
			out = append(out, im)
		}
	}
	return out, nil
}

func (f *fakeEngine) ContainerList(_ context.Context, o container.ListOptions) ([]container.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []container.Summary
	for _, c := range f.containers {
		if (!o.All && c.state != "running") || !o.Filters.MatchKVList("label", c.labels) {
			continue
		}
		st := c.state
		if c.state == "running" {
			st = "Up 5 seconds (" + c.healthNow() + ")"
		}
		out = append(out, container.Summary{ID: c.id, Names: []string{"/" + c.name}, Image: c.image, Labels: c.labels,
			State: c.state, Status: st, Created: c.created})
	}
	return out, nil
}

func (c *fakeContainer) healthNow() string {
	if len(c.health) == 0 {
		return "healthy"
	}
	return c.health[0]
}

// ContainerInspect shows the next scripted health status of a running container on every call.
func (f *fakeEngine) ContainerInspect(_ context.Context, id string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.lookup(id)
	if err != nil {
		return container.InspectResponse{}, err
	}
	st := &container.State{Status: c.state, Running: c.state == "running" || c.state == "restarting",
		Restarting: c.state == "restarting", ExitCode: c.exitCode}
	if c.state == "running" || c.state == "restarting" {
		st.Health = &container.Health{Status: c.healthNow()}
		if len(c.health) > 1 {
			c.health = c.health[1:]
		}
	}
	ns := &container.NetworkSettings{}
	ns.Ports = c.ports
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: c.id, Name: "/" + c.name, State: st, RestartCount: c.restarts},
		Config:            &container.Config{Image: c.image, Env: c.env, Labels: c.labels},
		NetworkSettings:   ns,
	}, nil
}

func (f *fakeEngine) ContainerCreate(_ context.Context, cfg *container.Config, hc *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("create", cfg.Image, 0)
	if err := f.scripts[cfg.Image].createErr; err != nil {
		return container.CreateResponse{}, err
	}
	if !slices.ContainsFunc(f.images, func(im image.Summary) bool { return slices.Contains(im.RepoTags, cfg.Image) }) {
		return container.CreateResponse{}, errdefs.NotFound(fmt.Errorf("No such image: %s", cfg.Image))
	}
	f.clock++
	c := &fakeContainer{id: fmt.Sprintf("%064d", f.clock), name: name, image: cfg.Image, labels: cfg.Labels, env: cfg.Env,
		restartPolicy: hc.RestartPolicy.Name, created: f.clock, state: "created"}
	for p := range hc.PortBindings {
		c.ports = nat.PortMap{p: {{HostIP: "127.0.0.1", HostPort: fmt.Sprint(40000 + f.clock%1000)}}}
	}
	f.containers[c.id] = c
	return container.CreateResponse{ID: c.id}, nil
}

// ContainerStart runs the image's script; a process that exits non-zero under an on-failure restart policy
// is restarting, as on Docker (State.Running and Restarting both true).
func (f *fakeEngine) ContainerStart(_ context.Context, id string, _ container.StartOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.lookup(id)
	if err != nil {
		return err
	}
	f.record("start", c.name, 0)
	s := f.scripts[c.image]
	if s.startErr != nil {
		return s.startErr
	}
	c.state, c.health, c.logs = "running", s.health, s.logs
	switch {
	case s.exits && s.exitCode != 0 && c.restartPolicy == container.RestartPolicyOnFailure:
		c.state, c.exitCode, c.restarts, c.health = "restarting", s.exitCode, 1, []string{"starting"}
	case s.exits:
		c.state, c.exitCode = "exited", s.exitCode
	case s.restarted:
		c.restarts, c.health = 1, []string{"starting"}
	}
	return nil
}

func (f *fakeEngine) ContainerStop(_ context.Context, id string, o container.StopOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.lookup(id)
	if err != nil {
		return err
	}
	grace := -1
	if o.Timeout != nil {
		grace = *o.Timeout
	}
	f.record("stop", c.name, grace)
	if err := f.stopErr[c.name]; err != nil {
		return err
	}
	c.state, c.exitCode = "exited", 0
	return nil
}

// ContainerRemove removes a container; a running one only with Force (Docker kills it).
func (f *fakeEngine) ContainerRemove(_ context.Context, id string, o container.RemoveOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.lookup(id)
	if err != nil {
		return err
	}
	f.record("remove", c.name, 0)
	if (c.state == "running" || c.state == "restarting") && !o.Force {
		return errdefs.Conflict(fmt.Errorf("cannot remove container %q: container is running", c.name))
	}
	delete(f.containers, id)
	return nil
}

func (f *fakeEngine) ContainerLogs(_ context.Context, id string, _ container.LogsOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := f.lookup(id)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	_, _ = stdcopy.NewStdWriter(&buf, stdcopy.Stderr).Write([]byte(c.logs))
	return io.NopCloser(&buf), nil
}

// fakeControlRoom is the control room's event API: it keeps what the CLI posts with the sandbox's token.
type fakeControlRoom struct {
	secret, port string
	mu           sync.Mutex
	events       []status.Event
}

func newFakeControlRoom(t *testing.T) *fakeControlRoom {
	cr := &fakeControlRoom{secret: strings.Repeat("5e", 32)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/events" {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get(status.AuthHeader) != status.AuthScheme+cr.secret {
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		var ev status.Event
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		cr.mu.Lock()
		cr.events = append(cr.events, ev)
		cr.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	cr.port = u.Port()
	return cr
}

// kinds are the recorded events as "kind actor service to".
func (cr *fakeControlRoom) kinds() []string {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	var out []string
	for _, ev := range cr.events {
		out = append(out, strings.Join([]string{ev.Kind, ev.Actor, ev.Service, ev.To}, " "))
	}
	return out
}

var errEngine = errors.New("engine said no")
