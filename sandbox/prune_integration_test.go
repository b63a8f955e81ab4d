package sandbox

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"

	"github.com/sandbox-labs/sandbox/internal/testenv"
	"github.com/sandbox-labs/sandbox/sandbox/engine"
)

// An older binary's base and role images go; the current build's, and an old one a container uses, stay.
func TestIntegrationPruneImagesRemovesOnlyOlderUnusedBuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs a Docker engine (skipped under -short)")
	}
	ctx := t.Context()
	e, err := Connect(ctx)
	if err != nil {
		testenv.Missing(t, "integration test: needs a Docker engine", err)
	}
	defer e.Close()
	run := engine.RandomSuffix(4)
	scope := "io.sandbox.test=prune-" + run
	// Images are commits of an unstarted container (as EnsureRoleImage makes them): no build needed.
	build := func(tag, from, sha, service string) {
		t.Helper()
		labels := map[string]string{LabelImage: "true", LabelBinary: sha, LabelService: service, "io.sandbox.test": "prune-" + run}
		cfg := &container.Config{Image: from, Labels: labels}
		c, err := e.ContainerCreate(ctx, cfg, nil, nil, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.ContainerCommit(ctx, c.ID, container.CommitOptions{Reference: tag, Config: cfg})
		_ = e.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = e.ImageRemove(context.WithoutCancel(ctx), tag, image.RemoveOptions{Force: true})
		})
	}
	// A real image to commit on.
	pgRef := "sandbox/postgres:15-debian"
	if ok, _ := engine.ImagePresent(ctx, e, pgRef); !ok {
		t.Skip("needs " + pgRef + " as a parent image (built by .ci/run's pgimage phase)")
	}
	oldBase, oldRole, usedRole := "prune-"+run+"/base:old", "prune-"+run+"/orders:old", "prune-"+run+"/auth:old"
	curBase := "prune-" + run + "/base:current"
	build(oldBase, pgRef, "old"+run, "base")
	build(oldRole, oldBase, "old"+run, "orders")
	build(usedRole, oldBase, "old"+run, "auth")
	build(curBase, pgRef, "cur"+run, "base")
	c, err := e.ContainerCreate(ctx, &container.Config{Image: usedRole, Cmd: []string{"true"}}, nil, nil, nil, "prune-"+run)
	if err != nil {
		t.Fatal(err)
	}
	defer e.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true}) //nolint:errcheck

	res, err := e.PruneImages(ctx, Binary{SHA: "cur" + run}, scope)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Removed, oldRole) {
		t.Errorf("removed %v, want the unused old role image %s", res.Removed, oldRole)
	}
	if !slices.Contains(res.InUse, usedRole) || !slices.Contains(res.InUse, oldBase) {
		t.Errorf("kept in use %v, want %s (a container uses it) and its base %s", res.InUse, usedRole, oldBase)
	}
	for _, ref := range []string{curBase, usedRole, oldBase} {
		if ok, _ := engine.ImagePresent(ctx, e, ref); !ok {
			t.Errorf("%s was removed", ref)
		}
	}
	if ok, _ := engine.ImagePresent(ctx, e, oldRole); ok {
		t.Errorf("%s is still there", oldRole)
	}
	// Once the container is gone, the rest of the old build goes too.
	_ = e.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err = e.PruneImages(ctx, Binary{SHA: "cur" + run}, scope)
		if err == nil && len(res.InUse) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || len(res.InUse) != 0 || !slices.Contains(res.Removed, oldBase) {
		t.Errorf("second prune: removed %v kept %v err %v; want the old base removed", res.Removed, res.InUse, err)
	}
	if ok, _ := engine.ImagePresent(ctx, e, curBase); !ok || strings.Contains(strings.Join(res.Removed, ","), "current") {
		t.Errorf("the current build was removed: %v", res.Removed)
	}
}
