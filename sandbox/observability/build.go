//go:build unix

package observability

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox/rootfs"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// The build follows sandbox/pgimage's on the shared sandbox/rootfs helpers: debootstrap a minbase tree with
// the package, trim it, stream it to the engine as a tar and import it with an entrypoint.

// buildLocal builds LocalPrometheusRef with debootstrap (needs root) and imports it.
func buildLocal(ctx context.Context, cli client.APIClient, progress func(string)) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("debootstrap needs root: run as root once to build %s, or make %s available", LocalPrometheusRef, DefaultPrometheusRef)
	}
	bin, err := rootfs.EnsureDebootstrap(ctx, LocalPrometheusRef, progress)
	if err != nil {
		return err
	}
	unlock, err := rootfs.Lock(ctx, "promimage", LocalPrometheusRef, progress)
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
		if err := rootfs.RemoveTree(dir); err != nil {
			progress(fmt.Sprintf("warning: %v", err))
		}
	}()
	tree := filepath.Join(dir, "rootfs") // debootstrap wants a fresh target; MkdirTemp's 0700 would become /'s mode

	start := time.Now()
	if err := rootfs.Debootstrap(ctx, bin, tree, "prometheus", progress); err != nil {
		return err
	}
	progress(fmt.Sprintf("debootstrap: done in %s", time.Since(start).Round(time.Second)))
	if err := prepareRootfs(tree); err != nil {
		return err
	}
	importStart := time.Now()
	progress("import: streaming rootfs into " + LocalPrometheusRef)
	if err := importTree(ctx, cli, tree); err != nil {
		return err
	}
	progress(fmt.Sprintf("import: done in %s (build total %s)", time.Since(importStart).Round(time.Second), time.Since(start).Round(time.Second)))
	return nil
}

// prepareRootfs trims the tree and makes the data directory for the non-root user.
func prepareRootfs(tree string) error {
	var errs []error
	for _, pattern := range trimmed {
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
	data := filepath.Join(tree, dataDir)
	errs = append(errs, os.MkdirAll(data, 0o755), os.Chown(data, 65534, 65534))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	if _, err := os.Stat(filepath.Join(tree, promBinary)); err != nil {
		return fmt.Errorf("prepare rootfs: the prometheus package left no %s: %w", promBinary, err)
	}
	return nil
}

// importTree imports rootfs as LocalPrometheusRef; the tag is set only once the import has finished.
func importTree(ctx context.Context, cli client.APIClient, tree string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(rootfs.WriteTree(pw, tree)) }()
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
	id, err := rootfs.LastStatus(rc)
	if err != nil {
		return fmt.Errorf("import rootfs: %w", err)
	}
	if !strings.HasPrefix(id, "sha256:") {
		return fmt.Errorf("import rootfs: unexpected reply %q", id)
	}
	return nil
}
