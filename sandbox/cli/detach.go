package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox"
)

// DetachedEnv is set in the environment of a process the CLI starts detached (the scheduled v2.4.0
// rollout); its arguments are an ordinary command line of the CLI.
const DetachedEnv = "SANDBOX_DETACHED"

// CanReexec says whether this executable, started again with DetachedEnv set, runs this CLI. It is true for
// the sandbox command itself. A test binary is not the CLI (started with CLI arguments it would run its tests),
// so a test package whose TestMain hands IsDetached processes to Main sets it (see sandbox/e2e); in any other
// program that links this package `up` runs the rollout in its own process, and says so.
var CanReexec = sandbox.IsSandboxMain()

// IsDetached reports whether this process was started by startDetached.
func IsDetached() bool { return os.Getenv(DetachedEnv) != "" }

// child is a process startDetached started.
type child struct {
	pid  int
	done <-chan error // the exit status, once it exits
}

// startDetached runs this executable again with args, detached from the caller: a session of its own (no
// controlling terminal, so closing the terminal sends it no SIGHUP and Ctrl-C does not reach it), stdin from
// /dev/null and stdout and stderr appended to logPath. It does not depend on the caller in any way after the
// start; the caller may wait on done while it lives.
func startDetached(args []string, logPath string) (*child, error) {
	if !CanReexec {
		return nil, errors.New("this program is not the sandbox command and cannot run it again")
	}
	exe, err := selfExecutable()
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	defer log.Close()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), DetachedEnv+"=1")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Dir = string(filepath.Separator) // pin no directory (a `go run` build dir, an unmounted disk)
	if err := detach(cmd); err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", exe, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }() // reaps it if it exits while this process still runs
	return &child{pid: cmd.Process.Pid, done: done}, nil
}

// selfExecutable is the running program's file. On Linux /proc/self/exe stays valid even when the file was
// removed or replaced since it started (`go run` deletes its build when it exits; a rebuild overwrites it).
func selfExecutable() (string, error) {
	if runtime.GOOS == "linux" {
		if _, err := os.Stat("/proc/self/exe"); err == nil {
			return "/proc/self/exe", nil
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find this executable: %w", err)
	}
	return exe, nil
}

// rolloutLogDir holds the scheduled rollouts' logs; logs older than a week are pruned when a new one starts.
func rolloutLogDir() (string, error) {
	dir := filepath.Join(sandbox.CacheDir(), "rollouts")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	if old, err := filepath.Glob(filepath.Join(dir, "*.log")); err == nil {
		for _, p := range old {
			if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > 7*24*time.Hour {
				_ = os.Remove(p)
			}
		}
	}
	return dir, nil
}
