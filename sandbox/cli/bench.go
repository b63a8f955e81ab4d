package cli

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sandbox-labs/sandbox/sandbox"
)

// NewCmdBench builds `sandbox bench`: starts a throwaway sandbox and prints start-up time, memory and image
// sizes, so anyone can rerun the figures in the closing notes.
func NewCmdBench(streams IO, g *Globals) *cobra.Command {
	var cold bool
	var rps float64
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure time to steady traffic (warm, or cold with --cold), stack memory and image sizes",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return benchRun(c.Context(), streams, cold, rps)
		},
	}
	cmd.Flags().BoolVar(&cold, "cold", false, "remove the sandbox images first (Postgres image kept) to time a cold start")
	cmd.Flags().Float64Var(&rps, "load-rps", 40, "load generator rate during the measurement")
	return cmd
}

func benchRun(ctx context.Context, streams IO, cold bool, rps float64) error {
	name := fmt.Sprintf("bench-%d", time.Now().Unix()%100000)
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	w := streams.ErrOut
	if cold {
		fmt.Fprintln(w, "removing sandbox images for a cold start")
		if err := e.RemoveSandboxImages(ctx, name); err != nil {
			return err
		}
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		_, _ = e.Down(cctx, name)
		_ = e.RemoveSandboxImagesOf(cctx, name)
	}()
	s := sandbox.DefaultSettings()
	s.LoadRPS = rps
	s.PostgresImage = envOr("SANDBOX_POSTGRES_IMAGE", "postgres:16-alpine")
	start := time.Now()
	ep, err := e.Up(ctx, sandbox.UpOptions{Name: name, Settings: s}, progressTo(w))
	if err != nil {
		return err
	}
	upDone := time.Since(start)
	cr := ep.ControlRoom()
	snap, err := sandbox.WaitSteady(ctx, cr, rps, 10*time.Second, 3*time.Minute)
	if err != nil {
		return err
	}
	steady := time.Since(start)
	mem, err := e.StackMemory(ctx, name)
	if err != nil {
		return err
	}
	pg, _ := e.SandboxSettings(ctx, name)
	imgs, err := e.SandboxImages(ctx, name, pg.PostgresImage)
	if err != nil {
		return err
	}
	out := streams.Out
	mode := "warm (images present)"
	if cold {
		mode = "cold (no sandbox images; Postgres image present)"
	}
	fmt.Fprintf(out, "start: %s\n  containers healthy after %.1fs\n  steady baseline traffic after %.1fs (edge %.1f rps, errors %s, p99 %.0fms)\n",
		mode, upDone.Seconds(), steady.Seconds(), snap.Edge.RPS, pct(snap.Edge.ErrorRate), snap.Edge.P99Ms)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	var total uint64
	fmt.Fprintln(tw, "\nCONTAINER\tMEMORY")
	for _, m := range mem {
		total += m.Bytes
		fmt.Fprintf(tw, "%s\t%.1f MiB\n", m.Service, float64(m.Bytes)/(1<<20))
	}
	fmt.Fprintf(tw, "TOTAL\t%.1f MiB\n", float64(total)/(1<<20))
	fmt.Fprintln(tw, "\nIMAGE\tSIZE")
	for _, im := range imgs {
		fmt.Fprintf(tw, "%s\t%.1f MB\n", im.Ref, float64(im.Bytes)/1e6)
	}
	return tw.Flush()
}
