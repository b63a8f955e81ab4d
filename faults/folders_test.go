package faults

import (
	"testing"

	"github.com/sandbox-labs/sandbox/faults/fault"
	"github.com/sandbox-labs/sandbox/faults/flagleak"
	"github.com/sandbox-labs/sandbox/faults/notnull"
	"github.com/sandbox-labs/sandbox/faults/sdkbreak"
	"github.com/sandbox-labs/sandbox/services/release"
)

// Every fault folder holds one consistent fault: its changelog entry carries it, its fixes remove it, its
// decoys are marked as such, and the catalogue and release know it under the same id.
func TestEveryFaultFolderIsConsistent(t *testing.T) {
	folders := []struct {
		fault  fault.Fault
		pr     fault.PR
		fixes  []fault.Patch
		decoys []fault.Patch
	}{
		{notnull.Fault, notnull.PR, notnull.Fixes, notnull.Decoys},
		{flagleak.Fault, flagleak.PR, flagleak.Fixes, flagleak.Decoys},
		{sdkbreak.Fault, sdkbreak.PR, sdkbreak.Fixes, sdkbreak.Decoys},
	}
	if len(folders) != len(release.AllFaults) || len(folders) != len(All()) {
		t.Fatalf("%d folders, %d faults in the release, %d in the catalogue", len(folders), len(release.AllFaults), len(All()))
	}
	for _, f := range folders {
		id := f.fault.ID
		if got, err := Lookup(id); err != nil || got.PR != f.fault.PR {
			t.Errorf("%s: catalogue lookup %v %v", id, got.ID, err)
		}
		if f.pr.Fault != id || f.pr.Number != f.fault.PR || f.pr.Service != f.fault.Service || f.pr.Diff == "" {
			t.Errorf("%s: changelog entry #%d carries %q on %s (diff %d bytes), want #%d on %s", id, f.pr.Number, f.pr.Fault,
				f.pr.Service, len(f.pr.Diff), f.fault.PR, f.fault.Service)
		}
		if len(f.fixes) == 0 {
			t.Errorf("%s: no patch fixes it", id)
		}
		for _, p := range f.fixes {
			if p.Fixes != id || p.Diff == "" || p.Why == "" {
				t.Errorf("%s: fix %s says it fixes %q (diff %d bytes, why %q)", id, p.ID, p.Fixes, len(p.Diff), p.Why)
			}
		}
		for _, p := range f.decoys {
			if p.Fixes != fault.Decoy || p.Why == "" {
				t.Errorf("%s: decoy %s says it fixes %q", id, p.ID, p.Fixes)
			}
		}
	}
}
