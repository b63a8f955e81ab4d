// Package testpg gives integration tests a real, throwaway Postgres container.
package testpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
	"github.com/jackc/pgx/v5"

	"github.com/sandbox-labs/sandbox/internal/testenv"
	"github.com/sandbox-labs/sandbox/sandbox/engine"
	"github.com/sandbox-labs/sandbox/sandbox/pgimage"
)

// Credentials of every Start'ed database; they match the shop's own
// (docs/ARCHITECTURE.md) so connection code can be tested as it runs.
const (
	User     = "shop"
	Password = "shop"
	Database = "shop"
)

const readyTimeout = 60 * time.Second

var (
	imageMu  sync.Mutex
	imageRef string
)

// Docker returns a client for the local engine, or skips the test when
// running under -short or when no engine answers (fails instead under CI).
func Docker(t testing.TB) client.APIClient {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Docker engine: skipped under -short")
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		testenv.Missing(t, "needs a Docker engine: client", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		cli.Close()
		testenv.Missing(t, "needs a Docker engine: none answers at "+cli.DaemonHost(), err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Start runs a fresh Postgres container for t and returns its URL
// (postgres://shop:shop@127.0.0.1:<port>/shop?sslmode=disable) once a real
// connection succeeds. The container and its volumes are removed when t ends.
func Start(t testing.TB) string {
	t.Helper()
	cli := Docker(t)
	ctx := context.Background()

	ref, err := ensureImage(ctx, cli, t)
	if err != nil {
		t.Fatalf("testpg: postgres image: %v", err)
	}

	id, u := startContainer(t, cli, ref, []string{
		"POSTGRES_USER=" + User,
		"POSTGRES_PASSWORD=" + Password,
		"POSTGRES_DB=" + Database,
	})
	if err := waitReady(ctx, cli, id, u); err != nil {
		t.Fatalf("testpg: postgres container %.12s (%s): %v", id, ref, err)
	}
	return u
}

// startContainer creates and starts a labelled container whose removal is
// registered before it starts, and returns its ID and URL.
func startContainer(t testing.TB, cli client.APIClient, ref string, env []string) (id, dsn string) {
	t.Helper()
	ctx := context.Background()
	name := "sandbox-testpg-" + engine.RandomSuffix(6)
	created, err := cli.ContainerCreate(ctx,
		&container.Config{
			Image: ref,
			Env:   env,
			// Durability is worthless for a throwaway database and costs seconds.
			Cmd:          []string{"postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"},
			ExposedPorts: nat.PortSet{"5432/tcp": {}},
			Labels: map[string]string{
				"io.sandbox.test":    "true",
				"io.sandbox.managed": "true",
				"io.sandbox.service": "postgres",
			},
		},
		&container.HostConfig{
			PortBindings: nat.PortMap{"5432/tcp": {{HostIP: "127.0.0.1", HostPort: ""}}},
		},
		nil, nil, name)
	if err != nil {
		t.Fatalf("testpg: create container: %v", err)
	}
	id = created.ID
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cli.ContainerRemove(ctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !client.IsErrNotFound(err) {
			t.Errorf("testpg: remove container %s: %v", name, err)
		}
	})

	if err := cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatalf("testpg: start container: %v", err)
	}
	addr, err := engine.HostPort(ctx, cli, id, "5432/tcp")
	if err != nil {
		t.Fatalf("testpg: %v\n%s", err, engine.LogTail(cli, id, 100))
	}
	dsn = (&url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(User, Password),
		Host:     addr,
		Path:     "/" + Database,
		RawQuery: "sslmode=disable",
	}).String()
	return id, dsn
}

// ensureImage shares one image lookup (and at most one build) among the
// tests of a process; a failure is not cached so a later test may retry.
func ensureImage(ctx context.Context, cli client.APIClient, t testing.TB) (string, error) {
	imageMu.Lock()
	defer imageMu.Unlock()
	if imageRef != "" {
		return imageRef, nil
	}
	ref, err := pgimage.Ensure(ctx, cli, "", func(step string) { t.Logf("testpg: %s", step) })
	if err != nil {
		return "", err
	}
	imageRef = ref
	return ref, nil
}

// FreshDB creates a database of its own in the Postgres at base and returns its URL, so one container serves
// many independent cases.
func FreshDB(t testing.TB, base string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "t" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

// waitReady waits until a real login succeeds (the image's init server listens before the real one), failing
// at once, with the container's last log lines, if it exits.
func waitReady(ctx context.Context, cli client.APIClient, id, dsn string) error {
	return engine.Wait(ctx, cli, id, readyTimeout, engine.ForFunc(func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		return conn.Ping(ctx)
	}))
}
