package sandbox

import (
	"testing"

	"github.com/sandbox-labs/sandbox/services/release"
)

// FuzzPlanRelease: any release spec is refused or yields a manifest that is what was asked for: the new
// version, cut from an existing release, every reverted PR gone from what ships.
func FuzzPlanRelease(f *testing.F) {
	f.Add("v2.4.1", "v2.4.0", 892, "checkout-backend-flag-gate")
	f.Add("v2.4.0", "v2.4.0", 0, "")
	f.Add("2.4.1", "v9", -1, "no-such-patch")
	f.Add("v2.4.1-rc.1", "v2.3.0", 905, "payments-pin-sdk-3.1")
	existing := map[string]release.Release{"v2.3.0": release.V230(), "v2.4.0": release.V240(nil, 0)}
	f.Fuzz(func(t *testing.T, version, from string, revert int, patch string) {
		spec := ReleaseSpec{Version: version, From: from}
		if revert != 0 {
			spec.Revert = []int{revert}
		}
		if patch != "" {
			spec.Patches = []string{patch}
		}
		r, err := PlanRelease(existing, spec)
		if err != nil {
			return
		}
		if r.Version != version || r.From != from || ValidVersion(r.Version) != nil {
			t.Fatalf("%+v planned %+v", spec, r)
		}
		if _, ok := existing[from]; !ok {
			t.Fatalf("cut from %q, which does not exist", from)
		}
		if revert != 0 && r.HasPR(revert) {
			t.Fatalf("reverted #%d still ships: %+v", revert, r)
		}
	})
}

func TestPlanReleaseRefusesARepeatedRevert(t *testing.T) {
	existing := map[string]release.Release{"v2.4.0": release.V240(nil, 0)}
	if _, err := PlanRelease(existing, ReleaseSpec{Version: "v2.4.1", From: "v2.4.0", Revert: []int{892, 892}}); err == nil {
		t.Fatal("a PR reverted twice was accepted")
	}
}
