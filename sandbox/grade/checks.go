package grade

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sandbox-labs/sandbox/faults"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/status"
)

// ProbeResult is one synthetic request through the gateway.
type ProbeResult struct {
	Check    string        `json:"check"` // the check id it counts towards
	Name     string        `json:"name"`  // e.g. "card", "saved_card"
	Method   string        `json:"method"`
	Path     string        `json:"path"`
	Code     int           `json:"code"` // 0 = no response
	Err      string        `json:"error,omitempty"`
	Body     string        `json:"body,omitempty"` // first bytes of a failing response
	Latency  time.Duration `json:"latency"`
	Attempts int           `json:"attempts"`
}

// OK reports a 2xx answer.
func (p ProbeResult) OK() bool { return p.Code >= 200 && p.Code < 300 }

func (p ProbeResult) String() string {
	name := ""
	if p.Name != "" {
		name = " (" + p.Name + ")"
	}
	if p.Code == 0 {
		return fmt.Sprintf("%s %s%s -> no response: %s", p.Method, p.Path, name, p.Err)
	}
	s := fmt.Sprintf("%s %s%s -> %d in %d ms", p.Method, p.Path, name, p.Code, p.Latency.Milliseconds())
	if !p.OK() && p.Body != "" {
		s += ": " + p.Body
	}
	return s
}

// Redacted stands in for a function name withheld from a probe's error text.
const Redacted = "<function: see the service's logs>"

// answerFunctions matches every failing function of the catalogue, bare or qualified the way Go prints it
// ("validateDiscount", "checkout.validateDiscount", "checkout.(*Service).validateDiscount").
var answerFunctions = func() *regexp.Regexp {
	var names []string
	for _, f := range faults.All() {
		for _, fn := range f.Functions {
			names = append(names, regexp.QuoteMeta(fn))
		}
	}
	return regexp.MustCompile(`(?:\b[A-Za-z_][\w/.-]*\.)?(?:\(\*?\w+\)\.)?\b(?:` + strings.Join(names, "|") + `)\b(?:\(\))?`)
}()

// RedactFunctions replaces the catalogue's failing function names in s: a service's error text names the
// function the trainee must find in its logs, and `check` must not hand it over.
func RedactFunctions(s string) string { return answerFunctions.ReplaceAllString(s, Redacted) }

// Neutral returns the probe with its error text's function names redacted.
func (p ProbeResult) Neutral() ProbeResult {
	p.Body, p.Err = RedactFunctions(p.Body), RedactFunctions(p.Err)
	return p
}

// Observation is the live evidence the checks judge.
type Observation struct {
	Snapshot *status.Snapshot // GET /api/status?window=60s
	State    *LiveState       // GET /api/state, schema fields refreshed by ReadDB when a database URL is known
	Probes   []ProbeResult
	Timeline []status.Event // GET /api/timeline
	Faults   []string       // the faults this sandbox runs, from the engine's record (nil: read the timeline)
}

var checkTitles = map[string]string{
	CheckEdgeSLO:             "Edge error rate and p99 within SLO",
	CheckProbeCheckoutNoCode: "Checkout without a discount code",
	CheckProbeCheckoutCode:   "Checkout with discount code SAVE10",
	CheckProbeOrder:          "Order creation",
	CheckProbePayment:        "Payment",
	CheckSchemaCompatible:    "Schema compatible with the running orders code",
	CheckNoDataLoss:          "No data lost since the deploy",
	CheckUnaffected:          "Catalog, search and auth untouched and healthy",
	CheckTrusted:             "Every sandbox container was created by the sandbox",
	CheckRecordIntact:        "The record was written only by the sandbox (hash chain intact)",
}

// TrustedContainers fails when a container carries the sandbox's labels without the seal only the CLI can
// make: something posing as a sandbox service (grade never probes it, but a lab must know it is there).
func TrustedContainers(secret string, untrusted []string) Check {
	if secret == "" {
		return newCheck(CheckTrusted, false, "the sandbox has no secret (made by an older sandbox version): recreate it with `sandbox down` and `sandbox up`")
	}
	if len(untrusted) > 0 {
		return newCheck(CheckTrusted, false, "not created by the sandbox, yet labelled as its services: %s", strings.Join(untrusted, ", "))
	}
	return newCheck(CheckTrusted, true, "every labelled container carries the sandbox's seal")
}

// RecordIntact checks the control room's hash chain: a record edited after the fact is not graded as if
// it were the history.
func RecordIntact(tl []status.Event) Check {
	if err := status.VerifyChain(tl); err != nil {
		return newCheck(CheckRecordIntact, false, "the control room's record was changed: %v", err)
	}
	return newCheck(CheckRecordIntact, true, "%d events, hash chain intact", len(tl))
}

// Evaluate computes every check, in CheckIDs order, from the observation. Missing evidence fails its check
// with a detail that says what was missing.
func Evaluate(obs Observation, th Thresholds) []Check {
	fs := activeFaults(obs.Faults, obs.Timeline)
	ev := analyze(obs.Timeline, obs.State, fs)
	checks := []Check{edgeSLO(obs.Snapshot, th)}
	for _, id := range []string{CheckProbeCheckoutNoCode, CheckProbeCheckoutCode, CheckProbeOrder, CheckProbePayment} {
		checks = append(checks, probeCheck(id, obs.Probes, fs))
	}
	checks = append(checks, schemaCompatible(obs.State, obs.Snapshot, ev), noDataLoss(obs.State, ev),
		unaffectedUntouched(obs.Snapshot, ev, th))
	return checks
}

// newCheck builds a check whose Detail is what was observed: no PR, fault, code path or fix in it.
func newCheck(id string, passed bool, format string, args ...any) Check {
	return Check{ID: id, Title: checkTitles[id], Passed: passed, Detail: fmt.Sprintf(format, args...)}
}

// why sets the explanation: the answer key, shown only once the attempt ended.
func (c Check) why(format string, args ...any) Check {
	c.Explain = fmt.Sprintf(format, args...)
	return c
}

func pct(f float64) string { return fmt.Sprintf("%.2f%%", f*100) }

// P99Limit is the p99 the edge must be under, and the rule that set it: the SLO, or on a busy host (the
// sandbox's own pre-deploy p99 already near the SLO) a margin over that baseline, so a correct fix passes
// whether one sandbox runs on the host or eight, while the incident's p99 and errors still fail.
func P99Limit(b *status.Baseline, th Thresholds) (limit float64, rule string) {
	limit, rule = th.MaxP99Ms, fmt.Sprintf("SLO %.0f ms", th.MaxP99Ms)
	if b == nil || b.P99Ms <= 0 || th.BaselineFactor <= 0 {
		return limit, rule
	}
	rel := b.P99Ms * th.BaselineFactor
	if max := th.MaxP99Ms * th.BaselineCap; th.BaselineCap > 0 && rel > max {
		rel = max
	}
	if rel > limit {
		return rel, fmt.Sprintf("%.1f x this sandbox's pre-deploy p99 of %.0f ms, above the SLO's %.0f ms (a busy host)",
			th.BaselineFactor, b.P99Ms, th.MaxP99Ms)
	}
	return limit, rule + fmt.Sprintf("; pre-deploy p99 was %.0f ms", b.P99Ms)
}

func edgeSLO(s *status.Snapshot, th Thresholds) Check {
	if s == nil {
		return newCheck(CheckEdgeSLO, false, "no status snapshot from the control room")
	}
	e := s.Edge
	if e.Requests == 0 {
		return newCheck(CheckEdgeSLO, false, "no edge traffic in the last %.0f s: is the load generator running?", s.WindowS)
	}
	p99Limit, rule := P99Limit(s.Baseline, th)
	okRate, okP99 := e.ErrorRate < th.MaxErrorRate, e.P99Ms < p99Limit
	var bad []string
	if !okRate {
		bad = append(bad, "error rate over budget")
	}
	if !okP99 {
		bad = append(bad, "p99 over budget")
	}
	d := fmt.Sprintf("edge error rate %s (limit %s), p99 %.0f ms (limit %.0f ms: %s) over the last %.0f s, %.0f requests",
		pct(e.ErrorRate), pct(th.MaxErrorRate), e.P99Ms, p99Limit, rule, s.WindowS, e.Requests)
	if w := th.Window.Seconds(); w > 0 && s.WindowS > 0 && s.WindowS != w {
		d += fmt.Sprintf(" (window asked: %.0f s)", w)
	}
	if len(bad) > 0 {
		d += ": " + strings.Join(bad, ", ")
	}
	return newCheck(CheckEdgeSLO, okRate && okP99, "%s", d)
}

func probeCheck(id string, probes []ProbeResult, fs []string) Check {
	var mine, raw []string
	var failing []ProbeResult
	passed, seen, redacted := true, false, false
	for _, p := range probes {
		if p.Check != id {
			continue
		}
		seen = true
		passed = passed && p.OK()
		if !p.OK() {
			failing = append(failing, p)
		}
		n := p.Neutral()
		mine = append(mine, n.String())
		raw = append(raw, p.String())
		redacted = redacted || n.Body != p.Body
	}
	if !seen {
		return newCheck(id, false, "probe not run (no gateway address)")
	}
	c := newCheck(id, passed, "%s", strings.Join(mine, "; "))
	if passed {
		return c
	}
	var why []string
	if redacted {
		why = append(why, "as answered: "+strings.Join(raw, "; "))
	}
	if s := probeCause(fs, failing); s != "" {
		why = append(why, s)
	}
	return c.why("%s", strings.Join(why, ". "))
}

// faultSignatures are the words each fault's error text carries, as the services answer: a probe's failure
// is explained by the faults whose signature it shows, not by every fault the release has.
var faultSignatures = map[string]*regexp.Regexp{
	release.FaultFlagLeak:    regexp.MustCompile(`discount_code is null|validateDiscount`),
	release.FaultSDKBreak:    regexp.MustCompile(`no such method|chargeStoredCredential`),
	release.FaultNotNullTrap: regexp.MustCompile(`23502|not-null constraint|not_null_violation`),
}

var faultCauses = map[string]string{
	release.FaultFlagLeak: "PR #892's discount validation (checkout validateDiscount) runs for every checkout, not only " +
		"for the discount_codes cohort, and fails when discount_code is absent: roll back checkout, or ship a backend " +
		"flag gate or null guard",
	release.FaultSDKBreak: "PR #901 left payments' stored-credential path (chargeStoredCredential) on the payment-sdk 3.x " +
		"Charge(amount) shape: roll back payments (payment-sdk 3.1) or call Charge(amount, options)",
	release.FaultNotNullTrap: "orders code without PR #905 never sets order_metadata, NOT NULL without a default since " +
		"migration 5, so every order insert fails with 23502: SET DEFAULT '{}' (or DROP NOT NULL), or keep orders on v2.4.0",
}

// probeCause explains failing probes by the active faults whose signature their answers show: answer key,
// for Explain only.
func probeCause(fs []string, failing []ProbeResult) string {
	var out []string
	for _, id := range release.AllFaults {
		if !slices.Contains(fs, id) {
			continue
		}
		for _, p := range failing {
			if faultSignatures[id].MatchString(p.Body + " " + p.Err) {
				out = append(out, faultCauses[id])
				break
			}
		}
	}
	return strings.Join(out, "; ")
}

// ordersVersions returns the live orders versions from the snapshot.
func ordersVersions(s *status.Snapshot) []string {
	if s != nil {
		for _, svc := range s.Services {
			if svc.Service == "orders" {
				return svc.Versions
			}
		}
	}
	return nil
}

func describeColumn(st *LiveState) string {
	c := st.OrderMetadata
	if !c.Exists {
		return "order_metadata absent"
	}
	null := "NOT NULL"
	if c.Nullable {
		null = "NULL"
	}
	def := "without a default"
	if c.HasDefault() {
		def = "default " + *c.Default
	}
	return fmt.Sprintf("order_metadata %s %s", null, def)
}

func schemaCompatible(st *LiveState, s *status.Snapshot, ev *evidence) Check {
	if st == nil {
		return newCheck(CheckSchemaCompatible, false, "no database state from the control room")
	}
	vs := ordersVersions(s)
	if len(vs) == 0 {
		return newCheck(CheckSchemaCompatible, false, "no orders instance is running (schema at migration %d)",
			st.MigrationVersion).why("%s", describeColumn(st))
	}
	var problems, bad, fine []string
	for _, v := range vs {
		writes := writesMetadata(v, st, ev.NoWrite)
		switch {
		case !st.OrderMetadata.Exists && writes:
			bad = append(bad, v)
			problems = append(problems, fmt.Sprintf("orders %s writes order_metadata (PR #905) but the column is gone "+
				"(down migration): its inserts fail with 42703 undefined_column", v))
		case st.OrderMetadata.Exists && !st.OrderMetadata.Nullable && !st.OrderMetadata.HasDefault() && !writes:
			bad = append(bad, v)
			problems = append(problems, fmt.Sprintf("ROLLBACK TRAP: orders %s lacks PR #905 and never sets "+
				"order_metadata, which is NOT NULL without a default: every insert fails with 23502 not_null_violation. "+
				"SET DEFAULT '{}' (or DROP NOT NULL), or run orders v2.4.0", v))
		default:
			fine = append(fine, v)
		}
	}
	if len(problems) > 0 {
		// What the check saw, not why: which code runs against which schema version.
		return newCheck(CheckSchemaCompatible, false, "orders %s against the schema at migration %d: incompatible "+
			"(this code's order inserts fail)", strings.Join(bad, ","), st.MigrationVersion).
			why("%s (%s, migration %d)", strings.Join(problems, "; "), describeColumn(st), st.MigrationVersion)
	}
	return newCheck(CheckSchemaCompatible, true, "orders %s against the schema at migration %d: compatible",
		strings.Join(fine, ","), st.MigrationVersion).why("%s", describeColumn(st))
}

// noDataLoss judges the record: the control room's observer records a data_loss event whenever a row it had
// seen was deleted or an order's order_metadata was overwritten (however it was done), and its state says
// how many rows it watches and when it last found all of them intact.
func noDataLoss(st *LiveState, ev *evidence) Check {
	if ev.DataLoss != nil {
		d := "DATA LOSS: " + strings.Join(ev.Losses, "; ")
		if len(ev.Losses) > 1 && ev.LostRows > 0 {
			d += fmt.Sprintf(": %d rows lost in all", ev.LostRows)
		}
		return newCheck(CheckNoDataLoss, false, "%s", d)
	}
	if st == nil {
		return newCheck(CheckNoDataLoss, false, "no database state from the control room")
	}
	in := st.Integrity
	switch {
	case in == nil:
		return newCheck(CheckNoDataLoss, false, "the control room keeps no watch over the rows it has seen: data loss cannot be ruled out")
	case in.Error != "":
		return newCheck(CheckNoDataLoss, false, "the control room could not check the rows it has seen: %s", in.Error)
	case in.VerifiedAt.IsZero():
		return newCheck(CheckNoDataLoss, false, "the control room has not yet checked every row it has seen: data loss cannot be ruled out")
	}
	var tables []string
	for _, t := range in.Tables {
		s := fmt.Sprintf("%d %s", t.Rows, t.Table)
		if t.MetadataRows > 0 {
			s += fmt.Sprintf(" (%d with order_metadata)", t.MetadataRows)
		}
		tables = append(tables, s)
	}
	return newCheck(CheckNoDataLoss, true, "no data_loss event: %s watched since %s, all intact at %s",
		strings.Join(tables, " and "), in.Since.UTC().Format(time.RFC3339), in.VerifiedAt.UTC().Format(time.RFC3339))
}

func unaffectedUntouched(s *status.Snapshot, ev *evidence, th Thresholds) Check {
	var bad, figures []string
	if len(ev.Touched) > 0 {
		bad = append(bad, "touched: "+strings.Join(ev.Touched, "; "))
	}
	if s == nil {
		return newCheck(CheckUnaffected, false, "no status snapshot from the control room")
	}
	for _, r := range unaffectedRoutes {
		i := slices.IndexFunc(s.Endpoints, func(e status.Endpoint) bool { return e.Route == r })
		if i < 0 || s.Endpoints[i].Requests == 0 {
			bad = append(bad, r+" saw no requests")
			continue
		}
		rate := s.Endpoints[i].ErrorRate
		fig := fmt.Sprintf("%s %s", r, pct(rate))
		// One error in a short window is background noise (0.1% of all traffic lands on some route); judge
		// the rate with that one error forgiven, so a quiet route is not failed by a single request.
		if e := s.Endpoints[i]; e.Errors >= 1 && e.Requests > 0 {
			rate = (e.Errors - 1) / e.Requests
		}
		figures = append(figures, fig)
		if rate >= th.UnaffectedMaxErrorRate {
			bad = append(bad, fmt.Sprintf("%s error rate %s reached the %s limit", r, pct(rate), pct(th.UnaffectedMaxErrorRate)))
		}
	}
	var vers []string
	for _, role := range unaffected {
		var v []string
		for _, svc := range s.Services {
			if svc.Service == role {
				v = svc.Versions
			}
		}
		vers = append(vers, role+" "+orDefault(strings.Join(v, ","), "?"))
	}
	d := strings.Join(vers, ", ") + "; " + strings.Join(figures, ", ")
	if len(bad) > 0 {
		return newCheck(CheckUnaffected, false, "%s: %s", strings.Join(bad, "; "), d)
	}
	return newCheck(CheckUnaffected, true, "never redeployed: %s", d)
}
