package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// NewCmdDown builds `sandbox down`.
func NewCmdDown(streams IO, g *Globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove a sandbox's containers, network and volumes (images stay for a fast next start)",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return downRun(c.Context(), streams, g.Name, all)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every sandbox on this engine")
	return cmd
}

func downRun(ctx context.Context, streams IO, name string, all bool) error {
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	target := name
	what := fmt.Sprintf("sandbox %q", name)
	if all {
		target, what = "", "every sandbox"
	}
	res, err := e.Down(ctx, target)
	if err != nil {
		return fmt.Errorf("down %s: %w", what, err)
	}
	if res.Containers+res.Networks+res.Volumes == 0 {
		fmt.Fprintf(streams.ErrOut, "Nothing to remove for %s.\n", what)
		return nil
	}
	fmt.Fprintf(streams.ErrOut, "Removed %s: %d containers, %d networks, %d volumes.\n", what, res.Containers, res.Networks, res.Volumes)
	return nil
}
