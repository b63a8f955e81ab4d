package grade

import (
	"fmt"
	"slices"
	"strings"
	"time"

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

// Observation is the live evidence the checks judge.
type Observation struct {
	Snapshot *status.Snapshot // GET /api/status?window=60s
	State    *LiveState       // GET /api/state, schema fields refreshed by ReadDB when a database URL is known
	Probes   []ProbeResult
	Timeline []status.Event // GET /api/timeline
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

// Evaluate computes every check, in CheckIDs order, from the observation. Missing evidence fails its check
// with a detail that says what was missing.
func Evaluate(obs Observation, th Thresholds) []Check {
	fs := activeFaults(nil, obs.Timeline)
	ev := analyze(obs.Timeline, obs.State, fs)
	checks := []Check{edgeSLO(obs.Snapshot, th)}
	for _, id := range []string{CheckProbeCheckoutNoCode, CheckProbeCheckoutCode, CheckProbeOrder, CheckProbePayment} {
		checks = append(checks, probeCheck(id, obs.Probes))
	}
	checks = append(checks, schemaCompatible(obs.State, obs.Snapshot, ev), noDataLoss(obs.State, ev),
		unaffectedUntouched(obs.Snapshot, ev, th))
	return checks
}

func newCheck(id string, passed bool, format string, args ...any) Check {
	return Check{ID: id, Title: checkTitles[id], Passed: passed, Detail: fmt.Sprintf(format, args...)}
}

func pct(f float64) string { return fmt.Sprintf("%.2f%%", f*100) }

func edgeSLO(s *status.Snapshot, th Thresholds) Check {
	if s == nil {
		return newCheck(CheckEdgeSLO, false, "no status snapshot from the control room")
	}
	e := s.Edge
	if e.Requests == 0 {
		return newCheck(CheckEdgeSLO, false, "no edge traffic in the last %.0f s: is the load generator running?", s.WindowS)
	}
	okRate, okP99 := e.ErrorRate < th.MaxErrorRate, e.P99Ms < th.MaxP99Ms
	var bad []string
	if !okRate {
		bad = append(bad, "error rate over budget")
	}
	if !okP99 {
		bad = append(bad, "p99 over budget")
	}
	d := fmt.Sprintf("edge error rate %s (limit %s), p99 %.0f ms (limit %.0f ms) over the last %.0f s, %.0f requests",
		pct(e.ErrorRate), pct(th.MaxErrorRate), e.P99Ms, th.MaxP99Ms, s.WindowS, e.Requests)
	if w := th.Window.Seconds(); w > 0 && s.WindowS > 0 && s.WindowS != w {
		d += fmt.Sprintf(" (window asked: %.0f s)", w)
	}
	if len(bad) > 0 {
		d += ": " + strings.Join(bad, ", ")
	}
	return newCheck(CheckEdgeSLO, okRate && okP99, "%s", d)
}

func probeCheck(id string, probes []ProbeResult) Check {
	var mine []string
	passed, seen := true, false
	for _, p := range probes {
		if p.Check != id {
			continue
		}
		seen = true
		passed = passed && p.OK()
		mine = append(mine, p.String())
	}
	if !seen {
		return newCheck(id, false, "probe not run (no gateway address)")
	}
	return newCheck(id, passed, "%s", strings.Join(mine, "; "))
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
		return newCheck(CheckSchemaCompatible, false, "no orders instance is running (%s, migration %d)",
			describeColumn(st), st.MigrationVersion)
	}
	var problems, fine []string
	for _, v := range vs {
		writes := writesMetadata(v, st, ev.NoWrite)
		switch {
		case !st.OrderMetadata.Exists && writes:
			problems = append(problems, fmt.Sprintf("orders %s writes order_metadata but the column is gone "+
				"(down migration): its inserts fail with 42703 undefined_column", v))
		case st.OrderMetadata.Exists && !st.OrderMetadata.Nullable && !st.OrderMetadata.HasDefault() && !writes:
			problems = append(problems, fmt.Sprintf("ROLLBACK TRAP: orders %s never sets order_metadata, which is "+
				"NOT NULL without a default: every insert fails with 23502 not_null_violation. "+
				"SET DEFAULT '{}' (or DROP NOT NULL), or run orders v2.4.0", v))
		default:
			fine = append(fine, v)
		}
	}
	if len(problems) > 0 {
		return newCheck(CheckSchemaCompatible, false, "%s (migration %d)", strings.Join(problems, "; "), st.MigrationVersion)
	}
	return newCheck(CheckSchemaCompatible, true, "orders %s runs against %s (migration %d): compatible",
		strings.Join(fine, ","), describeColumn(st), st.MigrationVersion)
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

var unaffectedRoutes = []string{"/api/search", "/api/catalog", "/api/auth"}

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
