package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/grade"
	"github.com/sandbox-labs/sandbox/services/status"
)

// fakeRecord is the control room's timeline in memory: it sets Seq and At like the server does.
type fakeRecord struct {
	mu     sync.Mutex
	events []status.Event
	now    time.Time
	fail   error
}

func (f *fakeRecord) Timeline(context.Context) ([]status.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]status.Event(nil), f.events...), nil
}

func (f *fakeRecord) Record(_ context.Context, ev status.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	b, _ := json.Marshal(ev)
	if len(b) > 64<<10 {
		return errors.New("413 event too large")
	}
	f.now = f.now.Add(time.Second)
	ev.Seq, ev.At = int64(len(f.events)+1), f.now
	f.events = append(f.events, ev)
	return nil
}

func (f *fakeRecord) ended() []status.Event {
	var out []status.Event
	for _, ev := range f.events {
		if ev.Kind == status.EventAttemptEnded {
			out = append(out, ev)
		}
	}
	return out
}

var t0 = time.Date(2026, 3, 1, 14, 0, 0, 0, time.UTC)

func newRecord() *fakeRecord {
	f := &fakeRecord{now: t0}
	for _, ev := range []status.Event{
		{Kind: status.EventSandboxUp, Actor: "cli", Data: map[string]string{"faults": "flag-leak,sdk-break"}},
		{Kind: status.EventDeployStarted, Actor: "pipeline", Service: "all", From: "v2.3.0", To: "v2.4.0"},
		{Kind: status.EventDeployFinished, Actor: "pipeline", Service: "all", From: "v2.3.0", To: "v2.4.0"},
		{Kind: status.EventSpikeStart, Actor: "observed"},
		{Kind: status.EventCommand, Actor: "trainee", Detail: "status"},
	} {
		_ = f.Record(context.Background(), ev)
	}
	return f
}

// liveJudge grades the fake record's timeline with the given live checks, like GradeSandbox does.
func liveJudge(rec *fakeRecord, pass *bool) gradeLive {
	checks := func(context.Context) ([]grade.Check, error) {
		detail := "POST /api/checkout (no code, card) -> 500 in 3 ms: {\"error\":\"" + grade.Redacted + ": discount_code is null\"}"
		if *pass {
			detail = "POST /api/checkout (no code, card) -> 201 in 3 ms"
		}
		return []grade.Check{
			{ID: grade.CheckEdgeSLO, Title: "edge", Passed: *pass, Detail: "edge error rate"},
			{ID: grade.CheckProbeCheckoutNoCode, Title: "checkout", Passed: *pass, Detail: detail,
				Explain: "PR #892's discount validation runs for every checkout"},
		}, nil
	}
	return gradeLive{
		judge: func(ctx context.Context) (*grade.Result, error) {
			tl, _ := rec.Timeline(ctx)
			cs, _ := checks(ctx)
			res := grade.Grade(grade.Input{Checks: cs, Timeline: tl, Answers: grade.AnswersFromTimeline(tl)})
			res.Meta["sandbox"] = "team-1"
			return res, nil
		},
		checks: checks,
	}
}

func gradeOnce(t *testing.T, rec *fakeRecord, live gradeLive, output, stdin string, terminal, yes bool) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	o := &GradeOptions{IO: IO{In: strings.NewReader(stdin), Out: &out, ErrOut: &errb}, Name: "team-1", Output: output, Yes: yes,
		Terminal: func(io.Reader) bool { return terminal }}
	err := gradeAttempt(context.Background(), o, rec, live)
	return out.String(), errb.String(), ExitCode(err)
}

type verdictJSON struct {
	Passed    bool   `json:"passed"`
	Score     int    `json:"score"`
	Recorded  bool   `json:"recorded"`
	EndedAt   string `json:"ended_at"`
	Scorecard []struct {
		Area, Rating string
	} `json:"scorecard"`
	Checks []struct {
		ID      string `json:"id"`
		Passed  bool   `json:"passed"`
		Explain string `json:"explain"`
	} `json:"checks"`
	AfterAttempt []struct {
		ID      string `json:"id"`
		Passed  bool   `json:"passed"`
		Explain string `json:"explain"`
	} `json:"after_attempt"`
}

// The first grade ends the attempt and records the verdict; a later grade prints that same verdict and exit
// code however the live state and the answers changed since, and shows the live state apart.
func TestGradeTwiceSameVerdictAfterLaterChange(t *testing.T) {
	rec := newRecord()
	pass := false
	live := liveJudge(rec, &pass)
	out1, _, code1 := gradeOnce(t, rec, live, "json", "", false, false)
	if code1 != grade.ExitNotPassed {
		t.Fatalf("first grade exit %d, want 1:\n%s", code1, out1)
	}
	ended := rec.ended()
	if len(ended) != 1 || ended[0].Actor != "cli" || ended[0].Data["passed"] != "false" || ended[0].Data["verdict"] == "" {
		t.Fatalf("attempt_ended not recorded as expected: %+v", ended)
	}
	var v1 verdictJSON
	if err := json.Unmarshal([]byte(out1), &v1); err != nil {
		t.Fatal(err)
	}
	if v1.Recorded || v1.EndedAt == "" || len(v1.Checks) != 2 || v1.Checks[1].Explain == "" {
		t.Errorf("first grade: %+v", v1)
	}

	// After the end: the shop is fixed and perfect answers are recorded.
	pass = true
	ans, _ := json.Marshal(grade.Answers{Faults: map[string]grade.FaultAnswer{
		"checkout": {PR: 892, Function: "checkout.validateDiscount", WhyTestsMissed: "tests always sent a discount code"},
		"payments": {PR: 901, Function: "payments.chargeStoredCredential", WhyTestsMissed: "the SDK was mocked in every test"}},
		ProcessChanges: []string{"canary deploys", "flags gate the backend handler", "major dependency upgrades reviewed"}})
	_ = rec.Record(context.Background(), status.Event{Kind: status.EventAnswer, Actor: "trainee", Data: map[string]string{"answers": string(ans)}})
	if res, _ := live.judge(context.Background()); !res.Passed || res.Score <= v1.Score {
		t.Fatalf("the fixture should now grade better (passed %v, score %d vs %d)", res.Passed, res.Score, v1.Score)
	}

	out2, _, code2 := gradeOnce(t, rec, live, "json", "", false, false)
	var v2 verdictJSON
	if err := json.Unmarshal([]byte(out2), &v2); err != nil {
		t.Fatal(err)
	}
	if code2 != code1 || v2.Passed != v1.Passed || v2.Score != v1.Score || !v2.Recorded || v2.EndedAt != v1.EndedAt {
		t.Errorf("second grade changed the verdict: exit %d passed %v score %d recorded %v ended %s; first exit %d passed %v score %d ended %s",
			code2, v2.Passed, v2.Score, v2.Recorded, v2.EndedAt, code1, v1.Passed, v1.Score, v1.EndedAt)
	}
	for i := range v1.Scorecard {
		if v1.Scorecard[i] != v2.Scorecard[i] {
			t.Errorf("rating changed: %+v -> %+v", v1.Scorecard[i], v2.Scorecard[i])
		}
	}
	if len(v2.AfterAttempt) != 2 || !v2.AfterAttempt[0].Passed || v2.AfterAttempt[1].Explain != "" {
		t.Errorf("after-attempt view: %+v", v2.AfterAttempt)
	}
	if n := len(rec.ended()); n != 1 {
		t.Errorf("%d attempt_ended events, want 1", n)
	}
	text, _, _ := gradeOnce(t, rec, live, "text", "", false, false)
	for _, want := range []string{"Grade: NOT PASSED", "the verdict recorded then", "After the attempt (live now; not graded"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

// Nothing is printed, and nothing graded, when the end of the attempt cannot be recorded.
func TestGradeNeedsTheEndOnRecord(t *testing.T) {
	rec := newRecord()
	rec.fail = errors.New("control room: 403")
	pass := false
	out, _, code := gradeOnce(t, rec, liveJudge(rec, &pass), "text", "", false, false)
	if code != grade.ExitCouldNotRun || out != "" {
		t.Errorf("exit %d, stdout %q; want could-not-grade and nothing printed", code, out)
	}
}

// A recorded verdict that cannot be read is not replaced by a fresh grade.
func TestGradeRefusesAnUnreadableVerdict(t *testing.T) {
	rec := newRecord()
	_ = rec.Record(context.Background(), status.Event{Kind: status.EventAttemptEnded, Actor: "cli", Data: map[string]string{"verdict": "{"}})
	pass := true
	_, _, code := gradeOnce(t, rec, liveJudge(rec, &pass), "text", "", false, false)
	if code != grade.ExitCouldNotRun || len(rec.ended()) != 1 {
		t.Errorf("exit %d with %d attempt_ended events; want could-not-grade and no new verdict", code, len(rec.ended()))
	}
}

// A big record still fits the event the control room takes.
func TestAttemptEndedFitsTheEvent(t *testing.T) {
	rec := newRecord()
	for i := 0; i < 3000; i++ {
		_ = rec.Record(context.Background(), status.Event{Kind: status.EventCommand, Actor: "trainee", Detail: "status --window=30s"})
	}
	pass := false
	_, errs, code := gradeOnce(t, rec, liveJudge(rec, &pass), "text", "", false, false)
	if code != grade.ExitNotPassed || len(rec.ended()) != 1 {
		t.Fatalf("exit %d, ended %d: %s", code, len(rec.ended()), errs)
	}
	if b, _ := json.Marshal(rec.ended()[0]); len(b) > 64<<10 {
		t.Errorf("attempt_ended is %d bytes", len(b))
	}
}

// On a terminal, grade asks before ending an attempt whose checks still fail; the reply must be y, yes, n or
// no, anything else is asked again; --yes and a non-terminal stdin do not ask.
func TestGradeConfirmsOnATerminal(t *testing.T) {
	const prompt = "checks still fail: end the attempt and grade now? [y/N]"
	cases := []struct {
		name           string
		stdin          string
		terminal, yes  bool
		pass           bool
		wantEnded      bool
		wantPrompts    int
		wantCode       int
		wantErrContain string
	}{
		{"stray word then yes", "maybe\nyes\n", true, false, false, true, 2, grade.ExitNotPassed, "please answer"},
		{"yeah is not yes", "yeah\nY\n", true, false, false, true, 2, grade.ExitNotPassed, "please answer"},
		{"nope is not no", "nope\nn\n", true, false, false, false, 2, grade.ExitCouldNotRun, "Not graded"},
		{"enter takes the default no", "\n", true, false, false, false, 1, grade.ExitCouldNotRun, "Not graded"},
		{"end of input takes no", "", true, false, false, false, 1, grade.ExitCouldNotRun, "Not graded"},
		{"no", "no\n", true, false, false, false, 1, grade.ExitCouldNotRun, "the attempt goes on"},
		{"--yes skips the question", "", true, true, false, true, 0, grade.ExitNotPassed, ""},
		{"not a terminal proceeds", "", false, false, false, true, 0, grade.ExitNotPassed, ""},
		{"all checks pass: nothing to ask", "", true, false, true, true, 0, grade.ExitPassed, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecord()
			pass := tc.pass
			out, errs, code := gradeOnce(t, rec, liveJudge(rec, &pass), "text", tc.stdin, tc.terminal, tc.yes)
			if got := strings.Count(errs, prompt); got != tc.wantPrompts {
				t.Errorf("asked %d times, want %d:\n%s", got, tc.wantPrompts, errs)
			}
			if ended := len(rec.ended()) == 1; ended != tc.wantEnded {
				t.Errorf("attempt ended = %v, want %v", ended, tc.wantEnded)
			}
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d", code, tc.wantCode)
			}
			if !strings.Contains(errs, tc.wantErrContain) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantErrContain, errs)
			}
			if !tc.wantEnded && out != "" {
				t.Errorf("printed a verdict without ending the attempt:\n%s", out)
			}
			if tc.wantPrompts > 0 && (strings.Contains(errs, "PR #") || strings.Contains(errs, "validateDiscount")) {
				t.Errorf("the question shows the answer key:\n%s", errs)
			}
		})
	}
}

func TestAskYesNo(t *testing.T) {
	cases := []struct {
		in   string
		want *bool
		asks int
	}{
		{"y\n", ptr(true), 1}, {"YES\n", ptr(true), 1}, {"n\n", ptr(false), 1}, {" No \n", ptr(false), 1},
		{"yep\nnah\nno\n", ptr(false), 3}, {"nope\nyes\n", ptr(true), 2}, {"\n", nil, 1}, {"", nil, 1}, {"sure", nil, 1},
	}
	for _, tc := range cases {
		var w bytes.Buffer
		got, err := askYesNoOptional(bufio.NewReader(strings.NewReader(tc.in)), &w, "Q? ")
		if err != nil || (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%q: got %v err %v, want %v", tc.in, deref(got), err, deref(tc.want))
		}
		if n := strings.Count(w.String(), "Q? "); n != tc.asks {
			t.Errorf("%q: asked %d times, want %d", tc.in, n, tc.asks)
		}
	}
}

func ptr(b bool) *bool { return &b }

func deref(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

// The interactive answer asks per neutral symptom for the PR and the failing function, re-asks a PR that is
// not a number and a yes/no that is neither, and its questions name no PR, fault or function.
func TestAskAnswers(t *testing.T) {
	in := strings.Join([]string{
		// orders: a PR that is not a number, then skip the symptom
		"the migration one", "-",
		// checkout
		"#892", "checkout.validateDiscount", "every checkout runs the validation", "tests always sent a code",
		// payments
		"901", "", "", "",
		// the release: a stray word, then no
		"maybe", "no", "NOT NULL without a default",
		// process
		"canary deploys; expand-contract migrations",
	}, "\n") + "\n"
	var errb bytes.Buffer
	cur := &grade.Answers{Faults: map[string]grade.FaultAnswer{"payments": {Function: "payments.chargeStoredCredential"}}}
	if err := askAnswers(IO{In: strings.NewReader(in), ErrOut: &errb}, cur); err != nil {
		t.Fatal(err)
	}
	c := cur.Faults["checkout"]
	if c.PR != 892 || c.Function != "checkout.validateDiscount" || c.WhyTestsMissed != "tests always sent a code" {
		t.Errorf("checkout answer %+v", c)
	}
	if p := cur.Faults["payments"]; p.PR != 901 || p.Function != "payments.chargeStoredCredential" {
		t.Errorf("payments answer %+v (Enter must keep the earlier function)", p)
	}
	o := cur.Faults["orders"]
	if o.PR != 0 || o.MigrationBackwardCompatible == nil || *o.MigrationBackwardCompatible || o.MigrationWhy == "" {
		t.Errorf("orders answer %+v", o)
	}
	if len(cur.ProcessChanges) != 2 {
		t.Errorf("process %v", cur.ProcessChanges)
	}
	q := errb.String()
	if !strings.Contains(q, "please give the PR's number") || !strings.Contains(q, "please answer y, yes, n or no") {
		t.Errorf("bad replies were not asked again:\n%s", q)
	}
	for _, leak := range []string{"#9", "not-null", "flag-leak", "sdk-break", "validateDiscount(", "discount_code", "payment-sdk", "order_metadata"} {
		if strings.Contains(q, leak) {
			t.Errorf("questions carry %q:\n%s", leak, q)
		}
	}
}

func TestApplyAnswerFlags(t *testing.T) {
	cur := canonicalAnswers(&grade.Answers{Faults: map[string]grade.FaultAnswer{"flag-leak": {PR: 1}, "x": {PR: 905}}})
	applyAnswerFlags(cur, &AnswerOptions{Fault: "checkout", PR: 892, Function: " checkout.validateDiscount "})
	applyAnswerFlags(cur, &AnswerOptions{Compatible: "false", MigrationWhy: "old inserts fail"})
	if a := cur.Faults["checkout"]; a.PR != 892 || a.Function != "checkout.validateDiscount" {
		t.Errorf("checkout %+v", a)
	}
	if _, ok := cur.Faults["flag-leak"]; ok {
		t.Error("answers still filed under a fault id")
	}
	if a := cur.Faults["orders"]; a.MigrationBackwardCompatible == nil || *a.MigrationBackwardCompatible || a.MigrationWhy == "" {
		t.Errorf("migration answer %+v", a)
	}
	if cur.Faults["x"].PR != 905 {
		t.Error("a misfiled answer was dropped")
	}
}

func TestCheckRunExitCodesAndNeutral(t *testing.T) {
	checks := []grade.Check{{ID: grade.CheckSchemaCompatible, Passed: false, Detail: "orders v2.3.0 against the schema at migration 5: incompatible",
		Explain: "ROLLBACK TRAP: SET DEFAULT '{}'"}}
	for _, tc := range []struct {
		checks []grade.Check
		err    error
		code   int
	}{{checks, nil, 1}, {[]grade.Check{{ID: grade.CheckEdgeSLO, Passed: true, Detail: "ok"}}, nil, 0}, {nil, errors.New("no control room"), ExitNotGradeable}, {nil, fmt.Errorf("connect: %w", sandbox.ErrNoEngine), ExitNoEngine}} {
		for _, format := range []string{"text", "json"} {
			var out bytes.Buffer
			err := checkRun(context.Background(), &CheckOptions{IO: IO{Out: &out, ErrOut: io.Discard}, Output: format},
				func(context.Context) ([]grade.Check, error) { return tc.checks, tc.err })
			if got := ExitCode(err); got != tc.code {
				t.Errorf("%s: exit %d, want %d", format, got, tc.code)
			}
			if strings.Contains(out.String(), "TRAP") || strings.Contains(out.String(), "SET DEFAULT") || strings.Contains(out.String(), "explain") {
				t.Errorf("%s: check printed the explanation:\n%s", format, out.String())
			}
		}
	}
}
