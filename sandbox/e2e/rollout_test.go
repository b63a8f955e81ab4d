package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox/cli"
	"github.com/sandbox-labs/sandbox/services/status"
)

// syncBuffer is a buffer a command writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var pipelinePID = regexp.MustCompile(`shipped by a pipeline process of its own \(pid (\d+)`)

// upThenInterrupt runs `up` as a user at a terminal would and interrupts it (Ctrl-C) as soon as the sandbox is
// up and the rollout scheduled. It returns up's stderr and the pid of the rollout's pipeline process.
func upThenInterrupt(t *testing.T, name string, args ...string) (stderr string, pid int) {
	t.Helper()
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, append([]string{"up", "--name", name}, args...), cli.IO{In: strings.NewReader(""), Out: io.Discard, ErrOut: &errb})
	}()
	deadline := time.Now().Add(8 * time.Minute) // a cold image cache builds Postgres from Debian packages
	for pipelinePID.FindStringSubmatch(errb.String()) == nil {
		select {
		case code := <-done:
			t.Fatalf("up exited %d before scheduling the rollout:\n%s", code, errb.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("up did not schedule the rollout:\n%s", errb.String())
		}
	}
	interrupt()
	select {
	case code := <-done:
		if code != cli.ExitInterrupted {
			t.Errorf("interrupted up: exit %d, want %d", code, cli.ExitInterrupted)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("up did not stop on the interrupt:\n%s", errb.String())
	}
	pid, _ = strconv.Atoi(pipelinePID.FindStringSubmatch(errb.String())[1])
	return errb.String(), pid
}

// pipelineRunning reports whether pid is still the rollout pipeline of sandbox name (a pid may be reused).
func pipelineRunning(t *testing.T, pid int, name string) bool {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("looks for the pipeline process in /proc")
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if i := bytes.LastIndexByte(stat, ')'); i > 0 && bytes.HasPrefix(stat[i+1:], []byte(" Z")) {
		return false // exited, not yet reaped
	}
	return strings.Contains(string(cmdline), "rollout\x00--name\x00"+name+"\x00")
}

func waitPipelineGone(t *testing.T, pid int, name string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for pipelineRunning(t, pid, name) {
		if time.Now().After(deadline) {
			t.Fatalf("rollout pipeline process %d of %s still running after %s", pid, name, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestIntegrationRolloutSurvivesInterruptedUp: up is interrupted right after the sandbox is up, and v2.4.0
// still ships at its time, through the pipeline, with no up running; status shows when it is due until then;
// the pipeline process ends once it shipped, and down leaves nothing behind.
func TestIntegrationRolloutSurvivesInterruptedUp(t *testing.T) {
	e := requireEngine(t)
	t.Parallel()
	name := newSandbox(t, e, "detach")
	errs, pid := upThenInterrupt(t, name, "--baseline", "20s", "--load-rps", "10")
	for _, want := range []string{"the v2.4.0 rollout still ships at", "`sandbox down --name " + name + "` to stop it"} {
		if !strings.Contains(errs, want) {
			t.Errorf("interrupted up does not say %q:\n%s", want, errs)
		}
	}
	if !pipelineRunning(t, pid, name) {
		t.Fatalf("rollout pipeline process %d is not running after up was interrupted:\n%s", pid, errs)
	}
	if table := mustCLI(t, "status", "--name", name); !strings.Contains(table, "v2.4.0 rollout due at") {
		t.Errorf("status before the rollout does not say when it is due:\n%s", table)
	}

	s := waitStatus(t, name, "10s", 3*time.Minute, "v2.4.0 shipped with no up running", func(s status.Snapshot) bool {
		for _, role := range []string{"orders", "payments", "checkout"} {
			if strings.Join(service(s, role).Versions, ",") != "v2.4.0" {
				return false
			}
		}
		return true
	})
	t.Logf("orders %v, payments %v, checkout %v", service(s, "orders").Versions, service(s, "payments").Versions, service(s, "checkout").Versions)
	waitPipelineGone(t, pid, name, time.Minute)

	var due, finished time.Time
	for _, ev := range timeline(t, name) {
		switch {
		case ev.Kind == status.EventRolloutScheduled:
			due, _ = time.Parse(time.RFC3339, ev.Data["due"])
		case ev.Kind == status.EventDeployFinished && ev.Actor == "pipeline" && ev.To == "v2.4.0":
			finished = ev.At
		}
	}
	if due.IsZero() || finished.IsZero() || finished.Before(due) {
		t.Errorf("timeline: rollout due %s, pipeline deploy of v2.4.0 finished %s; want it scheduled, then shipped after it was due", due, finished)
	}
	if table := mustCLI(t, "status", "--name", name); strings.Contains(table, "rollout due") {
		t.Errorf("status still shows a rollout due after it shipped:\n%s", table)
	}

	mustCLI(t, "down", "--name", name)
	if n := leftovers(t, e, name); n != 0 {
		t.Errorf("%d labelled resources left after down", n)
	}
}

// pipelinesOf lists the rollout pipeline processes of sandbox name.
func pipelinesOf(t *testing.T, name string) []int {
	t.Helper()
	dirs, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range dirs {
		if pid, err := strconv.Atoi(d.Name()); err == nil && pipelineRunning(t, pid, name) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestIntegrationDownCancelsPendingRollout: a rollout scheduled by an interrupted up ends with its sandbox:
// down stops it before it is due and leaves nothing behind. A new sandbox with the same name and
// --incident=false then runs with no rollout scheduled and no pipeline process.
func TestIntegrationDownCancelsPendingRollout(t *testing.T) {
	e := requireEngine(t)
	t.Parallel()
	name := newSandbox(t, e, "cancel")
	_, pid := upThenInterrupt(t, name, "--baseline", "10m", "--load-rps", "10")
	if !pipelineRunning(t, pid, name) {
		t.Fatalf("rollout pipeline process %d is not running after up was interrupted", pid)
	}
	mustCLI(t, "down", "--name", name)
	waitPipelineGone(t, pid, name, 15*time.Second)
	if n := leftovers(t, e, name); n != 0 {
		t.Errorf("%d labelled resources left after down", n)
	}

	_, errs, code := runCLI(t, "up", "--name", name, "--incident=false", "--load-rps", "10")
	if code != 0 || strings.Contains(errs, "rollout") {
		t.Fatalf("up --incident=false: exit %d, want 0 and no rollout scheduled:\n%s", code, errs)
	}
	if pids := pipelinesOf(t, name); len(pids) != 0 {
		t.Errorf("up --incident=false left rollout pipeline processes %v", pids)
	}
	for _, ev := range timeline(t, name) {
		if ev.Kind == status.EventRolloutScheduled || ev.Actor == "pipeline" {
			t.Errorf("up --incident=false: timeline has %s by %s", ev.Kind, ev.Actor)
		}
	}
	if table := mustCLI(t, "status", "--name", name); strings.Contains(table, "rollout") {
		t.Errorf("status of a sandbox without an incident mentions a rollout:\n%s", table)
	}
	mustCLI(t, "down", "--name", name)
}

func timeline(t *testing.T, name string) []status.Event {
	t.Helper()
	var tl []status.Event
	if err := json.Unmarshal([]byte(mustCLI(t, "timeline", "--output", "json", "--name", name)), &tl); err != nil {
		t.Fatal(err)
	}
	return tl
}
