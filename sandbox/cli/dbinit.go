package cli

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/spf13/cobra"

	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/schema"
)

func init() { extraCommands = append(extraCommands, NewCmdDBInit) }

// NewCmdDBInit builds the hidden `sandbox dbinit`: the one-shot that migrates the shop database when the stack
// runs without the sandbox CLI (compose/docker-compose.yml runs it from any role image). It needs no Docker.
func NewCmdDBInit(streams IO, g *Globals) *cobra.Command {
	var (
		dbURL  string
		target int64
		wait   time.Duration
	)
	cmd := &cobra.Command{
		Use:         "dbinit --database-url URL [--target N]",
		Short:       "Wait for the shop database and run its migrations (used by compose)",
		Hidden:      true,
		Args:        noArgs,
		Annotations: map[string]string{"skipNameCheck": "1"},
		// Overrides the root's hook, which records commands on a sandbox's timeline: dbinit is set-up, not
		// something a trainee did, and runs where no engine answers.
		PersistentPostRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(c *cobra.Command, args []string) error {
			if dbURL == "" {
				return Usagef("--database-url is required (or env SANDBOX_DATABASE_URL)")
			}
			if target < 0 || target > schema.Latest() {
				return Usagef("--target %d: known migrations are 1..%d (0 = the latest)", target, schema.Latest())
			}
			return dbinitRun(c.Context(), streams, dbURL, target, wait)
		},
	}
	cmd.Flags().StringVar(&dbURL, "database-url", envOr("SANDBOX_DATABASE_URL", ""), "Postgres URL of the shop database")
	cmd.Flags().Int64Var(&target, "target", release.MigrationBase, "migrate up to this version (default: v2.3.0's schema; 0 = the latest)")
	cmd.Flags().DurationVar(&wait, "wait", 60*time.Second, "how long to wait for the database to accept connections")
	return cmd
}

func dbinitRun(ctx context.Context, streams IO, dbURL string, target int64, wait time.Duration) error {
	if err := waitForDB(ctx, dbURL, wait); err != nil {
		return err
	}
	applied, err := schema.Up(ctx, dbURL, target, schema.Options{})
	for _, a := range applied {
		fmt.Fprintf(streams.Out, "migration %d %s %s (%s)\n", a.Version, a.Direction, a.Name, a.Duration.Round(time.Millisecond))
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 {
		fmt.Fprintln(streams.Out, "database already migrated")
	}
	return nil
}

// waitForDB pings until Postgres accepts connections: a compose health check on the server can pass a moment
// before the shop database and user exist.
func waitForDB(ctx context.Context, dbURL string, wait time.Duration) error {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return fmt.Errorf("database url: %w", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		err = db.PingContext(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("database did not accept connections within %s: %w", wait, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
