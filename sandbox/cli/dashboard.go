package cli

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func init() { extraCommands = append(extraCommands, NewCmdDashboard) }

// NewCmdDashboard builds `sandbox dashboard [--open]`.
func NewCmdDashboard(streams IO, g *Globals) *cobra.Command {
	var open bool
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Print the control room's web dashboard URL (--open starts a browser on it)",
		Long: `The control room serves a live dashboard: edge error rate and p99 over time with deploys, rollbacks,
migrations and flag changes marked, the per-endpoint table, versions and health, flags, the scenario clock
and the timeline. It refreshes every 2 s; put it on the projector during a game day.`,
		Example: "  sandbox dashboard\n  sandbox dashboard --open --name team-a",
		Args:    noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return dashboardRun(c.Context(), streams, g.Name, open)
		},
	}
	cmd.Flags().BoolVar(&open, "open", false, "open the dashboard in the default browser")
	return cmd
}

func dashboardRun(ctx context.Context, streams IO, name string, open bool) error {
	e, cr, _, err := controlRoom(ctx, name)
	if err != nil {
		return err
	}
	defer e.Close()
	url := cr.Base + "/"
	fmt.Fprintln(streams.Out, url)
	// A control room that is up but not answering yet still has the right URL; say so rather than fail.
	if s, err := cr.Status(ctx, 30*time.Second); err != nil {
		fmt.Fprintf(streams.ErrOut, "note: the control room does not answer yet (%v); the page fills in once it does\n", err)
	} else {
		fmt.Fprintf(streams.ErrOut, "sandbox %s · edge errors %s · p99 %.0fms · scenario clock %s\n", s.Name, pct(s.Edge.ErrorRate), s.Edge.P99Ms, orDash(s.Scenario))
	}
	if !open {
		return nil
	}
	prog, args := browserCommand(runtime.GOOS, url)
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The URL is already printed: a machine without a browser (a server, CI) gets a warning, not a failure.
	if out, err := exec.CommandContext(octx, prog, args...).CombinedOutput(); err != nil {
		msg := err.Error()
		if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); lines[len(lines)-1] != "" {
			msg = lines[len(lines)-1] // the opener's own last word is the useful part
		}
		fmt.Fprintf(streams.ErrOut, "could not open a browser (%s: %s); open the URL above by hand\n", prog, msg)
	}
	return nil
}

// browserCommand is the platform's "open this URL in the default browser" program.
func browserCommand(goos, url string) (string, []string) {
	switch goos {
	case "darwin":
		return "open", []string{url}
	case "windows":
		return "rundll32", []string{"url.dll,FileProtocolHandler", url}
	default:
		return "xdg-open", []string{url}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
