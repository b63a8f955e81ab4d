package sandbox

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/go-connections/nat"
)

// The deploy pipeline against fakeEngine (fakeengine_test.go): team-1 runs every role on v2.3.0, v2.4.0 is
// built, and the control room records the events the pipeline posts.

// deployCtx bounds a test, so a pipeline that waits out WaitHealthy's 60 s fails in seconds instead.
func deployCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func opts(version string, services ...string) DeployOptions {
	return DeployOptions{Name: fakeName, Services: services, Version: version, Actor: "cli", Drain: 3 * time.Second}
}

func wantContains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s %q does not say %q", what, got, w)
		}
	}
}

func wantEqual(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestDeployReplacesTheOldContainerOnceTheNewOneIsHealthy(t *testing.T) {
	f, e, cr := newFakeSandbox(t)
	old := f.newest(t, "orders")
	old.env = append(old.env, "SANDBOX_DB_POOL=3") // tuned by the trainee
	stale := f.seed("orders", "v2.2.0", "")
	stale.state = "exited" // crashed earlier or stopped by hand
	f.scripts[ImageRef(fakeName, "orders", "v2.4.0")] = script{health: []string{"starting", "healthy"}}

	var lines []string
	res, err := e.Deploy(deployCtx(t), opts("v2.4.0", "orders"), func(s string) { lines = append(lines, s) })
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if len(res.Services) != 1 || res.Services[0].From != "v2.3.0" || res.Services[0].To != "v2.4.0" || res.Services[0].Skipped != "" {
		t.Errorf("result %+v, want orders v2.3.0 -> v2.4.0", res.Services)
	}
	wantEqual(t, "orders containers", f.live("orders"), "running v2.4.0")
	wantEqual(t, "created", f.ops("create"), ImageRef(fakeName, "orders", "v2.4.0"))
	wantEqual(t, "stopped", f.ops("stop"), old.name)
	wantEqual(t, "removed", f.ops("remove"), old.name, stale.name)
	if c := f.calls[slices.IndexFunc(f.calls, func(c call) bool { return c.op == "stop" })]; c.grace != 3 {
		t.Errorf("old container stopped with %ds grace, want the 3 s drain", c.grace)
	}
	n := f.newest(t, "orders")
	if n.labels[LabelPrevious] != "v2.3.0" || n.labels[LabelRolledBack] != "" || !SealValid(cr.secret, n.name, n.labels[LabelSeal]) {
		t.Errorf("new container labels %v: want previous v2.3.0, not rolled back, a valid seal", n.labels)
	}
	// The running instance's SANDBOX_ settings carry over; what the old image set itself does not; the Go
	// runtime settings of a service container come with every start.
	wantEqual(t, "new env", n.env, append([]string{"SANDBOX_NAME=team-1", "SANDBOX_SEED=7", "SANDBOX_LISTEN=:8080",
		"SANDBOX_DATABASE_URL=" + InternalDatabaseURL(), "SANDBOX_DB_POOL=3"}, serviceRuntimeEnv...)...)
	wantEqual(t, "events", cr.kinds(), "deploy_started cli orders v2.4.0", "deploy_finished cli orders v2.4.0")
	wantContains(t, "progress", strings.Join(lines, "\n"), "orders: starting v2.4.0 alongside v2.3.0", "draining v2.3.0 ("+old.name+")", "orders: now v2.4.0")
}

func TestDeployStopsAtAServiceThatNeverGetsHealthy(t *testing.T) {
	f, e, cr := newFakeSandbox(t)
	old := f.newest(t, "orders")
	f.scripts[ImageRef(fakeName, "orders", "v2.4.0")] = script{health: []string{"starting", "starting", "unhealthy"},
		logs: "panic: order_metadata: null value violates not-null constraint\n"}

	res, err := e.Deploy(deployCtx(t), opts("v2.4.0", ReleaseServices...), noProgress)
	if err == nil {
		t.Fatal("Deploy succeeded with an unhealthy orders v2.4.0")
	}
	wantContains(t, "error", err.Error(), "orders v2.4.0 did not become healthy", "v2.3.0 is still serving", "is unhealthy",
		"panic: order_metadata: null value")
	newName := f.ops("start")[0]
	wantEqual(t, "stopped", f.ops("stop"), newName)
	wantEqual(t, "removed", f.ops("remove"), newName)
	wantEqual(t, "orders containers", f.live("orders"), "running v2.3.0")
	if f.newest(t, "orders") != old {
		t.Error("the old orders container was replaced")
	}
	// checkout and payments come after orders: never touched.
	wantEqual(t, "created", f.ops("create"), ImageRef(fakeName, "orders", "v2.4.0"))
	wantEqual(t, "checkout containers", f.live("checkout"), "running v2.3.0")
	wantEqual(t, "payments containers", f.live("payments"), "running v2.3.0")
	if len(res.Services) != 1 || res.Services[0].Service != "orders" {
		t.Errorf("result %+v: want only orders attempted", res.Services)
	}
	// The control room saw the deploy start and never finish.
	wantEqual(t, "events", cr.kinds(), "deploy_started cli orders,checkout,payments v2.4.0")
}

func TestDeployFailsFastWhenTheNewContainerExits(t *testing.T) {
	for _, c := range []struct {
		name string
		s    script
		want []string
	}{
		// exit 0: the on-failure policy leaves it exited.
		{"exits cleanly", script{exits: true, logs: "nothing to serve\n"}, []string{"exited (code 0)"}},
		// A crash: the on-failure policy restarts it, so the engine says "restarting", never "exited".
		{"crashes and is restarting", script{exits: true, exitCode: 2, logs: "panic: payment-sdk 4.0: nil client\n"},
			[]string{"exited (code 2)", "restart"}},
		// A crash between two polls: already back up, "starting" again, with a restart count.
		{"crashed and was restarted", script{restarted: true, logs: "panic: payment-sdk 4.0: nil client\n"},
			[]string{"exited", "restart"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, e, _ := newFakeSandbox(t)
			ref := ImageRef(fakeName, "payments", "v2.4.0")
			f.scripts[ref] = c.s
			_, err := e.Deploy(deployCtx(t), opts("v2.4.0", "payments", "checkout"), noProgress)
			if err == nil {
				t.Fatal("Deploy succeeded with a payments v2.4.0 that exits")
			}
			wantContains(t, "error", err.Error(), append(c.want, "payments v2.4.0 did not become healthy", "v2.3.0 is still serving",
				strings.TrimSpace(c.s.logs))...)
			if strings.Contains(err.Error(), "not healthy after") {
				t.Error("waited out the health timeout instead of failing when the container exited")
			}
			wantEqual(t, "removed", f.ops("remove"), f.ops("start")...)
			wantEqual(t, "payments containers", f.live("payments"), "running v2.3.0")
			wantEqual(t, "created", f.ops("create"), ref)
		})
	}
}

func TestDeployLeavesNothingBehindWhenCreateOrStartFails(t *testing.T) {
	t.Run("image missing", func(t *testing.T) {
		f, e, _ := newFakeSandbox(t)
		ref := ImageRef(fakeName, "orders", "v2.4.0")
		f.removeImage(ref) // v2.4.0 is still listed (Releases reads checkout's images); orders' image is gone
		_, err := e.Deploy(deployCtx(t), opts("v2.4.0", "orders", "payments"), noProgress)
		if err == nil {
			t.Fatal("Deploy succeeded without orders' image")
		}
		wantContains(t, "error", err.Error(), "create orders container", "No such image: "+ref)
		wantEqual(t, "started", f.ops("start"))
		wantEqual(t, "stopped", f.ops("stop"))
		wantEqual(t, "removed", f.ops("remove"))
		wantEqual(t, "orders containers", f.live("orders"), "running v2.3.0")
		wantEqual(t, "payments containers", f.live("payments"), "running v2.3.0")
	})
	t.Run("start fails", func(t *testing.T) {
		f, e, _ := newFakeSandbox(t)
		f.scripts[ImageRef(fakeName, "checkout", "v2.4.0")] = script{startErr: fmt.Errorf("failed to set up container networking: %w", errEngine)}
		_, err := e.Deploy(deployCtx(t), opts("v2.4.0", "checkout", "payments"), noProgress)
		if err == nil {
			t.Fatal("Deploy succeeded though checkout did not start")
		}
		wantContains(t, "error", err.Error(), "start checkout container", "failed to set up container networking")
		started := f.ops("start")
		wantEqual(t, "removed (the created, never started container)", f.ops("remove"), started...)
		wantEqual(t, "stopped", f.ops("stop"))
		wantEqual(t, "checkout containers", f.live("checkout"), "running v2.3.0")
		wantEqual(t, "payments containers", f.live("payments"), "running v2.3.0")
	})
}

func TestDeployDrainFailureNamesTheOldContainer(t *testing.T) {
	f, e, cr := newFakeSandbox(t)
	old := f.newest(t, "orders")
	f.stopErr[old.name] = errEngine
	_, err := e.Deploy(deployCtx(t), opts("v2.4.0", "orders", "checkout"), noProgress)
	if err == nil {
		t.Fatal("Deploy succeeded though the old orders container did not stop")
	}
	wantContains(t, "error", err.Error(), "drain "+old.name, "stop: "+errEngine.Error())
	// The new one was healthy and serves; StopAndRemove force-removed the old one although its stop failed.
	wantEqual(t, "stopped", f.ops("stop"), old.name)
	wantEqual(t, "removed", f.ops("remove"), old.name)
	wantEqual(t, "orders containers", f.live("orders"), "running v2.4.0")
	wantEqual(t, "created", f.ops("create"), ImageRef(fakeName, "orders", "v2.4.0"))
	wantEqual(t, "checkout containers", f.live("checkout"), "running v2.3.0")
	wantEqual(t, "events", cr.kinds(), "deploy_started cli orders,checkout v2.4.0")
}

func TestDeploySkipsServicesAlreadyAtTheVersion(t *testing.T) {
	f, e, cr := newFakeSandbox(t)
	res, err := e.Deploy(deployCtx(t), opts("v2.3.0", ReleaseServices...), noProgress)
	if err != nil {
		t.Fatalf("Deploy: %v", err)
	}
	if len(res.Services) != len(ReleaseServices) {
		t.Fatalf("result %+v", res.Services)
	}
	for _, sd := range res.Services {
		if sd.Skipped != "already at v2.3.0" {
			t.Errorf("%s: skipped %q, want already at v2.3.0", sd.Service, sd.Skipped)
		}
	}
	if len(f.calls) != 0 {
		t.Errorf("engine calls %v, want none", f.calls)
	}
	wantEqual(t, "events", cr.kinds(), "deploy_started cli orders,checkout,payments v2.3.0", "deploy_finished cli orders,checkout,payments v2.3.0")
}

func TestDeployRefusesUnknownServiceOrRelease(t *testing.T) {
	f, e, cr := newFakeSandbox(t)
	_, err := e.Deploy(deployCtx(t), opts("v2.4.0", "orders", "billing"), noProgress)
	if err == nil {
		t.Fatal("Deploy accepted service billing")
	}
	wantContains(t, "error", err.Error(), `unknown service "billing"`, strings.Join(Roles, ", "))
	_, err = e.Deploy(deployCtx(t), opts("v9.9.9", "orders"), noProgress)
	if err == nil {
		t.Fatal("Deploy accepted release v9.9.9")
	}
	wantContains(t, "error", err.Error(), `unknown release "v9.9.9" for sandbox "team-1"`, "known releases: v2.3.0, v2.4.0", "sandbox release create")
	if len(f.calls) != 0 || len(cr.kinds()) != 0 {
		t.Errorf("engine calls %v, events %v; want none for a refused deploy", f.calls, cr.kinds())
	}
}

// closedPort is a 127.0.0.1 port nothing listens on: a database that refuses at once.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func TestDeployStopsWhenMigrationStatusCannotBeRead(t *testing.T) {
	f, e, cr := newFakeSandbox(t)
	f.seed("postgres", "", "").ports = nat.PortMap{"5432/tcp": {{HostIP: "127.0.0.1", HostPort: closedPort(t)}}}
	_, err := e.Deploy(deployCtx(t), opts("v2.4.0", ReleaseServices...), noProgress)
	if err == nil {
		t.Fatal("Deploy succeeded without a database")
	}
	wantContains(t, "error", err.Error(), "read migration status", "127.0.0.1")
	if len(f.calls) != 0 {
		t.Errorf("engine calls %v, want no container started before the migrations", f.calls)
	}
	wantEqual(t, "events", cr.kinds(), "deploy_started cli orders,checkout,payments v2.4.0")
}

func TestRollbackMarksTheNewContainerAndKeepsItsEnv(t *testing.T) {
	f, e, cr := newFakeSandbox(t)
	bad := f.newest(t, "checkout")
	delete(f.containers, bad.id)
	bad = f.seed("checkout", "v2.4.0", "v2.3.0", "SANDBOX_DISCOUNT_CACHE=off") // deployed earlier, then tuned
	// A rollback never touches migrations: a database that refuses every connection does not stop it.
	f.seed("postgres", "", "").ports = nat.PortMap{"5432/tcp": {{HostIP: "127.0.0.1", HostPort: closedPort(t)}}}

	targets, _, err := e.RollbackTargets(deployCtx(t), fakeName, ReleaseServices)
	if err != nil || len(targets) != 1 || targets["checkout"] != "v2.3.0" {
		t.Fatalf("RollbackTargets = %v, %v; want checkout back to v2.3.0", targets, err)
	}
	o := opts("v2.3.0", "checkout")
	o.Rollback = true
	if _, err := e.Deploy(deployCtx(t), o, noProgress); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	n := f.newest(t, "checkout")
	if n.labels[LabelVersion] != "v2.3.0" || n.labels[LabelRolledBack] != "true" || n.labels[LabelPrevious] != "v2.4.0" {
		t.Errorf("rolled-back container labels %v: want v2.3.0, rolled back, previous v2.4.0", n.labels)
	}
	wantEqual(t, "env", n.env, append([]string{"SANDBOX_NAME=team-1", "SANDBOX_SEED=7", "SANDBOX_LISTEN=:8080",
		"SANDBOX_DATABASE_URL=" + InternalDatabaseURL(), "SANDBOX_DISCOUNT_CACHE=off"}, serviceRuntimeEnv...)...)
	wantEqual(t, "checkout containers", f.live("checkout"), "running v2.3.0")
	wantEqual(t, "stopped", f.ops("stop"), bad.name)
	wantEqual(t, "events", cr.kinds(), "rollback cli checkout v2.3.0", "deploy_finished cli checkout v2.3.0")

	// A second rollback does not flip checkout forward again.
	targets, already, err := e.RollbackTargets(deployCtx(t), fakeName, ReleaseServices)
	if err != nil || len(targets) != 0 || already["checkout"] != "v2.3.0" {
		t.Errorf("after the rollback: targets %v already %v err %v; want checkout already rolled back", targets, already, err)
	}
}

// The control room is replaced, never run twice on its volume: the old one is stopped before the new starts.
func TestDeployControlRoomIsASingleton(t *testing.T) {
	f, e, _ := newFakeSandbox(t)
	old := f.newest(t, "control")
	f.scripts[ImageRef(fakeName, "control", "v2.4.0")] = script{health: []string{"starting", "healthy"}}
	if _, err := e.Deploy(deployCtx(t), opts("v2.4.0", "control"), noProgress); err != nil {
		t.Fatalf("Deploy control: %v", err)
	}
	stopAt := slices.IndexFunc(f.calls, func(c call) bool { return c.op == "stop" && c.target == old.name })
	createAt := slices.IndexFunc(f.calls, func(c call) bool { return c.op == "create" })
	if stopAt < 0 || createAt < 0 || stopAt > createAt {
		t.Errorf("calls %+v: want the old control room stopped before the new one is created", f.calls)
	}
	wantEqual(t, "control containers", f.live("control"), "running v2.4.0")
}
