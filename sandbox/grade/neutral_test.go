package grade

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/faults"
	"github.com/sandbox-labs/sandbox/services/release"
)

// The error bodies the real services answer with when each fault fires (services/checkout, orders, payments):
// the probes carry their first bytes into the checks.
const (
	bodyFlagLeak = `{"error":"checkout.validateDiscount: discount_code is null"}`
	bodySDK      = `{"error":"charge saved_card via payment-sdk 4.0: no such method: *paymentsdk.Client.Charge; caller expects ` +
		`Charge(paymentsdk.Amount) (paymentsdk.Receipt, error) (payment-sdk 3.x), github.com/sandbox-labs/sandbox/services/payments/paymentsdk/v4 ` +
		`has Charge(paymentsdk.Amount, paymentsdk.ChargeOptions) (paymentsdk.Receipt, error): interface conversion: ` +
		`*paymentsdk.Client is not payments.chargerV3: missing method Charge","payment":{"status":"failed"}}`
	bodyTrap = `{"error":"insert order: ERROR: null value in column \"order_metadata\" of relation \"orders\" violates ` +
		`not-null constraint (SQLSTATE 23502)"}`
)

// failingRun is the live end state with exactly the faults in fs firing: the flag leak and the SDK break on
// v2.4.0, the NOT NULL migration once orders went back to v2.3.0 (it is silent on v2.4.0).
func failingRun(t *testing.T, fs []string) *run {
	r := newRun(t)
	r.events[0].Data["faults"] = strings.Join(fs, ",")
	has := func(id string) bool {
		for _, f := range fs {
			if f == id {
				return true
			}
		}
		return false
	}
	noCode, withCode, order, saved := 201, 201, 201, 201
	var noCodeBody, withCodeBody, orderBody, savedBody string
	if has(release.FaultNotNullTrap) {
		r.rollback(30*time.Second, "orders", "v2.3.0")
		order, orderBody = 500, bodyTrap
		noCode, noCodeBody = 502, bodyTrap
		withCode, withCodeBody = 502, bodyTrap
	}
	if has(release.FaultFlagLeak) {
		noCode, noCodeBody = 500, bodyFlagLeak
	}
	if has(release.FaultSDKBreak) {
		saved, savedBody = 500, bodySDK
		if withCode == 201 {
			withCode, withCodeBody = 502, bodySDK
		}
	}
	r.edge(0.15, 450)
	r.probes = []ProbeResult{
		{Check: CheckProbeCheckoutNoCode, Name: "no code, card", Method: "POST", Path: "/api/checkout", Code: noCode, Body: noCodeBody},
		{Check: CheckProbeCheckoutCode, Name: "SAVE10, saved_card", Method: "POST", Path: "/api/checkout", Code: withCode, Body: withCodeBody},
		{Check: CheckProbeOrder, Method: "POST", Path: "/api/orders", Code: order, Body: orderBody},
		{Check: CheckProbePayment, Name: "card", Method: "POST", Path: "/api/payments", Code: 201},
		{Check: CheckProbePayment, Name: "saved_card", Method: "POST", Path: "/api/payments", Code: saved, Body: savedBody},
		{Check: CheckProbePayment, Name: "wallet", Method: "POST", Path: "/api/payments", Code: 201},
	}
	return r
}

// answerKey is every string that would give a root cause or a fix away: per fault its PR, id, title, failing
// functions, hints, fixes, prevention and explanation (whole and by their distinctive words), and the
// grader's own wording of the trap and the ways out.
func answerKey() (words []string, patterns []*regexp.Regexp) {
	for _, f := range faults.All() {
		words = append(words, "#"+fmt.Sprint(f.PR), f.ID, f.Title, f.Symptom, f.CodePathRef)
		words = append(words, f.Functions...)
		words = append(words, f.Hints...)
		words = append(words, f.Fixes...)
		words = append(words, f.Dangerous...)
		words = append(words, f.Prevention...)
		patterns = append(patterns, regexp.MustCompile(`\b`+fmt.Sprint(f.PR)+`\b`))
	}
	words = append(words, "SET DEFAULT", "DROP NOT NULL", "order_metadata DEFAULT", "default '{}'", "ROLLBACK TRAP", "trap",
		"roll back", "rollback", "null guard", "flag gate", "backend gate", "flags.Enabled", "discount_codes", "flag",
		"pin ", "Charge(amount, options)", "4.0 signature", "expand", "keep orders", "run orders v2.4.0",
		"never sets", "predates", "lacks", "(*Service)")
	patterns = append(patterns, regexp.MustCompile(`\bPR\b`), regexp.MustCompile(`(?i)\bpr\s*#?\d`))
	return words, patterns
}

func leaks(text string) []string {
	words, patterns := answerKey()
	low := strings.ToLower(text)
	var out []string
	for _, w := range words {
		if w != "" && strings.Contains(low, strings.ToLower(w)) {
			out = append(out, w)
		}
	}
	for _, p := range patterns {
		if m := p.FindString(text); m != "" {
			out = append(out, p.String()+" ("+m+")")
		}
	}
	return out
}

func faultSubsets() [][]string {
	var out [][]string
	all := release.AllFaults
	for mask := 1; mask < 1<<len(all); mask++ {
		var fs []string
		for i, f := range all {
			if mask&(1<<i) != 0 {
				fs = append(fs, f)
			}
		}
		out = append(out, fs)
	}
	return out
}

// `sandbox check` runs before the attempt ends: for every combination of faults firing, its text and JSON
// show what failed and how (status codes, error text, rates) and never a PR, fault id, failing function or fix.
func TestCheckReportCarriesNoAnswerKey(t *testing.T) {
	for _, fs := range faultSubsets() {
		t.Run(strings.Join(fs, "+"), func(t *testing.T) {
			r := failingRun(t, fs)
			_, checks := r.grade()
			checks = append(checks, TrustedContainers("secret", nil))
			for _, format := range []string{"text", "json"} {
				var b bytes.Buffer
				if err := RenderChecks(&b, format, checks); err != nil {
					t.Fatal(err)
				}
				out := b.String()
				if l := leaks(out); len(l) > 0 {
					t.Errorf("%s check report carries the answer key %q:\n%s", format, l, out)
				}
				if !strings.Contains(out, "FAIL") && !strings.Contains(out, `"passed": false`) {
					t.Errorf("%s report shows no failure:\n%s", format, out)
				}
				if !strings.Contains(out, "-> 500") && !strings.Contains(out, "-> 502") {
					t.Errorf("%s report hides the observed status codes:\n%s", format, out)
				}
				if testing.Verbose() && format == "text" {
					t.Log("\n" + out)
				}
			}
			// The symptom itself stays visible: the service's error text, minus the function it names.
			var b bytes.Buffer
			_ = RenderChecks(&b, "text", checks)
			for _, f := range fs {
				want := map[string]string{release.FaultFlagLeak: "discount_code is null", release.FaultSDKBreak: "no such method",
					release.FaultNotNullTrap: "SQLSTATE 23502"}[f]
				if !strings.Contains(b.String(), want) {
					t.Errorf("%s: observed error text %q missing:\n%s", f, want, b.String())
				}
			}
		})
	}
}

// A fixed run's check report is just as neutral: passing details do not describe the fix either.
func TestCheckReportOfAFixedRunIsNeutral(t *testing.T) {
	r := newRun(t)
	r.cmd(100*time.Second, `sandbox sql "ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}'"`)
	r.schema(105*time.Second, false, "'{}'::jsonb")
	r.rollback(2*time.Minute, "all", "v2.3.0").recovered(3 * time.Minute).healthy()
	_, checks := r.grade()
	var b bytes.Buffer
	if err := RenderChecks(&b, "text", checks); err != nil {
		t.Fatal(err)
	}
	if l := leaks(b.String()); len(l) > 0 {
		t.Errorf("passing check report carries %q:\n%s", l, b.String())
	}
	if !strings.HasPrefix(b.String(), "Checks: all checks pass") {
		t.Errorf("report:\n%s", b.String())
	}
}

// The grade report, printed once the attempt ended, does carry the explanations.
func TestGradeReportExplainsAfterTheEnd(t *testing.T) {
	r := failingRun(t, release.AllFaults)
	res, _ := r.grade()
	var b bytes.Buffer
	if err := RenderText(&b, res); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ROLLBACK TRAP", "SET DEFAULT", "PR #892", "validateDiscount", "chargeStoredCredential"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("grade report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestRedactFunctions(t *testing.T) {
	cases := map[string]string{
		"checkout.validateDiscount: discount_code is null":           Redacted + ": discount_code is null",
		"at checkout.(*Service).validateDiscount() in checkout.go":   "at " + Redacted + " in checkout.go",
		"github.com/x/services/payments.chargeStoredCredential(...)": Redacted + "(...)",
		"orders.createOrder: insert":                                 Redacted + ": insert",
		"createOrders and validateDiscounts are other names":         "createOrders and validateDiscounts are other names",
		"insert order: ERROR: null value (SQLSTATE 23502)":           "insert order: ERROR: null value (SQLSTATE 23502)",
	}
	for in, want := range cases {
		if got := RedactFunctions(in); got != want {
			t.Errorf("RedactFunctions(%q) = %q, want %q", in, got, want)
		}
	}
	p := ProbeResult{Code: 500, Body: bodyFlagLeak, Err: ""}
	if n := p.Neutral(); strings.Contains(n.String(), "validateDiscount") || p.Body != bodyFlagLeak {
		t.Errorf("Neutral() = %q (original %q)", n.String(), p.Body)
	}
}

// The record of a check that left out its explanation is still a check: Neutral keeps id, verdict, detail.
func TestNeutralChecks(t *testing.T) {
	in := []Check{{ID: CheckSchemaCompatible, Title: "t", Passed: false, Detail: "d", Explain: "ROLLBACK TRAP"}}
	out := NeutralChecks(in)
	if out[0].Explain != "" || out[0].Detail != "d" || out[0].ID != CheckSchemaCompatible || in[0].Explain == "" {
		t.Errorf("NeutralChecks = %+v (input %+v)", out, in)
	}
}

// A probe's explanation names the faults its answers show, not every fault the release carries: after a
// naive rollback checkout fails on the orders insert, not on the discount validation v2.3.0 does not have.
func TestProbeExplainFollowsTheObservedError(t *testing.T) {
	r := failingRun(t, []string{release.FaultNotNullTrap})
	r.events[0].Data["faults"] = strings.Join(release.AllFaults, ",")
	_, checks := r.grade()
	c := find(t, checks, CheckProbeCheckoutNoCode)
	if !strings.Contains(c.Explain, "PR #905") || strings.Contains(c.Explain, "#892") || strings.Contains(c.Explain, "#901") {
		t.Errorf("explain %q", c.Explain)
	}
	r = failingRun(t, release.AllFaults)
	_, checks = r.grade()
	if c := find(t, checks, CheckProbePayment); !strings.Contains(c.Explain, "PR #901") || strings.Contains(c.Explain, "#905") {
		t.Errorf("payment explain %q", c.Explain)
	}
}
