package cli

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sandbox-labs/sandbox/sandbox"
)

func init() {
	extraCommands = append(extraCommands, NewCmdDeploy, NewCmdRollback)
}

// NewCmdDeploy builds `sandbox deploy <service|all> <version>`.
func NewCmdDeploy(streams IO, g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "deploy <service|all> <version>",
		Short: "Deploy a release through the pipeline: its pending migrations, then a rolling replacement",
		Long: `Deploy runs the same pipeline as the v2.4.0 rollout: the release's pending migrations first, then for
each service a new container is started, waited on until healthy, and the old one drained. "all" means the
services a release changes (orders, checkout, payments).`,
		Example: "  sandbox deploy checkout v2.3.0\n  sandbox deploy all v2.4.1",
		Args:    exactArgs(2, "a service (or all) and a version"),
		RunE: func(c *cobra.Command, args []string) error {
			return deployRun(c.Context(), streams, g, args[0], args[1])
		},
	}
}

func deployRun(ctx context.Context, streams IO, g *Globals, target, version string) error {
	name := g.Name
	if target != "all" && !sandbox.IsRole(target) {
		return Usagef("unknown service %q; use one of: all, %s", target, strings.Join(sandbox.Roles, ", "))
	}
	if err := sandbox.ValidVersion(version); err != nil {
		return UsageError{err}
	}
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	if _, err := e.SandboxSettings(ctx, name); err != nil {
		return err
	}
	if _, err := e.LookupRelease(ctx, name, version); err != nil {
		return UsageError{err}
	}
	services := []string{target}
	if target == "all" {
		services = slices.Clone(sandbox.ReleaseServices)
	}
	fmt.Fprintf(streams.ErrOut, "Deploying %s to %s\n", strings.Join(services, ", "), version)
	res, err := e.Deploy(ctx, sandbox.DeployOptions{Name: name, Services: services, Version: version, Actor: "cli", LockWait: g.LockWait}, progressTo(streams.ErrOut))
	for _, m := range res.Migrations {
		fmt.Fprintf(streams.Out, "migration %d %s %s\n", m.Version, m.Direction, m.Name)
	}
	for _, s := range res.Services {
		if s.Skipped != "" {
			fmt.Fprintf(streams.Out, "%s: %s\n", s.Service, s.Skipped)
			continue
		}
		fmt.Fprintf(streams.Out, "%s: %s -> %s (%.1fs)\n", s.Service, s.From, s.To, s.Duration.Seconds())
	}
	return err
}

// NewCmdRollback builds `sandbox rollback [<service>]`.
func NewCmdRollback(streams IO, g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback [<service>]",
		Short: "Redeploy the previous release's code (like a naive real-world rollback: migrations are NOT touched)",
		Args:  rangeArgs(0, 1, "an optional service"),
		RunE: func(c *cobra.Command, args []string) error {
			svc := ""
			if len(args) == 1 {
				svc = args[0]
			}
			return rollbackRun(c.Context(), streams, g, svc)
		},
	}
}

func rollbackRun(ctx context.Context, streams IO, g *Globals, svc string) error {
	name := g.Name
	if svc != "" && !sandbox.IsRole(svc) {
		return Usagef("unknown service %q; use one of: %s", svc, strings.Join(sandbox.Roles, ", "))
	}
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	if _, err := e.SandboxSettings(ctx, name); err != nil {
		return err
	}
	services := sandbox.ReleaseServices
	if svc != "" {
		services = []string{svc}
	}
	targets, already, err := e.RollbackTargets(ctx, name, services)
	if err != nil {
		return err
	}
	for _, s := range services {
		if v, ok := already[s]; ok {
			fmt.Fprintf(streams.ErrOut, "%s is already rolled back (on %s); to go forward use `sandbox deploy %s <version>`\n", s, v, s)
		}
	}
	if len(targets) == 0 {
		if len(already) > 0 {
			return nil
		}
		return fmt.Errorf("nothing to roll back: %s has no previous release recorded", strings.Join(services, ", "))
	}
	// Group services by the version they go back to, keeping rollout order.
	byVersion := map[string][]string{}
	var order []string
	for _, s := range services {
		if v, ok := targets[s]; ok {
			if _, seen := byVersion[v]; !seen {
				order = append(order, v)
			}
			byVersion[v] = append(byVersion[v], s)
		}
	}
	for _, v := range order {
		fmt.Fprintf(streams.ErrOut, "Rolling back %s to %s (code only; the schema stays as it is)\n", strings.Join(byVersion[v], ", "), v)
		res, err := e.Deploy(ctx, sandbox.DeployOptions{Name: name, Services: byVersion[v], Version: v, Actor: "cli", Rollback: true, LockWait: g.LockWait}, progressTo(streams.ErrOut))
		for _, s := range res.Services {
			fmt.Fprintf(streams.Out, "%s: %s -> %s (%.1fs)\n", s.Service, s.From, s.To, s.Duration.Seconds())
		}
		if err != nil {
			return err
		}
	}
	return nil
}
