package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/sandbox-labs/sandbox/sandbox"
)

// NewCmdImages builds `sandbox images`: prepare every image up front (e.g. before a training room goes offline).
func NewCmdImages(streams IO, g *Globals) *cobra.Command {
	pg := envOr("SANDBOX_POSTGRES_IMAGE", "postgres:16-alpine")
	prune := false
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Build (or pull) every image a sandbox needs, without starting anything",
		Long: "Build (or pull) every image a sandbox needs, without starting anything.\n\n" +
			"--prune instead removes the images of older sandbox binaries (each rebuild of the binary makes a new " +
			"base image and role images on it); images a container still uses are kept and listed.",
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if prune {
				if c.Flags().Changed("postgres-image") {
					return Usagef("--prune removes images and builds none: drop --postgres-image")
				}
				return imagesPruneRun(c.Context(), streams)
			}
			return imagesRun(c.Context(), streams, g.Name, pg)
		},
	}
	cmd.Flags().StringVar(&pg, "postgres-image", pg, "Postgres image (built locally from Debian packages when it cannot be pulled)")
	cmd.Flags().BoolVar(&prune, "prune", false, "remove the images of older sandbox binaries instead of building")
	return cmd
}

func imagesPruneRun(ctx context.Context, streams IO) error {
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	bin, err := e.CurrentBinary(ctx, progressTo(streams.ErrOut))
	if err != nil {
		return err
	}
	res, err := e.PruneImages(ctx, bin)
	for _, r := range res.Removed {
		fmt.Fprintln(streams.Out, "removed "+r)
	}
	for _, r := range res.InUse {
		fmt.Fprintln(streams.Out, "kept "+r+" (a container uses it: `sandbox down` that sandbox first)")
	}
	fmt.Fprintf(streams.ErrOut, "Removed %d image(s) of older sandbox binaries; kept %d in use; the current build (%s) is untouched.\n",
		len(res.Removed), len(res.InUse), sandbox.BaseImageRef(bin))
	return err
}

func imagesRun(ctx context.Context, streams IO, name, pg string) error {
	start := time.Now()
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	s := sandbox.DefaultSettings()
	s.PostgresImage = pg
	ref, err := e.PrepareImages(ctx, name, s, progressTo(streams.ErrOut))
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.ErrOut, "Images ready in %.1fs (postgres: %s).\n", time.Since(start).Seconds(), ref)
	return nil
}
