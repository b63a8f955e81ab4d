//go:build !unix

package sandbox

import (
	"context"
	"time"
)

// ChangeLock is a no-op where flock is missing: commands are not serialized there.
type ChangeLock struct{}

// LockedError is never returned here.
type LockedError struct{ Name string }

func (e *LockedError) Error() string { return "sandbox " + e.Name + " is locked" }

// LockSandbox does nothing on this platform.
func LockSandbox(ctx context.Context, name, command string, wait time.Duration) (*ChangeLock, error) {
	return &ChangeLock{}, nil
}

// Release does nothing.
func (l *ChangeLock) Release() {}
