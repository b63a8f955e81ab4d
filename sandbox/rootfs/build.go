//go:build unix

package rootfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Recipe is one image built from a debootstrapped Debian minbase tree (the Postgres and Prometheus images).
type Recipe struct {
	Ref     string // the tag it builds
	Instead string // what the user can make available instead, for the message when not root
	Lock    string // build lock name, one per recipe
	Package string // what debootstrap installs on minbase
	// Current reports whether Ref is present and built by this recipe (another process may have built it
	// while this one waited for the lock).
	Current func(ctx context.Context) (bool, error)
	// Prepare trims and completes the tree after debootstrap.
	Prepare func(tree string) error
	// Import streams the tree to the engine and tags Ref once the image is complete.
	Import func(ctx context.Context, tree string) error
}

// Build runs a recipe: root check, debootstrap (installed if missing), a build lock, debootstrap of the
// tree, Prepare, Import, with progress lines for each step and the temporary tree removed afterwards.
func Build(ctx context.Context, r Recipe, progress func(string)) error {
	if progress == nil {
		progress = func(string) {}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("debootstrap needs root: run as root once to build %s, or make %s available", r.Ref, r.Instead)
	}
	bin, err := EnsureDebootstrap(ctx, r.Ref, progress)
	if err != nil {
		return err
	}
	unlock, err := Lock(ctx, r.Lock, r.Ref, progress)
	if err != nil {
		return err
	}
	defer unlock()
	if current, err := r.Current(ctx); err != nil {
		return err
	} else if current {
		progress(fmt.Sprintf("image %s: built by another process", r.Ref))
		return nil
	}
	dir, err := os.MkdirTemp("", "sandbox-"+r.Lock+"-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer func() {
		if err := RemoveTree(dir); err != nil {
			progress(fmt.Sprintf("warning: %v", err))
		}
	}()
	// debootstrap refuses a non-empty target, and MkdirTemp's 0700 would become the image's / mode.
	tree := filepath.Join(dir, "rootfs")
	start := time.Now()
	if err := Debootstrap(ctx, bin, tree, r.Package, progress); err != nil {
		return err
	}
	progress(fmt.Sprintf("debootstrap: done in %s", time.Since(start).Round(time.Second)))
	if err := r.Prepare(tree); err != nil {
		return fmt.Errorf("prepare rootfs: %w", err)
	}
	importStart := time.Now()
	progress("import: streaming rootfs into " + r.Ref)
	if err := r.Import(ctx, tree); err != nil {
		return err
	}
	progress(fmt.Sprintf("import: done in %s (build total %s)", time.Since(importStart).Round(time.Second), time.Since(start).Round(time.Second)))
	return nil
}

// Trim removes what matches patterns (globs relative to tree), keeping the partial/ and lock entries apt
// expects to exist.
func Trim(tree string, patterns ...string) error {
	var errs []error
	for _, pattern := range patterns {
		matches, err := filepath.Glob(filepath.Join(tree, pattern))
		if err != nil {
			return err
		}
		for _, m := range matches {
			if filepath.Base(m) == "partial" || filepath.Base(m) == "lock" {
				continue
			}
			errs = append(errs, os.RemoveAll(m))
		}
	}
	return errors.Join(errs...)
}

// AptCaches are the package caches and lists every recipe trims.
var AptCaches = []string{"var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"}

// Import streams tree to the engine as a tar and imports it (tagged ref, or untagged when ref is empty),
// returning the image id.
func Import(ctx context.Context, cli client.ImageAPIClient, tree, ref, message string, changes []string) (string, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(WriteTree(pw, tree)) }()
	defer pr.Close()
	rc, err := cli.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, ref, image.ImportOptions{
		Message: message, Changes: changes,
	})
	if err != nil {
		return "", fmt.Errorf("import rootfs: %w", err)
	}
	defer rc.Close()
	id, err := LastStatus(rc)
	if err != nil {
		return "", fmt.Errorf("import rootfs: %w", err)
	}
	if !strings.HasPrefix(id, "sha256:") {
		return "", fmt.Errorf("import rootfs: unexpected reply %q", id)
	}
	return id, nil
}
