// Package cli holds the sandbox's Cobra commands: each parses flags, calls the sandbox library and prints.
// Status goes to stderr, data to stdout; one place maps errors to exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/grade"
	"github.com/sandbox-labs/sandbox/services/status"
)

// Exit codes: the one table every command uses.
const (
	ExitOK       = 0
	ExitFailed   = 1 // the operation failed (or, for grade, did not pass)
	ExitUsage    = 2 // bad command line: nothing was changed
	ExitNoEngine = 3 // no Docker engine answered
	ExitLocked   = 4 // another command is changing the sandbox; nothing was changed
	// ExitNotGradeable: grade or check could not reach a verdict (no incident shipped, record unreadable).
	ExitNotGradeable = grade.ExitCouldNotRun
)

// IO are the streams commands write to; tests capture them.
type IO struct {
	In     io.Reader
	Out    io.Writer // data
	ErrOut io.Writer // progress and messages
}

// UsageError marks an error as the user's command line being wrong.
type UsageError struct{ Err error }

func (u UsageError) Error() string { return u.Err.Error() }
func (u UsageError) Unwrap() error { return u.Err }

// Usagef builds a UsageError.
func Usagef(format string, a ...any) error { return UsageError{fmt.Errorf(format, a...)} }

// ExitError carries a specific exit code with an optional message (e.g. grade: not passed).
type ExitError struct {
	Code int
	Err  error
}

func (e ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e ExitError) Unwrap() error { return e.Err }

// Globals are flags every command shares.
type Globals struct {
	Name     string
	LockWait time.Duration // how long a changing command waits for another change to the sandbox
}

// NewRootCmd builds the command tree.
func NewRootCmd(streams IO) *cobra.Command {
	g := &Globals{}
	root := &cobra.Command{
		Use:   "sandbox",
		Short: "A live chaos sandbox for practising a bad-deploy incident",
		Long: `sandbox runs a real shop on your Docker engine, ships the bad v2.4.0 release over v2.3.0,
and lets you work the incident: roll back, fix forward, and get graded on the live result.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          noArgs,
		RunE:          func(c *cobra.Command, args []string) error { return c.Help() },
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.PersistentFlags().StringVar(&g.Name, "name", envOr("SANDBOX_NAME", sandbox.DefaultName), "sandbox name (several can run side by side; env SANDBOX_NAME)")
	root.PersistentFlags().DurationVar(&g.LockWait, "lock-wait", 15*time.Second, "how long a command that changes the sandbox waits for another one to finish (0: refuse at once)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return UsageError{fmt.Errorf("%w\nsee `%s --help`", err, c.CommandPath())}
	})
	root.PersistentPreRunE = func(c *cobra.Command, args []string) error {
		if c.Annotations["skipNameCheck"] == "" {
			if err := sandbox.ValidateName(g.Name); err != nil {
				return UsageError{err}
			}
		}
		return nil
	}
	root.PersistentPostRunE = func(c *cobra.Command, args []string) error {
		if _, skip := noRecord[c.Name()]; !skip {
			recordRun(c, g.Name, args)
		}
		return nil
	}
	for _, add := range []func(IO, *Globals) *cobra.Command{
		NewCmdUp, NewCmdDown, NewCmdStatus, NewCmdImages, NewCmdServe, NewCmdHealthcheck, NewCmdBench,
	} {
		root.AddCommand(add(streams, g))
	}
	for _, add := range extraCommands {
		root.AddCommand(add(streams, g))
	}
	root.AddCommand(NewCmdGameday(streams, g))
	strictGroups(root)
	root.SetHelpCommand(&cobra.Command{
		Use:         "help [command]",
		Short:       "Help about any command",
		Annotations: map[string]string{"skipNameCheck": "1"},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return Usagef("unknown help topic %q\nrun `%s --help` for the commands", strings.Join(args, " "), c.Root().Name())
			}
			return cmd.Help()
		},
	})
	return root
}

// strictGroups makes every command group (release, flags, migrate, ...) refuse an unknown subcommand with a
// usage error instead of printing its help and exiting 0, which a lab script would read as success.
func strictGroups(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictGroups(sub)
	}
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = noArgs
		c.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
	}
}

// extraCommands are registered by other files of this package (incident levers, grading, views).
var extraCommands []func(IO, *Globals) *cobra.Command

func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return Usagef("unknown command %q for %q\nrun `%s --help` for the commands", args[0], c.CommandPath(), c.CommandPath())
	}
	return nil
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return Usagef("%s takes %s; got %d argument(s)\nusage: %s", c.CommandPath(), names, len(args), c.UseLine())
		}
		return nil
	}
}

func rangeArgs(lo, hi int, names string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return Usagef("%s takes %s; got %d argument(s)\nusage: %s", c.CommandPath(), names, len(args), c.UseLine())
		}
		return nil
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Run executes the CLI with args and returns the process exit code.
func Run(ctx context.Context, args []string, streams IO) int {
	root := NewRootCmd(streams)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitCode(err)
	var ee ExitError
	if !errors.As(err, &ee) || ee.Err != nil {
		fmt.Fprintln(streams.ErrOut, "error: "+err.Error())
	}
	return code
}

// ExitCode maps an error to the process exit code.
func ExitCode(err error) int {
	var ee ExitError
	var ue UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, sandbox.ErrNoEngine): // whatever the command, even when it wraps the error
		return ExitNoEngine
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, new(*sandbox.LockedError)):
		return ExitLocked
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "unknown flag"),
		strings.HasPrefix(err.Error(), "unknown shorthand flag"):
		return ExitUsage
	}
	return ExitFailed
}

// connect opens the engine; its error already tells the user what to do.
func connect(ctx context.Context) (*sandbox.Engine, error) { return sandbox.Connect(ctx) }

// lockFor takes the sandbox's change lock for the command c runs; release it when the change is done.
func lockFor(c *cobra.Command, g *Globals, args []string) (*sandbox.ChangeLock, error) {
	return sandbox.LockSandbox(c.Context(), g.Name, strings.TrimSpace(c.CommandPath()+" "+strings.Join(args, " ")), g.LockWait)
}

func progressTo(w io.Writer) sandbox.Progress {
	return func(s string) { fmt.Fprintln(w, "  • "+s) }
}

// noRecord are commands that are not evidence of how the trainee worked the incident.
var noRecord = map[string]struct{}{"up": {}, "down": {}, "rollout": {}, "serve": {}, "healthcheck": {}, "images": {}, "bench": {}, "help": {}, "completion": {}, "sandbox": {}}

// recordRun posts the command the trainee ran to the control room's timeline (best effort: a sandbox that
// is not running has no timeline to write).
func recordRun(c *cobra.Command, name string, args []string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context()), 3*time.Second)
	defer cancel()
	e, err := sandbox.Connect(ctx)
	if err != nil {
		return
	}
	defer e.Close()
	ep, err := e.Endpoints(ctx, name)
	if err != nil || ep.Control == "" {
		return
	}
	argv := strings.TrimSpace(strings.TrimPrefix(c.CommandPath(), c.Root().Name()))
	if len(args) > 0 {
		argv += " " + strings.Join(args, " ")
	}
	var flags []string
	c.Flags().Visit(func(f *pflag.Flag) {
		if f.Name != "name" {
			flags = append(flags, "--"+f.Name+"="+f.Value.String())
		}
	})
	if len(flags) > 0 {
		argv += " " + strings.Join(flags, " ")
	}
	_ = ep.ControlRoom().Record(ctx, status.Event{Kind: status.EventCommand, Actor: "trainee", Detail: argv})
}
