package testpg

import (
	"context"
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/sandbox/engine"
)

// A container that dies during start-up must fail the wait at once, with a
// reason, rather than after the full timeout.
func TestIntegrationWaitFailsFastWhenContainerExits(t *testing.T) {
	cli := Docker(t)
	ctx := context.Background()
	ref, err := ensureImage(ctx, cli, t)
	if err != nil {
		t.Fatal(err)
	}
	// Both entrypoints refuse to initialise without a password.
	id, dsn := startContainer(t, cli, ref, []string{"POSTGRES_USER=" + User})

	err = waitReady(ctx, cli, id, dsn)
	if err == nil {
		t.Fatal("waitReady succeeded for a container that cannot start")
	}
	if !strings.Contains(err.Error(), "exited") {
		t.Errorf("err = %v, want it to say the container exited", err)
	}
	if l := engine.LogTail(cli, id, 100); !strings.Contains(l, "POSTGRES_PASSWORD") {
		t.Errorf("logs lack the entrypoint's reason:\n%s", l)
	}
}
