package grade

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// expertRun is the expert reference path; tests vary one thing each.
func expertRun(t *testing.T) *run {
	r := newRun(t)
	r.lookFirst().cmd(70*time.Second, "sandbox changelog 905")
	r.rollback(90*time.Second, "checkout", "v2.3.0").rollback(100*time.Second, "payments", "v2.3.0")
	r.recovered(3 * time.Minute).healthy()
	r.ans = expertAnswers()
	return r
}

func TestHintsCostPointsAndLastHintCapsRootCause(t *testing.T) {
	base, _ := expertRun(t).grade()
	if base.Score != MaxScore {
		t.Fatalf("expert score %d, want %d", base.Score, MaxScore)
	}
	r := expertRun(t)
	r.hint(30*time.Second, "sdk", 1).hint(40*time.Second, "sdk", 1) // the same hint twice costs once
	res, _ := r.grade()
	if res.Score != MaxScore-5 || len(res.HintsTaken) != 1 {
		t.Fatalf("one hint: score %d hints %+v", res.Score, res.HintsTaken)
	}
	if ratingOf(res, AreaRootCause) != Expert {
		t.Fatalf("a first-level hint capped root cause: %s", justification(res, AreaRootCause))
	}
	r = expertRun(t)
	for lvl := 1; lvl <= 4; lvl++ {
		r.hint(time.Duration(lvl)*10*time.Second, "migration", lvl)
	}
	res, _ = r.grade()
	if res.Score != MaxScore-10-20 { // Expert->Intermediate costs 10, four hints 20
		t.Errorf("score %d after the full migration hint ladder", res.Score)
	}
	if got := ratingOf(res, AreaRootCause); got != Intermediate {
		t.Errorf("root cause %v after the last migration hint, want Intermediate", got)
	}
	if j := justification(res, AreaRootCause); !strings.Contains(j, "last not-null-migration hint") {
		t.Errorf("cap not explained: %s", j)
	}
	if !res.HintsTaken[3].Last || res.HintsTaken[2].Last {
		t.Errorf("last flags wrong: %+v", res.HintsTaken)
	}
	if !strings.Contains(strings.Join(res.Improvements, "\n"), "Took 4 hints") {
		t.Errorf("hints not in improvements: %v", res.Improvements)
	}
}

func TestRootCauseLevels(t *testing.T) {
	cases := []struct {
		name string
		mod  func(a *Answers)
		want Rating
		says string
	}{
		{"all right", func(a *Answers) {}, Expert, "failing function orders.createOrder"},
		{"PRs only", func(a *Answers) {
			for k, v := range a.Faults {
				a.Faults[k] = FaultAnswer{PR: v.PR}
			}
		}, Intermediate, "missing the failing function (expected createOrder)"},
		{"right PRs, wrong function", func(a *Answers) {
			f := a.Faults["sdk"]
			f.Function = "payments.Charge"
			a.Faults["sdk"] = f
		}, Intermediate, `named "payments.Charge", expected chargeStoredCredential`},
		{"right PRs and functions, no why", func(a *Answers) {
			f := a.Faults["flag"]
			f.WhyTestsMissed = "dunno"
			a.Faults["flag"] = f
		}, Intermediate, "missing why tests missed it"},
		{"two of three PRs", func(a *Answers) { a.Faults["sdk"] = FaultAnswer{PR: 892} }, Intermediate, "named PR #892, not #901"},
		{"one of three PRs", func(a *Answers) {
			a.Faults["sdk"] = FaultAnswer{PR: 0}
			delete(a.Faults, "flag")
		}, Novice, "no answer"},
		{"migration called compatible", func(a *Answers) {
			f := a.Faults["not-null-migration"]
			f.MigrationBackwardCompatible = boolp(true)
			a.Faults["not-null-migration"] = f
		}, Intermediate, "backward compatible (it is not)"},
		{"keys by PR number", func(a *Answers) {
			a.Faults = map[string]FaultAnswer{"905": a.Faults["not-null-migration"], "#892": a.Faults["flag"], "901": a.Faults["sdk"]}
		}, Expert, ""},
		{"misfiled under wrong keys but PRs named", func(a *Answers) {
			a.Faults = map[string]FaultAnswer{"x": a.Faults["not-null-migration"], "y": a.Faults["flag"], "z": a.Faults["sdk"]}
		}, Expert, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := expertRun(t)
			tc.mod(r.ans)
			res, _ := r.grade()
			if got := ratingOf(res, AreaRootCause); got != tc.want {
				t.Errorf("root cause %v, want %v: %s", got, tc.want, justification(res, AreaRootCause))
			}
			if !strings.Contains(justification(res, AreaRootCause), tc.says) {
				t.Errorf("justification lacks %q: %s", tc.says, justification(res, AreaRootCause))
			}
		})
	}
}

func TestProcessLevels(t *testing.T) {
	cases := []struct {
		changes []string
		want    Rating
		says    string
	}{
		{nil, Novice, "No process changes"},
		{[]string{"be more careful next time"}, Novice, "none naming a practice"},
		{[]string{"add more tests"}, Intermediate, "Only generic testing"},
		{[]string{"canary deploys"}, Intermediate, "nothing that prevents not-null-migration, flag-leak, sdk-break"},
		// three practices but the flag leak uncovered
		{[]string{"canary", "expand-contract migrations", "contract tests for the SDK"}, Intermediate, "nothing that prevents flag-leak"},
		{[]string{"expand/contract schema changes", "check flags in the backend handler too", "pin major versions of dependencies"}, Expert, "3 distinct"},
	}
	for _, tc := range cases {
		r := expertRun(t)
		r.ans.ProcessChanges = tc.changes
		res, _ := r.grade()
		if got := ratingOf(res, AreaProcess); got != tc.want {
			t.Errorf("%q: process %v, want %v: %s", tc.changes, got, tc.want, justification(res, AreaProcess))
		}
		if !strings.Contains(justification(res, AreaProcess), tc.says) {
			t.Errorf("%q: justification lacks %q: %s", tc.changes, tc.says, justification(res, AreaProcess))
		}
	}
}

func TestSubsetOfFaults(t *testing.T) {
	r := newRun(t)
	r.events[0].Data["faults"] = "flag-leak"
	r.lookFirst()
	r.rollback(90*time.Second, "checkout", "v2.3.0").healthy()
	r.ans = &Answers{Faults: map[string]FaultAnswer{"flag": expertAnswers().Faults["flag"]},
		ProcessChanges: []string{"canary", "flags gate the backend too", "flag review in PRs plus tests with the flag off"}}
	res, _ := r.grade()
	if len(res.Faults) != 1 || res.Faults[0] != "flag-leak" {
		t.Fatalf("faults %v", res.Faults)
	}
	if got := ratingOf(res, AreaRootCause); got != Expert {
		t.Errorf("root cause %v with the only active fault pinpointed: %s", got, justification(res, AreaRootCause))
	}
	if got := ratingOf(res, AreaRollback); got != Expert {
		t.Errorf("rollback %v: %s", got, justification(res, AreaRollback))
	}
}

func TestTriageWindow(t *testing.T) {
	r := newRun(t)
	r.cmd(time.Minute, "status").cmd(7*time.Minute, "changelog").cmd(8*time.Minute, "logs orders")
	r.rollback(9*time.Minute, "checkout", "v2.3.0")
	res, _ := r.grade()
	if got := ratingOf(res, AreaTriage); got != Intermediate {
		t.Errorf("slow but thorough triage = %v: %s", got, justification(res, AreaTriage))
	}
	th := DefaultThresholds()
	th.TriageWindow = 10 * time.Minute
	st := r.state
	checks := Evaluate(Observation{Snapshot: &r.snap, State: &st, Probes: r.probes, Timeline: r.events}, th)
	res = Grade(Input{Checks: checks, Timeline: r.events, Thresholds: th})
	if got := ratingOf(res, AreaTriage); got != Expert {
		t.Errorf("with a 10m window = %v: %s", got, justification(res, AreaTriage))
	}
}

func TestUnaffectedTouched(t *testing.T) {
	r := newRun(t)
	r.add(status.Event{At: off(time.Minute), Kind: status.EventVersionObserved, Actor: "observed", Service: "catalog",
		From: "v2.3.0", To: "v2.3.0,v2.2.0"})
	_, checks := r.grade()
	c := find(t, checks, CheckUnaffected)
	if c.Passed || !strings.Contains(c.Detail, "catalog v2.3.0 -> v2.3.0,v2.2.0") {
		t.Errorf("catalog redeploy not caught: %+v", c)
	}
	r = newRun(t)
	r.snap.Endpoints[3].ErrorRate = 0.02 // /api/search
	_, checks = r.grade()
	if c := find(t, checks, CheckUnaffected); c.Passed || !strings.Contains(c.Detail, "/api/search error rate 2.00%") {
		t.Errorf("search errors not caught: %+v", c)
	}
}

// The data-loss check reads the observer's data_loss events and the control room's watch, nothing else.
func TestNoDataLossFromEventsAndWatch(t *testing.T) {
	r := newRun(t)
	_, checks := r.grade()
	if c := find(t, checks, CheckNoDataLoss); !c.Passed || !strings.Contains(c.Detail, "3000 orders (900 with order_metadata) and 2400 payments") {
		t.Errorf("intact watch: %+v", c)
	}
	// A row count lower than before is not evidence by itself: only the observer, which compares each row it
	// saw, says what was lost.
	r.state.MetadataRows = 700
	if _, checks = r.grade(); !find(t, checks, CheckNoDataLoss).Passed {
		t.Errorf("a row count alone failed the check: %+v", find(t, checks, CheckNoDataLoss))
	}

	// Every data_loss event is cited: a payment deleted, then metadata overwritten.
	r = newRun(t)
	r.add(status.Event{At: off(time.Minute), Kind: status.EventDataLoss, Actor: "observed", Service: "payments",
		Detail: "1 payments rows deleted (ids 7)", Data: map[string]string{status.LossTable: "payments", status.LossRows: "1",
			status.LossDeleted: "1", status.LossCause: status.CauseRowsDeleted}})
	r.add(status.Event{At: off(2 * time.Minute), Kind: status.EventDataLoss, Actor: "observed", Service: "orders",
		Detail: "orders.order_metadata overwritten in 900 orders", Data: map[string]string{status.LossTable: "orders",
			status.LossRows: "900", status.LossOverwritten: "900", status.LossCause: status.CauseOverwritten}})
	res, checks := r.grade()
	c := find(t, checks, CheckNoDataLoss)
	if c.Passed || !strings.Contains(c.Detail, "1 payments rows deleted (ids 7) at +1:00") ||
		!strings.Contains(c.Detail, "overwritten in 900 orders at +2:00") || !strings.Contains(c.Detail, "901 rows lost in all") {
		t.Errorf("losses not cited: %+v", c)
	}
	if ratingOf(res, AreaRollback) == Expert {
		t.Errorf("rollback Expert despite data loss")
	}

	// Without a watch that has checked every row, no loss cannot be vouched for.
	for name, in := range map[string]*status.Integrity{
		"no watch":      nil,
		"never checked": {Since: off(0)},
		"check failing": {Since: off(0), VerifiedAt: off(time.Minute), Error: "verify: canceling statement"},
	} {
		r = newRun(t)
		r.state.Integrity = in
		if _, checks = r.grade(); find(t, checks, CheckNoDataLoss).Passed {
			t.Errorf("%s: passed: %+v", name, find(t, checks, CheckNoDataLoss))
		}
	}
}

func TestSchemaCompatibleDownMigrationWithNewCode(t *testing.T) {
	r := newRun(t)
	r.migrateDown(time.Minute)
	_, checks := r.grade()
	if c := find(t, checks, CheckSchemaCompatible); c.Passed || !strings.Contains(c.Explain, "42703") {
		t.Errorf("v2.4.0 against a dropped column not caught: %+v", c)
	}
}

func TestWritesMetadataOverride(t *testing.T) {
	r := newRun(t)
	r.vers["orders"] = []string{"v2.4.2"}
	r.state.WritesMetadata = map[string]bool{"v2.4.2": false}
	_, checks := r.grade()
	if c := find(t, checks, CheckSchemaCompatible); c.Passed || !strings.Contains(c.Explain, "ROLLBACK TRAP") {
		t.Errorf("override ignored: %+v", c)
	}
}

func TestEdgeSLOThresholds(t *testing.T) {
	s := &status.Snapshot{WindowS: 60, Edge: status.Edge{ErrorRate: 0.009, P99Ms: 299, Requests: 100}}
	if c := edgeSLO(s, DefaultThresholds()); !c.Passed {
		t.Errorf("0.9%%/299ms failed: %s", c.Detail)
	}
	s.Edge.P99Ms = 300
	if c := edgeSLO(s, DefaultThresholds()); c.Passed || !strings.Contains(c.Detail, "p99 over budget") {
		t.Errorf("300ms passed: %s", c.Detail)
	}
	th := DefaultThresholds()
	th.MaxP99Ms = 500
	if c := edgeSLO(s, th); !c.Passed {
		t.Errorf("configured threshold ignored: %s", c.Detail)
	}
	s.Edge.Requests = 0
	if c := edgeSLO(s, th); c.Passed || !strings.Contains(c.Detail, "no edge traffic") {
		t.Errorf("no traffic passed: %s", c.Detail)
	}
	if c := edgeSLO(nil, th); c.Passed {
		t.Error("nil snapshot passed")
	}
}

func TestMissingEvidenceFailsChecks(t *testing.T) {
	checks := Evaluate(Observation{}, DefaultThresholds())
	if len(checks) != len(CheckIDs) {
		t.Fatalf("%d checks, want %d", len(checks), len(CheckIDs))
	}
	for i, c := range checks {
		if c.ID != CheckIDs[i] || c.Passed || c.Detail == "" || c.Title == "" {
			t.Errorf("check %d = %+v", i, c)
		}
	}
	res := Grade(Input{Checks: checks})
	if res.Passed || ExitCode(res, nil) != ExitNotPassed {
		t.Errorf("nothing observed but passed=%v", res.Passed)
	}
	if res := Grade(Input{}); res.Passed {
		t.Error("no checks at all passed")
	}
}

func TestExitCode(t *testing.T) {
	if ExitCode(&Result{Passed: true}, nil) != 0 || ExitCode(&Result{}, nil) != 1 ||
		ExitCode(nil, errors.New("x")) != 5 || ExitCode(&Result{Passed: true}, errors.New("x")) != 5 {
		t.Fatal("exit codes wrong")
	}
}

func TestClassifyCommand(t *testing.T) {
	cases := []struct {
		detail string
		ok     bool
		check  func(a action) bool
	}{
		{"sandbox status", true, func(a action) bool { return a.Status && !a.Change }},
		{"/usr/local/bin/sandbox --name team1 status --window 60s", true, func(a action) bool { return a.Status }},
		{`["sandbox","changelog","905"]`, true, func(a action) bool { return a.Changelog && a.SchemaLook }},
		{"changelog --pr 901", true, func(a action) bool { return a.Changelog && a.DepLook && !a.SchemaLook }},
		{"logs orders --since 5m", true, func(a action) bool { return a.AffectedLogs }},
		{"logs catalog", true, func(a action) bool { return !a.AffectedLogs && a.Status }},
		{"migrate status", true, func(a action) bool { return a.SchemaLook && !a.Change }},
		{"migrate down", true, func(a action) bool { return a.Change && a.DownMigration }},
		{"migrate up", true, func(a action) bool { return a.Change && !a.DownMigration }},
		{"sql SELECT column_name FROM information_schema.columns", true, func(a action) bool { return a.SchemaLook && !a.Change }},
		{"sql ALTER TABLE orders ALTER COLUMN order_metadata DROP NOT NULL", true, func(a action) bool { return a.Change && a.SchemaFix }},
		{"psql -c 'ALTER TABLE orders DROP COLUMN order_metadata'", true, func(a action) bool { return a.Change && a.DownMigration && !a.SchemaFix }},
		{"flag set discount_codes --enabled=false", true, func(a action) bool { return a.Change && a.FlagOff }},
		{"flags list", true, func(a action) bool { return a.Status && !a.Change }},
		{"rollback orders --to v2.3.0", true, func(a action) bool { return a.CodeChange }},
		{"release create v2.4.1 --revert 892", true, func(a action) bool { return a.CodeChange }},
		{"release show v2.4.0", true, func(a action) bool { return !a.Change }},
		{"hint migration", false, nil},
		{"grade", false, nil},
		{"", false, nil},
	}
	for _, tc := range cases {
		a, ok := classifyCommand(spike, tc.detail)
		if ok != tc.ok || (ok && !tc.check(a)) {
			t.Errorf("classify %q = %+v ok=%v", tc.detail, a, ok)
		}
	}
}

func TestAnswersFromTimeline(t *testing.T) {
	whole, _ := json.Marshal(Answers{Faults: map[string]FaultAnswer{"migration": {PR: 905}}, ProcessChanges: []string{"canary"}})
	one, _ := json.Marshal(FaultAnswer{PR: 901, CodePath: "Charge"})
	tl := []status.Event{
		{At: off(time.Minute), Kind: status.EventAnswer, Data: map[string]string{"answers": string(whole)}},
		{At: off(2 * time.Minute), Kind: status.EventAnswer, Data: map[string]string{"fault": "sdk", "answer": string(one)}},
		{At: off(3 * time.Minute), Kind: status.EventAnswer, Data: map[string]string{"process_changes": "expand-contract\ncontract tests"}},
	}
	a := AnswersFromTimeline(tl)
	if a == nil || a.Faults["migration"].PR != 905 || a.Faults["sdk"].CodePath != "Charge" ||
		len(a.ProcessChanges) != 2 || a.ProcessChanges[1] != "contract tests" || !a.At.Equal(off(3*time.Minute)) {
		t.Fatalf("answers %+v", a)
	}
	if AnswersFromTimeline(nil) != nil {
		t.Error("answers from an empty timeline")
	}
	// Grade reads them when none are given.
	r := newRun(t)
	r.events = append(r.events, tl...)
	res, _ := r.grade()
	if !strings.Contains(justification(res, AreaRootCause), "PR #905 right") {
		t.Errorf("timeline answers ignored: %s", justification(res, AreaRootCause))
	}
}

func TestRenderJSONContract(t *testing.T) {
	res, _ := newRun(t).grade()
	var b bytes.Buffer
	if err := Render(&b, "json", res); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"passed", "checks", "scorecard", "strengths", "improvements", "resources", "score"} {
		if _, ok := got[k]; !ok {
			t.Errorf("json lacks %q", k)
		}
	}
	if got["passed"] != false {
		t.Errorf("passed = %v", got["passed"])
	}
	checks := got["checks"].([]any)
	c0 := checks[0].(map[string]any)
	if c0["id"] != CheckEdgeSLO || c0["passed"] != false || c0["detail"] == "" {
		t.Errorf("check 0 = %v", c0)
	}
	row := got["scorecard"].([]any)[1].(map[string]any)
	if row["area"] != AreaRollback || row["rating"] != "Novice" || row["justification"] == "" {
		t.Errorf("scorecard row = %v", row)
	}
	res2 := &Result{}
	b.Reset()
	_ = RenderJSON(&b, res2)
	if !strings.Contains(b.String(), `"strengths": []`) || !strings.Contains(b.String(), `"checks": []`) {
		t.Errorf("empty lists must be [] not null: %s", b.String())
	}
}

func TestRenderTextAndMarkdown(t *testing.T) {
	res, _ := expertRun(t).grade()
	var b bytes.Buffer
	if err := Render(&b, "", res); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"Grade: PASSED", "edge_slo", "Rollback Execution", "Expert", "Strengths:", "Further study:"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	b.Reset()
	if err := Render(&b, "markdown", res); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{"# Sandbox grade: passed", "| `probe_payment` | PASS |", "| Triage Speed | **Expert** |",
		"## Further study", "](https://"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if err := Render(&b, "yaml", res); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestStrengthsCiteEvidence(t *testing.T) {
	res, _ := expertRun(t).grade()
	if len(res.Strengths) != 3 {
		t.Fatalf("strengths %v", res.Strengths)
	}
	all := strings.Join(res.Strengths, "\n")
	if !strings.Contains(all, "+0:20") && !strings.Contains(all, "+3:00") && !strings.Contains(all, "PR #") {
		t.Errorf("strengths cite no times or PRs: %v", res.Strengths)
	}
	// A run with no looks must not be praised for looking.
	res, _ = newRun(t).grade()
	if strings.Contains(strings.Join(res.Strengths, "\n"), "Looked before acting") {
		t.Errorf("praised a look that never happened: %v", res.Strengths)
	}
}

func TestCompareVersion(t *testing.T) {
	if compareVersion("v2.3.0", "v2.4.0") >= 0 || compareVersion("v2.4.1", "v2.4.0") <= 0 ||
		compareVersion("v2.10.0", "v2.4.0") <= 0 || compareVersion("v2.4.0", "v2.4.0") != 0 {
		t.Fatal("compareVersion wrong")
	}
}

// Without the control room's observed events (an older control room, or a lost volume), the CLI's own
// events still reveal the trap.
func TestTrapFromCLIEventsOnly(t *testing.T) {
	dep := spike.Add(-2 * time.Minute)
	tl := []status.Event{
		{At: dep, Kind: status.EventDeployStarted, Actor: "pipeline", Service: "all", From: "v2.3.0", To: "v2.4.0"},
		{At: dep.Add(time.Second), Kind: status.EventMigration, Actor: "pipeline", Detail: "up 5"},
		{At: dep.Add(90 * time.Second), Kind: status.EventDeployFinished, Actor: "pipeline", Service: "all", From: "v2.3.0", To: "v2.4.0"},
		{At: spike, Kind: status.EventSpikeStart, Actor: "observed"},
		{At: off(time.Minute), Kind: status.EventRollback, Actor: "cli", Service: "orders", From: "v2.4.0", To: "v2.3.0"},
	}
	res := Grade(Input{Timeline: tl})
	if j := justification(res, AreaRollback); ratingOf(res, AreaRollback) != Novice || !strings.Contains(j, "ROLLBACK TRAP hit at +1:00") {
		t.Errorf("rollback %v: %s", ratingOf(res, AreaRollback), j)
	}
	// The same rollback after SET DEFAULT is safe.
	tl = append(tl[:4], status.Event{At: off(30 * time.Second), Kind: status.EventCommand, Actor: "cli",
		Detail: `sql ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}'`}, tl[4])
	res = Grade(Input{Timeline: tl})
	if strings.Contains(justification(res, AreaRollback), "TRAP") {
		t.Errorf("trap after SET DEFAULT: %s", justification(res, AreaRollback))
	}
}
