//go:build unix

package observability

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sandbox-labs/sandbox/sandbox/rootfs"

	"github.com/docker/docker/client"
)

// The build follows sandbox/pgimage's on the shared sandbox/rootfs helpers: debootstrap a minbase tree with
// the package, trim it, stream it to the engine as a tar and import it with an entrypoint.

// buildLocal builds LocalPrometheusRef with debootstrap (needs root) and imports it.
func buildLocal(ctx context.Context, cli client.APIClient, progress func(string)) error {
	return rootfs.Build(ctx, rootfs.Recipe{
		Ref: LocalPrometheusRef, Instead: DefaultPrometheusRef, Lock: "promimage", Package: "prometheus",
		Current: func(ctx context.Context) (bool, error) {
			_, current, err := localImage(ctx, cli)
			return current, err
		},
		Prepare: prepareRootfs,
		Import:  func(ctx context.Context, tree string) error { return importTree(ctx, cli, tree) },
	}, progress)
}

// prepareRootfs trims the tree and makes the data directory for the non-root user.
func prepareRootfs(tree string) error {
	data := filepath.Join(tree, dataDir)
	if err := errors.Join(rootfs.Trim(tree, trimmed...), os.MkdirAll(data, 0o755), os.Chown(data, 65534, 65534)); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(tree, promBinary)); err != nil {
		return fmt.Errorf("the prometheus package left no %s: %w", promBinary, err)
	}
	return nil
}

// importTree imports rootfs as LocalPrometheusRef; the tag is set only once the import has finished.
func importTree(ctx context.Context, cli client.APIClient, tree string) error {
	changes := append(append([]string(nil), importChanges...), "LABEL "+RecipeLabel+"="+recipeHash())
	_, err := rootfs.Import(ctx, cli, tree, LocalPrometheusRef, "sandbox: debootstrap "+suite+" minbase + prometheus", changes)
	return err
}
