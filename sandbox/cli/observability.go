package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/observability"
)

func init() { extraCommands = append(extraCommands, NewCmdObservability) }

// NewCmdObservability builds `sandbox observability [--stop]`.
func NewCmdObservability(streams IO, g *Globals) *cobra.Command {
	var stop bool
	cmd := &cobra.Command{
		Use:   "observability",
		Short: "Run Prometheus (and Grafana, if its image is present) next to a sandbox and print their URLs",
		Long: `Starts Prometheus on the sandbox's network: it scrapes every instance of every service by DNS every 5 s
and evaluates the alert rules in dashboards/alerts.yml (HighErrorRate, HighLatencyP99, ...). The image is
prom/prometheus when present or pullable, else sandbox/prometheus:debian built from Debian's package (about a
minute, once; needs root and debootstrap). Grafana, provisioned with dashboards/sandbox-shop.json, starts only
when a grafana/grafana image is already on the engine. Running it again prints the running URLs;
--stop removes both (so does ` + "`sandbox down`" + `).`,
		Example: "  sandbox observability --name team-1\n  sandbox observability --stop",
		Args:    noArgs,
		// Set-up, not incident work: not recorded on the timeline (overrides the root's recording hook).
		PersistentPostRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(c *cobra.Command, args []string) error {
			return observabilityRun(c.Context(), streams, g.Name, stop)
		},
	}
	cmd.Flags().BoolVar(&stop, "stop", false, "remove the sandbox's Prometheus and Grafana")
	return cmd
}

func observabilityRun(ctx context.Context, streams IO, name string, stop bool) error {
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	if stop {
		n, err := observability.Stop(ctx, e.APIClient, name)
		fmt.Fprintf(streams.ErrOut, "removed %d observability container(s) of %s\n", n, name)
		return err
	}
	if _, err := e.SandboxSettings(ctx, name); err != nil {
		return err
	}
	return startObservability(ctx, streams, e, name)
}

// startObservability starts Prometheus (and Grafana when its image is present) for a running sandbox and
// prints their URLs; `up --observability` calls it once the sandbox is healthy.
func startObservability(ctx context.Context, streams IO, e *sandbox.Engine, name string) error {
	if _, err := observability.EnsurePrometheusImage(ctx, e.APIClient, progressTo(streams.ErrOut)); err != nil {
		return err
	}
	labels := sandbox.ResourceLabels(name, observability.ServicePrometheus, "")
	prom, err := observability.Start(ctx, e.APIClient, name, sandbox.NetworkName(name), labels)
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.Out, "prometheus %s\n", prom)
	fmt.Fprintf(streams.ErrOut, "alerts: %s/alerts · try: sum(rate(edge_requests_total[1m]))\n", prom)
	graf, err := observability.StartGrafana(ctx, e.APIClient, name, sandbox.NetworkName(name), sandbox.ResourceLabels(name, observability.ServiceGrafana, ""))
	switch {
	case errors.Is(err, observability.ErrNoGrafana):
		fmt.Fprintf(streams.ErrOut, "grafana: skipped: %v\n", err)
	case err != nil:
		return fmt.Errorf("grafana: %w", err)
	default:
		fmt.Fprintf(streams.Out, "grafana %s/d/sandbox-shop\n", graf)
	}
	return nil
}
