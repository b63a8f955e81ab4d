package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/schema"
	"github.com/sandbox-labs/sandbox/services/status"
)

func init() {
	extraCommands = append(extraCommands, NewCmdMigrate, NewCmdFlags, NewCmdSQL, NewCmdPsql)
}

// shopDB finds the sandbox's database URL (and its control room, for recording).
func shopDB(ctx context.Context, name string, limits sandbox.DBLimits) (string, *sandbox.ControlRoom, error) {
	e, err := connect(ctx)
	if err != nil {
		return "", nil, err
	}
	defer e.Close()
	ep, err := e.Endpoints(ctx, name)
	if err != nil {
		return "", nil, err
	}
	if ep.DatabaseURL == "" {
		return "", nil, fmt.Errorf("the database of sandbox %q is not running", name)
	}
	var cr *sandbox.ControlRoom
	if ep.Control != "" {
		cr = ep.ControlRoom()
	}
	u, err := sandbox.BoundedDBURL(ep.DatabaseURL, limits)
	return u, cr, err
}

// NewCmdMigrate builds `sandbox migrate status|up|down [<id>]`.
func NewCmdMigrate(streams IO, g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate status|up|down [<id>]",
		Short: "Show, apply or revert the shop's schema migrations",
		Long: `migrate status        list migrations and which are applied
migrate up [<id>]     apply pending migrations up to <id> (default: all)
migrate down [<id>]   revert migration <id> and everything after it (default: the latest applied)`,
		Args: rangeArgs(1, 2, "status, up or down and an optional migration id"),
		RunE: func(c *cobra.Command, args []string) error {
			var id int64 = -1
			if len(args) == 2 {
				v, err := strconv.ParseInt(args[1], 10, 64)
				if err != nil || !knownMigration(v) {
					return Usagef("unknown migration id %q; known: %s", args[1], migrationIDs())
				}
				id = v
			}
			switch args[0] {
			case "status", "up", "down":
			default:
				return Usagef("unknown migrate action %q; use status, up or down", args[0])
			}
			if args[0] == "status" && id >= 0 {
				return Usagef("migrate status takes no id")
			}
			if args[0] != "status" {
				lock, err := lockFor(c, g, args)
				if err != nil {
					return err
				}
				defer lock.Release()
			}
			return migrateRun(c.Context(), streams, g.Name, args[0], id)
		},
	}
	return cmd
}

func knownMigration(v int64) bool {
	for _, m := range schema.List(schema.Options{}) {
		if m.Version == v {
			return true
		}
	}
	return false
}

func migrationIDs() string {
	var ids []string
	for _, m := range schema.List(schema.Options{}) {
		ids = append(ids, strconv.FormatInt(m.Version, 10))
	}
	return strings.Join(ids, ", ")
}

func migrateRun(ctx context.Context, streams IO, name, action string, id int64) error {
	url, cr, err := shopDB(ctx, name, sandbox.SQLLimits)
	if err != nil {
		return err
	}
	sts, current, err := schema.Status(ctx, url)
	if err != nil {
		return err
	}
	switch action {
	case "status":
		tw := tabwriter.NewWriter(streams.Out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tRELEASE\tSTATE")
		byVersion := map[int64]schema.Migration{}
		for _, m := range schema.List(schema.Options{}) {
			byVersion[m.Version] = m
		}
		for _, s := range sts {
			state := "pending"
			if s.Applied {
				state = "applied " + s.AppliedAt.UTC().Format(time.RFC3339)
			}
			rel := byVersion[s.Version].Release
			if pr := byVersion[s.Version].PR; pr != 0 {
				rel += fmt.Sprintf(" (PR #%d)", pr)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Version, s.Name, rel, state)
		}
		tw.Flush()
		fmt.Fprintf(streams.Out, "current version: %d\n", current)
		return nil
	case "up":
		target := id
		if target < 0 {
			target = schema.Latest()
		}
		if target <= current {
			fmt.Fprintf(streams.ErrOut, "Nothing to apply: the database is at %d.\n", current)
			return nil
		}
		s, _ := sandboxSettingsQuiet(ctx, name)
		applied, err := schema.Up(ctx, url, target, schema.OptionsForRelease(release.V240(s.Faults, s.Seed)))
		printApplied(streams.Out, applied)
		recordEvent(ctx, cr, status.Event{Kind: status.EventMigration, Actor: "trainee", Detail: fmt.Sprintf("up %d", target), To: fmt.Sprint(target)})
		return err
	default:
		target := id - 1
		if id < 0 {
			target = current - 1
		}
		if target < 0 || target >= current {
			fmt.Fprintf(streams.ErrOut, "Nothing to revert: the database is at %d.\n", current)
			return nil
		}
		applied, err := schema.Down(ctx, url, target)
		printApplied(streams.Out, applied)
		recordEvent(ctx, cr, status.Event{Kind: status.EventMigration, Actor: "trainee", Detail: fmt.Sprintf("down %d", current), From: fmt.Sprint(current), To: fmt.Sprint(target)})
		return err
	}
}

func sandboxSettingsQuiet(ctx context.Context, name string) (sandbox.Settings, error) {
	e, err := connect(ctx)
	if err != nil {
		return sandbox.DefaultSettings(), err
	}
	defer e.Close()
	return e.SandboxSettings(ctx, name)
}

func printApplied(w io.Writer, applied []schema.Applied) {
	for _, a := range applied {
		fmt.Fprintf(w, "migration %d %s: %s (%s)\n", a.Version, a.Direction, a.Name, a.Duration.Round(time.Millisecond))
	}
}

func recordEvent(ctx context.Context, cr *sandbox.ControlRoom, ev status.Event) {
	if cr != nil {
		_ = cr.Record(ctx, ev)
	}
}

// NewCmdFlags builds `sandbox flags list|set <flag> <on|off|percent>`.
func NewCmdFlags(streams IO, g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "flags list | flags set <flag> <on|off|percent>",
		Short: "List or change feature flags (stored in the shop database)",
		Args:  rangeArgs(1, 3, "list, or set <flag> <on|off|percent>"),
		RunE: func(c *cobra.Command, args []string) error {
			switch {
			case args[0] == "list" && len(args) == 1:
				return flagsList(c.Context(), streams, g.Name)
			case args[0] == "set" && len(args) == 3:
				enabled, pct, err := parseFlagValue(args[2])
				if err != nil {
					return err
				}
				lock, err := lockFor(c, g, args)
				if err != nil {
					return err
				}
				defer lock.Release()
				return flagsSet(c.Context(), streams, g.Name, args[1], enabled, pct)
			}
			return Usagef("usage: sandbox flags list | sandbox flags set <flag> <on|off|percent>")
		},
	}
}

// parseFlagValue: on = 100%, off = disabled, N or N% = enabled for N% of users.
func parseFlagValue(v string) (enabled bool, pct int, err error) {
	switch strings.ToLower(v) {
	case "on", "true":
		return true, 100, nil
	case "off", "false":
		return false, 0, nil
	}
	n, perr := strconv.Atoi(strings.TrimSuffix(v, "%"))
	if perr != nil || n < 0 || n > 100 {
		return false, 0, Usagef("flag value %q: use on, off, or a percentage 0-100", v)
	}
	return n > 0, n, nil
}

func flagsList(ctx context.Context, streams IO, name string) error {
	url, _, err := shopDB(ctx, name, sandbox.ReadLimits)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT name, enabled, rollout_percent FROM feature_flags ORDER BY name`)
	if err != nil {
		return fmt.Errorf("read flags: %w", sandbox.ExplainDBTimeout(err))
	}
	tw := tabwriter.NewWriter(streams.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FLAG\tENABLED\tROLLOUT")
	for rows.Next() {
		var n string
		var en bool
		var p int
		if err := rows.Scan(&n, &en, &p); err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%v\t%d%%\n", n, en, p)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read flags: %w", sandbox.ExplainDBTimeout(err))
	}
	return tw.Flush()
}

func flagsSet(ctx context.Context, streams IO, name, flag string, enabled bool, pct int) error {
	url, cr, err := shopDB(ctx, name, sandbox.ReadLimits)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(ctx)
	var names []string
	rows, err := conn.Query(ctx, `SELECT name FROM feature_flags ORDER BY name`)
	if err != nil {
		return fmt.Errorf("read flags: %w", sandbox.ExplainDBTimeout(err))
	}
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	found := false
	for _, n := range names {
		found = found || n == flag
	}
	if !found {
		return Usagef("unknown flag %q; flags: %s", flag, strings.Join(names, ", "))
	}
	if _, err := conn.Exec(ctx, `UPDATE feature_flags SET enabled = $2, rollout_percent = $3, updated_at = now() WHERE name = $1`, flag, enabled, pct); err != nil {
		return fmt.Errorf("set flag: %w", sandbox.ExplainDBTimeout(err))
	}
	state := "off"
	if enabled {
		state = fmt.Sprintf("on for %d%% of users", pct)
	}
	fmt.Fprintf(streams.ErrOut, "flag %s: %s\n", flag, state)
	_ = cr
	return nil
}

// NewCmdSQL builds `sandbox sql '<statement>'`.
func NewCmdSQL(streams IO, g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:     "sql '<statement>'",
		Short:   "Run one SQL statement on the shop database and print the result",
		Example: `  sandbox sql "SELECT column_name, is_nullable, column_default FROM information_schema.columns WHERE table_name='orders'"`,
		Args:    exactArgs(1, "one SQL statement (quote it)"),
		RunE: func(c *cobra.Command, args []string) error {
			if strings.TrimSpace(args[0]) == "" {
				return Usagef("empty SQL statement")
			}
			if sqlWrites(args[0]) {
				lock, err := lockFor(c, g, args)
				if err != nil {
					return err
				}
				defer lock.Release()
			}
			return sqlRun(c.Context(), streams, g.Name, args[0])
		},
	}
}

// sqlWrites says whether a statement may change the sandbox: anything but a plain read takes the lock.
func sqlWrites(stmt string) bool {
	f := strings.Fields(strings.ToLower(stmt))
	if len(f) == 0 {
		return false
	}
	switch strings.TrimLeft(f[0], "(") {
	case "select", "show", "explain", "table", "values":
		return strings.Contains(strings.ToLower(stmt), "into ") // SELECT ... INTO writes
	}
	return true
}

func sqlRun(ctx context.Context, streams IO, name, stmt string) error {
	url, _, err := shopDB(ctx, name, sandbox.SQLLimits)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, stmt, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return sqlError(err)
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	tw := tabwriter.NewWriter(streams.Out, 0, 0, 2, ' ', 0)
	if len(fields) > 0 {
		var hdr []string
		for _, f := range fields {
			hdr = append(hdr, f.Name)
		}
		fmt.Fprintln(tw, strings.Join(hdr, "\t"))
	}
	n := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return sqlError(err)
		}
		cells := make([]string, len(vals))
		for i, v := range vals {
			if v == nil {
				cells[i] = "NULL"
			} else {
				cells[i] = fmt.Sprint(v)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
		n++
	}
	if err := rows.Err(); err != nil {
		return sqlError(err)
	}
	tw.Flush()
	tag := rows.CommandTag()
	if len(fields) > 0 {
		fmt.Fprintf(streams.ErrOut, "(%d rows)\n", n)
	} else {
		fmt.Fprintln(streams.ErrOut, tag.String())
	}
	return nil
}

func sqlError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code != "55P03" && pe.Code != "57014" {
		return fmt.Errorf("SQL failed: %s (SQLSTATE %s)%s", pe.Message, pe.Code, detailSuffix(pe))
	}
	return fmt.Errorf("SQL failed: %w", sandbox.ExplainDBTimeout(err))
}

func detailSuffix(pe *pgconn.PgError) string {
	if pe.Detail != "" {
		return "\n" + pe.Detail
	}
	return ""
}
