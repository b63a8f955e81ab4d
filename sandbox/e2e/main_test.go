package e2e

import (
	"flag"
	"os"
	"testing"

	"github.com/sandbox-labs/sandbox/sandbox/cli"
)

// TestMain sets how many sandboxes run side by side (E2E_PARALLEL, default 3): each costs about a third of a
// core at 20 rps, so three on a 2-core machine is a busy game-day host, which is what the grader must judge
// right (its p99 rule allows for the sandbox's own pre-deploy baseline).
//
// It also lets this test binary stand in for the sandbox command when the CLI starts itself again detached
// (the v2.4.0 rollout pipeline that `up` schedules): such a process runs the CLI with its arguments, not tests.
func TestMain(m *testing.M) {
	if cli.IsDetached() {
		os.Exit(cli.Main(os.Args[1:]))
	}
	cli.CanReexec = true
	flag.Parse()
	if f := flag.Lookup("test.parallel"); f != nil && !isSet("test.parallel") {
		p := os.Getenv("E2E_PARALLEL")
		if p == "" {
			p = "3"
		}
		_ = f.Value.Set(p)
	}
	os.Exit(m.Run())
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
