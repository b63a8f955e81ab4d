package sandbox

import (
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/services/release"
)

func TestPlanRelease(t *testing.T) {
	existing := map[string]release.Release{"v2.3.0": release.V230(), "v2.4.0": release.V240(nil, 0)}
	rel, err := PlanRelease(existing, ReleaseSpec{Version: "v2.4.1", From: "v2.4.0", Revert: []int{892}, Patches: []string{"payments-call-v4-signature"}})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != "v2.4.1" || rel.From != "v2.4.0" || rel.HasPR(892) || !rel.HasPR(901) || !rel.HasPatch("payments-call-v4-signature") {
		t.Errorf("planned release %+v", rel)
	}
	if rel.FaultActive(release.FaultFlagLeak) {
		t.Error("reverting #892 must deactivate the flag leak")
	}
	if rel.Migration != release.MigrationOrderMetadata {
		t.Errorf("migration %d: a code revert keeps the schema it was cut from", rel.Migration)
	}
	bad := []struct {
		spec ReleaseSpec
		want string
	}{
		{ReleaseSpec{Version: "2.4.1", From: "v2.4.0", Revert: []int{892}}, "use the form"},
		{ReleaseSpec{Version: "v2.4.0", From: "v2.4.0", Revert: []int{892}}, "already exists"},
		{ReleaseSpec{Version: "v2.4.1", From: "v9.9.9", Revert: []int{892}}, "unknown --from"},
		{ReleaseSpec{Version: "v2.4.1", From: "v2.4.0"}, "at least one"},
		{ReleaseSpec{Version: "v2.4.1", From: "v2.4.0", Revert: []int{777}}, "PR #777 is not in v2.4.0"},
		{ReleaseSpec{Version: "v2.4.1", From: "v2.3.0", Revert: []int{892}}, "not in v2.3.0"},
		{ReleaseSpec{Version: "v2.4.1", From: "v2.4.0", Patches: []string{"make-it-work"}}, "make-it-work"},
	}
	for _, b := range bad {
		if _, err := PlanRelease(existing, b.spec); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: err %v, want it to mention %q", b.spec, err, b.want)
		}
	}
}
