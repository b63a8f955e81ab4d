//go:build unix

package pgimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sandbox-labs/sandbox/sandbox/engine"
	"github.com/sandbox-labs/sandbox/sandbox/rootfs"

	"github.com/docker/docker/client"
)

// BuildLocal builds LocalRef with debootstrap and imports it. It needs root and the debootstrap binary, and
// reuses LocalRef if another process built it while this one waited for the build lock.
func BuildLocal(ctx context.Context, cli client.APIClient, progress func(step string)) error {
	return rootfs.Build(ctx, rootfs.Recipe{
		Ref: LocalRef, Instead: DefaultRef + " (or the image named by " + EnvImage + ")", Lock: "pgimage",
		Package: "postgresql-" + pgMajor,
		Current: func(ctx context.Context) (bool, error) {
			_, current, err := localImage(ctx, cli)
			return current, err
		},
		Prepare: prepareRootfs,
		Import:  func(ctx context.Context, tree string) error { return importTree(ctx, cli, tree) },
	}, progress)
}

// prepareRootfs trims the tree and installs the entrypoint.
func prepareRootfs(tree string) error {
	// postgresql-common creates a 15/main cluster that nothing uses; PGDATA is initialised by the
	// entrypoint instead.
	return errors.Join(
		rootfs.Trim(tree, rootfs.AptCaches...),
		os.RemoveAll(filepath.Join(tree, "etc/postgresql", pgMajor, "main")),
		os.RemoveAll(filepath.Join(tree, "var/lib/postgresql", pgMajor)),
		os.MkdirAll(filepath.Join(tree, "docker-entrypoint-initdb.d"), 0o755),
		os.WriteFile(filepath.Join(tree, entrypoint), []byte(entrypointScript), 0o755),
		os.Chmod(filepath.Join(tree, entrypoint), 0o755), // WriteFile's mode is masked by umask
	)
}

// importTree imports rootfs as an untagged image, then tags the finished image as LocalRef, so LocalRef
// never names a half-configured image.
func importTree(ctx context.Context, cli client.APIClient, tree string) error {
	id, err := rootfs.Import(ctx, cli, tree, "", "sandbox: debootstrap "+suite+" minbase + postgresql-"+pgMajor, importChanges)
	if err != nil {
		return err
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
