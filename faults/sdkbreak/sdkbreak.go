// Package sdkbreak is everything about one fault, the payment-sdk 3.1 to 4.0 upgrade (PR #901), whose changed Charge signature breaks one payment path, that is not the
// service's own code: its catalogue entry (story, hints, fixes, prevention, the grader's keywords), its
// changelog entry and diff, and the hotfix and decoy patches a fix-forward release may apply against it. The
// catalogue (faults) and the patch registry (sandbox/patches) list it; the service asks its switch by name
// through the release manifest (release.Release.FaultActive, HasPatch).
package sdkbreak

import (
	"github.com/sandbox-labs/sandbox/faults/fault"
	"github.com/sandbox-labs/sandbox/services/release"
)

// Fault is the catalogue entry.
var Fault = fault.Fault{
	ID:      release.FaultSDKBreak,
	PR:      release.PRPaymentSDK4,
	Service: "payments",
	Title:   "Upgrade payment-sdk from 3.1 to 4.0",
	Name:    "payments",
	Seen:    "payments: POST /api/payments fails for some payment methods, and checkout through them",
	Symptom: "payment-sdk 4.0 changed Charge(amount) to Charge(amount, options). A payments code path still wired " +
		"to the 3.x shape fails at run time, so payments on that path (and the checkouts that use it) fail.",
	Affected: []string{"/api/checkout", "/api/payments"},
	SignalsInLogs: []string{
		"payments: the charge call fails with a method-shape mismatch naming Charge and both signatures " +
			"(3.x Charge(amount) vs 4.0 Charge(amount, options)); the Go equivalent of Java's NoSuchMethodError",
		"payments_charges_total{sdk_version=\"4.0\",result=\"error\"} for one path only",
		"app_build_info{service=\"payments\",sdk_version=\"4.0\"}",
	},
	Hints: []string{
		"What does payment-sdk 3.1 expose: Charge(amount)? What does 4.0 expose?",
		"Charge(amount, options): a breaking change shipped in a major version; code wired to the 3.x shape breaks.",
		"Ways out: roll back payments (pin payment-sdk 3.1), or fix forward by calling the 4.0 signature on every path.",
	},
	Fixes: []string{
		"roll back payments to v2.3.0 (payment-sdk 3.1)",
		"fix forward: pin payment-sdk 3.1",
		"fix forward: call Charge(amount, options) on every payment path",
	},
	Dangerous: []string{
		"rolling back every service at once without checking the schema (see the NOT NULL migration)",
	},
	Prevention: []string{
		"a dependency update policy: major-version bumps are reviewed by owners, with the changelog read",
		"consumer-driven contract tests against the SDK and provider, run on every upgrade",
		"staged (canary) rollout of dependency upgrades, watching the error rate per path",
	},
	Keywords: []string{"major", "semver", "breaking", "signature", "charge", "options", "contract", "mock",
		"stub", "integration", "sdk", "3.1", "4.0", "path", "pin", "reflection", "interface"},
	CodePath: [][]string{
		{"charge"},
		{"payments", "sdk", "signature", "options", "3.1", "4.0", "path", "card"},
	},
	CodePathRef: "payments' charge path still calls the payment-sdk 3.x Charge(amount) shape; 4.0 only offers " +
		"Charge(amount, options)",
	Functions: []string{"chargeStoredCredential"},
	Resources: []fault.Resource{
		{Title: "Semantic Versioning 2.0.0", URL: "https://semver.org"},
		{Title: "Ian Robinson: Consumer-Driven Contracts", URL: "https://martinfowler.com/articles/consumerDrivenContracts.html"},
		fault.ResourceCanary,
	},
	Aliases: []string{"sdk", "payment-sdk", "sdk-break", "payments", "payment", "charge", "dependency"},
}

// PR is the v2.4.0 changelog entry that ships this fault.
var PR = fault.PR{
	Number: release.PRPaymentSDK4, Title: "Upgrade payment-sdk from 3.1 to 4.0", Service: "payments",
	Author: "dev.okafor", Fault: release.FaultSDKBreak,
	Description: `Bumps payment-sdk from 3.1 to 4.0 (provider API v4: idempotency keys, capture flag, metadata).

4.0 changes Client.Charge(amount) to Client.Charge(amount, opts). The card charge path now passes
ChargeOptions with the order's idempotency key. The package builds and the card tests pass against the
provider sandbox.`,
	Diff: fault.Diff("services/payments/sdk.go",
		fault.Hunk(6, "", `
 	"strings"
 
-	sdk "github.com/sandbox-labs/sandbox/services/payments/paymentsdk/v3"
+	sdk3 "github.com/sandbox-labs/sandbox/services/payments/paymentsdk/v3"
+	sdk4 "github.com/sandbox-labs/sandbox/services/payments/paymentsdk/v4"
 )
`),
		fault.Hunk(55, "type chargerV3 interface {", `
 // chargerV3 is the payment-sdk 3.x shape of Charge.
 type chargerV3 interface {
-	Charge(sdk.Amount) (sdk.Receipt, error)
+	Charge(sdk4.Amount) (sdk4.Receipt, error)
 }
 
 // chargeStoredCredential charges a stored credential (saved card or wallet token).
-func chargeStoredCredential(client any, amount sdk.Amount) (r sdk.Receipt, err error) {
+func chargeStoredCredential(client any, amount sdk4.Amount) (r sdk4.Receipt, err error) {
 	defer func() {
 		if p := recover(); p != nil {
 			err = noSuchMethod(client, reflect.TypeFor[chargerV3](), "Charge", p)
 		}
 	}()
 	return client.(chargerV3).Charge(amount)
 }
`),
		fault.Hunk(112, "func (s *Service) callProvider(ctx context.Context, path string, req ChargeRequest) (receipt, error) {", `
-	client := s.sdk.WithContext(ctx)
-	amount := sdk.Amount{Cents: req.AmountCents, Currency: req.Currency}
+	if s.sdkVersion == sdk3.Version {
+		r, err := s.v3.WithContext(ctx).Charge(sdk3.Amount{Cents: req.AmountCents, Currency: req.Currency})
+		return receipt{ID: r.ID, Status: r.Status, SDKVersion: sdk3.Version}, err
+	}
+	client := s.v4.WithContext(ctx)
+	amount := sdk4.Amount{Cents: req.AmountCents, Currency: req.Currency}
+	opts := sdk4.ChargeOptions{IdempotencyKey: req.IdempotencyKey, PaymentMethod: path, Capture: true,
+		Metadata: map[string]string{"order_id": fmt.Sprint(req.OrderID)}}
 	var (
-		r   sdk.Receipt
+		r   sdk4.Receipt
 		err error
 	)
 	if path == s.storedPath {
 		r, err = chargeStoredCredential(client, amount)
 	} else {
-		r, err = client.Charge(amount)
+		r, err = client.Charge(amount, opts)
 	}
-	return receipt{ID: r.ID, Status: r.Status, SDKVersion: sdk.Version}, err
+	return receipt{ID: r.ID, Status: r.Status, SDKVersion: sdk4.Version}, err
`)),
}

// Fixes are the patches that remove this fault.
var Fixes = []fault.Patch{
	{
		ID: release.PatchPaymentsCallV4Signature, Title: "payments: call Charge(amount, opts) on the stored-credential path", Service: "payments",
		Fixes:       release.FaultSDKBreak,
		Description: "Move the last payment path still written against payment-sdk 3.x to the 4.0 signature Charge(amount, opts).",
		Why:         "Every path now calls the method payment-sdk 4.0 really has; the interface conversion is gone.",
		Diff: fault.Diff("services/payments/sdk.go",
			fault.Hunk(126, "func (s *Service) callProvider(ctx context.Context, path string, req ChargeRequest) (receipt, error) {", `
-	if path == s.storedPath && s.legacyShape {
-		r, err = chargeStoredCredential(client, amount)
-	} else {
-		r, err = client.Charge(amount, opts)
-	}
+	r, err = client.Charge(amount, opts)
`)),
	},
	{
		ID: release.PatchPaymentsPinSDK31, Title: "payments: pin payment-sdk to 3.1", Service: "payments",
		Fixes:       release.FaultSDKBreak,
		Description: "Build payments against payment-sdk 3.1 again (provider API v3) until every path is migrated to 4.0.",
		Why:         "With 3.1 every path calls Charge(amount), the shape the code was written for; app_build_info shows sdk_version 3.1.",
		Diff: fault.Diff("services/payments/payments.go",
			fault.Hunk(84, "func New(cfg platform.Config, log *zap.Logger, store Store, providerURL string, hc *http.Client, reg prometheus.Registerer) *Service {", `
-		sdkVersion: rel.SDKVersion(), storedPath: StoredCredentialPath(cfg.Seed),
+		sdkVersion: sdk3.Version, storedPath: StoredCredentialPath(cfg.Seed), // pinned: 4.0 broke Charge(amount)
`)),
	},
}

// Decoys are patches that look like fixes for this fault's symptom and are not.
var Decoys = []fault.Patch{
	{
		ID: release.PatchPaymentsRetryCharge, Title: "payments: retry failed charges", Service: "payments",
		Fixes:       fault.Decoy,
		Description: "Retry a failed charge up to 3 times with a short backoff to ride out provider blips.",
		Why:         "The failure is a method-shape mismatch, not a transient error: every retry fails the same way and adds latency.",
		Diff: fault.Diff("services/payments/payments.go",
			fault.Hunk(120, "func (s *Service) Charge(ctx context.Context, req ChargeRequest) (Payment, error) {", `
 	attempts := 1
+	if s.retry {
+		attempts = retryAttempts
+	}
`)),
	},
}
