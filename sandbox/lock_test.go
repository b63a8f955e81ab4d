//go:build unix

package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestChangeLockSerializesAndNamesTheHolder: a second change to the same sandbox is refused with who holds it,
// waits when asked, and goes ahead once the first lets go; another sandbox is never held up.
func TestChangeLockSerializesAndNamesTheHolder(t *testing.T) {
	lockDir = t.TempDir()
	ctx := context.Background()
	first, err := LockSandbox(ctx, "team-1", "sandbox deploy orders v2.3.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockSandbox(ctx, "team-1", "sandbox rollback", 0)
	var le *LockedError
	if !errors.As(err, &le) || le.Holder.Command != "sandbox deploy orders v2.3.0" || !strings.Contains(err.Error(), "--lock-wait") {
		t.Fatalf("second change: %v, want a LockedError naming the deploy", err)
	}
	other, err := LockSandbox(ctx, "team-2", "sandbox deploy all v2.4.1", 0)
	if err != nil {
		t.Fatalf("another sandbox was held up: %v", err)
	}
	other.Release()

	got := make(chan error, 1)
	go func() {
		l, err := LockSandbox(ctx, "team-1", "sandbox rollback", 5*time.Second)
		l.Release()
		got <- err
	}()
	time.Sleep(200 * time.Millisecond) // let it start waiting
	first.Release()
	if err := <-got; err != nil {
		t.Fatalf("waiting change after release: %v", err)
	}
	first.Release() // twice is fine
}
