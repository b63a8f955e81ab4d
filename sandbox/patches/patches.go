// Package patches is the v2.4.0 changelog and the hotfix catalogue as data. The diffs show the code of the
// shop services (services/checkout, orders, payments, schema) so a trainee who reads a log line can find the
// same function in the changelog. The behaviour itself lives in the services, switched by the release
// manifest (release.Release.HasPR / HasPatch); these diffs document it.
package patches

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sandbox-labs/sandbox/services/release"
)

// PR is one change of the v2.4.0 changelog.
type PR struct {
	Number      int    `json:"number"`
	Title       string `json:"title"`
	Service     string `json:"service"`
	Author      string `json:"author"`
	Description string `json:"description"`
	// Fault is the fault id the PR carries.
	Fault string `json:"fault"`
	Diff  string `json:"diff"`
}

// Decoy marks a patch that looks plausible and fixes nothing.
const Decoy = "decoy"

// Patch is one hotfix a fix-forward release may apply.
type Patch struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Service     string `json:"service"`
	Description string `json:"description"`
	Diff        string `json:"diff"`
	// Fixes is the fault id the patch removes, or Decoy.
	Fixes string `json:"fixes"`
	// Why explains the outcome, for the grader and the debrief (not shown before the incident ends).
	Why string `json:"why"`
}

// PRs returns the v2.4.0 changelog in merge order.
func PRs() []PR { return slices.Clone(prs) }

// Patches returns the hotfix catalogue: right fixes first, then decoys.
func Patches() []Patch { return slices.Clone(patches) }

// LookupPR returns PR n of the changelog.
func LookupPR(n int) (PR, bool) {
	for _, p := range prs {
		if p.Number == n {
			return p, true
		}
	}
	return PR{}, false
}

// Lookup returns patch id, or an error naming the known ids.
func Lookup(id string) (Patch, error) {
	for _, p := range patches {
		if p.ID == id {
			return p, nil
		}
	}
	return Patch{}, fmt.Errorf("unknown patch %q (known patches: %s)", id, strings.Join(IDs(), ", "))
}

// IDs returns every patch id in catalogue order.
func IDs() []string {
	out := make([]string, len(patches))
	for i, p := range patches {
		out[i] = p.ID
	}
	return out
}

// Validate checks a list of patch ids for a release: every id known, none twice.
func Validate(ids []string) error {
	seen := map[string]bool{}
	var unknown []string
	for _, id := range ids {
		if seen[id] {
			return fmt.Errorf("patch %q listed twice", id)
		}
		seen[id] = true
		if _, err := Lookup(id); err != nil {
			unknown = append(unknown, fmt.Sprintf("%q", id))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown patch %s (known patches: %s)", strings.Join(unknown, ", "), strings.Join(IDs(), ", "))
	}
	return nil
}

// Fixing returns the ids of the patches that remove fault id.
func Fixing(fault string) []string {
	var out []string
	for _, p := range patches {
		if p.Fixes == fault {
			out = append(out, p.ID)
		}
	}
	return out
}

var prs = []PR{
	{
		Number: release.PRDiscountValidation, Title: "Add discount code validation", Service: "checkout",
		Author: "maya.chen", Fault: release.FaultFlagLeak,
		Description: `Adds server-side validation of discount codes at checkout: a valid code applies its percent_off,
an unknown or expired code is rejected with 422.

The discount field in the checkout UI is behind the ` + "`discount_codes`" + ` feature flag (enabled for 15% of
users); GET /checkout/config tells the UI whether to show it.

Testing: unit tests for a valid code, an unknown code and an expired code.`,
		Diff: diff("services/checkout/checkout.go",
			hunk(156, "func newDiscountGate(rel release.Release) discountGate {", `
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
			hunk(238, "func (s *Service) handleCheckout(w http.ResponseWriter, r *http.Request) {", `
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
			hunk(334, "func (s *Service) handleConfig(w http.ResponseWriter, r *http.Request) {", `
-	platform.WriteJSON(w, http.StatusOK, map[string]any{"user_id": uid, "flags": map[string]bool{}})
+	show := s.flags.Enabled(r.Context(), release.FlagDiscountCodes, uid)
+	platform.WriteJSON(w, http.StatusOK, map[string]any{"user_id": uid, "flags": map[string]bool{release.FlagDiscountCodes: show}})
`)),
	},
	{
		Number: release.PRPaymentSDK4, Title: "Upgrade payment-sdk from 3.1 to 4.0", Service: "payments",
		Author: "dev.okafor", Fault: release.FaultSDKBreak,
		Description: `Bumps payment-sdk from 3.1 to 4.0 (provider API v4: idempotency keys, capture flag, metadata).

4.0 changes Client.Charge(amount) to Client.Charge(amount, opts). The card charge path now passes
ChargeOptions with the order's idempotency key. The package builds and the card tests pass against the
provider sandbox.`,
		Diff: diff("services/payments/sdk.go",
			hunk(6, "", `
 	"strings"
 
-	sdk "github.com/sandbox-labs/sandbox/services/payments/paymentsdk/v3"
+	sdk3 "github.com/sandbox-labs/sandbox/services/payments/paymentsdk/v3"
+	sdk4 "github.com/sandbox-labs/sandbox/services/payments/paymentsdk/v4"
 )
`),
			hunk(55, "type chargerV3 interface {", `
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
			hunk(112, "func (s *Service) callProvider(ctx context.Context, path string, req ChargeRequest) (receipt, error) {", `
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
	},
	{
		Number: release.PROrderMetadata, Title: "Add order_metadata column to orders table", Service: "orders",
		Author: "lars.petersen", Fault: release.FaultNotNullTrap,
		Description: `Stores where an order came from (source, client, whether the discount UI was shown, release) in a
new orders.order_metadata jsonb column, for the growth team's attribution reports.

Migration 5 adds the column NOT NULL with DEFAULT '{}' so existing rows are backfilled, then drops the
default so every new order must say where it came from. orders now writes the column on insert and returns
it on reads.`,
		Diff: diff("services/schema/migrations/00005_order_metadata.sql",
			hunk(0, "", `
+-- +goose Up
+ALTER TABLE orders ADD COLUMN order_metadata jsonb NOT NULL DEFAULT '{}';
+ALTER TABLE orders ALTER COLUMN order_metadata DROP DEFAULT;
+
+-- +goose Down
+ALTER TABLE orders DROP COLUMN order_metadata;
`)) + diff("services/orders/orders.go",
			hunk(86, "const (", `
 	orderColumns    = `+"`id, user_id, total_cents, status, discount_code, idempotency_key, created_at`"+`
+	orderColumnsV24 = orderColumns + `+"`, order_metadata`"+`
-	insertV230      = `+"`INSERT INTO orders (user_id, total_cents, status, discount_code, idempotency_key)"+`
-VALUES ($1, $2, 'created', NULLIF($3, ''), NULLIF($4, ''))
+	insertV240 = `+"`INSERT INTO orders (user_id, total_cents, status, discount_code, idempotency_key, order_metadata)"+`
+VALUES ($1, $2, 'created', NULLIF($3, ''), NULLIF($4, ''), $5)
 ON CONFLICT (idempotency_key) DO NOTHING
`),
			hunk(196, "func (s *Service) createOrder(ctx context.Context, req CreateRequest, key string) (Order, bool, error) {", `
 	args := []any{req.UserID, total, req.DiscountCode, key}
+	if s.writeMeta {
+		args = append(args, s.metadata(req))
+	}
`)),
	},
}

var patches = []Patch{
	{
		ID: release.PatchCheckoutBackendFlagGate, Title: "checkout: gate discount validation on the discount_codes flag", Service: "checkout",
		Fixes:       release.FaultFlagLeak,
		Description: "Only validate discount codes for users the discount_codes flag is enabled for (read from feature_flags with a 2 s cache), the same cohort whose UI shows the field.",
		Why:         "The backend now honours the flag that gates the UI, so the 85% without the field never reach validateDiscount.",
		Diff: diff("services/checkout/checkout.go",
			hunk(159, "func (s *Service) applyDiscount(ctx context.Context, req Request) (int, error) {", `
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
		Diff: diff("services/checkout/checkout.go",
			hunk(159, "func (s *Service) applyDiscount(ctx context.Context, req Request) (int, error) {", `
+	if req.DiscountCode == nil {
+		s.validations.WithLabelValues("skipped").Inc()
+		return 0, nil
+	}
 	pct, err := s.validateDiscount(ctx, req.DiscountCode)
`)),
	},
	{
		ID: release.PatchPaymentsCallV4Signature, Title: "payments: call Charge(amount, opts) on the stored-credential path", Service: "payments",
		Fixes:       release.FaultSDKBreak,
		Description: "Move the last payment path still written against payment-sdk 3.x to the 4.0 signature Charge(amount, opts).",
		Why:         "Every path now calls the method payment-sdk 4.0 really has; the interface conversion is gone.",
		Diff: diff("services/payments/sdk.go",
			hunk(126, "func (s *Service) callProvider(ctx context.Context, path string, req ChargeRequest) (receipt, error) {", `
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
		Diff: diff("services/payments/payments.go",
			hunk(84, "func New(cfg platform.Config, log *zap.Logger, store Store, providerURL string, hc *http.Client, reg prometheus.Registerer) *Service {", `
-		sdkVersion: rel.SDKVersion(), storedPath: StoredCredentialPath(cfg.Seed),
+		sdkVersion: sdk3.Version, storedPath: StoredCredentialPath(cfg.Seed), // pinned: 4.0 broke Charge(amount)
`)),
	},
	{
		ID: release.PatchOrdersKeepSchema, Title: "orders: keep writing order_metadata (no code change)", Service: "orders",
		Fixes:       release.FaultNotNullTrap,
		Description: "Keep the v2.4.0 orders code, which writes order_metadata, in the fix-forward release even if PR #905 is reverted elsewhere. Documents that the schema stays at migration 5.",
		Why:         "orders code that writes order_metadata is compatible with the NOT NULL column; a code-only rollback of orders is what breaks.",
		Diff: diff("services/orders/orders.go",
			hunk(100, "func New(cfg platform.Config, log *zap.Logger, db *pgxpool.Pool, paymentsURL string, hc *http.Client, reg prometheus.Registerer) *Service {", `
-		writeMeta:  rel.HasPR(release.PROrderMetadata),
+		// orders.order_metadata is NOT NULL without a default since migration 5: never ship code that omits it.
+		writeMeta:  rel.HasPR(release.PROrderMetadata) || rel.HasPatch(release.PatchOrdersKeepSchema),
`)),
	},
	{
		ID: release.PatchCheckoutFlagDefaultOff, Title: "checkout: default the discount_codes flag to off in the UI", Service: "checkout",
		Fixes:       Decoy,
		Description: "Hide the discount field in the checkout UI for everyone until the discount rollout is reviewed.",
		Why:         "Only GET /checkout/config changes; POST /checkout still validates every request and never reads the flag.",
		Diff: diff("services/checkout/checkout.go",
			hunk(340, "func (s *Service) handleConfig(w http.ResponseWriter, r *http.Request) {", `
-	show := s.rel.HasPR(release.PRDiscountValidation) && s.flags.Enabled(r.Context(), release.FlagDiscountCodes, uid)
+	show := s.rel.HasPR(release.PRDiscountValidation) && !s.defaultOff && s.flags.Enabled(r.Context(), release.FlagDiscountCodes, uid)
`)),
	},
	{
		ID: release.PatchPaymentsRetryCharge, Title: "payments: retry failed charges", Service: "payments",
		Fixes:       Decoy,
		Description: "Retry a failed charge up to 3 times with a short backoff to ride out provider blips.",
		Why:         "The failure is a method-shape mismatch, not a transient error: every retry fails the same way and adds latency.",
		Diff: diff("services/payments/payments.go",
			hunk(120, "func (s *Service) Charge(ctx context.Context, req ChargeRequest) (Payment, error) {", `
 	attempts := 1
+	if s.retry {
+		attempts = retryAttempts
+	}
`)),
	},
	{
		ID: release.PatchOrdersCatch23502, Title: "orders: retry inserts that hit a not-null violation", Service: "orders",
		Fixes:       Decoy,
		Description: "Retry an order insert up to 3 times when Postgres answers 23502, in case a concurrent migration is still running.",
		Why:         "23502 is deterministic: code that omits order_metadata fails on every attempt.",
		Diff: diff("services/orders/orders.go",
			hunk(208, "func (s *Service) createOrder(ctx context.Context, req CreateRequest, key string) (Order, bool, error) {", `
 	attempts := 1
+	if s.catch23502 {
+		attempts = catchAttempts
+	}
`)),
	},
	{
		ID: release.PatchCheckoutRaiseTimeout, Title: "checkout: raise the orders call timeout to 10s", Service: "checkout",
		Fixes:       Decoy,
		Description: "Give orders more time to answer during the incident (3 s -> 10 s).",
		Why:         "Nothing times out: the failures are immediate 500s from validateDiscount and downstream errors.",
		Diff: diff("services/checkout/checkout.go",
			hunk(94, "func New(cfg platform.Config, log *zap.Logger, store Store, ordersURL string, reg prometheus.Registerer) *Service {", `
 	timeout := OrdersTimeout
+	if rel.HasPatch(release.PatchCheckoutRaiseTimeout) {
+		timeout = OrdersTimeoutRaised
+	}
`)),
	},
}
