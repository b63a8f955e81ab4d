package e2e

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"
	"github.com/jackc/pgx/v5"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/grade"
	"github.com/sandbox-labs/sandbox/services/status"
)

// TestIntegrationUpStatusDown: up -> steady traffic -> status shows every endpoint serving with the card's
// baseline figures -> down leaves nothing labelled behind, and can run twice.
func TestIntegrationUpStatusDown(t *testing.T) {
	e := requireEngine(t) // not parallel: it measures latency, so it runs before the parallel reference runs
	name := newSandbox(t, e, "base")
	mustCLI(t, "up", "--name", name, "--incident=false")

	// A second up of a running sandbox is refused and changes nothing.
	_, errs, code := runCLI(t, "up", "--name", name, "--incident=false")
	if code == 0 || !strings.Contains(errs, "already running") {
		t.Errorf("second up: exit %d, stderr %q; want a non-zero exit saying it is already running", code, errs)
	}

	// The noise is exact per request, so a 60 s window at 40 rps holds ~2400 requests and 2-3 noise errors.
	s := waitStatus(t, name, "60s", 3*time.Minute, "60 s of steady baseline", func(s status.Snapshot) bool {
		return s.Edge.Requests >= 2000 && s.WindowS >= 55
	})
	if s.Edge.ErrorRate < 0.0005 || s.Edge.ErrorRate > 0.003 {
		t.Errorf("baseline edge error rate %.3f%%, want 0.05%%..0.3%%", s.Edge.ErrorRate*100)
	}
	if s.Edge.P99Ms < 150 || s.Edge.P99Ms > 250 {
		t.Errorf("baseline edge p99 %.0f ms, want 150..250 ms", s.Edge.P99Ms)
	}
	for _, route := range status.Routes {
		ep := endpoint(s, route)
		if ep.RPS <= 0 || ep.ErrorRate > 0.01 {
			t.Errorf("%s: rps %.2f errors %.2f%%, want serving with <1%% errors", route, ep.RPS, ep.ErrorRate*100)
		}
	}
	for _, role := range []string{"gateway", "checkout", "orders", "payments", "catalog", "auth", "provider"} {
		sv := service(s, role)
		if !sv.Healthy || strings.Join(sv.Versions, ",") != "v2.3.0" {
			t.Errorf("%s: versions %v healthy %v, want v2.3.0 healthy", role, sv.Versions, sv.Healthy)
		}
	}

	// The human table shows the same endpoints.
	table := mustCLI(t, "status", "--name", name)
	for _, want := range append([]string{"EDGE (all)", "SERVICE"}, status.Routes...) {
		if !strings.Contains(table, want) {
			t.Errorf("status table lacks %q:\n%s", want, table)
		}
	}

	// A container posing as the sandbox's gateway (its labels, the real gateway's image, a published port) is
	// not trusted: Endpoints names it and keeps the real gateway.
	before, err := e.Endpoints(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	gws, err := e.Instances(t.Context(), name, "gateway")
	if err != nil || len(gws) == 0 {
		t.Fatalf("gateway instances %v %v", gws, err)
	}
	genuine, err := e.ContainerInspect(t.Context(), gws[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	fake, err := e.ContainerCreate(t.Context(), &container.Config{Image: genuine.Config.Image, Env: genuine.Config.Env,
		Labels:       map[string]string{sandbox.LabelManaged: "true", sandbox.LabelName: name, sandbox.LabelService: "gateway"},
		ExposedPorts: nat.PortSet{"8080/tcp": {}}},
		&container.HostConfig{PortBindings: nat.PortMap{"8080/tcp": {{HostIP: "127.0.0.1"}}}}, nil, nil, name+"-gateway-lookalike")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ContainerStart(t.Context(), fake.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	after, err := e.Endpoints(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	if after.Gateway != before.Gateway || !slices.ContainsFunc(after.Untrusted, func(u string) bool { return strings.Contains(u, "lookalike") }) {
		t.Errorf("with a look-alike gateway: gateway %s (was %s), untrusted %v", after.Gateway, before.Gateway, after.Untrusted)
	}
	if c := grade.TrustedContainers(after.Secret, after.Untrusted); c.Passed || !strings.Contains(c.Detail, "lookalike") {
		t.Errorf("trust check with a look-alike: %+v", c)
	}
	if err := e.ContainerRemove(t.Context(), fake.ID, container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}

	// No incident shipped, so there is nothing to grade: the could-not-grade exit and why, never a pass.
	out, errs, code := runCLI(t, "grade", "--name", name)
	if code != grade.ExitCouldNotRun || !strings.Contains(errs, "v2.4.0 never shipped") {
		t.Errorf("grade without an incident: exit %d, stdout %q stderr %q; want exit %d saying v2.4.0 never shipped", code, out, errs, grade.ExitCouldNotRun)
	}

	// A table held locked in the trainee's psql makes no command hang: grade and sql say what to do.
	ep, err := e.Endpoints(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	locker, err := pgx.Connect(t.Context(), ep.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := locker.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), "LOCK TABLE orders"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"grade"}, {"sql", "SELECT count(*) FROM orders"}} {
		start := time.Now()
		_, errs, code := runCLI(t, append(args, "--name", name)...)
		took := time.Since(start)
		t.Logf("%s during a held lock: exit %d after %s: %s", args[0], code, took.Round(time.Millisecond), strings.TrimSpace(errs))
		if code == 0 || !strings.Contains(errs, "did not answer in time") || took > time.Minute {
			t.Errorf("%s during a held lock: exit %d after %s, stderr %q; want a quick failure saying the database did not answer", args[0], code, took, errs)
		}
	}
	_ = tx.Rollback(t.Context())
	locker.Close(t.Context())

	// A shop service that crashes (kill -9 of its process, as the OOM killer would) comes back by itself.
	if os.Geteuid() == 0 {
		orders, err := e.Instances(t.Context(), name, "orders")
		if err != nil || len(orders) != 1 {
			t.Fatalf("orders instances %v %v", orders, err)
		}
		in, err := e.ContainerInspect(t.Context(), orders[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		if err := syscall.Kill(in.State.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(90 * time.Second)
		for {
			in, err = e.ContainerInspect(t.Context(), orders[0].ID)
			if err == nil && in.RestartCount > 0 && in.State.Running && in.State.Health != nil && in.State.Health.Status == "healthy" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("orders not back within 90 s of kill -9: %+v", in.State)
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Logf("orders back and healthy %s after kill -9 (restarts %d)", time.Since(killed).Round(100*time.Millisecond), in.RestartCount)
		// The crash is not hidden by the restart: status says so.
		var after status.Snapshot
		if err := json.Unmarshal([]byte(mustCLI(t, "status", "--output", "json", "--name", name)), &after); err != nil {
			t.Fatal(err)
		}
		if sv := service(after, "orders"); sv.Restarts < 1 {
			t.Errorf("status after kill -9 of orders: %+v, want at least one restart counted", sv)
		}
		if text := mustCLI(t, "status", "--name", name); !strings.Contains(text, "restarted") {
			t.Errorf("status after kill -9 of orders does not say it restarted:\n%s", text)
		}
	} else {
		t.Log("kill -9 of a shop service not tried: needs root to signal the container's process")
	}

	// Postgres restarted under load: every service serves again by itself (pools reconnect), and a change the
	// trainee made before it is still there.
	mustCLI(t, "sql", "ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'pending'", "--name", name)
	pg, err := e.Instances(t.Context(), name, "postgres")
	if err != nil || len(pg) != 1 {
		t.Fatalf("postgres instances %v %v", pg, err)
	}
	restarted := time.Now()
	grace := 5
	if err := e.ContainerRestart(t.Context(), pg[0].ID, container.StopOptions{Timeout: &grace}); err != nil {
		t.Fatal(err)
	}
	back := waitStatus(t, name, "10s", 2*time.Minute, "edge under 1% again after a Postgres restart", func(s status.Snapshot) bool {
		return s.At.Sub(restarted) > 10*time.Second && s.Edge.Requests > 100 && s.Edge.ErrorRate < 0.01
	})
	t.Logf("Postgres restart: the edge under 1%% over 10 s again %s after the restart began (%.2f%% at %s)",
		time.Since(restarted).Round(time.Second), back.Edge.ErrorRate*100, back.At.Format(time.RFC3339))
	if out := mustCLI(t, "sql", "SELECT column_default FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'status'", "--name", name); !strings.Contains(out, "pending") {
		t.Errorf("the trainee's ALTER was lost across the Postgres restart:\n%s", out)
	}

	// The control room killed while commands write to it: it comes back, and its record is whole, in order,
	// with no event twice.
	if os.Geteuid() == 0 {
		ctrl, err := e.Instances(t.Context(), name, "control")
		if err != nil || len(ctrl) != 1 {
			t.Fatalf("control instances %v %v", ctrl, err)
		}
		in, err := e.ContainerInspect(t.Context(), ctrl[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		writing := make(chan struct{})
		go func() { // every command records itself in the control room
			defer close(writing)
			for i := 0; i < 10; i++ {
				_, _, _ = runCLI(t, "hint", "--name", name)
			}
		}()
		time.Sleep(300 * time.Millisecond)
		if err := syscall.Kill(in.State.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-writing
		deadline := time.Now().Add(90 * time.Second)
		var tl []status.Event
		for {
			out, _, code := runCLI(t, "timeline", "--output", "json", "--name", name)
			if code == 0 && json.Unmarshal([]byte(out), &tl) == nil && len(tl) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("control room not back within 90 s of kill -9")
			}
			time.Sleep(time.Second)
		}
		if err := status.VerifyChain(tl); err != nil {
			t.Errorf("timeline after the control room was killed mid-write: %v", err)
		}
		seen := map[int64]bool{}
		for _, ev := range tl {
			if seen[ev.Seq] {
				t.Errorf("event seq %d twice after the control room was killed", ev.Seq)
			}
			seen[ev.Seq] = true
		}
		t.Logf("control room killed mid-write: back with %d events, chain intact", len(tl))
	}

	mustCLI(t, "down", "--name", name)
	if n := leftovers(t, e, name); n != 0 {
		t.Errorf("%d labelled resources left after down", n)
	}
	mustCLI(t, "down", "--name", name) // twice is fine
}
