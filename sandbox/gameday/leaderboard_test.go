package gameday

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/grade"
	"github.com/sandbox-labs/sandbox/services/status"
)

var (
	t0    = time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC) // the rollout is due
	spike = t0.Add(2 * time.Minute)
	th    = grade.DefaultThresholds()
)

func at(d time.Duration) time.Time { return spike.Add(d) }

// shipped is a recorded timeline up to the page: scheduled, shipped by the pipeline, spiked.
func shipped() []status.Event {
	return []status.Event{
		{At: t0.Add(-time.Minute), Kind: status.EventRolloutScheduled, Actor: "cli", Data: map[string]string{"due": t0.Format(time.RFC3339)}},
		{At: t0, Kind: status.EventDeployStarted, Actor: "pipeline", Service: "all", From: "v2.3.0", To: "v2.4.0"},
		{At: t0.Add(time.Second), Kind: status.EventMigration, Actor: "pipeline", Detail: "up 5"},
		{At: t0.Add(90 * time.Second), Kind: status.EventDeployFinished, Actor: "pipeline", Service: "all", From: "v2.3.0", To: "v2.4.0"},
		{At: spike, Kind: status.EventSpikeStart, Actor: "observed", Detail: "15%"},
	}
}

func cmd(d time.Duration, argv string) status.Event {
	return status.Event{At: at(d), Kind: status.EventCommand, Actor: "trainee", Detail: argv}
}

// series samples every 2 s from the page to `to`, with the edge error rate and per-route rates rate(d).
func series(to time.Duration, rate func(d time.Duration) (edge float64, routes map[string]float64)) []sandbox.SeriesPoint {
	var out []sandbox.SeriesPoint
	for d := 2 * time.Second; d <= to; d += 2 * time.Second {
		e, r := rate(d)
		out = append(out, sandbox.SeriesPoint{T: at(d), RPS: 10, ErrorRate: e, P99Ms: 200, Routes: r})
	}
	return out
}

func flat(edge float64, routes map[string]float64) func(time.Duration) (float64, map[string]float64) {
	return func(time.Duration) (float64, map[string]float64) { return edge, routes }
}

var badRoutes = map[string]float64{"/api/checkout": 0.5, "/api/orders": 0.1, "/api/payments": 0.1}

// snap is a status snapshot where checkout is share of the edge's 10 rps.
func snap(share, edgeRate float64) *status.Snapshot {
	return &status.Snapshot{Edge: status.Edge{RPS: 10, ErrorRate: edgeRate, P99Ms: 200},
		Endpoints: []status.Endpoint{{Route: "/api/checkout", RPS: 10 * share}, {Route: "/api/catalog", RPS: 10 * (1 - share)}}}
}

func team(n string) Team { return Team{Name: n, Sandbox: "h-gd-t-" + n, Seed: TeamSeed(7, n)} }

func near(a, b float64) bool { return math.Abs(a-b) < 0.01*math.Max(1, math.Abs(b)) }

func TestWaitingTeamShowsTheDueRollout(t *testing.T) {
	tl := shipped()[:1]
	r := Compute(TeamData{Team: team("red"), Timeline: tl, Snapshot: snap(0.3, 0.001)}, t0.Add(-30*time.Second), th)
	if r.Phase != PhaseWaiting || r.RolloutDue == nil || !r.RolloutDue.Equal(t0) || r.PagedAt != nil {
		t.Fatalf("before the rollout: %+v", r)
	}
	var b bytes.Buffer
	WriteTable(&b, Leaderboard{Game: "g", At: t0.Add(-30 * time.Second), Teams: []Row{r}})
	if !strings.Contains(b.String(), "due in 30s") {
		t.Errorf("table does not say when the rollout is due:\n%s", b.String())
	}
}

func TestPagedTeamCountsTheImpactSoFar(t *testing.T) {
	d := TeamData{Team: team("red"), Timeline: shipped(), Snapshot: snap(0.3, 0.15), Series: series(60*time.Second, flat(0.15, badRoutes))}
	r := Compute(d, at(60*time.Second), th)
	if r.Phase != PhasePaged || r.FirstLookS != nil || r.MitigatedS != nil {
		t.Fatalf("nobody acted: %+v", r)
	}
	// 10 rps x 15% for 60 s; checkouts are 30% of the traffic and half of them fail.
	if !near(r.Errors, 90) || !near(r.FailedCheck, 90) {
		t.Errorf("errors %.1f, failed checkouts %.1f; want 90 and 90", r.Errors, r.FailedCheck)
	}
	if !near(r.IncidentS, 60) {
		t.Errorf("incident lasted %.0fs, want 60", r.IncidentS)
	}
}

func TestFirstLookIsTheFirstThingDoneAfterThePage(t *testing.T) {
	tl := append(shipped()[:4:4], cmd(-90*time.Second, "status")) // before the page: not a response to it
	tl = append(tl, shipped()[4], cmd(30*time.Second, "status"), cmd(50*time.Second, "changelog 905"))
	r := Compute(TeamData{Team: team("red"), Timeline: tl, Snapshot: snap(0.3, 0.15), Series: series(60*time.Second, flat(0.15, badRoutes))}, at(time.Minute), th)
	if r.Phase != PhaseInvestigating || r.FirstLookS == nil || *r.FirstLookS != 30 {
		t.Fatalf("first look: %+v (%s)", r, FormatDur(r.FirstLookS))
	}
}

func TestMitigatedThenRecoveredStopsTheCount(t *testing.T) {
	tl := append(shipped(), cmd(20*time.Second, "status"),
		status.Event{At: at(60 * time.Second), Kind: status.EventRollback, Actor: "cli", Service: "checkout", From: "v2.4.0", To: "v2.3.0"})
	// Checkout rolled back at +1:00: the edge is under 1% from +1:10, but payments still fail until +2:00.
	rate := func(d time.Duration) (float64, map[string]float64) {
		switch {
		case d < 70*time.Second:
			return 0.15, badRoutes
		case d < 120*time.Second:
			return 0.005, map[string]float64{"/api/payments": 0.05}
		}
		return 0.001, map[string]float64{}
	}
	d := TeamData{Team: team("red"), Timeline: tl, Snapshot: snap(0.3, 0.001), Series: series(100*time.Second, rate)}
	r := Compute(d, at(100*time.Second), th)
	if r.Phase != PhaseMitigated || r.MitigatedS == nil || *r.MitigatedS != 70 || r.RecoveredS != nil {
		t.Fatalf("at +1:40: phase %s mitigated %s recovered %s", r.Phase, FormatDur(r.MitigatedS), FormatDur(r.RecoveredS))
	}
	d.Series = series(5*time.Minute, rate)
	r = Compute(d, at(5*time.Minute), th)
	if r.Phase != PhaseRecovered || *r.MitigatedS != 70 || r.RecoveredS == nil || *r.RecoveredS != 120 {
		t.Fatalf("at +5:00: phase %s mitigated %s recovered %s", r.Phase, FormatDur(r.MitigatedS), FormatDur(r.RecoveredS))
	}
	// Errors stop counting at the recovery: 68 s at 1.5 rps, then 50 s at 0.05 rps.
	want := 10*0.15*68 + 10*0.005*50
	if !near(r.Errors, want) || !near(r.IncidentS, 120) {
		t.Errorf("errors %.1f over %.0fs, want %.1f over 120s", r.Errors, r.IncidentS, want)
	}
}

func TestABriefDipIsNotAMitigation(t *testing.T) {
	rate := func(d time.Duration) (float64, map[string]float64) {
		if d > 52*time.Second {
			return 0.002, map[string]float64{}
		}
		return 0.15, badRoutes
	}
	r := Compute(TeamData{Team: team("red"), Timeline: shipped(), Snapshot: snap(0.3, 0.002), Series: series(60*time.Second, rate)}, at(time.Minute), th)
	if r.MitigatedS != nil || r.RecoveredS != nil {
		t.Errorf("8 s under the SLO counted: mitigated %s recovered %s", FormatDur(r.MitigatedS), FormatDur(r.RecoveredS))
	}
	// Under the SLO for a minute, then a stray error for a few seconds: still mitigated since +0:32; failing
	// again for as long as Relapse: not mitigated any more.
	relapse := func(from, to time.Duration) func(time.Duration) (float64, map[string]float64) {
		return func(d time.Duration) (float64, map[string]float64) {
			if d > 30*time.Second && (d < from || d > to) {
				return 0.002, map[string]float64{}
			}
			return 0.15, badRoutes
		}
	}
	r = Compute(TeamData{Team: team("red"), Timeline: shipped(), Snapshot: snap(0.3, 0.002), Series: series(2*time.Minute, relapse(90*time.Second, 96*time.Second))}, at(2*time.Minute), th)
	if r.MitigatedS == nil || *r.MitigatedS != 32 || r.Phase != PhaseRecovered {
		t.Errorf("after a stray error: phase %s mitigated %s", r.Phase, FormatDur(r.MitigatedS))
	}
	r = Compute(TeamData{Team: team("red"), Timeline: shipped(), Snapshot: snap(0.3, 0.15), Series: series(3*time.Minute, relapse(90*time.Second, 4*time.Minute))}, at(3*time.Minute), th)
	if r.MitigatedS != nil || r.Phase != PhasePaged {
		t.Errorf("after a relapse: phase %s mitigated %s", r.Phase, FormatDur(r.MitigatedS))
	}
}

func TestTrapDataLossHintsAndGrade(t *testing.T) {
	tl := append(shipped(),
		status.Event{At: at(20 * time.Second), Kind: status.EventHint, Actor: "cli", Data: map[string]string{"symptom": "migration", "level": "1"}},
		status.Event{At: at(time.Minute), Kind: status.EventRollback, Actor: "cli", Service: "orders", From: "v2.4.0", To: "v2.3.0"},
		status.Event{At: at(2 * time.Minute), Kind: status.EventDataLoss, Actor: "observed", Detail: "12 orders rows deleted",
			Data: map[string]string{status.LossRows: "12", status.LossTable: "orders"}})
	r := Compute(TeamData{Team: team("red"), Timeline: tl, Snapshot: snap(0.3, 0.3), Series: series(3*time.Minute, flat(0.3, badRoutes))}, at(3*time.Minute), th)
	if !r.Trap || !r.DataLost || r.LostRows != 12 || r.Hints != 1 || r.Graded {
		t.Fatalf("naive rollback: trap %v lost %v/%d hints %d graded %v", r.Trap, r.DataLost, r.LostRows, r.Hints, r.Graded)
	}
	res := grade.Grade(grade.Input{Timeline: tl, Now: at(3 * time.Minute)})
	ended, err := grade.AttemptEndedEvent(res)
	if err != nil {
		t.Fatal(err)
	}
	ended.At = at(3 * time.Minute)
	tl = append(tl, ended)
	r = Compute(TeamData{Team: team("red"), Timeline: tl, Snapshot: snap(0.3, 0.3), Series: series(3*time.Minute, flat(0.3, badRoutes))}, at(3*time.Minute), th)
	if r.Phase != PhaseGraded || !r.Graded || r.Passed != res.Passed || r.Score != res.Score || r.MaxScore != res.MaxScore || r.Ratings == "" {
		t.Fatalf("graded: %+v (grade %d/%d passed %v)", r, res.Score, res.MaxScore, res.Passed)
	}
	rep := BuildReport("g", []TeamData{{Team: team("red"), Timeline: tl, Snapshot: snap(0.3, 0.3)}}, at(3*time.Minute), th)
	var b bytes.Buffer
	WriteMarkdown(&b, rep)
	for _, want := range []string{"## Ranking rule", "| Rollback Execution |", "rollback orders v2.4.0 -> v2.3.0", "YES (12 rows)", "HIT"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestUnreachableTeamIsShownNotDropped(t *testing.T) {
	k := &Keeper{}
	good := TeamData{Team: team("red"), Timeline: shipped(), Snapshot: snap(0.3, 0.15), Series: series(30*time.Second, flat(0.15, badRoutes))}
	blue := TeamData{Team: team("blue"), Timeline: shipped(), Snapshot: snap(0.3, 0.15), Series: series(30*time.Second, flat(0.15, badRoutes))}
	k.Merge([]TeamData{good, blue}, at(30*time.Second))
	// red's control room stops answering; blue's sandbox is gone from the engine altogether.
	gone := TeamData{Team: team("red"), Err: errors.New("control room: connection refused")}
	data := k.Merge([]TeamData{gone}, at(time.Minute))
	if len(data) != 2 {
		t.Fatalf("merged %d teams, want 2", len(data))
	}
	rows := Board(data, at(time.Minute), th)
	for _, r := range rows {
		if r.Reachable || r.Phase != PhaseUnreachable || r.LastSeen == nil || r.PagedAt == nil || r.Error == "" {
			t.Errorf("%s: %+v", r.Team, r)
		}
	}
	// Never answered at all: still a row, ranked last.
	never := Compute(TeamData{Team: team("green"), Err: errors.New("no sandbox")}, at(time.Minute), th)
	if never.Phase != PhaseUnreachable || never.Reachable {
		t.Errorf("never answered: %+v", never)
	}
	ranked := Rank(append(rows, never))
	if ranked[len(ranked)-1].Team != "green" {
		t.Errorf("a team that never answered is not last: %v", teamsOf(ranked))
	}
	var b bytes.Buffer
	WriteTable(&b, Leaderboard{Game: "g", At: at(time.Minute), Teams: ranked})
	if strings.Count(b.String(), "UNREACHABLE") != 3 || !strings.Contains(b.String(), "connection refused") {
		t.Errorf("table:\n%s", b.String())
	}
}

func teamsOf(rows []Row) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r.Team)
	}
	return out
}

func TestRankingRule(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	rows := []Row{
		{Team: "nothing", Phase: PhasePaged, PagedAt: &spike, Errors: 500},
		{Team: "naive", Phase: PhaseRecovered, PagedAt: &spike, MitigatedS: f(100), RecoveredS: f(200), Trap: true, Errors: 300},
		{Team: "lossy", Phase: PhaseRecovered, PagedAt: &spike, MitigatedS: f(60), RecoveredS: f(60), DataLost: true, LostRows: 3, Errors: 50},
		{Team: "safe-slow", Phase: PhaseRecovered, PagedAt: &spike, MitigatedS: f(200), RecoveredS: f(300), Errors: 400},
		{Team: "safe-fast", Phase: PhaseRecovered, PagedAt: &spike, MitigatedS: f(90), RecoveredS: f(90), Errors: 120},
		{Team: "half", Phase: PhaseMitigated, PagedAt: &spike, MitigatedS: f(30), Errors: 20},
	}
	got := strings.Join(teamsOf(Rank(rows)), " ")
	if want := "safe-fast safe-slow naive lossy half nothing"; got != want {
		t.Errorf("ranking %q, want %q", got, want)
	}
	for i, r := range Rank(rows) {
		if r.Rank != i+1 {
			t.Errorf("%s rank %d at %d", r.Team, r.Rank, i)
		}
	}
}

func TestLeaderboardJSON(t *testing.T) {
	r := Compute(TeamData{Team: team("red"), Timeline: shipped(), Snapshot: snap(0.3, 0.15), Series: series(30*time.Second, flat(0.15, badRoutes))}, at(30*time.Second), th)
	var b bytes.Buffer
	if err := WriteJSON(&b, Leaderboard{Game: "g", Teams: []Row{r}}); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Teams []map[string]any `json:"teams"`
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Teams) != 1 {
		t.Fatalf("json: %v\n%s", err, b.String())
	}
	for _, k := range []string{"phase", "paged_at", "errors", "failed_checkouts", "data_lost", "hints", "trap", "reachable", "seed"} {
		if _, ok := back.Teams[0][k]; !ok {
			t.Errorf("json lacks %q: %s", k, b.String())
		}
	}
}

// What the control room sees while the pipeline itself rolls v2.4.0 out (its migration before its new code,
// the new versions appearing) is not the team's doing: no first look, no trap.
func TestThePipelinesOwnRolloutIsNotTheTeams(t *testing.T) {
	obs := func(at time.Time, kind, svc, from, to string, data map[string]string) status.Event {
		return status.Event{At: at, Kind: kind, Actor: "observed", Service: svc, From: from, To: to, Data: data}
	}
	notNull := map[string]string{"exists": "true", "nullable": "false", "default": ""}
	tl := []status.Event{
		{At: t0.Add(-time.Minute), Kind: status.EventRolloutScheduled, Actor: "cli", Data: map[string]string{"due": t0.Format(time.RFC3339)}},
		obs(t0.Add(-time.Minute), "observed_initial", "", "", "", map[string]string{"order_metadata": "absent", "version.orders": "v2.3.0"}),
		{At: t0, Kind: status.EventDeployStarted, Actor: "pipeline", Service: "all", From: "v2.3.0", To: "v2.4.0"},
		obs(t0.Add(2*time.Second), status.EventSchemaObserved, "", "absent", "jsonb NOT NULL default none", notNull), // v2.3.0 orders still run
		obs(t0.Add(40*time.Second), status.EventVersionObserved, "orders", "v2.3.0", "v2.4.0", nil),
		{At: t0.Add(50 * time.Second), Kind: status.EventSpikeStart, Actor: "observed"},
		obs(t0.Add(60*time.Second), status.EventVersionObserved, "checkout", "v2.3.0", "v2.4.0", nil),
		{At: t0.Add(90 * time.Second), Kind: status.EventDeployFinished, Actor: "pipeline", Service: "all", From: "v2.3.0", To: "v2.4.0"},
		obs(t0.Add(100*time.Second), status.EventVersionObserved, "payments", "v2.3.0", "v2.4.0", nil),
	}
	now := t0.Add(3 * time.Minute)
	for _, n := range []int{7, len(tl)} { // while the rollout still runs, and once it finished
		r := Compute(TeamData{Team: team("red"), Timeline: tl[:n], Snapshot: snap(0.3, 0.15)}, tl[n-1].At, th)
		if r.Trap || r.FirstLookS != nil || r.Phase != PhasePaged {
			t.Fatalf("%d events into the pipeline's rollout: trap %v first look %s phase %s", n, r.Trap, FormatDur(r.FirstLookS), r.Phase)
		}
	}
	// The same naive rollback of orders by the team, after the release is out, is the trap.
	tl = append(tl, obs(t0.Add(150*time.Second), status.EventVersionObserved, "orders", "v2.4.0", "v2.3.0", nil))
	r := Compute(TeamData{Team: team("red"), Timeline: tl, Snapshot: snap(0.3, 0.15)}, now, th)
	if !r.Trap || r.FirstLookS == nil || *r.FirstLookS != 100 {
		t.Fatalf("after a rollback of orders: trap %v first look %s", r.Trap, FormatDur(r.FirstLookS))
	}
}

func TestHTMLReportIsSelfContained(t *testing.T) {
	red := TeamData{Team: team("red"), Timeline: shipped(), Snapshot: snap(0.3, 0.15), Series: series(time.Minute, flat(0.15, badRoutes))}
	tl := append(shipped(), status.Event{At: at(30 * time.Second), Kind: status.EventCommand, Actor: "trainee", Detail: `sql SELECT '<script>alert(1)</script>'`})
	blue := TeamData{Team: team("blue"), Timeline: tl, Snapshot: snap(0.3, 0.15), Series: series(time.Minute, flat(0.02, map[string]float64{}))}
	var b bytes.Buffer
	if err := WriteHTML(&b, BuildReport("g", []TeamData{red, blue}, at(time.Minute), th)); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	if strings.Count(h, "<polyline") != 2 || !strings.Contains(h, "<svg") || !strings.Contains(h, "Ranking rule") {
		t.Errorf("want one chart with a line per team and the rule:\n%s", h)
	}
	for _, bad := range []string{"<script", "src=", "href=\"http", "@import"} {
		if strings.Contains(h, bad) {
			t.Errorf("the report loads or runs something (%q); it must be one self-contained file", bad)
		}
	}
	if !strings.Contains(h, "&lt;script&gt;") {
		t.Errorf("a team's command is not escaped:\n%s", h)
	}
}
