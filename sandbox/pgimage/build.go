//go:build unix

package pgimage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox/engine"
	"github.com/sandbox-labs/sandbox/sandbox/rootfs"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// heartbeat paces progress during the silent minutes of debootstrap.

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
	debootstrap, err := rootfs.EnsureDebootstrap(ctx, LocalRef, progress)
	if err != nil {
		return err
	}

	unlock, err := rootfs.Lock(ctx, "pgimage", LocalRef, progress)
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
		if err := rootfs.RemoveTree(dir); err != nil {
			progress(fmt.Sprintf("warning: %v", err))
		}
	}()
	// debootstrap refuses a non-empty target, and MkdirTemp's 0700 would
	// become the image's / mode.
	tree := filepath.Join(dir, "rootfs")

	start := time.Now()
	if err := rootfs.Debootstrap(ctx, debootstrap, tree, "postgresql-"+pgMajor, progress); err != nil {
		return err
	}
	progress(fmt.Sprintf("debootstrap: done in %s", time.Since(start).Round(time.Second)))

	if err := prepareRootfs(tree); err != nil {
		return err
	}
	progress("rootfs: removed apt caches and the default cluster, wrote entrypoint")

	importStart := time.Now()
	progress(fmt.Sprintf("import: streaming rootfs into %s", LocalRef))
	if err := importTree(ctx, cli, tree); err != nil {
		return err
	}
	progress(fmt.Sprintf("import: done in %s (build total %s)", time.Since(importStart).Round(time.Second), time.Since(start).Round(time.Second)))
	return nil
}

// prepareRootfs trims the tree and installs the entrypoint.
func prepareRootfs(tree string) error {
	var errs []error
	for _, pattern := range []string{
		"var/cache/apt/archives/*.deb",
		"var/cache/apt/*.bin",
		"var/lib/apt/lists/*",
	} {
		matches, err := filepath.Glob(filepath.Join(tree, pattern))
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
		os.RemoveAll(filepath.Join(tree, "etc/postgresql", pgMajor, "main")),
		os.RemoveAll(filepath.Join(tree, "var/lib/postgresql", pgMajor)),
		os.MkdirAll(filepath.Join(tree, "docker-entrypoint-initdb.d"), 0o755),
		os.WriteFile(filepath.Join(tree, entrypoint), []byte(entrypointScript), 0o755),
		os.Chmod(filepath.Join(tree, entrypoint), 0o755), // WriteFile's mode is masked by umask
	)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	return nil
}

// importTree imports rootfs as an untagged image, then tags the finished
// image as LocalRef, so LocalRef never names a half-configured image.
func importTree(ctx context.Context, cli client.APIClient, tree string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(rootfs.WriteTree(pw, tree)) }()
	defer pr.Close()

	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, "", image.ImportOptions{
		Message: "sandbox: debootstrap " + suite + " minbase + postgresql-" + pgMajor,
		Changes: importChanges,
	})
	if err != nil {
		return fmt.Errorf("import rootfs: %w", err)
	}
	defer rc.Close()
	id, err := rootfs.LastStatus(rc)
	if err != nil {
		return fmt.Errorf("import rootfs: %w", err)
	}
	if !strings.HasPrefix(id, "sha256:") {
		return fmt.Errorf("import rootfs: unexpected reply %q", id)
	}

	buildCtx, err := engine.BuildContext(engine.File{Name: "Dockerfile", Mode: 0o644,
		Body: []byte(fmt.Sprintf(finishDockerfile, id, recipeHash()))})
	if err != nil {
		return err
	}
	if err := engine.Build(ctx, cli, buildCtx, []string{LocalRef}, nil); err != nil {
		return fmt.Errorf("finish %s: %w", LocalRef, err)
	}
	return nil
}
