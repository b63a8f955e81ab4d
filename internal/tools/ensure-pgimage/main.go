// Command ensure-pgimage makes sure the Postgres image the tests use exists on
// the local engine, building sandbox/postgres:15-debian if it must. CI runs it
// before `go test` so the long build is a phase of its own, not a test timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/docker/docker/client"

	"github.com/sandbox-labs/sandbox/sandbox/pgimage"
)

func main() {
	ref := flag.String("image", "", "postgres image to use (default $"+pgimage.EnvImage+" or "+pgimage.DefaultRef+")")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := run(ctx, *ref); err != nil {
		fmt.Fprintln(os.Stderr, "ensure-pgimage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, ref string) error {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	defer cli.Close()
	got, err := pgimage.Ensure(ctx, cli, ref, func(step string) { fmt.Fprintln(os.Stderr, step) })
	if err != nil {
		return err
	}
	fmt.Println(got)
	return nil
}
