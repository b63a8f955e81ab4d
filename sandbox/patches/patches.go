// Package patches is the v2.4.0 changelog and the hotfix catalogue as data. The diffs show the code of the
// shop services (services/checkout, orders, payments, schema) so a trainee who reads a log line can find the
// same function in the changelog. The behaviour itself lives in the services, switched by the release
// manifest (release.Release.HasPR / HasPatch); these diffs document it.
package patches

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sandbox-labs/sandbox/faults/fault"
	"github.com/sandbox-labs/sandbox/faults/flagleak"
	"github.com/sandbox-labs/sandbox/faults/notnull"
	"github.com/sandbox-labs/sandbox/faults/sdkbreak"
)

// PR is one change of the v2.4.0 changelog (faults/fault).
type PR = fault.PR

// Decoy marks a patch that looks plausible and fixes nothing.
const Decoy = fault.Decoy

// Patch is one hotfix a fix-forward release may apply (faults/fault).
type Patch = fault.Patch

// PRs returns the v2.4.0 changelog in merge order.
func PRs() []PR { return slices.Clone(prs) }

// Patches returns the hotfix catalogue: right fixes first, then decoys.
func Patches() []Patch { return slices.Clone(patches) }

// LookupPR returns PR n of the changelog.
func LookupPR(n int) (PR, bool) {
	for _, p := range prs {
		if p.Number == n {
			return p, true
		}
	}
	return PR{}, false
}

// Lookup returns patch id, or an error naming the known ids.
func Lookup(id string) (Patch, error) {
	for _, p := range patches {
		if p.ID == id {
			return p, nil
		}
	}
	return Patch{}, fmt.Errorf("unknown patch %q (known patches: %s)", id, strings.Join(IDs(), ", "))
}

// IDs returns every patch id in catalogue order.
func IDs() []string {
	out := make([]string, len(patches))
	for i, p := range patches {
		out[i] = p.ID
	}
	return out
}

// Validate checks a list of patch ids for a release: every id known, none twice.
func Validate(ids []string) error {
	seen := map[string]bool{}
	var unknown []string
	for _, id := range ids {
		if seen[id] {
			return fmt.Errorf("patch %q listed twice", id)
		}
		seen[id] = true
		if _, err := Lookup(id); err != nil {
			unknown = append(unknown, fmt.Sprintf("%q", id))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown patch %s (known patches: %s)", strings.Join(unknown, ", "), strings.Join(IDs(), ", "))
	}
	return nil
}

// Fixing returns the ids of the patches that remove fault id.
func Fixing(fault string) []string {
	var out []string
	for _, p := range patches {
		if p.Fixes == fault {
			out = append(out, p.ID)
		}
	}
	return out
}

// prs is the changelog in merge order, one entry per fault folder (faults/<id>/).
var prs = []PR{flagleak.PR, sdkbreak.PR, notnull.PR}

// patches: every fault's right fixes first, then the decoys, in merge order.
var patches = slices.Concat(flagleak.Fixes, sdkbreak.Fixes, notnull.Fixes, flagleak.Decoys, sdkbreak.Decoys, notnull.Decoys)
