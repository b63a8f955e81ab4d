package gameday

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/grade"
	"github.com/sandbox-labs/sandbox/services/status"
)

// Phases of a team, in the order an incident goes through them.
const (
	PhaseWaiting       = "waiting" // v2.4.0 has not paged the team yet (baseline, or the rollout is running)
	PhasePaged         = "paged"   // the edge spiked; the team has not done anything yet
	PhaseInvestigating = "investigating"
	PhaseMitigated     = "mitigated" // the edge error rate is back under the SLO
	PhaseRecovered     = "recovered" // every route under the SLO's error rate and the edge p99 within its limit
	PhaseGraded        = "graded"    // `sandbox grade` ended the attempt
	PhaseUnreachable   = "unreachable"
)

// Hold is how long the series must stay under the SLO for a team to count as mitigated or recovered: one
// series window (each point is a 10 s trailing window), so a single lucky sample does not count.
const Hold = 10 * time.Second

// Relapse is how long the series must fail again for a mitigated or recovered team to lose that phase.
const Relapse = 30 * time.Second

// maxGap caps one series step when errors are summed: a gap in the series (the control room restarted)
// must not multiply one point's rate by minutes.
const maxGap = 30 * time.Second

// TeamData is what a team's control room answered (or why it did not).
type TeamData struct {
	Team     Team
	Snapshot *status.Snapshot // nil when it did not answer
	Timeline []status.Event
	Series   []sandbox.SeriesPoint
	Err      error
	// Stale is when the data last came from the team's control room, for a watch that keeps showing a team
	// that stopped answering (zero: fresh).
	Stale time.Time
}

// Row is one team's line on the leaderboard. Durations are from the page (the spike) and nil until known.
type Row struct {
	Rank        int        `json:"rank"`
	Team        string     `json:"team"`
	Sandbox     string     `json:"sandbox"`
	Seed        int64      `json:"seed"`
	Phase       string     `json:"phase"`
	Reachable   bool       `json:"reachable"`
	Error       string     `json:"error,omitempty"`
	LastSeen    *time.Time `json:"last_seen,omitempty"` // for an unreachable team: when it last answered
	RolloutDue  *time.Time `json:"rollout_due,omitempty"`
	PagedAt     *time.Time `json:"paged_at,omitempty"`
	FirstLookS  *float64   `json:"first_look_s,omitempty"`
	MitigatedS  *float64   `json:"mitigated_s,omitempty"`
	RecoveredS  *float64   `json:"recovered_s,omitempty"`
	IncidentS   float64    `json:"incident_s"`       // how long the incident has lasted (to recovery or now)
	Errors      float64    `json:"errors"`           // failed requests at the edge while the incident lasted (estimate)
	FailedCheck float64    `json:"failed_checkouts"` // failed /api/checkout requests while it lasted (estimate)
	ErrorRate   float64    `json:"error_rate"`       // the edge error rate now
	DataLost    bool       `json:"data_lost"`
	LostRows    int64      `json:"lost_rows"`
	Hints       int        `json:"hints"`
	Trap        bool       `json:"trap"`
	Graded      bool       `json:"graded"`
	Passed      bool       `json:"passed"`
	Score       int        `json:"score"`
	MaxScore    int        `json:"max_score,omitempty"`
	Ratings     string     `json:"ratings,omitempty"`
}

// Compute builds a team's row from what its control room answered at now, judged by th (the grader's SLO).
func Compute(d TeamData, now time.Time, th grade.Thresholds) Row {
	r := Row{Team: d.Team.Name, Sandbox: d.Team.Sandbox, Seed: d.Team.Seed, Reachable: d.Err == nil && d.Snapshot != nil}
	if d.Err != nil {
		r.Error = d.Err.Error()
	}
	if !d.Stale.IsZero() {
		t := d.Stale
		r.LastSeen = &t
	}
	if d.Snapshot == nil && d.Timeline == nil {
		r.Phase = PhaseUnreachable
		return r
	}
	if d.Snapshot != nil {
		r.ErrorRate = d.Snapshot.Edge.ErrorRate
	}
	ro := sandbox.RolloutFromTimeline(d.Timeline)
	if !ro.Due.IsZero() {
		due := ro.Due
		r.RolloutDue = &due
	}
	sum := grade.Summarize(d.Timeline)
	r.Trap, r.DataLost, r.LostRows, r.Hints = sum.Trap, sum.DataLoss, sum.LostRows, sum.Hints
	if res, err := grade.StoredVerdict(d.Timeline); err == nil {
		r.Graded, r.Passed, r.Score, r.MaxScore = true, res.Passed, res.Score, res.MaxScore
		r.Ratings = ratings(res)
	} else if ev, ok := grade.EndedEvent(d.Timeline); ok {
		r.Graded, r.Passed = true, ev.Data["passed"] == "true"
		r.Score, _ = strconv.Atoi(ev.Data["score"])
		r.Ratings = ev.Data["ratings"]
	}
	if sum.Spike == nil {
		r.Phase = PhaseWaiting
		if r.Graded {
			r.Phase = PhaseGraded
		}
		if !r.Reachable {
			r.Phase = PhaseUnreachable
		}
		return r
	}
	spike := *sum.Spike
	r.PagedAt = &spike
	if sum.FirstLook != nil {
		r.FirstLookS = secs(sum.FirstLook.Sub(spike))
	}
	var baseline *status.Baseline
	if d.Snapshot != nil {
		baseline = d.Snapshot.Baseline
	}
	p99Limit, _ := grade.P99Limit(baseline, th)
	after := pointsAfter(d.Series, spike)
	mit := holdsSince(after, func(p sandbox.SeriesPoint) bool { return p.ErrorRate < th.MaxErrorRate })
	rec := holdsSince(after, func(p sandbox.SeriesPoint) bool {
		if p.ErrorRate >= th.MaxErrorRate || p.P99Ms >= p99Limit {
			return false
		}
		for _, route := range status.Routes {
			if p.Routes[route] >= th.MaxErrorRate {
				return false
			}
		}
		return true
	})
	if rec != nil && mit == nil { // cannot happen with the rules above, but a recovered shop is mitigated
		mit = rec
	}
	if mit != nil {
		r.MitigatedS = secs(mit.Sub(spike))
	}
	end := now
	if len(after) > 0 && after[len(after)-1].T.Before(end) {
		end = after[len(after)-1].T
	}
	if rec != nil {
		r.RecoveredS = secs(rec.Sub(spike))
		end = *rec
	}
	if end.After(spike) {
		r.IncidentS = end.Sub(spike).Seconds()
	}
	share := checkoutShare(d.Snapshot)
	prev := spike
	for _, p := range after {
		if p.T.After(end) {
			break
		}
		dt := p.T.Sub(prev)
		prev = p.T
		if dt > maxGap {
			dt = maxGap
		}
		r.Errors += p.RPS * p.ErrorRate * dt.Seconds()
		r.FailedCheck += p.RPS * share * p.Routes["/api/checkout"] * dt.Seconds()
	}
	switch {
	case !r.Reachable:
		r.Phase = PhaseUnreachable
	case r.Graded:
		r.Phase = PhaseGraded
	case rec != nil:
		r.Phase = PhaseRecovered
	case mit != nil:
		r.Phase = PhaseMitigated
	case sum.FirstLook != nil:
		r.Phase = PhaseInvestigating
	default:
		r.Phase = PhasePaged
	}
	return r
}

func ratings(res *grade.Result) string {
	s := ""
	for i, a := range res.Scorecard {
		if i > 0 {
			s += ", "
		}
		s += a.Area + " " + a.Rating
	}
	return s
}

func secs(d time.Duration) *float64 {
	v := d.Round(time.Second).Seconds()
	return &v
}

func pointsAfter(series []sandbox.SeriesPoint, t time.Time) []sandbox.SeriesPoint {
	out := make([]sandbox.SeriesPoint, 0, len(series))
	for _, p := range series {
		if p.T.After(t) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].T.Before(out[j].T) })
	return out
}

// holdsSince is when the team got to ok and stayed there: the start of a run of points meeting ok that held
// for at least Hold, after which no run of points failing it lasted Relapse or more. nil when the team is
// not there now (or not for long enough yet). The hysteresis keeps one stray error on a quiet shop (at
// 10 rps a single failed request is 1% of a 10 s window) from flipping a recovered team back.
func holdsSince(points []sandbox.SeriesPoint, ok func(sandbox.SeriesPoint) bool) *time.Time {
	var since *time.Time   // the team is there since (nil: not there)
	var runStart time.Time // start of the current run of points on the other side
	inRun := false
	for _, p := range points {
		good := ok(p)
		there := since != nil
		if good == there { // on the side the team is on: any run the other way ends
			inRun = false
			continue
		}
		if !inRun {
			runStart, inRun = p.T, true
		}
		switch {
		case good && p.T.Sub(runStart) >= Hold:
			t := runStart
			since, inRun = &t, false
		case !good && p.T.Sub(runStart) >= Relapse:
			since, inRun = nil, false
		}
	}
	return since
}

// checkoutShare is /api/checkout's share of the edge's requests in the snapshot (the load's mix is steady).
func checkoutShare(s *status.Snapshot) float64 {
	if s == nil || s.Edge.RPS <= 0 {
		return 0
	}
	for _, ep := range s.Endpoints {
		if ep.Route == "/api/checkout" {
			return min(1, ep.RPS/s.Edge.RPS)
		}
	}
	return 0
}

// RankingRule is the ranking rule, as the leaderboard and the report spell it out.
var RankingRule = []string{
	"1. Recovered (every route under the SLO's error rate and the edge p99 within the grader's limit, held 10 s) ranks above mitigated (the edge error rate under the SLO, held 10 s), mitigated above neither; a team that fails again for 30 s loses the phase.",
	"2. Then no data lost ranks above data lost (fewer rows lost first).",
	"3. Then the rollback trap not hit ranks above hit.",
	"4. Then fewer failed requests at the edge while the incident lasted (the customer impact).",
	"5. Then a higher grade score (a team not graded yet counts 0), then the faster recovery.",
	"A team that does not answer keeps its place from what it last showed, or ranks last if it never answered.",
}

// Rank orders rows by RankingRule and numbers them.
func Rank(rows []Row) []Row {
	out := append([]Row(nil), rows...)
	level := func(r Row) int {
		switch {
		case r.RecoveredS != nil:
			return 2
		case r.MitigatedS != nil:
			return 1
		}
		return 0
	}
	never := func(r Row) bool { return r.Phase == PhaseUnreachable && r.PagedAt == nil && r.RolloutDue == nil }
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if never(a) != never(b) {
			return !never(a)
		}
		if level(a) != level(b) {
			return level(a) > level(b)
		}
		if a.LostRows != b.LostRows || a.DataLost != b.DataLost {
			if a.DataLost != b.DataLost {
				return !a.DataLost
			}
			return a.LostRows < b.LostRows
		}
		if a.Trap != b.Trap {
			return !a.Trap
		}
		if ea, eb := int64(a.Errors), int64(b.Errors); ea != eb {
			return ea < eb
		}
		if a.Score != b.Score {
			return a.Score > b.Score
		}
		ra, rb := durOr(a.RecoveredS), durOr(b.RecoveredS)
		if ra != rb {
			return ra < rb
		}
		return a.Team < b.Team
	})
	for i := range out {
		out[i].Rank = i + 1
	}
	return out
}

func durOr(p *float64) float64 {
	if p == nil {
		return 1e18
	}
	return *p
}

// Board computes and ranks every team's row.
func Board(data []TeamData, now time.Time, th grade.Thresholds) []Row {
	rows := make([]Row, 0, len(data))
	for _, d := range data {
		rows = append(rows, Compute(d, now, th))
	}
	return Rank(rows)
}

// FormatDur renders a duration in seconds as m:ss ("-" when unknown).
func FormatDur(p *float64) string {
	if p == nil {
		return "-"
	}
	d := time.Duration(*p) * time.Second
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
