// Package release describes a shop release as data: which PRs and hotfix patches it contains. The same binary
// runs every version; the manifest baked into an image decides which code paths are live, the way a build
// includes or excludes commits.
package release

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
)

// PR is one change in a release's changelog.
type PR struct {
	Number  int    `json:"number"`
	Title   string `json:"title"`
	Service string `json:"service"`
	// Fault is the fault id this PR carries (see faults/), empty for a harmless PR.
	Fault string `json:"fault,omitempty"`
}

// Release is the manifest baked into every image as SANDBOX_RELEASE.
type Release struct {
	Version string `json:"version"`
	// From is the release this one was cut from (empty for the base release).
	From string `json:"from,omitempty"`
	// PRs are the changes this release contains on top of the base v2.3.0, in merge order.
	PRs []PR `json:"prs,omitempty"`
	// Reverted lists PR numbers removed when the release was cut.
	Reverted []int `json:"reverted,omitempty"`
	// Patches are hotfix patch ids applied on top (see the patch catalogue).
	Patches []string `json:"patches,omitempty"`
	// Faults are the fault ids active in this release's PRs; a PR whose fault is not listed ships its
	// correct version (game days that enable a subset).
	Faults []string `json:"faults,omitempty"`
	// Migration is the highest schema migration version this release's code expects.
	Migration int64 `json:"migration"`
	// Seed varies scenario details (cohort share, which payment path breaks).
	Seed int64 `json:"seed,omitempty"`
}

// PR numbers of the v2.4.0 changelog.
const (
	PRDiscountValidation = 892
	PRPaymentSDK4        = 901
	PROrderMetadata      = 905
)

// Fault ids.
const (
	FaultFlagLeak    = "flag-leak"
	FaultSDKBreak    = "sdk-break"
	FaultNotNullTrap = "not-null-migration"
)

// AllFaults in catalogue order.
var AllFaults = []string{FaultNotNullTrap, FaultFlagLeak, FaultSDKBreak}

// V240PRs is the v2.4.0 changelog: these three PRs and nothing else.
var V240PRs = []PR{
	{Number: PRDiscountValidation, Title: "Add discount code validation", Service: "checkout", Fault: FaultFlagLeak},
	{Number: PRPaymentSDK4, Title: "Upgrade payment-sdk from 3.1 to 4.0", Service: "payments", Fault: FaultSDKBreak},
	{Number: PROrderMetadata, Title: "Add order_metadata column to orders table", Service: "orders", Fault: FaultNotNullTrap},
}

// Migration versions.
const (
	MigrationBase          int64 = 4
	MigrationOrderMetadata int64 = 5
)

// V230 is the healthy base release.
func V230() Release { return Release{Version: "v2.3.0", Migration: MigrationBase} }

// V240 is the bad release with the given faults active (nil = all three).
func V240(faults []string, seed int64) Release {
	if faults == nil {
		faults = slices.Clone(AllFaults)
	}
	return Release{Version: "v2.4.0", From: "v2.3.0", PRs: slices.Clone(V240PRs), Faults: faults,
		Migration: MigrationOrderMetadata, Seed: seed}
}

// HasPR reports whether the release contains PR n (and it was not reverted).
func (r Release) HasPR(n int) bool {
	if slices.Contains(r.Reverted, n) {
		return false
	}
	for _, p := range r.PRs {
		if p.Number == n {
			return true
		}
	}
	return false
}

// HasPatch reports whether hotfix patch id is applied.
func (r Release) HasPatch(id string) bool { return slices.Contains(r.Patches, id) }

// FaultActive reports whether fault id ships live in this release: its PR is in and the fault is enabled.
func (r Release) FaultActive(id string) bool {
	if !slices.Contains(r.Faults, id) {
		return false
	}
	for _, p := range r.PRs {
		if p.Fault == id && r.HasPR(p.Number) {
			return true
		}
	}
	return false
}

// SDKVersion is the payment-sdk version the payments service is built against.
func (r Release) SDKVersion() string {
	if r.HasPR(PRPaymentSDK4) && !r.HasPatch(PatchPaymentsPinSDK31) {
		return "4.0"
	}
	return "3.1"
}

// Encode returns the manifest as JSON for SANDBOX_RELEASE.
func (r Release) Encode() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// Decode parses SANDBOX_RELEASE; empty means v2.3.0.
func Decode(s string) (Release, error) {
	if s == "" {
		return V230(), nil
	}
	var r Release
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return Release{}, fmt.Errorf("decode release manifest: %w", err)
	}
	if r.Version == "" {
		return Release{}, fmt.Errorf("decode release manifest: no version")
	}
	sort.Ints(r.Reverted)
	return r, nil
}

// Hotfix patch ids: the one definition the services that honour them and the patch catalogue
// (sandbox/patches) both use.
const (
	PatchCheckoutBackendFlagGate = "checkout-backend-flag-gate"
	PatchCheckoutNullGuard       = "checkout-null-guard"
	PatchPaymentsCallV4Signature = "payments-call-v4-signature"
	PatchPaymentsPinSDK31        = "payments-pin-sdk-3.1"
	PatchOrdersKeepSchema        = "orders-keep-schema"
	// Decoys: they look like fixes and are not.
	PatchCheckoutFlagDefaultOff = "checkout-flag-default-off"
	PatchPaymentsRetryCharge    = "payments-retry-charge"
	PatchOrdersCatch23502       = "orders-catch-23502"
	PatchCheckoutRaiseTimeout   = "checkout-raise-timeout"
)

// FlagDiscountCodes is the feature flag PR #892 ships behind.
const FlagDiscountCodes = "discount_codes"

// The cohort rule, the one definition checkout, the load generator and the grader share: a user is in a
// flag's rollout when fnv32a(flag+":"+user_id) % 100 < rollout percent.

// CohortBucket is the user's bucket 0..99 for flag.
func CohortBucket(flag string, userID int64) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(flag + ":" + strconv.FormatInt(userID, 10)))
	return int(h.Sum32() % 100)
}

// InCohort reports whether userID is inside flag's rollout of percent.
func InCohort(flag string, userID int64, percent int) bool {
	return CohortBucket(flag, userID) < percent
}

// The seeded variant's discount_codes rollout: seed 0 keeps the card's 15%, other seeds spread it over
// CohortPercentMin..CohortPercentMax so trainees side by side see different shares.
const (
	CohortPercentCard = 15
	CohortPercentMin  = 10
	CohortPercentMax  = 20
)

// SeededCohortPercent is the discount_codes rollout percent of seed's variant.
func SeededCohortPercent(seed int64) int {
	if seed == 0 {
		return CohortPercentCard
	}
	return CohortPercentMin + int(uint64(seed)%uint64(CohortPercentMax-CohortPercentMin+1))
}
