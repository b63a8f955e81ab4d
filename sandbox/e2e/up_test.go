package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

	// No incident shipped, so there is nothing to grade: exit 2 and why, never a pass.
	out, errs, code := runCLI(t, "grade", "--name", name)
	if code != 2 || !strings.Contains(errs, "v2.4.0 never shipped") {
		t.Errorf("grade without an incident: exit %d, stdout %q stderr %q; want exit 2 saying v2.4.0 never shipped", code, out, errs)
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

	mustCLI(t, "down", "--name", name)
	if n := leftovers(t, e, name); n != 0 {
		t.Errorf("%d labelled resources left after down", n)
	}
	mustCLI(t, "down", "--name", name) // twice is fine
}
