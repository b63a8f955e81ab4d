package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sandbox-labs/sandbox/services/auth"
	"github.com/sandbox-labs/sandbox/services/catalog"
	"github.com/sandbox-labs/sandbox/services/checkout"
	"github.com/sandbox-labs/sandbox/services/control"
	"github.com/sandbox-labs/sandbox/services/gateway"
	"github.com/sandbox-labs/sandbox/services/loadgen"
	"github.com/sandbox-labs/sandbox/services/orders"
	"github.com/sandbox-labs/sandbox/services/payments"
	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/provider"
)

// roles maps `sandbox serve <role>` to the service's Run.
var roles = map[string]platform.Role{
	"gateway": gateway.Run, "checkout": checkout.Run, "orders": orders.Run, "payments": payments.Run,
	"provider": provider.Run, "catalog": catalog.Run, "auth": auth.Run, "loadgen": loadgen.Run, "control": control.Run,
}

func roleNames() string {
	n := make([]string, 0, len(roles))
	for r := range roles {
		n = append(n, r)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// NewCmdServe builds the hidden `sandbox serve <role>` that runs inside every service container.
func NewCmdServe(streams IO, g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:         "serve <role>",
		Short:       "Run one shop service (used inside the sandbox's containers)",
		Hidden:      true,
		Args:        exactArgs(1, "one role"),
		Annotations: map[string]string{"skipNameCheck": "1"},
		RunE: func(c *cobra.Command, args []string) error {
			run, ok := roles[args[0]]
			if !ok {
				return Usagef("unknown role %q; roles: %s", args[0], roleNames())
			}
			cfg, err := platform.LoadConfig(args[0], nil)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return run(ctx, cfg)
		},
	}
}

// NewCmdHealthcheck builds the hidden probe the images' HEALTHCHECK runs (a FROM scratch image has no curl).
func NewCmdHealthcheck(streams IO, g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:         "healthcheck [url]",
		Hidden:      true,
		Args:        rangeArgs(0, 1, "an optional URL"),
		Annotations: map[string]string{"skipNameCheck": "1"},
		RunE: func(c *cobra.Command, args []string) error {
			url := "http://127.0.0.1:8080/healthz"
			if len(args) == 1 {
				url = args[0]
			}
			ctx, cancel := context.WithTimeout(c.Context(), 2*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil || (req.URL.Scheme != "http" && req.URL.Scheme != "https") || req.URL.Host == "" {
				return Usagef("healthcheck %q: want an http URL such as http://127.0.0.1:8080/healthz", url)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", url, resp.Status)
			}
			return nil
		},
	}
}
