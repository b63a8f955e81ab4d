package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox"
)

func run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errb})
	return out.String(), errb.String(), code
}

func TestUsageErrorsExitTwo(t *testing.T) {
	// Every case must fail before touching the engine, so this runs without Docker.
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"up", "--bogus"}, "unknown flag"},
		{[]string{"up", "--name", "Bad_Name"}, "invalid sandbox name"},
		{[]string{"up", "--faults", "flag-leak,nope"}, "nope"},
		{[]string{"up", "--load-rps", "0"}, "--load-rps"},
		{[]string{"up", "--noise", "0.5"}, "--noise"},
		{[]string{"up", "--scrape-interval", "soon"}, "--scrape-interval"},
		{[]string{"status", "--output", "yaml"}, "unknown --output"},
		{[]string{"status", "--window", "1ms"}, "--window"},
		{[]string{"deploy", "checkout"}, "takes a service"},
		{[]string{"deploy", "kitchen", "v2.3.0"}, "unknown service"},
		{[]string{"rollback", "kitchen"}, "unknown service"},
		{[]string{"migrate", "sideways"}, "unknown migrate action"},
		{[]string{"migrate", "down", "42"}, "unknown migration id"},
		{[]string{"flags", "set", "discount_codes", "150"}, "percentage"},
		{[]string{"flags", "toggle"}, "usage"},
		{[]string{"logs", "kitchen"}, "unknown service"},
		{[]string{"logs", "orders", "--since", "yesterday"}, "--since"},
		{[]string{"sql", "  "}, "empty SQL"},
		{[]string{"down", "extra"}, "unknown command"},
		// NaN and out-of-range values that used to get through to the engine or the services.
		{[]string{"up", "--load-rps", "NaN"}, "--load-rps"},
		{[]string{"up", "--noise", "NaN"}, "--noise"},
		{[]string{"status", "--watch", "--every", "0"}, "--every"},
		{[]string{"status", "--window", "1h"}, "--window"},
		{[]string{"grade", "--window", "30m"}, "--window"},
		{[]string{"grade", "--max-error-rate", "1"}, "--max-error-rate"},
		{[]string{"grade", "--max-error-rate", "NaN"}, "--max-error-rate"},
		{[]string{"grade", "--max-p99-ms", "+Inf"}, "--max-p99-ms"},
		{[]string{"release", "frob"}, "unknown command"},
		{[]string{"flags", "frob", "x"}, "usage"},
		{[]string{"help", "nosuch"}, "unknown help topic"},
		{[]string{"healthcheck", "::bad"}, "want an http URL"},
		{[]string{"logs", "checkout", "--tail", "-5"}, "--tail"},
		{[]string{"deploy", "orders", "frob"}, "use the form v2.4.1"},
		{[]string{"check", "--output", "markdown"}, "unknown --output"},
		{[]string{"check", "--max-error-rate", "1"}, "--max-error-rate"},
		{[]string{"grade", "--window", "1s"}, "--window"},
		{[]string{"answer", "--function", "orders.createOrder"}, "need --fault"},
		{[]string{"answer", "--fault", "latency", "--pr", "1"}, "symptoms are orders, checkout, payments"},
		{[]string{"hint", "latency"}, "symptoms are orders, checkout, payments"},
	}
	for _, c := range cases {
		_, stderr, code := run(t, c.args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, ExitUsage, stderr)
		}
		if !strings.Contains(stderr, c.want) {
			t.Errorf("%v: stderr %q does not mention %q", c.args, stderr, c.want)
		}
	}
}

func TestNoEngineIsAClearError(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	_, stderr, code := run(t, "status")
	if code != ExitNoEngine {
		t.Fatalf("exit %d, want %d; stderr %q", code, ExitNoEngine, stderr)
	}
	if !strings.Contains(stderr, "no Docker engine answered") || !strings.Contains(stderr, "start Docker") {
		t.Errorf("stderr %q should say no engine answered and what to do", stderr)
	}
}

func TestUpFlagsReachOptions(t *testing.T) {
	var got *UpOptions
	cmd := newCmdUp(IO{Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, &Globals{Name: "team-1"}, func(_ context.Context, o *UpOptions) error {
		got = o
		return nil
	})
	cmd.SetArgs([]string{"--baseline", "20s", "--faults", "sdk-break, flag-leak", "--seed", "7", "--load-rps", "25", "--incident=false"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Baseline != 20*time.Second || got.Incident || got.Settings.Seed != 7 || got.Settings.LoadRPS != 25 {
		t.Errorf("options not parsed: %+v", got)
	}
	if strings.Join(got.Settings.Faults, ",") != "sdk-break,flag-leak" {
		t.Errorf("faults = %v", got.Settings.Faults)
	}
}

func TestParseFlagValue(t *testing.T) {
	for in, want := range map[string][2]int{"on": {1, 100}, "off": {0, 0}, "15": {1, 15}, "15%": {1, 15}, "0": {0, 0}} {
		en, pct, err := parseFlagValue(in)
		if err != nil || (en != (want[0] == 1)) || pct != want[1] {
			t.Errorf("parseFlagValue(%q) = %v %d %v, want %v", in, en, pct, err, want)
		}
	}
	for _, bad := range []string{"-1", "101", "maybe", ""} {
		if _, _, err := parseFlagValue(bad); err == nil {
			t.Errorf("parseFlagValue(%q) accepted", bad)
		}
	}
}

// A command that changes a sandbox while another one does is refused with a distinct exit code, says who
// holds the sandbox, and changes nothing (it stops before touching the engine).
func TestChangingCommandsAreSerialized(t *testing.T) {
	name := fmt.Sprintf("locktest-%d", os.Getpid())
	held, err := sandbox.LockSandbox(context.Background(), name, "sandbox deploy all v2.4.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	for _, args := range [][]string{{"flags", "set", "discount_codes", "off"}, {"sql", "ALTER TABLE orders ADD COLUMN x int"},
		{"migrate", "down", "5"}, {"release", "create", "v2.4.1", "--from", "v2.4.0", "--revert", "892"}, {"down"}} {
		_, stderr, code := run(t, append(args, "--name", name, "--lock-wait", "0")...)
		if code != ExitLocked || !strings.Contains(stderr, "sandbox deploy all v2.4.1") || !strings.Contains(stderr, "--lock-wait") {
			t.Errorf("%v while locked: exit %d, stderr %q; want %d naming the holder", args, code, stderr, ExitLocked)
		}
	}
	if sqlWrites("SELECT count(*) FROM orders") || !sqlWrites("select * into t2 from orders") || !sqlWrites("UPDATE orders SET x=1") {
		t.Error("sqlWrites misclassifies reads and writes")
	}
}
