package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/sandbox"
)

// TestMain lets this test binary stand in for the sandbox command when a test starts the CLI detached (see
// startDetached): such a process runs the CLI with its arguments instead of the tests.
func TestMain(m *testing.M) {
	if IsDetached() {
		os.Exit(Main(os.Args[1:]))
	}
	CanReexec = true
	os.Exit(m.Run())
}

func TestSecondSignalSaysWhatIsLeftAndThirdQuits(t *testing.T) {
	sigs := make(chan os.Signal, 3)
	var out strings.Builder
	cancelled, exited := 0, -1
	done := make(chan struct{})
	go func() {
		onSignals(sigs, func() { cancelled++ }, &out, "team-3", func(code int) { exited = code })
		close(done)
	}()
	sigs <- os.Interrupt
	sigs <- os.Interrupt
	sigs <- os.Interrupt
	<-done
	if cancelled != 1 {
		t.Errorf("cancelled %d times, want once", cancelled)
	}
	if exited != ExitInterrupted {
		t.Errorf("third signal: exit %d, want %d", exited, ExitInterrupted)
	}
	if !strings.Contains(out.String(), "Still stopping and cleaning up") || strings.Count(out.String(), "sandbox down --name team-3") != 2 {
		t.Errorf("messages:\n%s", out.String())
	}
}

func TestNameInFindsTheSandboxName(t *testing.T) {
	t.Setenv("SANDBOX_NAME", "")
	for args, want := range map[string]string{
		"up --name a":          "a",
		"up --name=b --seed 2": "b",
		"sql -- --name c":      sandbox.DefaultName,
		"up":                   sandbox.DefaultName,
	} {
		if got := nameIn(strings.Fields(args)); got != want {
			t.Errorf("%q: %q, want %q", args, got, want)
		}
	}
}
