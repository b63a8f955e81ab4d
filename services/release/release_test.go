package release

import (
	"slices"
	"strings"
	"testing"
)

func TestManifestRoundTrip(t *testing.T) {
	r := V240([]string{FaultSDKBreak}, 7)
	r.Reverted = []int{PROrderMetadata, PRDiscountValidation}
	r.Patches = []string{"payments-pin-sdk-3.1"}
	got, err := Decode(r.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "v2.4.0" || got.Seed != 7 || got.Migration != MigrationOrderMetadata || len(got.PRs) != 3 ||
		!slices.Equal(got.Reverted, []int{PRDiscountValidation, PROrderMetadata}) {
		t.Errorf("round trip %+v (reverted sorted?)", got)
	}
	if v, err := Decode(""); err != nil || v.Version != "v2.3.0" || v.Migration != MigrationBase || len(v.PRs) != 0 {
		t.Errorf("empty manifest = %+v, %v; want v2.3.0", v, err)
	}
	for _, bad := range []string{"{", `{"migration":5}`, `"v2.4.0"`} {
		if _, err := Decode(bad); err == nil || !strings.Contains(err.Error(), "release manifest") {
			t.Errorf("Decode(%q) = %v, want an error naming the manifest", bad, err)
		}
	}
}

// What is live in a release: a fault needs both its PR (not reverted) and to be enabled.
func TestWhatShipsLive(t *testing.T) {
	all := V240(nil, 0)
	for _, f := range AllFaults {
		if !all.FaultActive(f) {
			t.Errorf("v2.4.0 with all faults: %s not active", f)
		}
	}
	subset := V240([]string{FaultFlagLeak}, 0)
	if !subset.FaultActive(FaultFlagLeak) || subset.FaultActive(FaultSDKBreak) || subset.FaultActive(FaultNotNullTrap) {
		t.Errorf("v2.4.0 with only flag-leak: %+v", subset)
	}
	if !subset.HasPR(PRPaymentSDK4) {
		t.Error("a disabled fault's PR still ships (its correct version)")
	}
	reverted := V240(nil, 0)
	reverted.Reverted = []int{PRDiscountValidation}
	if reverted.HasPR(PRDiscountValidation) || reverted.FaultActive(FaultFlagLeak) || !reverted.FaultActive(FaultSDKBreak) {
		t.Errorf("reverting #%d: %+v", PRDiscountValidation, reverted)
	}
	if V230().FaultActive(FaultSDKBreak) || V230().HasPR(PRPaymentSDK4) {
		t.Error("v2.3.0 carries v2.4.0's changes")
	}
}

func TestSDKVersion(t *testing.T) {
	r := V240(nil, 0)
	if r.SDKVersion() != "4.0" {
		t.Errorf("v2.4.0 SDK %s, want 4.0", r.SDKVersion())
	}
	r.Patches = []string{"payments-pin-sdk-3.1"}
	if r.SDKVersion() != "3.1" {
		t.Errorf("pinned SDK %s, want 3.1", r.SDKVersion())
	}
	r = V240(nil, 0)
	r.Reverted = []int{PRPaymentSDK4}
	if r.SDKVersion() != "3.1" || V230().SDKVersion() != "3.1" {
		t.Errorf("reverted/v2.3.0 SDK %s/%s, want 3.1", r.SDKVersion(), V230().SDKVersion())
	}
}

func TestInCohortShare(t *testing.T) {
	n := 0
	for u := int64(1); u <= 1000; u++ {
		if InCohort(FlagDiscountCodes, u, 15) {
			n++
		}
	}
	if n < 110 || n > 190 {
		t.Fatalf("cohort of 1000 users at 15%% = %d", n)
	}
	if InCohort(FlagDiscountCodes, 1, 0) || !InCohort(FlagDiscountCodes, 1, 100) {
		t.Fatal("0% must include nobody and 100% everybody")
	}
}

func TestSeededCohortPercentSpansTheRange(t *testing.T) {
	if got := SeededCohortPercent(0); got != CohortPercentCard {
		t.Fatalf("seed 0: %d%%, want the card's %d%%", got, CohortPercentCard)
	}
	seen := map[int]bool{}
	for seed := int64(-50); seed <= 50; seed++ {
		p := SeededCohortPercent(seed)
		if p < CohortPercentMin || p > CohortPercentMax {
			t.Fatalf("seed %d: %d%%, outside %d..%d", seed, p, CohortPercentMin, CohortPercentMax)
		}
		seen[p] = true
	}
	if len(seen) != CohortPercentMax-CohortPercentMin+1 {
		t.Fatalf("seeds -50..50 give %d distinct shares, want every one of %d..%d", len(seen), CohortPercentMin, CohortPercentMax)
	}
}
