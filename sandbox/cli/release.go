package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/patches"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/status"
)

func init() {
	extraCommands = append(extraCommands, NewCmdChangelog, NewCmdRelease)
}

// NewCmdChangelog builds `sandbox changelog [<PR>]`.
func NewCmdChangelog(streams IO, g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:     "changelog [<PR>]",
		Short:   "Show v2.4.0's changelog, or one PR's description and diff",
		Example: "  sandbox changelog\n  sandbox changelog 905",
		Args:    rangeArgs(0, 1, "an optional PR number"),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				fmt.Fprintln(streams.Out, "v2.4.0 (from v2.3.0)")
				for _, pr := range patches.PRs() {
					fmt.Fprintf(streams.Out, "  PR #%d  %-45s %s  (@%s)\n", pr.Number, pr.Title, pr.Service, pr.Author)
				}
				fmt.Fprintln(streams.Out, "\n`sandbox changelog <PR>` shows a PR's description and diff.")
				return nil
			}
			n, err := strconv.Atoi(strings.TrimPrefix(args[0], "#"))
			pr, ok := patches.LookupPR(n)
			if err != nil || !ok {
				var known []string
				for _, p := range patches.PRs() {
					known = append(known, strconv.Itoa(p.Number))
				}
				return Usagef("unknown PR %q; v2.4.0 contains PRs %s", args[0], strings.Join(known, ", "))
			}
			fmt.Fprintf(streams.Out, "PR #%d: %s\nservice: %s · author: @%s\n\n%s\n\n%s\n", pr.Number, pr.Title, pr.Service, pr.Author,
				strings.TrimSpace(pr.Description), strings.TrimRight(pr.Diff, "\n"))
			return nil
		},
	}
}

// NewCmdRelease builds `sandbox release create|list|patches`.
func NewCmdRelease(streams IO, g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Cut a fix-forward release (revert PRs, apply hotfix patches), list releases and patches",
		Args:  noArgs,
	}
	var from string
	var reverts []int
	var patchIDs []string
	create := &cobra.Command{
		Use:     "create <version> --from <release> [--revert <PR>]... [--patch <id>]...",
		Short:   "Build a new release from an existing one; deploy it with `sandbox deploy`",
		Example: "  sandbox release create v2.4.1 --from v2.4.0 --revert 892 --patch payments-call-v4-signature\n  sandbox deploy all v2.4.1",
		Args:    exactArgs(1, "a new version"),
		RunE: func(c *cobra.Command, args []string) error {
			lock, err := lockFor(c, g, args)
			if err != nil {
				return err
			}
			defer lock.Release()
			return releaseCreateRun(c.Context(), streams, g.Name, sandbox.ReleaseSpec{Version: args[0], From: from, Revert: reverts, Patches: patchIDs})
		},
	}
	create.Flags().StringVar(&from, "from", "v2.4.0", "release to start from")
	create.Flags().IntSliceVar(&reverts, "revert", nil, "PR number to revert (repeatable)")
	create.Flags().StringSliceVar(&patchIDs, "patch", nil, "hotfix patch id to apply (repeatable; see `sandbox release patches`)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the releases that exist for this sandbox",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			e, err := connect(c.Context())
			if err != nil {
				return err
			}
			defer e.Close()
			rels, err := e.Releases(c.Context(), g.Name)
			if err != nil {
				return err
			}
			if len(rels) == 0 {
				return fmt.Errorf("no releases for sandbox %q; start it with `sandbox up --name %s`", g.Name, g.Name)
			}
			return writeReleaseList(streams.Out, rels)
		},
	}
	list.Annotations = map[string]string{}
	patchesCmd := &cobra.Command{
		Use:   "patches [<id>]",
		Short: "List the hotfix patch catalogue, or show one patch's description and diff",
		Args:  rangeArgs(0, 1, "an optional patch id"),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 {
				p, err := patches.Lookup(args[0])
				if err != nil {
					return UsageError{err}
				}
				fmt.Fprintf(streams.Out, "%s: %s\nservice: %s\n\n%s\n\n%s\n", p.ID, p.Title, p.Service, strings.TrimSpace(p.Description), strings.TrimRight(p.Diff, "\n"))
				return nil
			}
			tw := tabwriter.NewWriter(streams.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PATCH\tSERVICE\tTITLE")
			for _, p := range patches.Patches() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", p.ID, p.Service, p.Title)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(create, list, patchesCmd)
	return cmd
}

// writeReleaseList prints rels as a table sorted by version: each release's PRs still in, reverted PRs and patches.
func writeReleaseList(w io.Writer, rels map[string]release.Release) error {
	vs := make([]string, 0, len(rels))
	for v := range rels {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RELEASE\tFROM\tPRS\tREVERTED\tPATCHES")
	for _, v := range vs {
		r := rels[v]
		var prs []string
		for _, p := range r.PRs {
			if r.HasPR(p.Number) {
				prs = append(prs, "#"+strconv.Itoa(p.Number))
			}
		}
		var rev []string
		for _, n := range r.Reverted {
			rev = append(rev, "#"+strconv.Itoa(n))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v, dash(r.From), dash(strings.Join(prs, " ")), dash(strings.Join(rev, " ")), dash(strings.Join(r.Patches, " ")))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func releaseCreateRun(ctx context.Context, streams IO, name string, spec sandbox.ReleaseSpec) error {
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	if _, err := e.SandboxSettings(ctx, name); err != nil {
		return err
	}
	existing, err := e.Releases(ctx, name)
	if err != nil {
		return err
	}
	rel, err := planCreate(existing, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.ErrOut, "Cutting %s from %s\n", rel.Version, rel.From)
	if err := e.BuildRelease(ctx, name, rel, progressTo(streams.ErrOut)); err != nil {
		return err
	}
	if ep, err := e.Endpoints(ctx, name); err == nil && ep.Control != "" {
		_ = ep.ControlRoom().Record(ctx, releaseCreatedEvent(rel))
	}
	writeReleaseCreated(streams.Out, rel)
	return nil
}

// planCreate plans spec against the releases that exist; a spec that cannot be cut is a usage error.
func planCreate(existing map[string]release.Release, spec sandbox.ReleaseSpec) (release.Release, error) {
	rel, err := sandbox.PlanRelease(existing, spec)
	if err != nil {
		return release.Release{}, UsageError{err}
	}
	return rel, nil
}

// releaseCreatedEvent is the timeline's record of rel being cut.
func releaseCreatedEvent(rel release.Release) status.Event {
	var rev []string
	for _, n := range rel.Reverted {
		rev = append(rev, strconv.Itoa(n))
	}
	return status.Event{Kind: status.EventReleaseCreated, Actor: "trainee", From: rel.From, To: rel.Version,
		Detail: fmt.Sprintf("release %s from %s", rel.Version, rel.From),
		Data:   map[string]string{"reverted": strings.Join(rev, ","), "patches": strings.Join(rel.Patches, ",")}}
}

// writeReleaseCreated prints what the new release is and how to deploy it.
func writeReleaseCreated(w io.Writer, rel release.Release) {
	fmt.Fprintf(w, "release %s created (from %s; reverted %v; patches %v)\ndeploy it with: sandbox deploy all %s\n", rel.Version, rel.From, rel.Reverted, rel.Patches, rel.Version)
}
