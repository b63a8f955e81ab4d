package sandbox

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"

	"github.com/sandbox-labs/sandbox/sandbox/patches"
	"github.com/sandbox-labs/sandbox/services/release"
)

var versionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[a-z0-9.]+)?$`)

// ValidVersion says whether v is shaped like a release version (v2.4.1); whether it exists needs the engine.
func ValidVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("version %q: use the form v2.4.1 (see `sandbox release list`)", v)
	}
	return nil
}

// ReleaseSpec is a fix-forward release to cut from an existing one.
type ReleaseSpec struct {
	Version string
	From    string
	Revert  []int
	Patches []string
}

// PlanRelease validates spec against the releases that exist and returns the new manifest. Every error is the
// user's input being wrong; nothing has been built yet.
func PlanRelease(existing map[string]release.Release, spec ReleaseSpec) (release.Release, error) {
	if !versionRE.MatchString(spec.Version) {
		return release.Release{}, fmt.Errorf("release version %q: use the form v2.4.1", spec.Version)
	}
	if _, ok := existing[spec.Version]; ok {
		return release.Release{}, fmt.Errorf("release %s already exists; pick a new version (see `sandbox release list`)", spec.Version)
	}
	from, ok := existing[spec.From]
	if !ok {
		known := make([]string, 0, len(existing))
		for v := range existing {
			known = append(known, v)
		}
		sort.Strings(known)
		return release.Release{}, fmt.Errorf("unknown --from release %q; known: %v", spec.From, known)
	}
	if len(spec.Revert) == 0 && len(spec.Patches) == 0 {
		return release.Release{}, fmt.Errorf("a release needs at least one --revert <PR> or --patch <id>")
	}
	rel := from
	rel.Version, rel.From = spec.Version, from.Version
	rel.PRs = slices.Clone(from.PRs)
	rel.Reverted = slices.Clone(from.Reverted)
	rel.Patches = slices.Clone(from.Patches)
	for i, n := range spec.Revert {
		if slices.Contains(spec.Revert[:i], n) {
			return release.Release{}, fmt.Errorf("PR #%d listed twice in --revert", n)
		}
		if !from.HasPR(n) {
			var in []int
			for _, p := range from.PRs {
				if from.HasPR(p.Number) {
					in = append(in, p.Number)
				}
			}
			return release.Release{}, fmt.Errorf("PR #%d is not in %s; it contains %v", n, from.Version, in)
		}
		rel.Reverted = append(rel.Reverted, n)
	}
	if err := patches.Validate(spec.Patches); err != nil {
		return release.Release{}, err
	}
	for _, p := range spec.Patches {
		if !slices.Contains(rel.Patches, p) {
			rel.Patches = append(rel.Patches, p)
		}
	}
	sort.Ints(rel.Reverted)
	// Reverting code never reverts the schema: the release still expects the migrations it was cut from.
	rel.Migration = from.Migration
	return rel, nil
}

// BuildRelease builds every role image for rel in sandbox name.
func (e *Engine) BuildRelease(ctx context.Context, name string, rel release.Release, progress Progress) error {
	bin, err := e.CurrentBinary(ctx, progress)
	if err != nil {
		return err
	}
	if _, err := e.EnsureBaseImage(ctx, bin, progress); err != nil {
		return err
	}
	return e.EnsureRelease(ctx, name, rel, bin, progress)
}
