package gameday

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/grade"
	"github.com/sandbox-labs/sandbox/services/status"
)

// Report is the comparative debrief of a game.
type Report struct {
	Game  string      `json:"game"`
	At    time.Time   `json:"at"`
	Rule  []string    `json:"ranking_rule"`
	Teams []Scorecard `json:"teams"`
}

// Scorecard is one team in the report: its leaderboard row, what it changed, and its grade once taken.
type Scorecard struct {
	Row
	Changes      []string          `json:"changes"` // what the team changed, from the timeline (time from the page)
	Scorecard    []grade.AreaScore `json:"scorecard,omitempty"`
	Strengths    []string          `json:"strengths,omitempty"`
	Improvements []string          `json:"improvements,omitempty"`
	Process      []string          `json:"process_improvements,omitempty"` // as the team named them (graded teams)
	Checks       []grade.Check     `json:"checks,omitempty"`
	Hints        []grade.HintTaken `json:"hints_taken,omitempty"`
	Faults       []string          `json:"faults,omitempty"`
	// Series is the team's edge error rate over time, for the report's chart (not in the JSON).
	Series []sandbox.SeriesPoint `json:"-"`
}

// BuildReport ranks the teams and adds each one's scorecard. The answer key (PRs, failing functions) is
// only in a team's card once its attempt ended: the report may be read while others still play.
func BuildReport(game string, data []TeamData, now time.Time, th grade.Thresholds) Report {
	rows := Board(data, now, th)
	byName := map[string]TeamData{}
	for _, d := range data {
		byName[d.Team.Sandbox] = d
	}
	rep := Report{Game: game, At: now.UTC(), Rule: RankingRule}
	for _, r := range rows {
		d := byName[r.Sandbox]
		sc := Scorecard{Row: r, Changes: changes(d.Timeline, r.PagedAt), Series: d.Series}
		if res, err := grade.StoredVerdict(d.Timeline); err == nil {
			sc.Scorecard, sc.Strengths, sc.Improvements = res.Scorecard, res.Strengths, res.Improvements
			sc.Checks, sc.Hints, sc.Faults = res.Checks, res.HintsTaken, res.Faults
			if a := grade.AnswersFromTimeline(d.Timeline); a != nil {
				sc.Process = append(sc.Process, a.ProcessChanges...)
				for _, fa := range a.Faults {
					sc.Process = append(sc.Process, fa.ProcessChanges...)
				}
			}
		}
		rep.Teams = append(rep.Teams, sc)
	}
	return rep
}

// changes are the team's own changes after the page, as "+m:ss what".
func changes(tl []status.Event, paged *time.Time) []string {
	var out []string
	for _, ev := range tl {
		if paged == nil || ev.At.Before(*paged) {
			continue
		}
		what := ""
		switch ev.Kind {
		case status.EventRollback, status.EventDeployStarted, status.EventMigration, status.EventReleaseCreated:
			if ev.Actor == "pipeline" {
				continue
			}
			what = joinNonEmpty(" ", ev.Kind, ev.Service, arrow(ev.From, ev.To), ev.Detail)
		case status.EventSchemaObserved, status.EventFlagObserved:
			what = joinNonEmpty(" ", ev.Kind, ev.Service, arrow(ev.From, ev.To))
		case status.EventCommand:
			if c := strings.Fields(ev.Detail); len(c) > 0 && (c[0] == "sql" || c[0] == "flags" || c[0] == "hint" || c[0] == "grade") {
				what = "ran `sandbox " + ev.Detail + "`"
			}
		case status.EventDataLoss:
			what = "DATA LOSS: " + ev.Detail
		case status.EventRecovered:
			what = "edge back under 1%"
		}
		if what != "" {
			out = append(out, rel(ev.At, *paged)+" "+what)
		}
	}
	return out
}

func arrow(from, to string) string {
	if from == "" && to == "" {
		return ""
	}
	return from + " -> " + to
}

func rel(t, ref time.Time) string {
	d := t.Sub(ref).Round(time.Second)
	sign := "+"
	if d < 0 {
		sign, d = "-", -d
	}
	return fmt.Sprintf("%s%d:%02d", sign, int(d.Minutes()), int(d.Seconds())%60)
}

// WriteMarkdown prints the report as Markdown.
func WriteMarkdown(w io.Writer, rep Report) {
	fmt.Fprintf(w, "# Game day %s: debrief\n\n", rep.Game)
	fmt.Fprintf(w, "Report at %s UTC, %d team(s).\n\n", rep.At.Format("2006-01-02 15:04:05"), len(rep.Teams))
	fmt.Fprintln(w, "## Ranking rule")
	fmt.Fprintln(w)
	for _, l := range rep.Rule {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w, "\nTimes are from the page (the error spike at the edge). Errors and failed checkouts are failed requests while the incident lasted (page to recovery, or to now), estimated from each control room's series.")
	fmt.Fprintln(w, "\n## Ranking")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| # | team | phase | first look | mitigated | recovered | errors | failed checkouts | data lost | hints | trap | grade |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, t := range rep.Teams {
		r := t.Row
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %d | %s | %s |\n", r.Rank, r.Team, phaseCell(r),
			FormatDur(r.FirstLookS), FormatDur(r.MitigatedS), FormatDur(r.RecoveredS), countCell(r, r.Errors), countCell(r, r.FailedCheck),
			lostCell(r), r.Hints, yesNo(r.Trap), gradeCell(r))
	}
	for _, t := range rep.Teams {
		r := t.Row
		fmt.Fprintf(w, "\n## %d. %s (sandbox `%s`, seed %d)\n\n", r.Rank, r.Team, r.Sandbox, r.Seed)
		if !r.Reachable {
			fmt.Fprintf(w, "- **Does not answer**: %s\n", firstNonEmpty(r.Error, "no control room"))
		}
		if r.PagedAt == nil {
			fmt.Fprintln(w, "- Not paged yet.")
		} else {
			fmt.Fprintf(w, "- Paged at %s UTC; first look %s, mitigated %s, recovered %s (incident %s so far or in all).\n",
				r.PagedAt.UTC().Format("15:04:05"), FormatDur(r.FirstLookS), FormatDur(r.MitigatedS), FormatDur(r.RecoveredS), FormatDur(&r.IncidentS))
			fmt.Fprintf(w, "- Customer impact: about %.0f failed requests at the edge, %.0f of them checkouts.\n", r.Errors, r.FailedCheck)
		}
		fmt.Fprintf(w, "- Data lost: %s. Rollback trap: %s. Hints taken: %d.\n", lostCell(r), yesNo(r.Trap), r.Hints)
		if len(t.Changes) > 0 {
			fmt.Fprintln(w, "\nWhat the team did:")
			for _, c := range t.Changes {
				fmt.Fprintln(w, "- "+c)
			}
		}
		if !r.Graded {
			fmt.Fprintln(w, "\nNot graded yet: `sandbox grade --name "+r.Sandbox+"` ends the team's attempt and adds its scorecard here.")
			continue
		}
		fmt.Fprintf(w, "\nGrade: %s.\n\n", gradeCell(r))
		if len(t.Scorecard) > 0 {
			fmt.Fprintln(w, "| area | rating | justification |")
			fmt.Fprintln(w, "|---|---|---|")
			for _, a := range t.Scorecard {
				fmt.Fprintf(w, "| %s | %s | %s |\n", a.Area, a.Rating, strings.ReplaceAll(a.Justification, "|", "\\|"))
			}
		}
		list := func(title string, items []string) {
			if len(items) == 0 {
				return
			}
			fmt.Fprintf(w, "\n%s:\n", title)
			for _, s := range items {
				fmt.Fprintln(w, "- "+s)
			}
		}
		list("Strengths", t.Strengths)
		list("Improvements", t.Improvements)
		list("Process improvements the team named", t.Process)
	}
}
