package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// gradeResult is the part of `sandbox grade --output json` the reference runs assert on.
type gradeResult struct {
	Passed   bool `json:"passed"`
	Score    int  `json:"score"`
	Recorded bool `json:"recorded"`
	Checks   []struct {
		ID      string `json:"id"`
		Passed  bool   `json:"passed"`
		Detail  string `json:"detail"`
		Explain string `json:"explain"`
	} `json:"checks"`
	Scorecard []struct {
		Area          string `json:"area"`
		Rating        string `json:"rating"`
		Justification string `json:"justification"`
	} `json:"scorecard"`
	Strengths    []string `json:"strengths"`
	Improvements []string `json:"improvements"`
	Resources    []struct {
		Title string `json:"title"`
		URL   string `json:"url"`
	} `json:"resources"`
}

// check returns a check's verdict and what grade says about it: the observed detail and, since grade ended
// the attempt, the explanation.
func (g gradeResult) check(id string) (bool, string) {
	for _, c := range g.Checks {
		if c.ID == id {
			return c.Passed, strings.TrimSpace(c.Detail + " " + c.Explain)
		}
	}
	return false, "(no such check)"
}

func (g gradeResult) rating(area string) string {
	for _, s := range g.Scorecard {
		if s.Area == area {
			return s.Rating
		}
	}
	return ""
}

// gradeRun grades over a short SLO window (the tests' own measurement window) and returns the result and the
// exit code.
func gradeRun(t *testing.T, name string) (gradeResult, int) {
	t.Helper()
	// Three sandboxes share two cores here, so p99 is loosened; the latency figures themselves are asserted by
	// the tests that run alone (TestIntegrationUpStatusDown, TestIntegrationIncident).
	out, errs, code := runCLI(t, "grade", "--output", "json", "--window", "20s", "--max-p99-ms", "600", "--name", name)
	var g gradeResult
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatalf("grade json (exit %d): %v\n%s\n%s", code, err, out, errs)
	}
	if len(g.Scorecard) != 4 || len(g.Improvements) != 3 || len(g.Resources) < 2 {
		t.Errorf("scorecard shape: %d areas, %d improvements, %d resources; want 4, 3, >=2", len(g.Scorecard), len(g.Improvements), len(g.Resources))
	}
	t.Logf("grade of %s (exit %d):\n%s", name, code, out)
	return g, code
}

// settle waits until a clean 20 s window has passed, so the edge SLO check sees only the end state.
func settle(t *testing.T, name string) {
	t.Helper()
	waitRecovered(t, name)
	// Cleaner than the SLO, so the grade's own window (a few seconds later) is clean too.
	waitStatus(t, name, "20s", 2*time.Minute, "a clean 20 s window", func(s status.Snapshot) bool {
		return s.WindowS >= 19 && s.Edge.ErrorRate < 0.005 && s.Edge.P99Ms < 500 && s.Edge.Requests > 200
	})
}

func wantPassed(t *testing.T, g gradeResult, code int) {
	t.Helper()
	if !g.Passed || code != 0 {
		t.Errorf("want passed with exit 0; got passed=%v exit %d: %+v", g.Passed, code, g.Checks)
	}
}

func wantNotPassed(t *testing.T, g gradeResult, code int) {
	t.Helper()
	if g.Passed || code != 1 {
		t.Errorf("want not passed with exit 1; got passed=%v exit %d", g.Passed, code)
	}
}

func TestIntegrationReferenceDoNothing(t *testing.T) {
	name := startIncident(t, "nothing")
	g, code := gradeRun(t, name)
	wantNotPassed(t, g, code)
	if ok, d := g.check("edge_slo"); ok {
		t.Errorf("edge_slo passed during the incident: %s", d)
	}
}

func TestIntegrationReferenceFlagOffOnly(t *testing.T) {
	name := startIncident(t, "flagoff")
	mustCLI(t, "flags", "set", "discount_codes", "off", "--name", name)
	waitStatus(t, name, "15s", time.Minute, "flag off seen", func(s status.Snapshot) bool { return len(s.Flags) > 0 && !s.Flags[0].Enabled })
	g, code := gradeRun(t, name)
	wantNotPassed(t, g, code)
	if ok, d := g.check("probe_checkout_no_code"); ok {
		t.Errorf("checkout without a code passed with only the flag off: %s", d)
	}
}

// The novice run is the naive full rollback with no look first: the trap, named, and Novice everywhere.
func TestIntegrationReferenceNaiveRollback(t *testing.T) {
	name := startIncident(t, "naive")
	mustCLI(t, "rollback", "--name", name)
	waitStatus(t, name, "10s", time.Minute, "all on v2.3.0", func(s status.Snapshot) bool {
		return strings.Join(service(s, "orders").Versions, ",") == "v2.3.0" && strings.Join(service(s, "checkout").Versions, ",") == "v2.3.0"
	})
	mustCLI(t, "answer", "--process", "add more tests", "--name", name)
	// check shows the failure and what a client gets, never the cause: it is safe before the attempt ends.
	out, errs, code := runCLI(t, "check", "--window", "20s", "--max-p99-ms", "600", "--name", name)
	if code != 1 || !strings.Contains(out, "FAIL  schema_compatible") || !strings.Contains(out, "23502") {
		t.Errorf("check during the trap: exit %d, want 1 with schema_compatible failing and the 23502 error text:\n%s\n%s", code, out, errs)
	}
	t.Logf("check of %s (exit %d):\n%s", name, code, out)
	for _, leak := range []string{"TRAP", "#905", "PR", "SET DEFAULT", "DROP NOT NULL", "createOrder", "validateDiscount", "chargeStoredCredential"} {
		if strings.Contains(out, leak) {
			t.Errorf("check output carries %q:\n%s", leak, out)
		}
	}
	g, code := gradeRun(t, name)
	wantNotPassed(t, g, code)
	if ok, d := g.check("schema_compatible"); ok || !strings.Contains(strings.ToUpper(d), "TRAP") {
		t.Errorf("schema_compatible = %v %q; want it failed naming the rollback trap", ok, d)
	}
	// grade ended the attempt: fixing the schema and answering now changes nothing.
	mustCLI(t, "sql", "ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}'", "--name", name)
	if _, errs, code := runCLI(t, "answer", "--fault", "orders", "--pr", "905", "--function", "orders.createOrder", "--name", name); code != 1 || !strings.Contains(errs, "attempt ended") {
		t.Errorf("answer after the end: exit %d, stderr %q; want 1, refused", code, errs)
	}
	again, code2 := gradeRun(t, name)
	if code2 != code || again.Passed != g.Passed || again.Score != g.Score || !again.Recorded {
		t.Errorf("second grade: exit %d passed %v score %d recorded %v; first exit %d passed %v score %d",
			code2, again.Passed, again.Score, again.Recorded, code, g.Passed, g.Score)
	}
	if r := g.rating("Rollback Execution"); r != "Novice" {
		t.Errorf("Rollback Execution %s, want Novice", r)
	}
	if r := g.rating("Triage Speed"); r != "Novice" {
		t.Errorf("Triage Speed %s, want Novice (acted before looking)", r)
	}
	if r := g.rating("Root Cause Analysis"); r != "Novice" {
		t.Errorf("Root Cause Analysis %s, want Novice (no answers)", r)
	}
	if r := g.rating("Process Improvement"); r != "Intermediate" {
		t.Errorf("Process Improvement %s, want Intermediate for \"add more tests\"", r)
	}
}

func TestIntegrationReferenceSetDefaultThenRollback(t *testing.T) {
	name := startIncident(t, "setdefault")
	mustCLI(t, "migrate", "status", "--name", name)
	mustCLI(t, "sql", "ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}'", "--name", name)
	mustCLI(t, "rollback", "--name", name)
	settle(t, name)
	g, code := gradeRun(t, name)
	wantPassed(t, g, code)
}

func TestIntegrationReferenceTargetedRollback(t *testing.T) {
	name := startIncident(t, "targeted")
	mustCLI(t, "rollback", "checkout", "--name", name)
	mustCLI(t, "rollback", "payments", "--name", name)
	settle(t, name)
	g, code := gradeRun(t, name)
	wantPassed(t, g, code)
	s := statusJSON(t, name, "10s")
	if v := strings.Join(service(s, "orders").Versions, ","); v != "v2.4.0" {
		t.Errorf("orders %s, want it kept on v2.4.0", v)
	}
}

func TestIntegrationReferenceFixForward(t *testing.T) {
	name := startIncident(t, "fixfwd")
	mustCLI(t, "release", "create", "v2.4.1", "--from", "v2.4.0", "--patch", "checkout-backend-flag-gate", "--patch", "payments-call-v4-signature", "--name", name)
	mustCLI(t, "deploy", "all", "v2.4.1", "--name", name)
	settle(t, name)
	g, code := gradeRun(t, name)
	wantPassed(t, g, code)
}

func TestIntegrationReferenceFixForwardDecoy(t *testing.T) {
	name := startIncident(t, "decoy")
	mustCLI(t, "release", "create", "v2.4.1", "--from", "v2.4.0", "--patch", "checkout-flag-default-off", "--patch", "payments-retry-charge", "--name", name)
	mustCLI(t, "deploy", "all", "v2.4.1", "--name", name)
	waitStatus(t, name, "15s", time.Minute, "decoy release live", func(s status.Snapshot) bool {
		return strings.Join(service(s, "checkout").Versions, ",") == "v2.4.1" && strings.Join(service(s, "payments").Versions, ",") == "v2.4.1"
	})
	g, code := gradeRun(t, name)
	wantNotPassed(t, g, code)
}

func TestIntegrationReferenceDownMigration(t *testing.T) {
	name := startIncident(t, "down")
	mustCLI(t, "migrate", "down", "5", "--name", name)
	mustCLI(t, "rollback", "--name", name)
	settle(t, name)
	g, code := gradeRun(t, name)
	if ok, d := g.check("no_data_loss"); ok {
		t.Errorf("no_data_loss passed after the down migration dropped order_metadata: %s", d)
	}
	for _, id := range []string{"edge_slo", "probe_checkout_no_code", "probe_order", "probe_payment", "schema_compatible"} {
		if ok, d := g.check(id); !ok {
			t.Errorf("%s failed, want the shop healthy after down+rollback: %s", id, d)
		}
	}
	wantNotPassed(t, g, code)
	if r := g.rating("Rollback Execution"); r == "Expert" {
		t.Errorf("Rollback Execution Expert despite data loss")
	}
}

// The expert run reads before acting, checks the schema, fixes only what is broken and answers fully.
func TestIntegrationReferenceExpert(t *testing.T) {
	name := startIncident(t, "expert")
	for _, look := range [][]string{{"status"}, {"changelog"}, {"changelog", "905"}, {"logs", "checkout", "--since", "1m"},
		{"logs", "payments", "--since", "1m"}, {"migrate", "status"},
		{"sql", "SELECT column_name, is_nullable, column_default FROM information_schema.columns WHERE table_name = 'orders' AND column_name = 'order_metadata'"}} {
		mustCLI(t, append(look, "--name", name)...)
	}
	mustCLI(t, "rollback", "checkout", "--name", name)
	mustCLI(t, "rollback", "payments", "--name", name)
	answers := [][]string{
		{"--fault", "migration", "--pr", "905", "--function", "orders.createOrder", "--code-path", "orders createOrder INSERT without order_metadata fails on the NOT NULL column (23502)",
			"--migration-compatible=false", "--migration-why", "NOT NULL without a default: v2.3.0 never sets order_metadata so its inserts fail",
			"--why-tests-missed", "tests run each release against its own schema, never old code against the new schema"},
		{"--fault", "flag", "--pr", "892", "--function", "checkout.validateDiscount", "--code-path", "checkout handler calls discount validation for every request; it fails when discount_code is null",
			"--why-tests-missed", "tests only covered users with the flag on and a code present"},
		{"--fault", "sdk", "--pr", "901", "--function", "payments.chargeStoredCredential", "--code-path", "payments saved_card charge path still calls the 3.1 Charge(amount) signature; 4.0 needs options",
			"--why-tests-missed", "the SDK was mocked, so no contract test exercised the real 4.0 signature"},
		{"--process", "canary deploys with automatic rollback on error rate", "--process", "expand-contract migrations: add nullable, backfill, then NOT NULL",
			"--process", "feature flags must gate backend handlers too, checked in review and by a lint rule",
			"--process", "major dependency upgrades reviewed and covered by contract tests"},
	}
	for _, a := range answers {
		mustCLI(t, append(append([]string{"answer"}, a...), "--name", name)...)
	}
	settle(t, name)
	if out, errs, code := runCLI(t, "check", "--window", "20s", "--max-p99-ms", "600", "--name", name); code != 0 {
		t.Errorf("check after the fix: exit %d, want 0:\n%s\n%s", code, out, errs)
	}
	g, code := gradeRun(t, name)
	wantPassed(t, g, code)
	for _, area := range []string{"Triage Speed", "Rollback Execution", "Root Cause Analysis", "Process Improvement"} {
		if r := g.rating(area); r != "Expert" {
			t.Errorf("%s: %s, want Expert", area, r)
		}
	}
}
