package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/faults"
	"github.com/sandbox-labs/sandbox/sandbox/grade"
	"github.com/sandbox-labs/sandbox/services/status"
)

// hintOnce runs the hint logic for symptom against rec, as `sandbox hint <symptom>` does once the control
// room is reached.
func hintOnce(t *testing.T, rec *fakeRecord, symptom string) (string, error) {
	t.Helper()
	f, err := faults.LookupSymptom(symptom)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = nextHint(context.Background(), IO{In: strings.NewReader(""), Out: &out, ErrOut: &bytes.Buffer{}}, rec, f)
	return out.String(), err
}

func hintEvents(rec *fakeRecord) []status.Event {
	var out []status.Event
	for _, ev := range rec.events {
		if ev.Kind == status.EventHint {
			out = append(out, ev)
		}
	}
	return out
}

// Each `sandbox hint <symptom>` shows the next level, in order, records it under the symptom (never the
// fault id) and says when it was the last; after the last one nothing more is shown or recorded.
func TestHintLevelsAreProgressiveAndRecorded(t *testing.T) {
	for _, f := range faults.All() {
		t.Run(f.Name, func(t *testing.T) {
			rec := newRecord()
			for lvl := 1; lvl <= len(f.Hints); lvl++ {
				out, err := hintOnce(t, rec, f.Name)
				if err != nil {
					t.Fatalf("hint %d: %v", lvl, err)
				}
				head := fmt.Sprintf("Hint %d/%d (%s):", lvl, len(f.Hints), f.Name)
				if !strings.HasPrefix(out, head) || !strings.Contains(out, f.Hints[lvl-1]) {
					t.Errorf("hint %d printed %q, want %q and the level's text %q", lvl, out, head, f.Hints[lvl-1])
				}
				for other := range f.Hints {
					if other != lvl-1 && strings.Contains(out, f.Hints[other]) {
						t.Errorf("hint %d also shows level %d's text:\n%s", lvl, other+1, out)
					}
				}
				if last := strings.Contains(out, "that was the last hint"); last != (lvl == len(f.Hints)) {
					t.Errorf("hint %d/%d: last-hint notice %v", lvl, len(f.Hints), last)
				}
				hs := hintEvents(rec)
				if len(hs) != lvl {
					t.Fatalf("after hint %d the timeline holds %d hint events", lvl, len(hs))
				}
				ev := hs[lvl-1]
				if ev.Actor != "trainee" || ev.Data["symptom"] != f.Name || ev.Data["level"] != fmt.Sprint(lvl) || ev.Data["fault"] != "" {
					t.Errorf("hint %d recorded as %+v", lvl, ev)
				}
				if strings.Contains(ev.Detail, f.ID) || strings.Contains(ev.Detail, fmt.Sprint(f.PR)) {
					t.Errorf("hint event detail %q names the cause (fault %s, PR %d)", ev.Detail, f.ID, f.PR)
				}
			}
			out, err := hintOnce(t, rec, f.Name)
			if err != nil || !strings.Contains(out, fmt.Sprintf("No more hints for %s: you have seen all %d.", f.Name, len(f.Hints))) {
				t.Errorf("hint past the last: %q, %v", out, err)
			}
			if n := len(hintEvents(rec)); n != len(f.Hints) {
				t.Errorf("a hint past the last was recorded: %d hint events for %d hints", n, len(f.Hints))
			}
		})
	}
}

// Hints are counted per symptom: one symptom's hints do not advance another's, and records that name the
// fault id (older CLIs) or an alias count for the same symptom.
func TestHintLevelsArePerSymptom(t *testing.T) {
	all := faults.All()
	if len(all) < 2 {
		t.Skip("needs two faults")
	}
	a, b := all[0], all[1]
	rec := newRecord()
	_ = rec.Record(context.Background(), status.Event{Kind: status.EventHint, Actor: "trainee", Data: map[string]string{"fault": a.ID, "level": "1"}})
	if _, err := hintOnce(t, rec, b.Name); err != nil {
		t.Fatal(err)
	}
	out, err := hintOnce(t, rec, a.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, fmt.Sprintf("Hint 2/%d (%s):", len(a.Hints), a.Name)) {
		t.Errorf("after an older record of %s's hint 1 and one %s hint, got %q; want %s's hint 2", a.ID, b.Name, out, a.Name)
	}
	out, _ = hintOnce(t, rec, b.Name)
	if !strings.HasPrefix(out, fmt.Sprintf("Hint 2/%d (%s):", len(b.Hints), b.Name)) {
		t.Errorf("%s's second hint printed %q", b.Name, out)
	}
}

// A hint that cannot be recorded is not shown: hints are never free.
func TestHintNotShownWhenNotRecorded(t *testing.T) {
	rec := newRecord()
	rec.fail = errors.New("control room down")
	f := faults.All()[0]
	out, err := hintOnce(t, rec, f.Name)
	if err == nil || !strings.Contains(err.Error(), "record the hint") {
		t.Errorf("err %v, want it to say the hint was not recorded", err)
	}
	if strings.Contains(out, f.Hints[0]) {
		t.Errorf("the hint was shown though not recorded: %q", out)
	}
}

// The hints the CLI records are the ones the grader prices: each distinct level costs HintPenalty, and the
// ladder's last level is flagged as last (which caps root cause at Intermediate).
func TestRecordedHintsArePricedByTheGrader(t *testing.T) {
	th := grade.DefaultThresholds()
	for _, f := range faults.All() {
		t.Run(f.Name, func(t *testing.T) {
			rec := newRecord()
			base := grade.Grade(grade.Input{Timeline: rec.events, Thresholds: th})
			for lvl := 1; lvl <= len(f.Hints); lvl++ {
				if _, err := hintOnce(t, rec, f.Name); err != nil {
					t.Fatal(err)
				}
				res := grade.Grade(grade.Input{Timeline: rec.events, Thresholds: th})
				if len(res.HintsTaken) != lvl {
					t.Fatalf("after %d hints the grader counts %+v", lvl, res.HintsTaken)
				}
				h := res.HintsTaken[lvl-1]
				if h.Fault != f.ID || h.Level != lvl || h.Last != (lvl == len(f.Hints)) {
					t.Errorf("hint %d graded as %+v (want fault %s, last %v)", lvl, h, f.ID, lvl == len(f.Hints))
				}
				if want := max(0, base.Score-lvl*th.HintPenalty); res.Score != want {
					t.Errorf("after %d hints score %d, want %d (base %d, %d per hint)", lvl, res.Score, want, base.Score, th.HintPenalty)
				}
			}
		})
	}
}

// `sandbox hint` with no symptom lists the symptoms, where each shows and how many hints it has, without the
// engine and without naming a cause; an unknown symptom is a usage error naming the valid ones.
func TestHintListAndUnknownSymptom(t *testing.T) {
	// A successful command records itself in the sandbox's timeline: keep it away from any real engine.
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	out, stderr, code := run(t, "hint", "--name", "hinttest-nosuch")
	if code != ExitOK {
		t.Fatalf("hint: exit %d, stderr %q", code, stderr)
	}
	for _, f := range faults.All() {
		if !strings.Contains(out, f.Name) || !strings.Contains(out, f.Seen) || !strings.Contains(out, fmt.Sprintf("(%d hints)", len(f.Hints))) {
			t.Errorf("hint list lacks %s (%q, %d hints):\n%s", f.Name, f.Seen, len(f.Hints), out)
		}
		for _, leak := range append([]string{f.ID, fmt.Sprintf("#%d", f.PR), f.Functions[0]}, f.Hints...) {
			if strings.Contains(out, leak) {
				t.Errorf("hint list gives away %q:\n%s", leak, out)
			}
		}
	}
	_, stderr, code = run(t, "hint", "kitchen")
	if code != ExitUsage || !strings.Contains(stderr, `unknown symptom "kitchen"`) || !strings.Contains(stderr, strings.Join(faults.Symptoms(), ", ")) {
		t.Errorf("hint kitchen: exit %d, stderr %q; want usage error listing %v", code, stderr, faults.Symptoms())
	}
	for _, f := range faults.All() {
		if strings.Contains(stderr, f.ID) {
			t.Errorf("unknown-symptom error names fault id %s: %q", f.ID, stderr)
		}
	}
	_, stderr, code = run(t, "hint", "orders", "payments")
	if code != ExitUsage {
		t.Errorf("hint with two symptoms: exit %d, stderr %q", code, stderr)
	}
}

// A level recorded twice (two hint commands at once) must not skip the next level and give the fix away.
func TestHintLevelRecordedTwiceDoesNotSkip(t *testing.T) {
	f, err := faults.LookupSymptom("checkout")
	if err != nil {
		t.Fatal(err)
	}
	dup := func() status.Event {
		return status.Event{Kind: status.EventHint, Actor: "trainee", Data: map[string]string{"symptom": f.Name, "level": "1"}}
	}
	rec := &fakeRecord{events: []status.Event{dup(), dup()}}
	out, err := hintOnce(t, rec, "checkout")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, fmt.Sprintf("Hint 2/%d", len(f.Hints))) {
		t.Errorf("after level 1 twice: %q, want level 2", out)
	}
}
