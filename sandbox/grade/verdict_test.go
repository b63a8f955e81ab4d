package grade

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// The verdict stored in attempt_ended reads back to the same result: verdict, score, ratings, checks with
// their explanations, feedback and exit code.
func TestVerdictRoundTrip(t *testing.T) {
	res, _ := failingRun(t, []string{"flag-leak", "sdk-break"}).grade()
	res.Meta["sandbox"], res.Thresholds = "team-1", DescribeThresholds(DefaultThresholds())
	res.Meta["faults"] = "flag-leak,sdk-break"
	ev, err := AttemptEndedEvent(res)
	if err != nil {
		t.Fatal(err)
	}
	// The faults are named in the record only once the attempt ended (the postmortem's answer key reads them).
	if ev.Data["faults"] != "flag-leak,sdk-break" {
		t.Errorf("attempt_ended faults %q", ev.Data["faults"])
	}
	if ev.Kind != status.EventAttemptEnded || ev.Actor != "cli" || ev.Data["passed"] != "false" ||
		ev.Data["score"] != fmt.Sprint(res.Score) || !strings.Contains(ev.Data["ratings"], "Root Cause Analysis=Novice") ||
		!strings.Contains(ev.Data["checks"], "failed: edge_slo") {
		t.Errorf("event %+v", ev.Data)
	}
	if _, err := StoredVerdict([]status.Event{}); !errors.Is(err, ErrNoVerdict) {
		t.Errorf("no event: %v", err)
	}
	ev.At, ev.Seq = off(20*time.Minute), 42
	later := status.Event{Kind: status.EventAttemptEnded, Actor: "cli", At: off(30 * time.Minute), Data: map[string]string{"verdict": `{"v":1,"result":{"passed":true}}`}}
	forged := status.Event{Kind: status.EventAttemptEnded, Actor: "trainee", At: off(19 * time.Minute), Data: later.Data}
	got, err := StoredVerdict([]status.Event{forged, ev, later})
	if err != nil {
		t.Fatal(err)
	}
	if got.Passed != res.Passed || got.Score != res.Score || ExitCode(got, nil) != ExitCode(res, nil) ||
		!got.Recorded || got.EndedAt == nil || !got.EndedAt.Equal(ev.At) {
		t.Errorf("read back passed %v score %d recorded %v ended %v", got.Passed, got.Score, got.Recorded, got.EndedAt)
	}
	for i, a := range res.Scorecard {
		if got.Scorecard[i].Level() != a.Level() || got.Scorecard[i].Justification != a.Justification {
			t.Errorf("area %s: %v, want %v", a.Area, got.Scorecard[i].Level(), a.Level())
		}
	}
	if !reflect.DeepEqual(got.Checks, res.Checks) || !reflect.DeepEqual(got.Improvements, res.Improvements) {
		t.Errorf("checks or improvements changed")
	}
	var a, b strings.Builder
	_ = RenderText(&a, res)
	_ = RenderText(&b, got)
	first, second := a.String(), b.String()
	// The same report, but for the line saying when the attempt ended.
	drop := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, "Attempt ended") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if drop(first) != drop(second) {
		t.Errorf("re-printed report differs:\n%s\n---\n%s", first, second)
	}
}

// A long session's evidence is cut to fit the event; the verdict itself is never cut.
func TestVerdictFitsTheEvent(t *testing.T) {
	res, _ := expertRun(t).grade()
	for i := range 5000 {
		res.Evidence = append(res.Evidence, fmt.Sprintf("+%d:00 look: `sandbox status --window=30s` number %d", i, i))
	}
	ev, err := AttemptEndedEvent(res)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ev)
	if len(b) > MaxVerdictEventBytes {
		t.Fatalf("event %d bytes", len(b))
	}
	got, err := StoredVerdict([]status.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	if got.Score != res.Score || !got.Passed || !strings.Contains(got.Evidence[len(got.Evidence)-1], "left out") {
		t.Errorf("score %d passed %v last evidence %q", got.Score, got.Passed, got.Evidence[len(got.Evidence)-1])
	}
	if len(res.Evidence) < 5000 {
		t.Error("AttemptEndedEvent trimmed the caller's result")
	}
}

func TestStoredVerdictUnreadable(t *testing.T) {
	for _, data := range []string{"", "{", `{"v":1}`, `{"v":99,"result":{}}`} {
		_, err := StoredVerdict([]status.Event{{Kind: status.EventAttemptEnded, Actor: "cli", Data: map[string]string{"verdict": data}}})
		if err == nil || errors.Is(err, ErrNoVerdict) {
			t.Errorf("verdict %q: err %v, want unreadable", data, err)
		}
	}
}
