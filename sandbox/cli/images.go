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
	cmd := &cobra.Command{
		Use:   "images",
		Short: "Build (or pull) every image a sandbox needs, without starting anything",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return imagesRun(c.Context(), streams, g.Name, pg)
		},
	}
	cmd.Flags().StringVar(&pg, "postgres-image", pg, "Postgres image (built locally from Debian packages when it cannot be pulled)")
	return cmd
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
