//go:build unix

package observability

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// This file is a trimmed copy of sandbox/pgimage's build (whose helpers are unexported): debootstrap a
// minbase tree with the package, trim it, stream it to the engine as a tar and import it with an entrypoint.

const heartbeat = 15 * time.Second

// mntDetach is MNT_DETACH, spelled out because syscall names it only on Linux.
const mntDetach = 0x2

// buildLocal builds LocalPrometheusRef with debootstrap (needs root) and imports it.
func buildLocal(ctx context.Context, cli client.APIClient, progress func(string)) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("debootstrap needs root: run as root once to build %s, or make %s available", LocalPrometheusRef, DefaultPrometheusRef)
	}
	bin, err := findDebootstrap()
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
		progress("prometheus image " + LocalPrometheusRef + ": built by another process")
		return nil
	}
	dir, err := os.MkdirTemp("", "sandbox-promimage-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer func() {
		if err := removeTree(dir); err != nil {
			progress(fmt.Sprintf("warning: %v", err))
		}
	}()
	rootfs := filepath.Join(dir, "rootfs") // debootstrap wants a fresh target; MkdirTemp's 0700 would become /'s mode

	start := time.Now()
	if err := runDebootstrap(ctx, bin, rootfs, progress); err != nil {
		return err
	}
	progress(fmt.Sprintf("debootstrap: done in %s", time.Since(start).Round(time.Second)))
	if err := prepareRootfs(rootfs); err != nil {
		return err
	}
	importStart := time.Now()
	progress("import: streaming rootfs into " + LocalPrometheusRef)
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
	for _, p := range []string{"/usr/sbin/debootstrap", "/sbin/debootstrap"} { // sbin is often not on PATH
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("debootstrap not found: install it with `apt-get install debootstrap` to build %s", LocalPrometheusRef)
}

func runDebootstrap(ctx context.Context, bin, rootfs string, progress func(string)) error {
	mirror := os.Getenv(EnvMirror)
	if mirror == "" {
		mirror = defaultMirror
	}
	args := []string{"--variant=minbase", "--include=prometheus", suite, rootfs, mirror}
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
		tail []string
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			mu.Lock()
			tail = append(tail, sc.Text())
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
		case <-done:
			waiting = false
		case <-tick.C:
			mu.Lock()
			last := ""
			if len(tail) > 0 {
				last = tail[len(tail)-1]
			}
			mu.Unlock()
			progress(fmt.Sprintf("debootstrap: %s elapsed (%s)", time.Since(start).Round(time.Second), last))
		}
	}
	if err := cmd.Wait(); err != nil {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("debootstrap: %w\n%s", err, strings.Join(tail, "\n"))
	}
	return nil
}

// prepareRootfs trims the tree and makes the data directory for the non-root user.
func prepareRootfs(rootfs string) error {
	var errs []error
	for _, pattern := range trimmed {
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
	data := filepath.Join(rootfs, dataDir)
	errs = append(errs, os.MkdirAll(data, 0o755), os.Chown(data, 65534, 65534))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	if _, err := os.Stat(filepath.Join(rootfs, promBinary)); err != nil {
		return fmt.Errorf("prepare rootfs: the prometheus package left no %s: %w", promBinary, err)
	}
	return nil
}

// importTree imports rootfs as LocalPrometheusRef; the tag is set only once the import has finished.
func importTree(ctx context.Context, cli client.APIClient, rootfs string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTree(pw, rootfs)) }()
	defer pr.Close()
	changes := append(append([]string(nil), importChanges...), "LABEL "+RecipeLabel+"="+recipeHash())
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, LocalPrometheusRef, image.ImportOptions{
		Message: "sandbox: debootstrap " + suite + " minbase + prometheus",
		Changes: changes,
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
	return nil
}

// lastStatus drains a JSON message stream, failing on an error message, and returns the last status.
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

// emptyDirs keep only their own entry: the engine mounts its own /dev, /proc and /sys.
var emptyDirs = map[string]bool{"dev": true, "proc": true, "sys": true}

type inode struct{ dev, ino uint64 }

// writeTree streams root as a tar for ImageImport: symlinks as links, modes and numeric ids kept, hard links
// stored once, sockets and devices skipped.
func writeTree(w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	seen := map[inode]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		mode := info.Mode()
		if mode&(os.ModeSocket|os.ModeDevice|os.ModeCharDevice|os.ModeNamedPipe) != 0 {
			return nil
		}
		link := ""
		if mode&os.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("tar header %s: %w", rel, err)
		}
		hdr.Name = rel
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", "" // names would resolve against the host's /etc/passwd
		hdr.Format = tar.FormatPAX
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
			if mode.IsRegular() && st.Nlink > 1 {
				key := inode{uint64(st.Dev), uint64(st.Ino)}
				if first, dup := seen[key]; dup {
					hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				} else {
					seen[key] = rel
				}
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar header %s: %w", rel, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("tar %s: %w", rel, err)
			}
		}
		if info.IsDir() && emptyDirs[rel] {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// lockBuild serialises builds across processes (go test runs packages in parallel).
func lockBuild(ctx context.Context, progress func(string)) (func(), error) {
	path := filepath.Join(os.TempDir(), "sandbox-promimage.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("build lock: %w", err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("build lock %s: %w", path, err)
		}
		if !told {
			progress(fmt.Sprintf("waiting for another build of %s (lock %s)", LocalPrometheusRef, path))
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("build lock: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// removeTree deletes the build folder, first detaching any mount debootstrap left below it (RemoveAll would
// otherwise walk into the host's /proc or /sys).
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

func mountsUnder(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mounts")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
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
		p := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(f[1])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}
