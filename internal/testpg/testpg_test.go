package testpg_test

import (
	"context"
	"net/url"
	"strconv"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/errdefs"
	"github.com/jackc/pgx/v5"

	"github.com/sandbox-labs/sandbox/internal/testpg"
)

func TestIntegrationStart(t *testing.T) {
	dsn := testpg.Start(t)

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	defer conn.Close(ctx)

	var one int
	var user, db string
	if err := conn.QueryRow(ctx, "SELECT 1, current_user, current_database()").Scan(&one, &user, &db); err != nil {
		t.Fatalf("query: %v", err)
	}
	if one != 1 {
		t.Errorf("SELECT 1 = %d", one)
	}
	// "shop" differs from the images' default "postgres", so this proves
	// POSTGRES_USER and POSTGRES_DB were honoured.
	if user != testpg.User || db != testpg.Database {
		t.Errorf("connected as %s to %s, want %s to %s", user, db, testpg.User, testpg.Database)
	}
	// The database must be writable: migrations run against it.
	if _, err := conn.Exec(ctx, "CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1)"); err != nil {
		t.Errorf("write: %v", err)
	}
}

func TestIntegrationParallelStartsAreIsolatedAndCleanedUp(t *testing.T) {
	cli := testpg.Docker(t)
	ctx := context.Background()
	// containerFor finds the container behind a URL by its published port;
	// other packages' tests may run labelled containers at the same time.
	containerFor := func(t *testing.T, rawURL string) string {
		t.Helper()
		u, err := url.Parse(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		list, err := cli.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
			filters.Arg("label", "io.sandbox.test=true"),
			filters.Arg("label", "io.sandbox.managed=true"),
		)})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			for _, p := range c.Ports {
				if p.PrivatePort == 5432 && p.IP == "127.0.0.1" && strconv.Itoa(int(p.PublicPort)) == u.Port() {
					return c.ID
				}
			}
		}
		t.Fatalf("no labelled container publishes 5432 on 127.0.0.1:%s", u.Port())
		return ""
	}

	var urls, ids [2]string
	t.Run("group", func(t *testing.T) {
		for i := range urls {
			t.Run("db", func(t *testing.T) {
				t.Parallel()
				urls[i] = testpg.Start(t)
				ids[i] = containerFor(t, urls[i])
				conn, err := pgx.Connect(ctx, urls[i])
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				// Fails if the two tests were handed the same database.
				if _, err := conn.Exec(ctx, "CREATE TABLE only_here (id int)"); err != nil {
					t.Fatal(err)
				}
			})
		}
	})
	if urls[0] == "" || urls[1] == "" || urls[0] == urls[1] || ids[0] == ids[1] {
		t.Fatalf("want two distinct databases, got %q and %q", urls[0], urls[1])
	}
	// The subtests have ended, so their cleanups must have removed the containers.
	for _, id := range ids {
		if _, err := cli.ContainerInspect(ctx, id); !errdefs.IsNotFound(err) {
			t.Errorf("container %.12s still exists after its test ended (inspect err: %v)", id, err)
		}
	}
}
