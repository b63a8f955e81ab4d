package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/faults"
	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/services/status"
)

// incidentTimeline is a shipped incident worked by a trainee: a hint, a release cut, a rollback.
func incidentTimeline() []status.Event {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	return []status.Event{
		{Seq: 1, At: at(-time.Minute), Kind: status.EventSandboxUp, Actor: "cli", Detail: "sandbox up", Data: map[string]string{"faults": "3", "seed": "7"}},
		{Seq: 2, At: at(0), Kind: status.EventDeployStarted, Actor: "pipeline", Service: "all", From: "v2.3.0", To: "v2.4.0"},
		{Seq: 3, At: at(40 * time.Second), Kind: status.EventSpikeStart, Actor: "observed", Detail: "15.2%"},
		{Seq: 4, At: at(70 * time.Second), Kind: status.EventCommand, Actor: "trainee", Detail: "changelog"},
		{Seq: 5, At: at(80 * time.Second), Kind: status.EventHint, Actor: "trainee", Detail: "hint 1/3 for checkout", Data: map[string]string{"symptom": "checkout", "level": "1"}},
		{Seq: 6, At: at(100 * time.Second), Kind: status.EventReleaseCreated, Actor: "trainee", From: "v2.4.0", To: "v2.4.1", Detail: "release v2.4.1 from v2.4.0",
			Data: map[string]string{"reverted": "892", "patches": ""}},
		{Seq: 7, At: at(2 * time.Minute), Kind: status.EventRollback, Actor: "cli", Service: "payments", From: "v2.4.0", To: "v2.3.0"},
	}
}

func timelineOut(t *testing.T, output string, tl []status.Event) string {
	t.Helper()
	var b bytes.Buffer
	if err := writeTimelineOutput(&b, "team-1", output, tl, nil, status.Snapshot{WindowS: 60}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The text timeline is one line per event, in the record's order, each with its UTC time, the scenario
// clock from the v2.4.0 deploy, and who did it.
func TestTimelineTextInOrderWithTimesAndActors(t *testing.T) {
	tl := incidentTimeline()
	out := timelineOut(t, "text", tl)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != len(tl) {
		t.Fatalf("%d lines for %d events:\n%s", len(lines), len(tl), out)
	}
	want := []struct{ clock, text string }{
		{"13:59:00 [13:45]", "sandbox_up (cli): sandbox up"},
		{"14:00:00 [14:00]", "deploy_started (pipeline)"},
		{"14:00:40 [14:10]", "edge error rate crossed 5%: 15.2%"},
		{"14:01:10", "ran `sandbox changelog`"},
		{"14:01:20", "hint (trainee): hint 1/3 for checkout"},
		{"14:01:40", "release_created (trainee): release v2.4.1 from v2.4.0"},
		{"14:02:00", "rollback (cli)"},
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w.clock) || !strings.Contains(lines[i], w.text) {
			t.Errorf("line %d = %q, want it to start %q and contain %q", i+1, lines[i], w.clock, w.text)
		}
	}
	// Before any v2.4.0 deploy there is no scenario clock to show.
	out = timelineOut(t, "text", tl[:1])
	if strings.Contains(out, "[") || !strings.HasPrefix(out, "13:59:00  ") {
		t.Errorf("no deploy yet, got %q", out)
	}
}

func TestTimelineKindsAreNamed(t *testing.T) {
	// Guard the assumption in the test above: the kinds the CLI names are the status constants.
	for kind, name := range map[string]string{status.EventSandboxUp: "sandbox_up", status.EventDeployStarted: "deploy_started",
		status.EventHint: "hint", status.EventReleaseCreated: "release_created", status.EventRollback: "rollback"} {
		if kind != name {
			t.Errorf("event kind %q, the timeline test expects %q", kind, name)
		}
	}
}

// --output json is the record itself: it decodes back to the same events, data and chain fields included.
func TestTimelineJSONRoundTrips(t *testing.T) {
	tl := incidentTimeline()
	tl[len(tl)-1].Prev, tl[len(tl)-1].Hash = "abc", "def"
	out := timelineOut(t, "json", tl)
	var back []status.Event
	if err := json.Unmarshal([]byte(out), &back); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, tl) {
		t.Errorf("round trip changed the events:\n got %+v\nwant %+v", back, tl)
	}
	if out := timelineOut(t, "json", nil); strings.TrimSpace(out) != "null" && strings.TrimSpace(out) != "[]" {
		t.Errorf("empty timeline as JSON: %q", out)
	}
}

// Before the attempt ended the markdown draft names no cause: no PR heading, no fault id, no failing function,
// no fix or hint text, even with a hint and a revert in the record; after the CLI's attempt_ended it carries
// the verdict and the answer key.
func TestTimelineMarkdownAnswerKeyOnlyAfterTheEnd(t *testing.T) {
	tl := incidentTimeline()
	out := timelineOut(t, "markdown", tl)
	if !strings.HasPrefix(out, "# Postmortem draft") || !strings.Contains(out, "## Timeline") || !strings.Contains(out, "The attempt is still open") {
		t.Fatalf("not an open postmortem draft:\n%s", out)
	}
	if strings.Contains(out, "## Verdict") || strings.Contains(out, "## Root causes") || strings.Contains(out, "### PR #") {
		t.Errorf("answer key before the end:\n%s", out)
	}
	for _, f := range faults.All() {
		leaks := []string{f.ID, f.Symptom, f.CodePathRef}
		for _, fn := range f.Functions {
			leaks = append(leaks, f.Service+"."+fn)
		}
		leaks = append(append(append(leaks, f.Fixes...), f.Prevention...), f.Hints...)
		for _, leak := range leaks {
			if leak != "" && strings.Contains(out, leak) {
				t.Errorf("draft before the end gives away %q (%s)", leak, f.ID)
			}
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, fmt.Sprintf("#%d", f.PR)) && strings.Contains(line, f.Name) {
				t.Errorf("a line ties PR #%d to symptom %s: %q", f.PR, f.Name, line)
			}
		}
	}

	tl = append(tl, status.Event{Seq: 8, At: t0.Add(9 * time.Minute), Kind: status.EventAttemptEnded, Actor: "cli", Detail: "attempt ended: PASSED, score 85/100",
		Data: map[string]string{"passed": "true", "score": "85", "ratings": "Triage Speed=Expert", "checks": "9/9 passed", "faults": "flag-leak"}})
	out = timelineOut(t, "markdown", tl)
	for _, want := range []string{"## Verdict (attempt ended 14:09:00)", "- passed, score 85/100", "Triage Speed=Expert", "checks: 9/9 passed", "## Root causes"} {
		if !strings.Contains(out, want) {
			t.Errorf("draft after the end lacks %q:\n%s", want, out)
		}
	}
	f, _ := faults.Lookup("flag-leak")
	if !strings.Contains(out, fmt.Sprintf("### PR #%d", f.PR)) || !strings.Contains(out, f.Fixes[0]) {
		t.Errorf("answer key lacks the fault that ran (PR #%d, fix %q):\n%s", f.PR, f.Fixes[0], out)
	}
	for _, other := range faults.All() {
		if other.ID != f.ID && strings.Contains(out, fmt.Sprintf("### PR #%d", other.PR)) {
			t.Errorf("answer key for %s, which did not run", other.ID)
		}
	}
	if strings.Contains(out, "The attempt is still open") {
		t.Error("draft after the end still says the attempt is open")
	}
}

// The markdown draft's impact figures come from the series and the live snapshot the command fetched.
func TestTimelineMarkdownUsesSeriesAndSnapshot(t *testing.T) {
	tl := incidentTimeline()
	series := []sandbox.SeriesPoint{{T: t0.Add(-30 * time.Second), ErrorRate: 0.002}, {T: t0.Add(time.Minute), ErrorRate: 0.2, P99Ms: 750}}
	snap := status.Snapshot{WindowS: 60}
	snap.Edge.ErrorRate, snap.Edge.P99Ms = 0.03, 120
	var b bytes.Buffer
	if err := writeTimelineOutput(&b, "team-1", "markdown", tl, series, snap); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(sandbox team-1)", "Peak edge error rate 20.0% and p99 750 ms", "Before the deploy the edge error rate was 0.20%",
		"Now: edge error rate 3.00%, p99 120 ms over the last 60 s"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("draft lacks %q:\n%s", want, b.String())
		}
	}
}

func TestTimelineUnknownOutputIsUsageError(t *testing.T) {
	_, stderr, code := run(t, "timeline", "--output", "yaml")
	if code != ExitUsage || !strings.Contains(stderr, "text, json, markdown") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
