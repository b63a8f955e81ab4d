package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/patches"
	"github.com/sandbox-labs/sandbox/services/release"
)

func existingReleases() map[string]release.Release {
	return map[string]release.Release{"v2.3.0": release.V230(), "v2.4.0": release.V240(nil, 0)}
}

// A spec that cannot be cut is refused as a usage error whose message lists what is valid.
func TestReleaseCreateRefusesBadSpecs(t *testing.T) {
	existing := existingReleases()
	cases := []struct {
		spec sandbox.ReleaseSpec
		want []string
	}{
		{sandbox.ReleaseSpec{Version: "v2.4.1", From: "v2.4.0", Revert: []int{777}}, []string{"PR #777 is not in v2.4.0", "[892 901 905]"}},
		{sandbox.ReleaseSpec{Version: "v2.4.1", From: "v2.4.0", Patches: []string{"make-it-work"}},
			append([]string{`unknown patch "make-it-work"`}, patches.IDs()...)},
		{sandbox.ReleaseSpec{Version: "v2.4.0", From: "v2.4.0", Revert: []int{892}}, []string{"release v2.4.0 already exists", "sandbox release list"}},
		{sandbox.ReleaseSpec{Version: "v2.3.0", From: "v2.4.0", Revert: []int{892}}, []string{"release v2.3.0 already exists"}},
		{sandbox.ReleaseSpec{Version: "v2.4.1", From: "v9.0.0", Revert: []int{892}}, []string{`unknown --from release "v9.0.0"`, "[v2.3.0 v2.4.0]"}},
		{sandbox.ReleaseSpec{Version: "v2.4.1", From: "v2.4.0"}, []string{"at least one --revert"}},
		{sandbox.ReleaseSpec{Version: "2.4.1", From: "v2.4.0", Revert: []int{892}}, []string{"use the form v2.4.1"}},
	}
	for _, c := range cases {
		_, err := planCreate(existing, c.spec)
		if ExitCode(err) != ExitUsage {
			t.Errorf("%+v: err %v (exit %d), want a usage error", c.spec, err, ExitCode(err))
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %q does not mention %q", c.spec, err, w)
			}
		}
	}
	// A PR already reverted in the release it starts from is no longer in it.
	existing["v2.4.1"] = mustPlan(t, existing, sandbox.ReleaseSpec{Version: "v2.4.1", From: "v2.4.0", Revert: []int{892}})
	if _, err := planCreate(existing, sandbox.ReleaseSpec{Version: "v2.4.2", From: "v2.4.1", Revert: []int{892}}); err == nil ||
		!strings.Contains(err.Error(), "PR #892 is not in v2.4.1; it contains [901 905]") {
		t.Errorf("reverting #892 again: %v", err)
	}
}

func mustPlan(t *testing.T, existing map[string]release.Release, spec sandbox.ReleaseSpec) release.Release {
	t.Helper()
	rel, err := planCreate(existing, spec)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// A valid spec prints what the new release is: where it came from, the PRs reverted and the patches; the
// reverted PRs are gone from it, the rest stay, and the timeline event carries the same.
func TestReleaseCreatePrintsTheNewRelease(t *testing.T) {
	existing := existingReleases()
	p := patches.Patches()[0].ID
	rel := mustPlan(t, existing, sandbox.ReleaseSpec{Version: "v2.4.1", From: "v2.4.0", Revert: []int{905, 892}, Patches: []string{p}})
	if rel.HasPR(892) || rel.HasPR(905) || !rel.HasPR(901) || !rel.HasPatch(p) {
		t.Errorf("planned %+v", rel)
	}
	var b bytes.Buffer
	writeReleaseCreated(&b, rel)
	want := "release v2.4.1 created (from v2.4.0; reverted [892 905]; patches [" + p + "])\ndeploy it with: sandbox deploy all v2.4.1\n"
	if b.String() != want {
		t.Errorf("printed %q, want %q", b.String(), want)
	}
	ev := releaseCreatedEvent(rel)
	if ev.Kind != "release_created" || ev.Actor != "trainee" || ev.From != "v2.4.0" || ev.To != "v2.4.1" ||
		ev.Data["reverted"] != "892,905" || ev.Data["patches"] != p {
		t.Errorf("event %+v", ev)
	}

	// The list shows the new release beside the old ones: #892 and #905 moved from PRS to REVERTED.
	existing["v2.4.1"] = rel
	b.Reset()
	if err := writeReleaseList(&b, existing); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "RELEASE") {
		t.Fatalf("list:\n%s", b.String())
	}
	for i, want := range [][]string{
		{"v2.3.0", "-", "-", "-", "-"},
		{"v2.4.0", "v2.3.0", "#892", "#901", "#905", "-", "-"},
		{"v2.4.1", "v2.4.0", "#901", "#892", "#905", p},
	} {
		if got := strings.Fields(lines[i+1]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("list row %d = %q, want %q", i+1, got, want)
		}
	}

	// Cutting from a release that already has patches keeps them, without listing one twice.
	next := mustPlan(t, existing, sandbox.ReleaseSpec{Version: "v2.4.2", From: "v2.4.1", Revert: []int{901}, Patches: []string{p}})
	b.Reset()
	writeReleaseCreated(&b, next)
	if !strings.Contains(b.String(), "reverted [892 901 905]; patches ["+p+"])") {
		t.Errorf("second fix-forward printed %q", b.String())
	}
}
