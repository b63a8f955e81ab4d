// Package testenv holds the one rule for tests that need something outside Go (a Docker engine, Postgres,
// Chromium, promtool, docker-compose): skip with the reason on a developer's machine, fail under CI, where
// .ci/run installs all of them. A CI run that goes green because its engine died mid-run is the bug this
// prevents.
package testenv

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// InCI reports whether the tests run in CI (CI=true, set by .ci/run and by every common CI system).
func InCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false" && v != "0"
}

// Missing stops t because what it needs is not there: a skip that names the reason, or under CI a failure
// that also says what should have provided it.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	msg := what
	if err != nil {
		msg = fmt.Sprintf("%s: %v", what, err)
	}
	if InCI() {
		t.Fatalf("CI must provide this (.ci/run installs it): %s", msg)
	}
	t.Skip(msg)
}

// WaitFor polls cond every few milliseconds until it holds, and fails t naming what it waited for when
// timeout passes first: no wait in a test may run until go test's own timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
