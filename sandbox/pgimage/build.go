//go:build unix

package pgimage

import (
	"archive/tar"
	"bufio"
	"bytes"
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

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// heartbeat paces progress during the silent minutes of debootstrap.
const heartbeat = 15 * time.Second

// BuildLocal builds LocalRef with debootstrap and imports it. It needs root
// and the debootstrap binary, and reuses LocalRef if another process built it
// while this one waited for the build lock.
func BuildLocal(ctx context.Context, cli client.APIClient, progress func(step string)) error {
	if progress == nil {
		progress = func(string) {}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("debootstrap needs root: run as root once to build %s, or make %s (or the image named by %s) available", LocalRef, DefaultRef, EnvImage)
	}
	debootstrap, err := findDebootstrap()
	if err != nil {
		return err
	}

	unlock, err := lockBuild(ctx, progress)
	if err != nil {
		return err
	}
	defer unlock()
	if _, current, err := localImage(ctx, cli); err != nil {
		return err
	} else if current {
		progress(fmt.Sprintf("postgres image %s: built by another process", LocalRef))
		return nil
	}

	dir, err := os.MkdirTemp("", "sandbox-pgimage-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer func() {
		if err := removeTree(dir); err != nil {
			progress(fmt.Sprintf("warning: %v", err))
		}
	}()
	// debootstrap refuses a non-empty target, and MkdirTemp's 0700 would
	// become the image's / mode.
	rootfs := filepath.Join(dir, "rootfs")

	start := time.Now()
	if err := runDebootstrap(ctx, debootstrap, rootfs, progress); err != nil {
		return err
	}
	progress(fmt.Sprintf("debootstrap: done in %s", time.Since(start).Round(time.Second)))

	if err := prepareRootfs(rootfs); err != nil {
		return err
	}
	progress("rootfs: removed apt caches and the default cluster, wrote entrypoint")

	importStart := time.Now()
	progress(fmt.Sprintf("import: streaming rootfs into %s", LocalRef))
	if err := importTree(ctx, cli, rootfs); err != nil {
		return err
	}
	progress(fmt.Sprintf("import: done in %s (build total %s)", time.Since(importStart).Round(time.Second), time.Since(start).Round(time.Second)))
	return nil
}

func findDebootstrap() (string, error) {
	if p, err := exec.LookPath("debootstrap"); err == nil {
		return p, nil
	}
	// sbin is often missing from PATH outside a root login shell.
	for _, p := range []string{"/usr/sbin/debootstrap", "/sbin/debootstrap"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("debootstrap not found: install it with `apt-get install debootstrap` to build %s", LocalRef)
}

func runDebootstrap(ctx context.Context, bin, rootfs string, progress func(string)) error {
	mirror := os.Getenv(EnvMirror)
	if mirror == "" {
		mirror = defaultMirror
	}
	args := []string{"--variant=minbase", "--include=postgresql-" + pgMajor, suite, rootfs, mirror}
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

// prepareRootfs trims the tree and installs the entrypoint.
func prepareRootfs(rootfs string) error {
	var errs []error
	for _, pattern := range []string{
		"var/cache/apt/archives/*.deb",
		"var/cache/apt/*.bin",
		"var/lib/apt/lists/*",
	} {
		matches, err := filepath.Glob(filepath.Join(rootfs, pattern))
		if err != nil {
			return err
		}
		for _, m := range matches {
			if filepath.Base(m) == "partial" || filepath.Base(m) == "lock" {
				continue // apt expects these to exist
			}
			errs = append(errs, os.RemoveAll(m))
		}
	}
	// postgresql-common creates a 15/main cluster that nothing uses; PGDATA
	// is initialised by the entrypoint instead.
	errs = append(errs,
		os.RemoveAll(filepath.Join(rootfs, "etc/postgresql", pgMajor, "main")),
		os.RemoveAll(filepath.Join(rootfs, "var/lib/postgresql", pgMajor)),
		os.MkdirAll(filepath.Join(rootfs, "docker-entrypoint-initdb.d"), 0o755),
		os.WriteFile(filepath.Join(rootfs, entrypoint), []byte(entrypointScript), 0o755),
		os.Chmod(filepath.Join(rootfs, entrypoint), 0o755), // WriteFile's mode is masked by umask
	)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	return nil
}

// importTree imports rootfs as an untagged image, then tags the finished
// image as LocalRef, so LocalRef never names a half-configured image.
func importTree(ctx context.Context, cli client.APIClient, rootfs string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTree(pw, rootfs)) }()
	defer pr.Close()

	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, "", image.ImportOptions{
		Message: "sandbox: debootstrap " + suite + " minbase + postgresql-" + pgMajor,
		Changes: importChanges,
	})
	if err != nil {
		return fmt.Errorf("import rootfs: %w", err)
	}
	defer rc.Close()
	id, err := lastStatus(rc)
	if err != nil {
		return fmt.Errorf("import rootfs: %w", err)
	}
	if !strings.HasPrefix(id, "sha256:") {
		return fmt.Errorf("import rootfs: unexpected reply %q", id)
	}

	buildCtx, err := dockerfileContext(fmt.Sprintf(finishDockerfile, id, recipeHash()))
	if err != nil {
		return err
	}
	res, err := cli.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{
		Tags:        []string{LocalRef},
		Version:     build.BuilderV1,
		Remove:      true,
		ForceRemove: true,
	})
	if err != nil {
		return fmt.Errorf("finish %s: %w", LocalRef, err)
	}
	defer res.Body.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(res.Body, io.Discard, 0, false, nil); err != nil {
		return fmt.Errorf("finish %s: %w", LocalRef, err)
	}
	return nil
}

// lastStatus drains a JSON message stream, failing on an error message, and
// returns the last status (the image ID, for an import).
func lastStatus(r io.Reader) (string, error) {
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

// dockerfileContext is a build context holding only a Dockerfile.
func dockerfileContext(dockerfile string) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}); err != nil {
		return nil, err
	}
	if _, err := tw.Write([]byte(dockerfile)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// removeTree deletes the build folder. debootstrap mounts /proc and /sys in
// the target; if it died with them mounted, RemoveAll would walk into the
// host's, so detach every mount below dir first and refuse if any remains.
func removeTree(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	for _, m := range mounts {
		_ = syscall.Unmount(m, mntDetach)
	}
	if left, _ := mountsUnder(dir); len(left) > 0 {
		return fmt.Errorf("remove %s: still mounted: %s", dir, strings.Join(left, " "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// mountsUnder lists mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
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
