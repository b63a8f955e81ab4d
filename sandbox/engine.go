// Package sandbox is the library behind the CLI: it builds the shop's images, starts and stops sandboxes on the
// Docker engine, rolls releases out, and talks to the control room. Everything on the engine is found by label.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/docker/docker/client"
)

// ErrNoEngine means no Docker engine answered.
var ErrNoEngine = errors.New("no Docker engine answered")

// Engine is the Docker Engine API client the sandbox uses.
type Engine struct {
	client.APIClient
}

// Connect opens a client from the environment (DOCKER_HOST etc.), negotiates the API version and pings the
// engine, so every later call fails for a real reason, not a missing daemon.
func Connect(ctx context.Context) (*Engine, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("%w: %v; start Docker (e.g. `sudo systemctl start docker` or `sudo dockerd &`) or point DOCKER_HOST at an engine", ErrNoEngine, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("%w at %s: %v; start Docker (e.g. `sudo systemctl start docker` or `sudo dockerd &`) or point DOCKER_HOST at an engine", ErrNoEngine, cli.DaemonHost(), err)
	}
	cli.NegotiateAPIVersion(ctx)
	return &Engine{APIClient: cli}, nil
}
