package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
)

// A Strategy says whether a running container is ready (testcontainers-go's wait package is the model).
// Ready returns nil when it is, ErrNotYet (possibly wrapped, with the last observation) to be asked again,
// and any other error to give up at once.
type Strategy interface {
	Ready(ctx context.Context, ins container.InspectResponse) error
}

// ErrNotYet is what a Strategy returns while the container is not ready yet.
var ErrNotYet = errors.New("not ready yet")

// PollInterval is how often Wait inspects the container and asks the strategy.
const PollInterval = 250 * time.Millisecond

// LogLines is how much of a container's output a failed wait quotes.
const LogLines = 15

// Wait inspects container id until s says it is ready, the timeout passes or ctx ends. It stops early, with
// the container's last log lines, when the container exits or is restarted: waiting out the timeout then
// would only hide the cause.
func Wait(ctx context.Context, cli client.ContainerAPIClient, id string, timeout time.Duration, s Strategy) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		ins, err := cli.ContainerInspect(ctx, id)
		if err != nil {
			if ctx.Err() == nil {
				return fmt.Errorf("inspect container: %w", err)
			}
		} else {
			name := strings.TrimPrefix(ins.Name, "/")
			if err := exited(name, ins); err != nil {
				return fmt.Errorf("%w: last log lines:\n%s", err, LogTail(cli, id, LogLines))
			}
			if ins.State != nil && ins.State.Running {
				err := s.Ready(ctx, ins)
				if err == nil {
					return nil
				}
				if !errors.Is(err, ErrNotYet) {
					return fmt.Errorf("container %s: %w: last log lines:\n%s", name, err, LogTail(cli, id, LogLines))
				}
				last = err.Error()
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				if last != "" {
					last = " (last: " + last + ")"
				}
				return fmt.Errorf("container %s not ready after %s%s: last log lines:\n%s", shortID(id), timeout, last, LogTail(cli, id, LogLines))
			}
			return ctx.Err()
		case <-time.After(PollInterval):
		}
	}
}

func exited(name string, ins container.InspectResponse) error {
	st := ins.State
	switch {
	case st == nil:
		return nil
	case st.Restarting:
		return fmt.Errorf("container %s exited (code %d) and is being restarted", name, st.ExitCode)
	case ins.RestartCount > 0:
		return fmt.Errorf("container %s exited and was restarted %d time(s)", name, ins.RestartCount)
	case !st.Running && (st.Status == "exited" || st.Status == "dead"):
		return fmt.Errorf("container %s exited (code %d)", name, st.ExitCode)
	}
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// StrategyFunc adapts a function to a Strategy.
type StrategyFunc func(ctx context.Context, ins container.InspectResponse) error

// Ready calls f.
func (f StrategyFunc) Ready(ctx context.Context, ins container.InspectResponse) error {
	return f(ctx, ins)
}

// ForHealth waits for the image's health check to report healthy; a container without one is ready once it
// runs. Unhealthy gives up at once.
func ForHealth() Strategy {
	return StrategyFunc(func(_ context.Context, ins container.InspectResponse) error {
		h := ins.State.Health
		switch {
		case h == nil, h.Status == container.Healthy:
			return nil
		case h.Status == container.Unhealthy:
			return errors.New("is unhealthy")
		}
		return fmt.Errorf("%w: health %s", ErrNotYet, h.Status)
	})
}

// ForHTTP waits for url to answer 200.
func ForHTTP(url string) Strategy {
	hc := &http.Client{Timeout: 2 * time.Second}
	return StrategyFunc(func(ctx context.Context, _ container.InspectResponse) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNotYet, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%w: %s answered %s", ErrNotYet, url, resp.Status)
		}
		return nil
	})
}

// ForFunc waits until check returns nil (each call bounded by 5 s); its errors are "not yet".
func ForFunc(check func(ctx context.Context) error) Strategy {
	return StrategyFunc(func(ctx context.Context, _ container.InspectResponse) error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := check(cctx); err != nil {
			return fmt.Errorf("%w: %v", ErrNotYet, err)
		}
		return nil
	})
}
