package faults

import "github.com/sandbox-labs/sandbox/services/release"

var sdkBreak = Fault{
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
	Resources: []Resource{
		{Title: "Semantic Versioning 2.0.0", URL: "https://semver.org"},
		{Title: "Ian Robinson: Consumer-Driven Contracts", URL: "https://martinfowler.com/articles/consumerDrivenContracts.html"},
		ResourceCanary,
	},
	Aliases: []string{"sdk", "payment-sdk", "sdk-break", "payments", "payment", "charge", "dependency"},
}
