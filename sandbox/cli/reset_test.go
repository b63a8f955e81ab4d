package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/control"
	"github.com/sandbox-labs/sandbox/services/status"
)

// Reset's bad command lines exit 2 and never reach the engine (this runs without Docker).
func TestResetRefusesBadInputBeforeTheEngine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"reset"}, "pass --yes"}, // not a terminal: no silent reset from a script
		{[]string{"reset", "--yes", "--baseline", "-1s"}, "--baseline"},
		{[]string{"reset", "--yes", "--baseline", "48h"}, "--baseline"},
		{[]string{"reset", "--yes", "--wait", "0s"}, "--wait"},
		{[]string{"reset", "--yes", "extra"}, "unknown command"},
		{[]string{"reset", "--yes", "--name", "Bad_Name"}, "invalid sandbox name"},
		{[]string{"attempts", "--output", "yaml"}, "--output"},
		{[]string{"attempts", "0"}, "past attempt's number"},
		{[]string{"attempts", "first"}, "past attempt's number"},
		{[]string{"attempts", "1", "2"}, "at most an attempt number"},
	} {
		_, errs, code := run(t, tc.args...)
		if code != ExitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("sandbox %s: exit %d, stderr %q; want exit 2 naming %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
}

func TestResetFlagsReachTheRun(t *testing.T) {
	var got *ResetOptions
	g := &Globals{Name: "team-1"}
	cmd := newCmdReset(IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, g,
		func(_ context.Context, o *ResetOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--yes", "--baseline", "30s", "--follow=false"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !got.Yes || got.Baseline != 30*time.Second || got.Follow || !got.baselineSet || got.incidentSet {
		t.Errorf("options %+v", got)
	}
}

// The next attempt starts like the last one unless told otherwise: the baseline and incident recorded at up.
func TestReadLastAttempt(t *testing.T) {
	if la := readLastAttempt(nil); la.found {
		t.Errorf("no record: %+v, want nothing found", la)
	}
	tl := []status.Event{
		{Kind: status.EventCommand, Data: map[string]string{"baseline": "9m"}},
		{Kind: status.EventSandboxUp, Data: map[string]string{"baseline": "20s", "incident": "false"}},
	}
	la := readLastAttempt(tl)
	if !la.found || la.baseline != 20*time.Second || la.incident {
		t.Errorf("readLastAttempt = %+v, want 20s without incident", la)
	}
	tl[1].Data = map[string]string{"baseline": "1m0s"}
	if la := readLastAttempt(tl); la.baseline != time.Minute || !la.incident {
		t.Errorf("readLastAttempt = %+v, want 1m with the incident (the default)", la)
	}
}

func TestWriteAttemptsNamesPastAndCurrent(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var b bytes.Buffer
	writeAttempts(&b, control.Attempts{Current: 3, Since: &at, Past: []control.PastAttempt{
		{Attempt: 1, Events: 40, First: &at, Last: &at, Shipped: true, Graded: true, Verdict: "attempt ended: passed, score 10/12", Intact: true},
		{Attempt: 2, Events: 7, Intact: false, Problem: "event seq 3 (command) was changed after it was recorded"},
	}})
	out := b.String()
	for _, want := range []string{"1 (past)", "passed, score 10/12", "2 (past)", "not deployed", "not graded", "BROKEN: event seq 3", "3 (current)"} {
		if !strings.Contains(out, want) {
			t.Errorf("attempts table lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchMedian(t *testing.T) {
	s := time.Second
	if got := median([]time.Duration{9 * s, 3 * s, 5 * s}); got != 5*s {
		t.Errorf("median of 9,3,5 = %s", got)
	}
	if got := median([]time.Duration{4 * s, 2 * s}); got != 3*s {
		t.Errorf("median of 4,2 = %s", got)
	}
	if got := median(nil); got != 0 {
		t.Errorf("median of nothing = %s", got)
	}
	if _, errs, code := run(t, "bench", "--resets", "-1"); code != ExitUsage || !strings.Contains(errs, "--resets") {
		t.Errorf("bench --resets -1: exit %d %q", code, errs)
	}
}
