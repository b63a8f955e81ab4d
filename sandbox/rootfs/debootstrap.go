//go:build unix

// Package rootfs builds container images from Debian's packages where no registry can be reached:
// debootstrap a minimal tree, stream it to the engine as a tar, and clean up the build folder safely.
// sandbox/pgimage (Postgres) and sandbox/observability (Prometheus) both build on it.
package rootfs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/pkg/jsonmessage"
)

// Debian release and mirror every local image is built from; EnvMirror overrides the mirror.
const (
	EnvMirror     = "SANDBOX_DEBIAN_MIRROR"
	DefaultMirror = "http://deb.debian.org/debian"
	Suite         = "bookworm"
)

// heartbeat is how often a long debootstrap reports that it is still going.
const heartbeat = 15 * time.Second

// mntDetach is MNT_DETACH, spelled out because syscall names it only on Linux.
const mntDetach = 0x2

// sbinDebootstrap are looked at besides PATH: sbin is often missing from PATH outside a root login shell.
var sbinDebootstrap = []string{"/usr/sbin/debootstrap", "/sbin/debootstrap"}

// FindDebootstrap locates the debootstrap binary; what names the image in the error.
func FindDebootstrap(what string) (string, error) {
	if p, err := exec.LookPath("debootstrap"); err == nil {
		return p, nil
	}
	for _, p := range sbinDebootstrap {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("debootstrap not found: install it with `apt-get install debootstrap` to build %s", what)
}

// aptInstall installs Debian packages; a variable so a test can stand in for apt-get.
var aptInstall = func(ctx context.Context, progress func(string), pkgs ...string) error {
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w: %s", strings.Join(args, " "), err, lastLines(string(out), 5))
		}
		return nil
	}
	progress("apt-get update")
	if err := run("update", "-qq"); err != nil {
		return err
	}
	progress("apt-get install " + strings.Join(pkgs, " "))
	return run(append([]string{"install", "-y", "-qq"}, pkgs...)...)
}

// canApt reports whether packages can be installed here: root on a system with apt-get.
var canApt = func() bool {
	_, err := exec.LookPath("apt-get")
	return err == nil && os.Geteuid() == 0
}

// EnsureDebootstrap finds debootstrap, and where it is missing and this is root on Debian or Ubuntu, installs
// it with apt-get first, saying so, so `sandbox up` on a fresh machine needs no step by hand. Elsewhere the
// error names the one command to run.
func EnsureDebootstrap(ctx context.Context, what string, progress func(string)) (string, error) {
	if progress == nil {
		progress = func(string) {}
	}
	if p, err := FindDebootstrap(what); err == nil {
		return p, nil
	}
	if !canApt() {
		return "", fmt.Errorf("debootstrap not found: install it with `sudo apt-get install debootstrap` "+
			"(or your system's package manager) to build %s", what)
	}
	progress(fmt.Sprintf("debootstrap not found: installing it with apt-get to build %s", what))
	if err := aptInstall(ctx, progress, "debootstrap"); err != nil {
		return "", fmt.Errorf("install debootstrap: %w", err)
	}
	return FindDebootstrap(what)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Debootstrap runs a minbase debootstrap of Suite into rootfs with the include packages, reporting progress
// every heartbeat and returning the tail of its output on failure.
func Debootstrap(ctx context.Context, bin, rootfs, include string, progress func(string)) error {
	mirror := os.Getenv(EnvMirror)
	if mirror == "" {
		mirror = DefaultMirror
	}
	args := []string{"--variant=minbase", "--include=" + include, Suite, rootfs, mirror}
	progress(fmt.Sprintf("debootstrap: %s %s (about 2 minutes)", bin, strings.Join(args, " ")))

	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "LC_ALL=C")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout // one stream, so the tail tells what failed
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start debootstrap: %w", err)
	}

	var (
		mu   sync.Mutex
		last string
		tail []string
	)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			mu.Lock()
			last = sc.Text()
			tail = append(tail, last)
			if len(tail) > 20 {
				tail = tail[1:]
			}
			mu.Unlock()
		}
	}()

	start := time.Now()
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-readDone:
			waiting = false
		case <-tick.C:
			mu.Lock()
			l := last
			mu.Unlock()
			progress(fmt.Sprintf("debootstrap: %s elapsed (%s)", time.Since(start).Round(time.Second), l))
		}
	}
	if err := cmd.Wait(); err != nil {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("debootstrap: %w\n%s", err, strings.Join(tail, "\n"))
	}
	return nil
}

// LastStatus drains a JSON message stream, failing on an error message, and returns the last status (the
// image ID, for an import).
func LastStatus(r io.Reader) (string, error) {
	dec := json.NewDecoder(r)
	last := ""
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err == io.EOF {
			return last, nil
		} else if err != nil {
			return "", err
		}
		if m.Error != nil {
			return "", m.Error
		}
		if m.Status != "" {
			last = m.Status
		}
	}
}

// RemoveTree deletes a build folder. debootstrap mounts /proc and /sys in the target; if it died with them
// mounted, RemoveAll would walk into the host's, so detach every mount below dir first and refuse if any
// remains.
func RemoveTree(dir string) error {
	mounts, err := MountsUnder(dir)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	for _, m := range mounts {
		_ = syscall.Unmount(m, mntDetach)
	}
	if left, _ := MountsUnder(dir); len(left) > 0 {
		return fmt.Errorf("remove %s: still mounted: %s", dir, strings.Join(left, " "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// MountsUnder lists mount points at or below dir, deepest first.
func MountsUnder(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mounts")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // not Linux: debootstrap never ran here
	}
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		// /proc/self/mounts escapes spaces and the like in octal.
		p := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(f[1])
		if isUnder(p, dir) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}
