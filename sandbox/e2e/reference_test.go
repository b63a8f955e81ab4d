package e2e

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox/grade"
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

// gradeRun grades at the card's SLO (1% errors, p99 300 ms, or on a busy host a margin over the sandbox's own
// pre-deploy p99: the rule a lab's grade uses) over a short window (the tests' own measurement window), and
// returns the result and the exit code. The card's shape holds for every run.
func gradeRun(t *testing.T, name string) (gradeResult, int) {
	t.Helper()
	out, errs, code := runCLI(t, "grade", "--output", "json", "--window", gradeWindow, "--yes", "--name", name)
	var g gradeResult
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatalf("grade json (exit %d): %v\n%s\n%s", code, err, out, errs)
	}
	if len(g.Scorecard) != 4 || len(g.Strengths) != 3 || len(g.Improvements) != 3 || len(g.Resources) < 2 || len(g.Resources) > 3 {
		t.Errorf("scorecard shape: %d areas, %d strengths, %d improvements, %d resources; want 4, 3, 3, 2-3",
			len(g.Scorecard), len(g.Strengths), len(g.Improvements), len(g.Resources))
	}
	_, slo := g.check("edge_slo")
	t.Logf("grade of %s (exit %d): %s\n%s", name, code, slo, out)
	return g, code
}

// gradeWindow is the SLO window the reference runs grade over (the default is 60 s).
const gradeWindow = "20s"

// wantFailing asserts exactly which checks failed: a run that lands right for the wrong reason fails.
func wantFailing(t *testing.T, g gradeResult, ids ...string) {
	t.Helper()
	var got []string
	for _, c := range g.Checks {
		if !c.Passed {
			got = append(got, c.ID)
		}
	}
	slices.Sort(got)
	want := slices.Clone(ids)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("failing checks %v, want %v: %+v", got, want, g.Checks)
	}
}

// wantRatings asserts the four rubric ratings, in the card's order: Triage, Rollback, Root cause, Process
// ("" leaves one unasserted).
func wantRatings(t *testing.T, g gradeResult, triage, rollback, rootCause, process string) {
	t.Helper()
	for i, area := range []string{"Triage Speed", "Rollback Execution", "Root Cause Analysis", "Process Improvement"} {
		if want := []string{triage, rollback, rootCause, process}[i]; want != "" && g.rating(area) != want {
			t.Errorf("%s: %s, want %s", area, g.rating(area), want)
		}
	}
}

// afterChange waits until a full grade window holds only traffic from after a change made at changedAt, so
// the grade judges the change and not the incident before it.
func afterChange(t *testing.T, name string, changedAt time.Time) {
	t.Helper()
	w, _ := time.ParseDuration(gradeWindow)
	waitStatus(t, name, gradeWindow, 2*time.Minute, "a grade window after the change", func(s status.Snapshot) bool {
		return s.At.Sub(changedAt) > w+2*time.Second
	})
}

// settle waits until a clean window has passed, so the edge SLO check sees only the end state: errors under
// half the SLO and p99 back under the limit the grade applies (the SLO, or near this sandbox's own baseline
// on a busy host). A fix that does not bring p99 back near the baseline never settles.
func settle(t *testing.T, name string) {
	t.Helper()
	waitRecovered(t, name)
	th := grade.DefaultThresholds()
	s := waitStatus(t, name, gradeWindow, 3*time.Minute, "a clean grade window, p99 near the baseline", func(s status.Snapshot) bool {
		limit, _ := grade.P99Limit(s.Baseline, th)
		return s.WindowS >= 19 && s.Edge.ErrorRate < th.MaxErrorRate/2 && s.Edge.P99Ms < limit*0.9 && s.Edge.Requests > 200
	})
	if s.Baseline == nil {
		t.Errorf("no pre-deploy baseline measured")
	} else {
		t.Logf("settled: p99 %.0f ms, pre-deploy baseline %.0f ms, errors %.2f%%", s.Edge.P99Ms, s.Baseline.P99Ms, s.Edge.ErrorRate*100)
	}
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

// brokenByV240 are the checks v2.4.0 fails on seed 0 (saved_card is the broken payment path).
var brokenByV240 = []string{"edge_slo", "probe_checkout_no_code", "probe_checkout_with_code", "probe_payment"}

func TestIntegrationReferenceDoNothing(t *testing.T) {
	name := startIncident(t, "nothing")
	g, code := gradeRun(t, name)
	wantNotPassed(t, g, code)
	wantFailing(t, g, brokenByV240...)
	for _, area := range []string{"Triage Speed", "Rollback Execution", "Root Cause Analysis", "Process Improvement"} {
		if r := g.rating(area); r != "Novice" {
			t.Errorf("%s: %s, want Novice for doing nothing", area, r)
		}
	}
}

func TestIntegrationReferenceFlagOffOnly(t *testing.T) {
	name := startIncident(t, "flagoff")
	mustCLI(t, "flags", "set", "discount_codes", "off", "--name", name)
	off := waitStatus(t, name, "15s", time.Minute, "flag off seen", func(s status.Snapshot) bool { return len(s.Flags) > 0 && !s.Flags[0].Enabled })
	afterChange(t, name, off.At) // judge only traffic after the flip
	g, code := gradeRun(t, name)
	wantNotPassed(t, g, code)
	// The flag gates only the UI: checkout without a code still fails, and so does everything else.
	wantFailing(t, g, brokenByV240...)
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
	out, errs, code := runCLI(t, "check", "--window", gradeWindow, "--name", name)
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
	wantFailing(t, g, "edge_slo", "probe_checkout_no_code", "probe_checkout_with_code", "probe_order", "schema_compatible")
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
	wantFailing(t, g)
	// Checked the schema first and made it safe before rolling back: Expert rollback. Triage is Intermediate when
	// the `migrate status` look is on record before the change and Novice when its best-effort record was lost
	// on a loaded host, so it is not asserted here (the unit scenarios pin it).
	wantRatings(t, g, "", "Expert", "Novice", "Novice")
}

func TestIntegrationReferenceTargetedRollback(t *testing.T) {
	name := startIncident(t, "targeted")
	mustCLI(t, "rollback", "checkout", "--name", name)
	mustCLI(t, "rollback", "payments", "--name", name)
	settle(t, name)
	g, code := gradeRun(t, name)
	wantPassed(t, g, code)
	wantFailing(t, g)
	s := statusJSON(t, name, "10s")
	// Acted with no look and no schema check: healthy, but safe by luck.
	wantRatings(t, g, "Novice", "Intermediate", "Novice", "Novice")
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
	wantFailing(t, g)
	wantRatings(t, g, "Novice", "Intermediate", "Novice", "Novice")
	// down takes the team's fix with it: the next attempt under this name starts without a v2.4.1.
	mustCLI(t, "down", "--name", name)
	e := requireEngine(t)
	if rels, err := e.Releases(t.Context(), name); err != nil || rels["v2.4.1"].Version != "" {
		t.Errorf("v2.4.1 images left after down: %v %v", rels, err)
	}
}

func TestIntegrationReferenceFixForwardDecoy(t *testing.T) {
	name := startIncident(t, "decoy")
	mustCLI(t, "release", "create", "v2.4.1", "--from", "v2.4.0", "--patch", "checkout-flag-default-off", "--patch", "payments-retry-charge", "--name", name)
	mustCLI(t, "deploy", "all", "v2.4.1", "--name", name)
	live := waitStatus(t, name, "15s", time.Minute, "decoy release live", func(s status.Snapshot) bool {
		return strings.Join(service(s, "checkout").Versions, ",") == "v2.4.1" && strings.Join(service(s, "payments").Versions, ",") == "v2.4.1"
	})
	afterChange(t, name, live.At) // only the decoys' own traffic: had they fixed anything, it would show
	g, code := gradeRun(t, name)
	wantNotPassed(t, g, code)
	wantFailing(t, g, brokenByV240...)
	wantRatings(t, g, "Novice", "Novice", "Novice", "Novice")
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
	wantFailing(t, g, "no_data_loss")
	wantRatings(t, g, "Novice", "Novice", "Novice", "Novice")
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
	if out, errs, code := runCLI(t, "check", "--window", gradeWindow, "--name", name); code != 0 {
		t.Errorf("check after the fix: exit %d, want 0:\n%s\n%s", code, out, errs)
	}
	g, code := gradeRun(t, name)
	wantPassed(t, g, code)
	wantFailing(t, g)
	for _, area := range []string{"Triage Speed", "Rollback Execution", "Root Cause Analysis", "Process Improvement"} {
		if r := g.rating(area); r != "Expert" {
			t.Errorf("%s: %s, want Expert", area, r)
		}
	}
}
