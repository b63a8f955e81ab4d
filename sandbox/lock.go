//go:build unix

package sandbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ChangeLock serializes the commands that change one sandbox (deploy, rollback, migrate, flags set, release
// create, sql that writes, up, down, the pipeline's rollout): two of them at once leave two versions behind
// one alias. It is an flock on a file per engine and sandbox in the user's cache dir, released when its
// process ends, however it ends. Per user, not in a shared /tmp: there another local user could hold or
// pre-create the file and lock a team out of its own sandbox.
type ChangeLock struct{ f *os.File }

// LockHolder is who holds a sandbox's change lock.
type LockHolder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

// LockedError says a sandbox is being changed by another command.
type LockedError struct {
	Name   string
	Holder LockHolder
	Waited time.Duration
}

func (e *LockedError) Error() string {
	who := "another sandbox command"
	if e.Holder.Command != "" {
		who = fmt.Sprintf("`%s` (pid %d, since %s)", e.Holder.Command, e.Holder.PID, e.Holder.Since.Local().Format("15:04:05"))
	}
	waited := ""
	if e.Waited > 0 {
		waited = fmt.Sprintf(" after waiting %s", e.Waited)
	}
	return fmt.Sprintf("sandbox %q is being changed by %s%s: wait for it to finish, or pass --lock-wait 2m to wait longer", e.Name, who, waited)
}

// lockDir is where the lock files live; a variable so tests use their own.
var lockDir = func() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "sandbox", "locks")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("sandbox-locks-%d", os.Getuid()))
}()

func lockPath(name string) string {
	sum := sha256.Sum256([]byte(os.Getenv("DOCKER_HOST"))) // one sandbox name per engine
	return filepath.Join(lockDir, hex.EncodeToString(sum[:4])+"-"+name+".lock")
}

// LockSandbox takes sandbox name's change lock for command, waiting up to wait for a holder to finish.
func LockSandbox(ctx context.Context, name, command string, wait time.Duration) (*ChangeLock, error) {
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		return nil, fmt.Errorf("lock dir: %w", err)
	}
	f, err := os.OpenFile(lockPath(name), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	start := time.Now()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock sandbox %q: %w", name, err)
		}
		if time.Since(start) >= wait {
			holder := readHolder(f.Name())
			f.Close()
			return nil, &LockedError{Name: name, Holder: holder, Waited: wait}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	b, _ := json.Marshal(LockHolder{PID: os.Getpid(), Command: command, Since: time.Now()})
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(b, 0)
	}
	return &ChangeLock{f: f}, nil
}

func readHolder(path string) LockHolder {
	var h LockHolder
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &h)
	}
	return h
}

// Release lets the next command change the sandbox. Safe on nil.
func (l *ChangeLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Truncate(0)
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	_ = l.f.Close()
	l.f = nil
}
