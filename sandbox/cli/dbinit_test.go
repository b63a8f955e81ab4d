package cli

import (
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/internal/testpg"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/schema"
)

func TestDBInitUsageErrors(t *testing.T) {
	t.Setenv("SANDBOX_DATABASE_URL", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"dbinit"}, "--database-url is required"},
		{[]string{"dbinit", "--database-url", "postgres://x@127.0.0.1:1/x", "--target", "99"}, "--target 99"},
		{[]string{"dbinit", "--database-url", "postgres://x@127.0.0.1:1/x", "extra"}, "unknown command"},
	} {
		_, stderr, code := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d stderr %q; want exit %d mentioning %q", c.args, code, stderr, ExitUsage, c.want)
		}
	}
}

func TestDBInitFailsWhenNoDatabaseAnswers(t *testing.T) {
	_, stderr, code := run(t, "dbinit", "--database-url", "postgres://shop:shop@127.0.0.1:1/shop?sslmode=disable", "--wait", "1s")
	if code != ExitFailed || !strings.Contains(stderr, "did not accept connections") {
		t.Errorf("exit %d stderr %q; want exit %d saying the database did not accept connections", code, stderr, ExitFailed)
	}
}

// TestIntegrationDBInit migrates a real Postgres to v2.3.0's schema, then finds nothing to do the second time.
func TestIntegrationDBInit(t *testing.T) {
	dsn := testpg.Start(t)
	out, stderr, code := run(t, "dbinit", "--database-url", dsn)
	if code != ExitOK {
		t.Fatalf("dbinit: exit %d\n%s%s", code, out, stderr)
	}
	if n := strings.Count(out, " up "); n != int(release.MigrationBase) {
		t.Errorf("dbinit applied %d migrations, want %d:\n%s", n, release.MigrationBase, out)
	}
	st, version, err := schema.Status(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if version != release.MigrationBase {
		t.Errorf("database at version %d after dbinit, want %d (%+v)", version, release.MigrationBase, st)
	}
	out, stderr, code = run(t, "dbinit", "--database-url", dsn)
	if code != ExitOK || !strings.Contains(out, "already migrated") {
		t.Errorf("second dbinit: exit %d\n%s%s", code, out, stderr)
	}
}
