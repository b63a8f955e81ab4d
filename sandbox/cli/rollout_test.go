package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox"
)

func TestRolloutUsageErrorsExitTwo(t *testing.T) {
	id := strings.Repeat("0f", 32)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"rollout", "--at", "2025-01-02T14:00:00Z"}, "--sandbox-id"},
		{[]string{"rollout", "--sandbox-id", "sandbox-team-1", "--at", "2025-01-02T14:00:00Z"}, "--sandbox-id"},
		{[]string{"rollout", "--sandbox-id", id}, "--at"},
		{[]string{"rollout", "--sandbox-id", id, "--at", "in a minute"}, "RFC 3339"},
		{[]string{"rollout", "--sandbox-id", id, "--at", "2025-01-02T14:00:00Z", "--name", "Bad_Name"}, "invalid sandbox name"},
		{[]string{"up", "--baseline", "48h"}, "--baseline"},
		{[]string{"up", "--baseline", "-1s"}, "--baseline"},
	}
	for _, c := range cases {
		_, stderr, code := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, stderr, ExitUsage, c.want)
		}
	}
	if _, ok := noRecord["rollout"]; !ok {
		t.Error("the pipeline's own command must not be recorded as something the trainee ran")
	}
}

func TestRolloutLine(t *testing.T) {
	due := time.Date(2025, 1, 2, 14, 3, 12, 0, time.UTC)
	pending := sandbox.RolloutState{Due: due}
	cases := []struct {
		r    sandbox.RolloutState
		now  time.Time
		want string
	}{
		{pending, due.Add(-100 * time.Second), "v2.4.0 rollout due at 14:03:12 UTC (in 1m40s)"},
		{pending, due.Add(5 * time.Second), "v2.4.0 rollout due at 14:03:12 UTC (due now)"},
		{pending, due.Add(2 * time.Minute), "has not started (2m0s late)"},
		{sandbox.RolloutState{Due: due, Started: due.Add(time.Second)}, due.Add(5 * time.Second), "v2.4.0 rollout in progress since 14:03:13 UTC"},
		{sandbox.RolloutState{Due: due, Started: due, Finished: due.Add(time.Minute), Shipped: true}, due.Add(2 * time.Minute), ""},
		{sandbox.RolloutState{Due: due, Shipped: true}, due.Add(-time.Minute), ""}, // deployed by hand before it was due
		{sandbox.RolloutState{}, due, ""}, // --incident=false
	}
	for _, c := range cases {
		got := rolloutLine(c.r, c.now, "team-1")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("rolloutLine(%+v) = %q, want %q", c.r, got, c.want)
		}
	}
	if got := rolloutLine(pending, due.Add(time.Hour), "team-1"); !strings.Contains(got, "sandbox deploy all v2.4.0 --name team-1") {
		t.Errorf("a rollout that never started should say how to ship it by hand: %q", got)
	}
}

func TestLogTailCopiesCompleteLinesButNotNotes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.log")
	if err := os.WriteFile(p, []byte("# note about the process\n  • running migrations\n  • orders: sta"), 0o600); err != nil {
		t.Fatal(err)
	}
	tail := &logTail{path: p}
	var out bytes.Buffer
	tail.copyTo(&out)
	if out.String() != "  • running migrations\n" {
		t.Fatalf("first copy = %q", out.String())
	}
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("rting v2.4.0\n# v2.4.0 shipped\n")
	f.Close()
	tail.copyTo(&out)
	if out.String() != "  • running migrations\n  • orders: starting v2.4.0\n" {
		t.Fatalf("second copy = %q", out.String())
	}
}

func TestInterruptedUpSaysWhatGoesOn(t *testing.T) {
	var w bytes.Buffer
	r := &scheduled{due: time.Now().Add(90 * time.Second), pid: 4242, log: "/cache/r.log"}
	err := r.interrupted(&w, "team-1")
	var ee ExitError
	if !errors.As(err, &ee) || ee.Code != ExitInterrupted || ee.Err != nil {
		t.Fatalf("interrupted = %v, want a silent exit %d", err, ExitInterrupted)
	}
	for _, want := range []string{"the v2.4.0 rollout still ships at " + r.due.UTC().Format("15:04:05"), "pid 4242", "`sandbox down --name team-1` to stop it"} {
		if !strings.Contains(w.String(), want) {
			t.Errorf("message %q lacks %q", w.String(), want)
		}
	}
	w.Reset()
	_ = (*scheduled)(nil).interrupted(&w, "sandbox") // --incident=false
	if !strings.Contains(w.String(), "keeps running on v2.3.0") || strings.Contains(w.String(), "--name") {
		t.Errorf("without an incident: %q", w.String())
	}
	w.Reset()
	_ = (&scheduled{due: time.Now().Add(time.Minute), why: "not the sandbox command"}).interrupted(&w, "sandbox")
	if !strings.Contains(w.String(), "is cancelled") {
		t.Errorf("a rollout that ran inside up must say it is cancelled: %q", w.String())
	}
}

func TestStartDetachedOnlyReexecsTheCLI(t *testing.T) {
	defer func(v bool) { CanReexec = v }(CanReexec)
	CanReexec = false
	if _, err := startDetached([]string{"version"}, filepath.Join(t.TempDir(), "x.log")); err == nil {
		t.Fatal("a program that is not the sandbox command must not be run again as one")
	}
}

// TestDetachedRolloutLivesOnItsOwnAndEndsWithItsSandbox starts the real pipeline process (this test binary
// standing in for the sandbox command, see TestMain) against a fake engine: it runs in a session of its own,
// with no terminal and stdin from /dev/null, keeps watching the sandbox while the rollout is not yet due, and
// exits cleanly, shipping nothing, once the sandbox's network is gone.
func TestDetachedRolloutLivesOnItsOwnAndEndsWithItsSandbox(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inspects the process through /proc")
	}
	id := strings.Repeat("5a", 32)
	var gone atomic.Bool
	var inspects, others atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			_, _ = w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/networks/"+id):
			inspects.Add(1)
			if gone.Load() {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"message":"network ` + id + ` not found"}`))
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"Id": id, "Name": sandbox.NetworkName("team-1"), "Labels": sandbox.ResourceLabels("team-1", "network", "")})
		default:
			others.Add(1) // anything else would be the rollout acting on the sandbox
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"message":"unexpected"}`))
		}
	}))
	defer srv.Close()
	t.Setenv("DOCKER_HOST", "tcp://"+srv.Listener.Addr().String())
	logPath := filepath.Join(t.TempDir(), "rollout.log")
	c, err := startDetached([]string{"rollout", "--name", "team-1", "--sandbox-id", id, "--at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}, logPath)
	if err != nil {
		t.Fatal(err)
	}
	exited := false
	defer func() {
		if !exited {
			_ = syscall.Kill(c.pid, syscall.SIGKILL)
			<-c.done
		}
	}()
	logText := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	deadline := time.Now().Add(20 * time.Second)
	for inspects.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline process never watched the sandbox; log:\n%s", logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(c.pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ppid pgrp session tty_nr ...
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if f[2] != strconv.Itoa(c.pid) || f[3] != strconv.Itoa(c.pid) || f[4] != "0" {
		t.Errorf("process group %s, session %s, tty %s; want a session of its own (%d) and no terminal", f[2], f[3], f[4], c.pid)
	}
	if in, _ := os.Readlink("/proc/" + strconv.Itoa(c.pid) + "/fd/0"); in != os.DevNull {
		t.Errorf("stdin is %q, want %s", in, os.DevNull)
	}
	gone.Store(true) // `sandbox down`
	select {
	case err := <-c.done:
		exited = true
		if err != nil {
			t.Fatalf("pipeline process: %v; log:\n%s", err, logText())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the pipeline process outlived its sandbox; log:\n%s", logText())
	}
	if !strings.Contains(logText(), `sandbox "team-1" was removed`) {
		t.Errorf("log does not say why it ended:\n%s", logText())
	}
	if n := others.Load(); n != 0 {
		t.Errorf("the pipeline made %d other engine calls: it must not act before it is due", n)
	}
}
