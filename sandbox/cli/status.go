package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/services/status"
)

// StatusOptions are `sandbox status`'s flags.
type StatusOptions struct {
	IO     IO
	G      *Globals
	Output string
	Window time.Duration
	Watch  bool
	Every  time.Duration
}

// NewCmdStatus builds `sandbox status`.
func NewCmdStatus(streams IO, g *Globals) *cobra.Command {
	o := &StatusOptions{IO: streams, G: g}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Per-endpoint request rate, error rate and p99; edge totals; running versions and health",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(o.Output, "table", "json"); err != nil {
				return err
			}
			// The control room answers windows up to 10m (control.RingKeep).
			if o.Window < 2*time.Second || o.Window > 10*time.Minute {
				return Usagef("--window must be between 2s and 10m, got %s", o.Window)
			}
			if o.Watch && (o.Every < 500*time.Millisecond || o.Every > time.Minute) {
				return Usagef("--every must be between 500ms and 1m, got %s", o.Every)
			}
			if o.Watch {
				return watchRun(c.Context(), o)
			}
			return statusRun(c.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "table", "output format: table or json")
	cmd.Flags().DurationVar(&o.Window, "window", 30*time.Second, "measurement window for rates and p99")
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "live view with the error-rate chart (Ctrl-C to stop)")
	cmd.Flags().DurationVar(&o.Every, "every", 2*time.Second, "refresh interval for --watch")
	return cmd
}

func checkOutput(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return Usagef("unknown --output %q; use one of: %s", v, strings.Join(allowed, ", "))
}

// controlRoom finds the sandbox's control room by label and returns a client for it.
func controlRoom(ctx context.Context, name string) (*sandbox.Engine, *sandbox.ControlRoom, sandbox.Endpoints, error) {
	e, err := connect(ctx)
	if err != nil {
		return nil, nil, sandbox.Endpoints{}, err
	}
	ep, err := e.Endpoints(ctx, name)
	if err != nil {
		e.Close()
		return nil, nil, ep, err
	}
	if ep.Control == "" {
		e.Close()
		return nil, nil, ep, fmt.Errorf("the control room of sandbox %q is not running; `sandbox down --name %s` and `sandbox up` start over", name, name)
	}
	return e, ep.ControlRoom(), ep, nil
}

func statusRun(ctx context.Context, o *StatusOptions) error {
	e, cr, _, err := controlRoom(ctx, o.G.Name)
	if err != nil {
		return err
	}
	defer e.Close()
	s, err := cr.Status(ctx, o.Window)
	if err != nil {
		return err
	}
	if restarts, err := e.Restarts(ctx, o.G.Name); err == nil {
		for i := range s.Services {
			s.Services[i].Restarts = restarts[s.Services[i].Service]
		}
	}
	if o.Output == "json" {
		enc := json.NewEncoder(o.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	PrintStatus(o.IO.Out, s)
	if tl, err := cr.Timeline(ctx); err == nil {
		if line := rolloutLine(sandbox.RolloutFromTimeline(tl), time.Now(), o.G.Name); line != "" {
			fmt.Fprintln(o.IO.Out, "\n"+line)
		}
	}
	return nil
}

// PrintStatus renders a snapshot as tables.
func PrintStatus(w io.Writer, s status.Snapshot) {
	clock := ""
	if s.Scenario != "" {
		clock = " · scenario clock " + s.Scenario
	}
	fmt.Fprintf(w, "Sandbox %s · %s UTC%s · window %.0fs\n\n", s.Name, s.At.UTC().Format("15:04:05"), clock, s.WindowS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tRPS\tERRORS\tP99")
	for _, ep := range s.Endpoints {
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%.0fms\n", ep.Route, ep.RPS, pct(ep.ErrorRate), ep.P99Ms)
	}
	fmt.Fprintf(tw, "EDGE (all)\t%.1f\t%s\t%.0fms\n", s.Edge.RPS, pct(s.Edge.ErrorRate), s.Edge.P99Ms)
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tVERSION(S)\tHEALTH")
	for _, sv := range s.Services {
		h := "healthy"
		if !sv.Healthy {
			h = "UNHEALTHY"
		}
		v := strings.Join(sv.Versions, ", ")
		if v == "" {
			v, h = "-", "DOWN"
		}
		if sv.Restarts > 0 {
			h += fmt.Sprintf(" (crashed, restarted %d×)", sv.Restarts)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", sv.Service, v, h)
	}
	tw.Flush()
	if len(s.Flags) > 0 {
		fmt.Fprintln(w)
		for _, f := range s.Flags {
			state := "off"
			if f.Enabled {
				state = fmt.Sprintf("on for %d%% of users", f.RolloutPercent)
			}
			fmt.Fprintf(w, "flag %s: %s\n", f.Name, state)
		}
	}
}
