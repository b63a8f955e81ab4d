package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// NewCmdDown builds `sandbox down`.
func NewCmdDown(streams IO, g *Globals) *cobra.Command {
	var all, keepImages bool
	cmd := &cobra.Command{
		Use: "down",
		Short: "Remove a sandbox's containers, network, volumes and fix-forward release images " +
			"(v2.3.0 and v2.4.0 images stay for a fast next start)",
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if !all {
				lock, err := lockFor(c, g, args)
				if err != nil {
					return err
				}
				defer lock.Release()
			}
			return downRun(c.Context(), streams, g.Name, all, keepImages)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every sandbox on this engine")
	cmd.Flags().BoolVar(&keepImages, "keep-images", false, "keep the fix-forward release images the trainee cut")
	return cmd
}

func downRun(ctx context.Context, streams IO, name string, all, keepImages bool) error {
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
	images := 0
	if !keepImages {
		// After the containers: an image a container still uses cannot go first.
		if images, err = e.RemoveReleaseImages(ctx, target); err != nil {
			return fmt.Errorf("down %s: %w", what, err)
		}
	}
	if res.Containers+res.Networks+res.Volumes+images == 0 {
		fmt.Fprintf(streams.ErrOut, "Nothing to remove for %s.\n", what)
		return nil
	}
	fmt.Fprintf(streams.ErrOut, "Removed %s: %d containers, %d networks, %d volumes, %d release images.\n", what,
		res.Containers, res.Networks, res.Volumes, images)
	return nil
}
