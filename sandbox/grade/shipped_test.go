package grade

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

var shipT0 = time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)

func shippedEv() status.Event {
	return status.Event{At: shipT0, Kind: status.EventVersionObserved, Actor: "observed", Service: "orders", From: "v2.3.0", To: "v2.3.0,v2.4.0"}
}
func spikeEv() status.Event {
	return status.Event{At: shipT0.Add(time.Minute), Kind: status.EventSpikeStart, Actor: "observed", Service: "gateway"}
}

func TestIncidentShipped(t *testing.T) {
	all := []string{"not-null-migration", "flag-leak", "sdk-break"}
	cases := []struct {
		name   string
		faults []string
		tl     []status.Event
		ok     bool
	}{
		{"up --incident=false: nothing shipped", all, []status.Event{{Kind: status.EventSandboxUp, Actor: "cli"}}, false},
		{"Ctrl-C in the baseline: no v2.4.0 seen", all, []status.Event{{Kind: status.EventSandboxUp}, {Kind: status.EventObservedInitial, Actor: "observed"}}, false},
		{"the CLI claims a deploy the observer never saw", all, []status.Event{{Kind: status.EventDeployFinished, Actor: "pipeline", Service: "all", To: "v2.4.0"},
			{Kind: status.EventSpikeStart, Actor: "cli"}}, false},
		{"shipped, spike not yet seen", all, []status.Event{shippedEv()}, false},
		{"a spike before the deploy does not count", all, []status.Event{spikeEv(), shippedEv()}, false},
		{"no faults", nil, []status.Event{shippedEv(), spikeEv()}, false},
		{"shipped and spiked", all, []status.Event{shippedEv(), spikeEv()}, true},
		{"spike while the rollout runs, after the release's migration", all, []status.Event{
			{Kind: status.EventMigrationVersion, Actor: "observed", From: "4", To: "5"}, spikeEv(), shippedEv()}, true},
		{"a migration the CLI claims does not start the release", all, []status.Event{
			{Kind: status.EventMigrationVersion, Actor: "cli", From: "4", To: "5"}, spikeEv(), shippedEv()}, false},
		{"a spike before the migration does not count", all, []status.Event{spikeEv(),
			{Kind: status.EventMigrationVersion, Actor: "observed", From: "4", To: "5"}, shippedEv()}, false},
		{"a down migration does not start the release", all, []status.Event{
			{Kind: status.EventMigrationVersion, Actor: "observed", From: "5", To: "4"}, spikeEv(), shippedEv()}, false},
		{"shipped later by `deploy all v2.4.0`", []string{"flag-leak"}, []status.Event{{Kind: status.EventSandboxUp},
			{Kind: status.EventVersionObserved, Actor: "observed", Service: "checkout", From: "v2.3.0", To: "v2.4.0"}, spikeEv()}, true},
	}
	for _, c := range cases {
		err := IncidentShipped(c.faults, c.tl)
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// Property: over random timelines, IncidentShipped passing implies an observed v2.4.0 of a faulty role with an
// observed spike after it, and gradeSandbox-style gating means no pass without that.
func TestPropertyPassImpliesShipped(t *testing.T) {
	kinds := []string{status.EventSandboxUp, status.EventDeployStarted, status.EventDeployFinished, status.EventCommand,
		status.EventVersionObserved, status.EventSpikeStart, status.EventRecovered, status.EventRollback, status.EventMigrationVersion}
	actors := []string{"cli", "pipeline", "trainee", "observed"}
	services := []string{"orders", "payments", "checkout", "catalog", "all"}
	tos := []string{"v2.3.0", "v2.4.0", "v2.3.0,v2.4.0", "v2.4.1"}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 5000; i++ {
		var tl []status.Event
		for j := rng.Intn(8); j > 0; j-- {
			e := status.Event{Kind: kinds[rng.Intn(len(kinds))], Actor: actors[rng.Intn(len(actors))],
				Service: services[rng.Intn(len(services))], To: tos[rng.Intn(len(tos))]}
			if e.Kind == status.EventMigrationVersion {
				e.From, e.To = fmt.Sprint(rng.Intn(6)), fmt.Sprint(rng.Intn(6))
			}
			tl = append(tl, e)
		}
		if IncidentShipped([]string{"flag-leak"}, tl) != nil {
			continue
		}
		// The oracle: an observed v2.4.0 of a faulty role, and an observed spike after it or after an observed
		// migration up that came before it.
		ok := false
		for a, e := range tl {
			if e.Kind == status.EventVersionObserved && e.Actor == "observed" && e.Service != "catalog" && e.Service != "all" &&
				(e.To == "v2.4.0" || e.To == "v2.3.0,v2.4.0") {
				from := a
				for m := 0; m < a; m++ {
					if g := tl[m]; g.Kind == status.EventMigrationVersion && g.Actor == "observed" && g.To > g.From {
						from = m
					}
				}
				for _, f := range tl[from:] {
					ok = ok || (f.Kind == status.EventSpikeStart && f.Actor == "observed")
				}
			}
		}
		if !ok {
			t.Fatalf("IncidentShipped passed a timeline without an observed rollout and spike: %+v", tl)
		}
	}
}

func TestRecordIntact(t *testing.T) {
	var tl []status.Event
	prev := ""
	for i, k := range []string{status.EventSandboxUp, status.EventCommand, status.EventSpikeStart} {
		e := status.Seal(status.Event{Seq: int64(i + 1), Kind: k, Actor: "cli"}, prev)
		tl, prev = append(tl, e), e.Hash
	}
	if c := RecordIntact(tl); !c.Passed {
		t.Fatalf("sealed record: %+v", c)
	}
	forged := append([]status.Event(nil), tl...)
	forged[1].Actor = "trainee"
	if c := RecordIntact(forged); c.Passed || !strings.Contains(c.Detail, "seq 2") {
		t.Errorf("edited record: %+v", c)
	}
	dropped := []status.Event{tl[0], tl[2]}
	if c := RecordIntact(dropped); c.Passed {
		t.Errorf("record with an event removed: %+v", c)
	}
}

// The scenario card: v2.4.0 changes checkout, orders and payments; catalog, search and auth stay untouched.
func TestAffectedAndUnaffectedFollowTheReleaseAndTopology(t *testing.T) {
	if got := strings.Join(affected, ","); got != "checkout,orders,payments" {
		t.Errorf("affected roles %s", got)
	}
	if got := strings.Join(unaffected, ","); got != "catalog,auth" {
		t.Errorf("unaffected roles %s", got)
	}
	if got := strings.Join(unaffectedRoutes, ","); got != "/api/search,/api/catalog,/api/auth" {
		t.Errorf("unaffected routes %s", got)
	}
}
