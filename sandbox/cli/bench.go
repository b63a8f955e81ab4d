package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
	var resets int
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure time to steady traffic (warm, or cold with --cold), stack memory, image sizes and (--resets) reset time",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if resets < 0 || resets > 20 {
				return Usagef("--resets must be between 0 and 20, got %d", resets)
			}
			name := fmt.Sprintf("bench-%d", time.Now().Unix()%100000)
			if c.Flags().Changed("name") { // a throwaway sandbox under a name of the user's choosing
				name = g.Name
			}
			return benchRun(c.Context(), streams, name, cold, rps, resets)
		},
	}
	cmd.Flags().IntVar(&resets, "resets", 0, "also time this many `sandbox reset`s of the bench sandbox to steady baseline traffic (median printed)")
	cmd.Flags().BoolVar(&cold, "cold", false, "remove the sandbox images first (Postgres image kept) to time a cold start")
	cmd.Flags().Float64Var(&rps, "load-rps", 40, "load generator rate during the measurement")
	return cmd
}

func benchRun(ctx context.Context, streams IO, name string, cold bool, rps float64, resets int) error {
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
	var total, anon uint64
	fmt.Fprintln(tw, "\nCONTAINER\tMEMORY\tANON")
	for _, m := range mem {
		total, anon = total+m.Bytes, anon+m.Anon
		fmt.Fprintf(tw, "%s\t%.1f MiB\t%.1f MiB\n", m.Service, float64(m.Bytes)/(1<<20), float64(m.Anon)/(1<<20))
	}
	fmt.Fprintf(tw, "TOTAL\t%.1f MiB\t%.1f MiB\n", float64(total)/(1<<20), float64(anon)/(1<<20))
	fmt.Fprintln(tw, "\nIMAGE\tSIZE")
	for _, im := range imgs {
		fmt.Fprintf(tw, "%s\t%.1f MB\n", im.Ref, float64(im.Bytes)/1e6)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if resets == 0 {
		return nil
	}
	// Each reset as `sandbox reset` does it, timed like up: to steady baseline traffic on the new attempt.
	var healthy, steadyAt []time.Duration
	for i := 0; i < resets; i++ {
		start := time.Now()
		res, err := e.Reset(ctx, name, func(string) {})
		if err != nil {
			return fmt.Errorf("reset %d: %w", i+1, err)
		}
		healthy = append(healthy, time.Since(start))
		snap, err := sandbox.WaitSteady(ctx, res.Endpoints.ControlRoom(), rps, 10*time.Second, 3*time.Minute)
		if err != nil {
			return fmt.Errorf("reset %d: %w", i+1, err)
		}
		steadyAt = append(steadyAt, time.Since(start))
		fmt.Fprintf(w, "  • reset %d (attempt %d): containers healthy after %.1fs, steady after %.1fs (edge %.1f rps, errors %s, p99 %.0fms)\n",
			i+1, res.Attempt, healthy[i].Seconds(), steadyAt[i].Seconds(), snap.Edge.RPS, pct(snap.Edge.ErrorRate), snap.Edge.P99Ms)
	}
	fmt.Fprintf(out, "\nreset (median of %d): containers healthy after %.1fs, steady baseline traffic after %.1fs (each: %s)\n",
		resets, median(healthy).Seconds(), median(steadyAt).Seconds(), secondsList(steadyAt))
	return nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func secondsList(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.1fs", d.Seconds())
	}
	return strings.Join(parts, ", ")
}
