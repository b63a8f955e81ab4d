package faults

import "github.com/sandbox-labs/sandbox/services/release"

var flagLeak = Fault{
	ID:      release.FaultFlagLeak,
	PR:      release.PRDiscountValidation,
	Service: "checkout",
	Title:   "Add discount code validation",
	Name:    "checkout",
	Seen:    "checkout: POST /api/checkout fails for many users",
	Symptom: "The discount_codes flag only decides whether the UI shows the field (about 15% of users). The new " +
		"backend validation runs for every checkout and fails when discount_code is absent, so the ~85% who never " +
		"see the field fail. Turning the flag off changes nothing: the backend never reads it.",
	Affected: []string{"/api/checkout"},
	SignalsInLogs: []string{
		"checkout: discount validation failed: discount_code is missing (for users outside the flag cohort)",
		"checkout_discount_validations_total{result=\"error\"} climbs with ~85% of checkout traffic",
		"no change in the error rate after the discount_codes flag is turned off",
	},
	Hints: []string{
		"What share of checkout requests carry no discount_code? (Look at who sees the field.)",
		"The flag gates the UI only; the backend validation runs for everyone, with or without a code.",
		"Ways out: roll back checkout; or fix forward with a backend gate " +
			"(if flags.Enabled(\"discount_codes\", user) { validateDiscount() }) or a null guard. " +
			"Turning the flag off does not help.",
	},
	Fixes: []string{
		"roll back checkout to v2.3.0",
		"fix forward: gate the validation on the flag in the backend handler",
		"fix forward: skip validation when discount_code is absent (null guard)",
	},
	Dangerous: []string{
		"turning the discount_codes flag off and calling it fixed: the backend never reads it",
	},
	Prevention: []string{
		"a feature flag must gate both the frontend and the backend code path it protects",
		"a lint or review rule: every new flag is checked in the backend handler, with a test for flag-off users",
		"flag review in the PR process, and tests that run with the flag both on and off",
	},
	Keywords: []string{"flag", "backend", "frontend", "ui", "gate", "null", "absent", "missing", "85",
		"discount_code", "cohort", "enabled", "always", "every request", "off"},
	CodePath: [][]string{
		{"discount", "validat"},
		{"checkout", "handler", "backend", "validat", "null", "absent", "missing"},
	},
	CodePathRef: "checkout's POST /checkout handler calls the discount validation for every request, without " +
		"checking the discount_codes flag, and fails when discount_code is absent",
	Functions: []string{"validateDiscount", "applyDiscount"},
	Resources: []Resource{
		{Title: "Pete Hodgson: Feature Toggles (aka Feature Flags)", URL: "https://martinfowler.com/articles/feature-toggles.html"},
		{Title: "OpenFeature: specification and concepts", URL: "https://openfeature.dev/specification/"},
		ResourceCanary,
	},
	Aliases: []string{"flag", "flags", "flag-leak", "discount", "discount-codes", "checkout", "feature-flag"},
}
