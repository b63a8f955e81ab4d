package cli

import (
	"os"
	"testing"
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
