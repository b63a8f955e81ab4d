package gameday

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Leaderboard is a game's leaderboard at one moment, as `gameday status --output json` prints it.
type Leaderboard struct {
	Game  string    `json:"game"`
	At    time.Time `json:"at"`
	Rule  []string  `json:"ranking_rule"`
	Teams []Row     `json:"teams"`
}

// WriteTable prints the leaderboard for a terminal.
func WriteTable(w io.Writer, lb Leaderboard) {
	fmt.Fprintf(w, "Game %s · %s UTC · %d team(s)\n\n", lb.Game, lb.At.UTC().Format("15:04:05"), len(lb.Teams))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTEAM\tPHASE\tPAGED\tFIRST LOOK\tMITIGATED\tRECOVERED\tERRORS\tFAILED CHECKOUTS\tDATA LOST\tHINTS\tTRAP\tGRADE")
	for _, r := range lb.Teams {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Rank, r.Team, phaseCell(r), pagedCell(r, lb.At),
			FormatDur(r.FirstLookS), FormatDur(r.MitigatedS), FormatDur(r.RecoveredS), countCell(r, r.Errors), countCell(r, r.FailedCheck),
			lostCell(r), r.Hints, yesNo(r.Trap), gradeCell(r))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nTimes are from the page (the error spike). ERRORS and FAILED CHECKOUTS: failed requests while the incident lasted, estimated from the control room's series.")
	for _, r := range lb.Teams {
		if !r.Reachable {
			seen := ""
			if r.LastSeen != nil {
				seen = fmt.Sprintf(" (last answered %s UTC; the row shows that)", r.LastSeen.UTC().Format("15:04:05"))
			}
			fmt.Fprintf(w, "! %s (sandbox %s) does not answer%s: %s\n", r.Team, r.Sandbox, seen, firstNonEmpty(r.Error, "no control room"))
		}
	}
}

func phaseCell(r Row) string {
	if r.Phase == PhaseUnreachable {
		return "UNREACHABLE"
	}
	return r.Phase
}

func pagedCell(r Row, now time.Time) string {
	switch {
	case r.PagedAt != nil:
		return r.PagedAt.UTC().Format("15:04:05")
	case r.RolloutDue != nil && now.Before(*r.RolloutDue):
		return "due in " + r.RolloutDue.Sub(now).Round(time.Second).String()
	case r.RolloutDue != nil:
		return "shipping"
	}
	return "-"
}

func countCell(r Row, v float64) string {
	if r.PagedAt == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}

func lostCell(r Row) string {
	switch {
	case r.DataLost && r.LostRows > 0:
		return fmt.Sprintf("YES (%d rows)", r.LostRows)
	case r.DataLost:
		return "YES"
	}
	return "none"
}

func gradeCell(r Row) string {
	if !r.Graded {
		return "-"
	}
	word := "not passed"
	if r.Passed {
		word = "passed"
	}
	if r.MaxScore > 0 {
		return fmt.Sprintf("%d/%d %s", r.Score, r.MaxScore, word)
	}
	return fmt.Sprintf("%d %s", r.Score, word)
}

func yesNo(b bool) string {
	if b {
		return "HIT"
	}
	return "no"
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// WriteJSON prints the leaderboard as JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// joinNonEmpty joins the non-empty parts.
func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
