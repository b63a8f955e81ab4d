package pgimage_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/sandbox/pgimage"
)

// TestIntegrationLocalImage checks the built image itself (building it when
// missing): the runtime contract and the trimming the recipe promises.
func TestIntegrationLocalImage(t *testing.T) {
	cli := testpg.Docker(t)
	ctx := context.Background()

	ref, err := pgimage.Ensure(ctx, cli, pgimage.LocalRef, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatalf("ensure %s: %v", pgimage.LocalRef, err)
	}
	if ref != pgimage.LocalRef {
		t.Fatalf("ensure = %q, want %q", ref, pgimage.LocalRef)
	}
	info, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	if cfg.StopSignal != "SIGINT" {
		t.Errorf("StopSignal = %q, want SIGINT", cfg.StopSignal)
	}
	if cfg.Labels["io.sandbox.image"] != "true" || cfg.Labels["io.sandbox.service"] != "postgres" {
		t.Errorf("labels = %v", cfg.Labels)
	}
	if cfg.Labels[pgimage.RecipeLabel] == "" {
		t.Errorf("no %s label: %v", pgimage.RecipeLabel, cfg.Labels)
	}
	if _, ok := cfg.ExposedPorts["5432/tcp"]; !ok {
		t.Errorf("5432/tcp not exposed: %v", cfg.ExposedPorts)
	}

	// Non-postgres commands run as given, so the tree can be examined.
	script := `set -e
pg_isready --version
test -x /usr/lib/postgresql/15/bin/postgres
test ! -e /etc/postgresql/15/main && echo no-default-cluster
test ! -e /var/lib/postgresql/15/main && echo no-default-data
echo debs=$(ls /var/cache/apt/archives | grep -c '\.deb$' || true)
echo lists=$(ls /var/lib/apt/lists | grep -vc '^partial$\|^lock$' || true)
echo pgdata=$PGDATA`
	out := runInImage(t, ref, "sh", "-c", script)
	for _, want := range []string{"pg_isready (PostgreSQL) 15", "no-default-cluster", "no-default-data", "debs=0", "lists=0", "pgdata=/var/lib/postgresql/data"} {
		if !strings.Contains(out, want) {
			t.Errorf("image check lacks %q:\n%s", want, out)
		}
	}
}

func runInImage(t *testing.T, ref string, cmd ...string) string {
	t.Helper()
	cli := testpg.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := cli.ContainerCreate(ctx, &container.Config{
		Image:  ref,
		Cmd:    cmd,
		Labels: map[string]string{"io.sandbox.test": "true", "io.sandbox.managed": "true"},
	}, nil, nil, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	})
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitC, errC := cli.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	select {
	case err := <-errC:
		t.Fatal(err)
	case <-waitC:
	}
	rc, err := cli.ContainerLogs(ctx, c.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
