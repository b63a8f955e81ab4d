package grade

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/status"
)

// spike is the scenario's spike_start; every offset in a run is relative to it.
var spike = time.Date(2025, 11, 25, 14, 15, 0, 0, time.UTC)

func off(d time.Duration) time.Time { return spike.Add(d) }

// run builds a synthetic timeline in the control room's shapes plus the live end state.
type run struct {
	t      *testing.T
	events []status.Event
	state  LiveState           // GET /api/state as the control room serves it
	vers   map[string][]string // live versions per role: the snapshot's services
	snap   status.Snapshot
	probes []ProbeResult
	ans    *Answers
}

func def(s string) *string { return &s }

// newRun is the v2.4.0 deploy with all three faults, up to the spike, and a broken end state (as if nothing
// was done); each path then acts and sets its own end state.
func newRun(t *testing.T) *run {
	r := &run{t: t}
	start := spike.Add(-20 * time.Minute)
	r.add(status.Event{At: start, Kind: status.EventSandboxUp, Actor: "cli",
		Data: map[string]string{"faults": strings.Join(release.AllFaults, ","), "seed": "0"}})
	r.add(status.Event{At: start.Add(30 * time.Second), Kind: "observed_initial", Actor: "observed",
		Data: map[string]string{"version.orders": "v2.3.0", "version.checkout": "v2.3.0", "version.payments": "v2.3.0",
			"version.catalog": "v2.3.0", "version.auth": "v2.3.0", "order_metadata": "absent", "migration_version": "4",
			"metadata_rows": "0"}})
	dep := spike.Add(-2 * time.Minute)
	r.add(status.Event{At: dep, Kind: status.EventDeployStarted, Actor: "pipeline", Service: "all", From: "v2.3.0", To: "v2.4.0"})
	r.add(status.Event{At: dep.Add(time.Second), Kind: status.EventMigration, Actor: "pipeline", Detail: "up 5"})
	r.add(status.Event{At: dep.Add(3 * time.Second), Kind: status.EventSchemaObserved, Actor: "observed", Service: "orders",
		From: "absent", To: "jsonb NOT NULL default none",
		Data: map[string]string{"exists": "true", "nullable": "false", "default": ""}})
	r.add(status.Event{At: dep.Add(3 * time.Second), Kind: status.EventMigrationVersion, Actor: "observed", From: "4", To: "5"})
	for _, svc := range []string{"checkout", "orders", "payments"} {
		r.add(status.Event{At: dep.Add(40 * time.Second), Kind: status.EventVersionObserved, Actor: "observed",
			Service: svc, From: "v2.3.0", To: "v2.3.0,v2.4.0"})
		r.add(status.Event{At: dep.Add(80 * time.Second), Kind: status.EventVersionObserved, Actor: "observed",
			Service: svc, From: "v2.3.0,v2.4.0", To: "v2.4.0"})
	}
	r.add(status.Event{At: dep.Add(90 * time.Second), Kind: status.EventDeployFinished, Actor: "pipeline", Service: "all",
		From: "v2.3.0", To: "v2.4.0"})
	r.add(status.Event{At: spike, Kind: status.EventSpikeStart, Actor: "observed", Service: "gateway",
		Data: map[string]string{"error_rate": "0.1500", "metadata_rows": "120"}})
	r.state = LiveState{DBState: status.DBState{At: off(10 * time.Minute), OK: true, OrdersTable: true,
		OrderMetadata: status.Column{Exists: true, DataType: "jsonb"}, MigrationVersion: 5,
		Orders: 3000, MetadataRows: 900, MaxOrderID: 3000, Flags: []status.Flag{},
		Integrity: &status.Integrity{Since: start.Add(30 * time.Second), VerifiedAt: off(10 * time.Minute),
			Tables: []status.TableWatch{{Table: "orders", HighWater: 3000, Rows: 3000, MetadataRows: 900},
				{Table: "payments", HighWater: 2400, Rows: 2400}}}}}
	r.vers = map[string][]string{"checkout": {"v2.4.0"}, "orders": {"v2.4.0"}, "payments": {"v2.4.0"},
		"catalog": {"v2.3.0"}, "auth": {"v2.3.0"}}
	r.edge(0.15, 450)
	r.setProbes(500, 502, 201, 201, 500)
	return r
}

func (r *run) add(e status.Event) { r.events = append(r.events, e) }

func (r *run) cmd(d time.Duration, argv string) *run {
	r.add(status.Event{At: off(d), Kind: status.EventCommand, Actor: "cli", Detail: argv})
	return r
}

// rollback records the CLI rollback and, 30 s later, the observed version change of each service.
func (r *run) rollback(d time.Duration, svc, to string) *run {
	r.cmd(d, "sandbox rollback "+svc)
	r.add(status.Event{At: off(d), Kind: status.EventRollback, Actor: "cli", Service: svc, From: "v2.4.0", To: to})
	for _, s := range serviceList(svc) {
		r.add(status.Event{At: off(d + 30*time.Second), Kind: status.EventVersionObserved, Actor: "observed",
			Service: s, From: "v2.4.0", To: to})
		r.vers[s] = []string{to}
	}
	return r
}

func (r *run) schema(d time.Duration, nullable bool, dflt string) *run {
	to := "jsonb NOT NULL default none"
	if nullable {
		to = "jsonb NULL default none"
	}
	if dflt != "" {
		to = strings.Replace(to, "none", dflt, 1)
	}
	r.add(status.Event{At: off(d), Kind: status.EventSchemaObserved, Actor: "observed", Service: "orders", To: to,
		Data: map[string]string{"exists": "true", "nullable": fmt.Sprint(nullable), "default": dflt}})
	r.state.OrderMetadata.Nullable = nullable
	if dflt != "" {
		r.state.OrderMetadata.Default = def(dflt)
	}
	return r
}

func (r *run) migrateDown(d time.Duration) *run {
	r.cmd(d, "sandbox migrate down")
	r.add(status.Event{At: off(d), Kind: status.EventMigration, Actor: "cli", Detail: "down 5"})
	r.add(status.Event{At: off(d + 3*time.Second), Kind: status.EventSchemaObserved, Actor: "observed", Service: "orders",
		To: "absent", Data: map[string]string{"exists": "false", "nullable": "false", "default": ""}})
	r.add(status.Event{At: off(d + 3*time.Second), Kind: status.EventMigrationVersion, Actor: "observed", From: "5", To: "4"})
	r.add(status.Event{At: off(d + 3*time.Second), Kind: status.EventDataLoss, Actor: "observed", Service: "orders",
		Detail: "orders.order_metadata dropped: the metadata of 640 orders is gone (ids 2001, 2002, ...)",
		Data: map[string]string{status.LossTable: "orders", status.LossRows: "640", status.LossDeleted: "0",
			status.LossOverwritten: "640", status.LossMetadataRows: "640", status.LossIDs: "2001,2002",
			status.LossCause: status.CauseColumnDropped, status.LossColumn: "false"}})
	r.state.OrderMetadata, r.state.MigrationVersion, r.state.MetadataRows = status.Column{}, 4, 0
	r.state.Integrity.Tables[0].MetadataRows = 0
	return r
}

func (r *run) recovered(d time.Duration) *run {
	r.add(status.Event{At: off(d), Kind: status.EventRecovered, Actor: "observed", Service: "gateway"})
	return r
}

func (r *run) hint(d time.Duration, symptom string, level int) *run {
	r.add(status.Event{At: off(d), Kind: status.EventHint, Actor: "cli",
		Data: map[string]string{"symptom": symptom, "level": fmt.Sprint(level)}})
	return r
}

func (r *run) edge(rate, p99 float64) *run {
	r.snap = status.Snapshot{Name: "sandbox", At: off(10 * time.Minute), WindowS: 60,
		Edge: status.Edge{RPS: 40, ErrorRate: rate, P99Ms: p99, Requests: 2400, Errors: rate * 2400}}
	for _, route := range status.Routes {
		er := rate
		if route == "/api/search" || route == "/api/catalog" || route == "/api/auth" {
			er = 0.001
		}
		r.snap.Endpoints = append(r.snap.Endpoints, status.Endpoint{Route: route, RPS: 6, ErrorRate: er, P99Ms: p99, Requests: 400})
	}
	return r
}

func (r *run) healthy() *run {
	r.edge(0.001, 210)
	r.setProbes(201, 201, 201, 201, 201)
	return r
}

// setProbes sets codes for: checkout no code, checkout with code, order, payment card, payment saved_card.
func (r *run) setProbes(noCode, withCode, order, card, saved int) {
	r.probes = []ProbeResult{
		{Check: CheckProbeCheckoutNoCode, Method: "POST", Path: "/api/checkout", Code: noCode, Body: `{"error":"x"}`},
		{Check: CheckProbeCheckoutCode, Method: "POST", Path: "/api/checkout", Code: withCode},
		{Check: CheckProbeOrder, Method: "POST", Path: "/api/orders", Code: order},
		{Check: CheckProbePayment, Name: "card", Method: "POST", Path: "/api/payments", Code: card},
		{Check: CheckProbePayment, Name: "saved_card", Method: "POST", Path: "/api/payments", Code: saved},
	}
}

func (r *run) grade() (*Result, []Check) {
	st := r.state
	snap := r.snap
	snap.Services = nil
	for _, role := range status.Roles {
		if v, ok := r.vers[role]; ok {
			snap.Services = append(snap.Services, status.Service{Service: role, Versions: v, Healthy: true})
		}
	}
	checks := Evaluate(Observation{Snapshot: &snap, State: &st, Probes: r.probes, Timeline: r.events}, DefaultThresholds())
	return Grade(Input{Checks: checks, Timeline: r.events, Answers: r.ans, State: &st}), checks
}

func boolp(b bool) *bool { return &b }

func expertAnswers() *Answers {
	return &Answers{At: off(12 * time.Minute), Faults: map[string]FaultAnswer{
		"not-null-migration": {PR: 905, Function: "orders.createOrder", CodePath: "orders INSERT in v2.3.0 never sets order_metadata, NOT NULL without default",
			MigrationBackwardCompatible: boolp(false), MigrationWhy: "NOT NULL without a default breaks old inserts",
			WhyTestsMissed: "tests ran v2.4.0 code against the new schema; nothing ran the old code (rollback) against it"},
		"flag": {PR: 892, Function: "validateDiscount", CodePath: "checkout handler calls validateDiscount for every request, null discount_code fails",
			WhyTestsMissed: "tests always sent a discount_code with the flag enabled; no test for the 85% without the field"},
		"sdk": {PR: 901, Function: "payments.chargeStoredCredential", CodePath: "payments saved_card path calls Charge(amount), 4.0 needs Charge(amount, options)",
			WhyTestsMissed: "unit tests used a mock of the SDK with the old signature, no contract test against 4.0"},
	}, ProcessChanges: []string{
		"canary deploys with automatic rollback on error rate",
		"expand-contract migrations: add nullable, backfill, then NOT NULL",
		"feature flags must gate the backend handler too, checked in review",
		"major dependency bumps need owner review and consumer-driven contract tests",
	}}
}

func find(t *testing.T, checks []Check, id string) Check {
	t.Helper()
	for _, c := range checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no check %s", id)
	return Check{}
}

func ratingOf(res *Result, a string) Rating {
	for _, s := range res.Scorecard {
		if s.Area == a {
			return s.Level()
		}
	}
	return 0
}

func justification(res *Result, a string) string {
	for _, s := range res.Scorecard {
		if s.Area == a {
			return s.Justification
		}
	}
	return ""
}

// lookFirst is a thorough triage: status, changelog, logs of an affected service.
func (r *run) lookFirst() *run {
	return r.cmd(20*time.Second, "sandbox status").cmd(40*time.Second, "sandbox changelog").
		cmd(60*time.Second, "sandbox logs payments")
}

type want struct {
	passed                               bool
	triage, rollback, rootCause, process Rating
	failing                              []string
	rollbackSays, checkSays              string // substrings of the Rollback justification / failing check detail
}

func TestReferencePaths(t *testing.T) {
	cases := []struct {
		name  string
		build func(r *run)
		want  want
	}{
		{"do nothing", func(r *run) {},
			want{triage: Novice, rollback: Novice, rootCause: Novice, process: Novice,
				failing:      []string{CheckEdgeSLO, CheckProbeCheckoutNoCode, CheckProbeCheckoutCode, CheckProbePayment},
				rollbackSays: "No rollback"}},
		{"flag off only", func(r *run) {
			r.cmd(30*time.Second, "sandbox status").cmd(60*time.Second, "sandbox flag set discount_codes off")
			r.add(status.Event{At: off(65 * time.Second), Kind: status.EventFlagObserved, Actor: "observed",
				Detail: "flag discount_codes", Data: map[string]string{"name": "discount_codes", "enabled": "false", "rollout_percent": "15"}})
		}, want{triage: Intermediate, rollback: Novice, rootCause: Novice, process: Novice,
			failing: []string{CheckEdgeSLO, CheckProbeCheckoutNoCode}, rollbackSays: "not mitigated"}},
		{"naive full rollback", func(r *run) {
			r.rollback(20*time.Second, "all", "v2.3.0")
			r.edge(0.32, 480)
			r.setProbes(500, 500, 500, 201, 201)
		}, want{triage: Novice, rollback: Novice, rootCause: Novice, process: Novice,
			failing: []string{CheckSchemaCompatible, CheckProbeOrder}, rollbackSays: "ROLLBACK TRAP", checkSays: "23502"}},
		{"set default then rollback", func(r *run) {
			r.lookFirst().cmd(80*time.Second, "sandbox migrate status").
				cmd(100*time.Second, `sandbox sql "ALTER TABLE orders ALTER COLUMN order_metadata SET DEFAULT '{}'"`)
			r.schema(105*time.Second, false, "'{}'::jsonb")
			r.rollback(2*time.Minute, "all", "v2.3.0").recovered(3 * time.Minute).healthy()
		}, want{passed: true, triage: Expert, rollback: Expert, rootCause: Novice, process: Novice,
			rollbackSays: "migrate status"}},
		{"targeted rollback of checkout and payments", func(r *run) {
			r.lookFirst().cmd(70*time.Second, "sandbox changelog 905")
			r.rollback(90*time.Second, "checkout", "v2.3.0").rollback(100*time.Second, "payments", "v2.3.0")
			r.recovered(3 * time.Minute).healthy()
		}, want{passed: true, triage: Expert, rollback: Expert, rootCause: Novice, process: Novice}},
		{"fix forward", func(r *run) {
			r.lookFirst().cmd(70*time.Second, "sandbox changelog #905")
			r.cmd(2*time.Minute, "sandbox release create v2.4.1 --revert 892 --patch payments-pin-sdk-3.1")
			r.add(status.Event{At: off(2 * time.Minute), Kind: status.EventReleaseCreated, Actor: "cli", From: "v2.4.0", To: "v2.4.1",
				Data: map[string]string{"reverted": "892", "patches": "payments-pin-sdk-3.1"}})
			r.add(status.Event{At: off(3 * time.Minute), Kind: status.EventDeployStarted, Actor: "cli", Service: "all", From: "v2.4.0", To: "v2.4.1"})
			for _, s := range []string{"checkout", "orders", "payments"} {
				r.add(status.Event{At: off(4 * time.Minute), Kind: status.EventVersionObserved, Actor: "observed", Service: s, From: "v2.4.0", To: "v2.4.1"})
				r.vers[s] = []string{"v2.4.1"}
			}
			r.recovered(5 * time.Minute).healthy()
		}, want{passed: true, triage: Expert, rollback: Expert, rootCause: Novice, process: Novice}},
		{"fix forward reverting 905 without a schema fix", func(r *run) {
			r.lookFirst()
			r.add(status.Event{At: off(2 * time.Minute), Kind: status.EventReleaseCreated, Actor: "cli", From: "v2.4.0", To: "v2.4.1",
				Data: map[string]string{"reverted": "892,901,905"}})
			r.add(status.Event{At: off(3 * time.Minute), Kind: status.EventDeployStarted, Actor: "cli", Service: "all", From: "v2.4.0", To: "v2.4.1"})
			r.add(status.Event{At: off(4 * time.Minute), Kind: status.EventVersionObserved, Actor: "observed", Service: "orders", From: "v2.4.0", To: "v2.4.1"})
			r.vers["orders"] = []string{"v2.4.1"}
			r.edge(0.3, 450)
			r.setProbes(500, 500, 500, 201, 201)
		}, want{triage: Expert, rollback: Novice, rootCause: Novice, process: Novice,
			failing: []string{CheckSchemaCompatible}, rollbackSays: "ROLLBACK TRAP", checkSays: "v2.4.1 lacks PR #905 and never sets order_metadata"}},
		{"down migration then rollback", func(r *run) {
			r.cmd(20*time.Second, "sandbox status").migrateDown(time.Minute)
			r.rollback(90*time.Second, "all", "v2.3.0").recovered(3 * time.Minute).healthy()
		}, want{triage: Intermediate, rollback: Novice, rootCause: Novice, process: Novice,
			failing: []string{CheckNoDataLoss}, rollbackSays: "DATA LOSS", checkSays: "metadata of 640 orders is gone"}},
		{"schema checked, then down migration anyway", func(r *run) {
			r.cmd(20*time.Second, "sandbox status").cmd(30*time.Second, "sandbox migrate status").migrateDown(time.Minute)
			r.rollback(90*time.Second, "all", "v2.3.0").healthy()
		}, want{triage: Intermediate, rollback: Intermediate, rootCause: Novice, process: Novice,
			failing: []string{CheckNoDataLoss}, rollbackSays: "DATA LOSS"}},
		{"expert run", func(r *run) {
			r.lookFirst().cmd(70*time.Second, "sandbox changelog 905").cmd(75*time.Second, "sandbox changelog 901")
			r.rollback(90*time.Second, "checkout", "v2.3.0").rollback(100*time.Second, "payments", "v2.3.0")
			r.recovered(3 * time.Minute).healthy()
			r.ans = expertAnswers()
		}, want{passed: true, triage: Expert, rollback: Expert, rootCause: Expert, process: Expert}},
		{"novice run", func(r *run) {
			r.rollback(10*time.Second, "all", "v2.3.0")
			r.edge(0.3, 470)
			r.setProbes(500, 500, 500, 201, 201)
			r.ans = &Answers{Faults: map[string]FaultAnswer{"migration": {PR: 892}, "sdk": {PR: 892}},
				ProcessChanges: []string{"be more careful"}}
		}, want{triage: Novice, rollback: Novice, rootCause: Novice, process: Novice,
			failing: []string{CheckSchemaCompatible}, rollbackSays: "ROLLBACK TRAP"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRun(t)
			tc.build(r)
			res, checks := r.grade()
			if res.Passed != tc.want.passed {
				t.Errorf("passed = %v, want %v; checks %+v", res.Passed, tc.want.passed, checks)
			}
			for _, w := range []struct {
				area string
				r    Rating
			}{{AreaTriage, tc.want.triage}, {AreaRollback, tc.want.rollback}, {AreaRootCause, tc.want.rootCause}, {AreaProcess, tc.want.process}} {
				if got := ratingOf(res, w.area); got != w.r {
					t.Errorf("%s = %v, want %v: %s", w.area, got, w.r, justification(res, w.area))
				}
			}
			var failDetails []string
			for _, id := range tc.want.failing {
				c := find(t, checks, id)
				if c.Passed {
					t.Errorf("check %s passed, want failed: %s", id, c.Detail)
				}
				failDetails = append(failDetails, c.Detail+" "+c.Explain)
			}
			if tc.want.passed {
				for _, c := range checks {
					if !c.Passed {
						t.Errorf("check %s failed: %s", c.ID, c.Detail)
					}
				}
			}
			if s := tc.want.rollbackSays; s != "" && !strings.Contains(justification(res, AreaRollback), s) {
				t.Errorf("rollback justification lacks %q: %s", s, justification(res, AreaRollback))
			}
			if s := tc.want.checkSays; s != "" && !strings.Contains(strings.Join(failDetails, "\n"), s) {
				t.Errorf("failing checks lack %q: %v", s, failDetails)
			}
			for _, a := range res.Scorecard {
				if a.Justification == "" {
					t.Errorf("%s has no justification", a.Area)
				}
			}
			if len(res.Improvements) != 3 {
				t.Errorf("improvements = %d, want 3: %v", len(res.Improvements), res.Improvements)
			}
			if n := len(res.Resources); n < 2 || n > 3 {
				t.Errorf("resources = %d, want 2-3", n)
			}
			if len(res.Strengths) != 3 {
				t.Errorf("strengths = %d, want exactly 3 (the card): %v", len(res.Strengths), res.Strengths)
			}
			if testing.Verbose() {
				var b strings.Builder
				_ = RenderText(&b, res)
				t.Log("\n" + b.String())
			}
		})
	}
}
