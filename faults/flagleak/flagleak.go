// Package flagleak is everything about one fault, the discount-code validation (PR #892) behind a feature flag that gates only the UI while the backend runs for everyone, that is not the
// service's own code: its catalogue entry (story, hints, fixes, prevention, the grader's keywords), its
// changelog entry and diff, and the hotfix and decoy patches a fix-forward release may apply against it. The
// catalogue (faults) and the patch registry (sandbox/patches) list it; the service asks its switch by name
// through the release manifest (release.Release.FaultActive, HasPatch).
package flagleak

import (
	"github.com/sandbox-labs/sandbox/faults/fault"
	"github.com/sandbox-labs/sandbox/services/release"
)

// Fault is the catalogue entry.
var Fault = fault.Fault{
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
	Resources: []fault.Resource{
		{Title: "Pete Hodgson: Feature Toggles (aka Feature Flags)", URL: "https://martinfowler.com/articles/feature-toggles.html"},
		{Title: "OpenFeature: specification and concepts", URL: "https://openfeature.dev/specification/"},
		fault.ResourceCanary,
	},
	Aliases: []string{"flag", "flags", "flag-leak", "discount", "discount-codes", "checkout", "feature-flag"},
}

// PR is the v2.4.0 changelog entry that ships this fault.
var PR = fault.PR{
	Number: release.PRDiscountValidation, Title: "Add discount code validation", Service: "checkout",
	Author: "maya.chen", Fault: release.FaultFlagLeak,
	Description: `Adds server-side validation of discount codes at checkout: a valid code applies its percent_off,
an unknown or expired code is rejected with 422.

The discount field in the checkout UI is behind the ` + "`discount_codes`" + ` feature flag (enabled for 15% of
users); GET /checkout/config tells the UI whether to show it.

Testing: unit tests for a valid code, an unknown code and an expired code.`,
	Diff: fault.Diff("services/checkout/checkout.go",
		fault.Hunk(156, "func newDiscountGate(rel release.Release) discountGate {", `
+// applyDiscount returns the percent off for req.
+func (s *Service) applyDiscount(ctx context.Context, req Request) (int, error) {
+	pct, err := s.validateDiscount(ctx, req.DiscountCode)
+	s.recordValidation(err)
+	return pct, err
+}
+
+// validateDiscount checks the code the UI's discount field sent. It assumes the field is always present.
+func (s *Service) validateDiscount(ctx context.Context, code *string) (int, error) {
+	if code == nil {
+		return 0, &discountError{status: http.StatusInternalServerError,
+			msg: "checkout.validateDiscount: discount_code is null", stack: zap.Stack("stack")}
+	}
+	c := strings.ToUpper(strings.TrimSpace(*code))
+	if c == "" {
+		return 0, nil // the field was shown and left blank
+	}
+	d, err := s.store.Discount(ctx, c)
+	if errors.Is(err, ErrNotFound) {
+		return 0, &discountError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf("unknown discount code %q", c)}
+	}
+	if err != nil {
+		return 0, &discountError{status: http.StatusInternalServerError,
+			msg: "checkout.validateDiscount: look up discount code: " + err.Error(), stack: zap.Stack("stack")}
+	}
+	if !d.Active {
+		return 0, &discountError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf("discount code %q has expired", c)}
+	}
+	return d.PercentOff, nil
+}
`),
		fault.Hunk(238, "func (s *Service) handleCheckout(w http.ResponseWriter, r *http.Request) {", `
 	subtotal, err := s.price(r.Context(), req.Items)
 	if err != nil {
 		...
 	}
-	total := subtotal
+	pct, err := s.applyDiscount(r.Context(), req)
+	if err != nil {
+		var de *discountError
+		errors.As(err, &de)
+		if de.status >= 500 {
+			s.log.Error(de.msg, zap.Int64("user_id", req.UserID), zap.Bool("discount_code_present", req.DiscountCode != nil),
+				zap.Int("pr", release.PRDiscountValidation), de.stack)
+		}
+		platform.WriteJSON(w, de.status, map[string]string{"error": de.msg})
+		return
+	}
+	total := subtotal * int64(100-pct) / 100
 	code, body, err := s.placeOrder(r.Context(), req, total, r.Header.Get("Idempotency-Key"))
`),
		fault.Hunk(334, "func (s *Service) handleConfig(w http.ResponseWriter, r *http.Request) {", `
-	platform.WriteJSON(w, http.StatusOK, map[string]any{"user_id": uid, "flags": map[string]bool{}})
+	show := s.flags.Enabled(r.Context(), release.FlagDiscountCodes, uid)
+	platform.WriteJSON(w, http.StatusOK, map[string]any{"user_id": uid, "flags": map[string]bool{release.FlagDiscountCodes: show}})
`)),
}

// Fixes are the patches that remove this fault.
var Fixes = []fault.Patch{
	{
		ID: release.PatchCheckoutBackendFlagGate, Title: "checkout: gate discount validation on the discount_codes flag", Service: "checkout",
		Fixes:       release.FaultFlagLeak,
		Description: "Only validate discount codes for users the discount_codes flag is enabled for (read from feature_flags with a 2 s cache), the same cohort whose UI shows the field.",
		Why:         "The backend now honours the flag that gates the UI, so the 85% without the field never reach validateDiscount.",
		Diff: fault.Diff("services/checkout/checkout.go",
			fault.Hunk(159, "func (s *Service) applyDiscount(ctx context.Context, req Request) (int, error) {", `
+	if !s.flags.Enabled(ctx, release.FlagDiscountCodes, req.UserID) {
+		s.validations.WithLabelValues("skipped").Inc()
+		return 0, nil
+	}
 	pct, err := s.validateDiscount(ctx, req.DiscountCode)
`)),
	},
	{
		ID: release.PatchCheckoutNullGuard, Title: "checkout: skip discount validation when no code is sent", Service: "checkout",
		Fixes:       release.FaultFlagLeak,
		Description: "Treat a missing or null discount_code as \"no discount\" instead of validating it.",
		Why:         "Requests whose UI never showed the field carry no discount_code; they now skip validateDiscount.",
		Diff: fault.Diff("services/checkout/checkout.go",
			fault.Hunk(159, "func (s *Service) applyDiscount(ctx context.Context, req Request) (int, error) {", `
+	if req.DiscountCode == nil {
+		s.validations.WithLabelValues("skipped").Inc()
+		return 0, nil
+	}
 	pct, err := s.validateDiscount(ctx, req.DiscountCode)
`)),
	},
}

// Decoys are patches that look like fixes for this fault's symptom and are not.
var Decoys = []fault.Patch{
	{
		ID: release.PatchCheckoutFlagDefaultOff, Title: "checkout: default the discount_codes flag to off in the UI", Service: "checkout",
		Fixes:       fault.Decoy,
		Description: "Hide the discount field in the checkout UI for everyone until the discount rollout is reviewed.",
		Why:         "Only GET /checkout/config changes; POST /checkout still validates every request and never reads the flag.",
		Diff: fault.Diff("services/checkout/checkout.go",
			fault.Hunk(340, "func (s *Service) handleConfig(w http.ResponseWriter, r *http.Request) {", `
-	show := s.rel.HasPR(release.PRDiscountValidation) && s.flags.Enabled(r.Context(), release.FlagDiscountCodes, uid)
+	show := s.rel.HasPR(release.PRDiscountValidation) && !s.defaultOff && s.flags.Enabled(r.Context(), release.FlagDiscountCodes, uid)
`)),
	},
}
