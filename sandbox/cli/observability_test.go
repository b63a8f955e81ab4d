package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/internal/testenv"
	"github.com/sandbox-labs/sandbox/sandbox"
)

// Without a sandbox there is no network to join: the command fails before building or starting anything.
func TestObservabilityNeedsARunningSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a Docker engine (skipped under -short)")
	}
	e, err := sandbox.Connect(context.Background())
	if err != nil {
		testenv.Missing(t, "needs a Docker engine", err)
	}
	e.Close()
	_, stderr, code := run(t, "observability", "--name", "obs-absent-7f3a")
	if code != ExitFailed || !strings.Contains(stderr, `no sandbox named "obs-absent-7f3a"`) {
		t.Errorf("exit %d stderr %q; want exit %d naming the missing sandbox", code, stderr, ExitFailed)
	}
	_, stderr, code = run(t, "observability", "--name", "obs-absent-7f3a", "--stop")
	if code != ExitOK || !strings.Contains(stderr, "removed 0") {
		t.Errorf("--stop with nothing running: exit %d stderr %q; want exit 0, removed 0", code, stderr)
	}
}
