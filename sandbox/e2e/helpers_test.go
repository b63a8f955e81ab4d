// Package e2e plays a user on real containers: it drives the sandbox CLI in-process against the local Docker
// engine. Every test starts its own uniquely named sandbox, so several run side by side, and removes it.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/sandbox-labs/sandbox/internal/testenv"
	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/cli"
	"github.com/sandbox-labs/sandbox/services/status"
)

// baseline is how long e2e sandboxes run healthy before v2.4.0 ships (E2E_BASELINE shortens or lengthens it).
func baseline() string {
	if v := os.Getenv("E2E_BASELINE"); v != "" {
		return v
	}
	return "20s"
}

var engineOnce sync.Once
var engineErr error

// requireEngine skips under -short or when no Docker engine answers; in CI an engine always answers.
func requireEngine(t *testing.T) *sandbox.Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs a Docker engine (skipped under -short)")
	}
	e, err := sandbox.Connect(context.Background())
	if err != nil {
		testenv.Missing(t, "end-to-end test: needs a Docker engine", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// newSandbox returns a fresh sandbox name whose resources are removed when the test ends.
func newSandbox(t *testing.T, e *sandbox.Engine, prefix string) string {
	t.Helper()
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	name := "e2e-" + prefix + "-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if t.Failed() {
			dumpDiagnostics(t, name)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := e.Down(ctx, name); err != nil {
			t.Errorf("cleanup %s: %v", name, err)
		}
		_ = e.RemoveSandboxImagesOf(ctx, name)
	})
	return name
}

func dumpDiagnostics(t *testing.T, name string) {
	out, _, _ := runCLI(t, "status", "--name", name)
	t.Logf("status of %s at failure:\n%s", name, out)
	tl, _, _ := runCLI(t, "timeline", "--name", name)
	t.Logf("timeline of %s at failure:\n%s", name, tl)
	for _, svc := range []string{"loadgen", "gateway"} {
		logs, _, _ := runCLI(t, "logs", svc, "--tail", "0", "--name", name)
		var warn []string
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, `"level":"warn"`) || strings.Contains(l, `"level":"error"`) {
				warn = append(warn, l)
			}
		}
		if len(warn) > 20 {
			warn = warn[len(warn)-20:]
		}
		t.Logf("%s warnings of %s at failure:\n%s", svc, name, strings.Join(warn, "\n"))
	}
}

// runCLI runs the sandbox CLI in-process, as a user would from a shell.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli.Run(context.Background(), args, cli.IO{In: strings.NewReader(""), Out: &out, ErrOut: &errb})
	return out.String(), errb.String(), code
}

// mustCLI runs the CLI and fails the test on a non-zero exit.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("sandbox %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func statusJSON(t *testing.T, name, window string) status.Snapshot {
	t.Helper()
	out := mustCLI(t, "status", "--name", name, "--output", "json", "--window", window)
	var s status.Snapshot
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status json: %v\n%s", err, out)
	}
	return s
}

// waitStatus polls status until cond holds or the timeout passes (never a fixed sleep).
func waitStatus(t *testing.T, name, window string, timeout time.Duration, what string, cond func(status.Snapshot) bool) status.Snapshot {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var s status.Snapshot
	for {
		s = statusJSON(t, name, window)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(s, "", " ")
			t.Fatalf("%s: not reached within %s; last status:\n%s", what, timeout, b)
		}
		time.Sleep(2 * time.Second)
	}
}

func endpoint(s status.Snapshot, route string) status.Endpoint {
	for _, e := range s.Endpoints {
		if e.Route == route {
			return e
		}
	}
	return status.Endpoint{Route: route}
}

func service(s status.Snapshot, role string) status.Service {
	for _, sv := range s.Services {
		if sv.Service == role {
			return sv
		}
	}
	return status.Service{Service: role}
}

// leftovers counts the engine resources still labelled with the sandbox's name.
func leftovers(t *testing.T, e *sandbox.Engine, name string) int {
	t.Helper()
	ctx := context.Background()
	f := sandbox.NameFilter(name)
	cs, err := e.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := e.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := e.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	return len(cs) + len(ns) + len(vs.Volumes)
}
