package grade

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// jsonResult is the --output json contract: lab platforms read these keys.
type jsonResult struct {
	Passed       bool        `json:"passed"`
	Score        int         `json:"score"`
	MaxScore     int         `json:"max_score"`
	Checks       []jsonCheck `json:"checks"`
	Scorecard    []AreaScore `json:"scorecard"`
	Strengths    []string    `json:"strengths"`
	Improvements []string    `json:"improvements"`
	Resources    []jsonRes   `json:"resources"`
	Faults       []string    `json:"faults"`
	HintsTaken   []HintTaken `json:"hints_taken"`
	Evidence     []string    `json:"evidence"`
}

type jsonCheck struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

type jsonRes struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// RenderJSON writes the machine-readable result.
func RenderJSON(w io.Writer, r *Result) error {
	out := jsonResult{Passed: r.Passed, Score: r.Score, MaxScore: r.MaxScore, Scorecard: r.Scorecard,
		Strengths: nonNil(r.Strengths), Improvements: nonNil(r.Improvements), Faults: nonNil(r.Faults),
		HintsTaken: r.HintsTaken, Evidence: nonNil(r.Evidence), Checks: []jsonCheck{}, Resources: []jsonRes{}}
	if out.HintsTaken == nil {
		out.HintsTaken = []HintTaken{}
	}
	if out.Scorecard == nil {
		out.Scorecard = []AreaScore{}
	}
	for _, c := range r.Checks {
		out.Checks = append(out.Checks, jsonCheck(c))
	}
	for _, x := range r.Resources {
		out.Resources = append(out.Resources, jsonRes{x.Title, x.URL})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write grade json: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func mark(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// RenderText writes the human report: checks and scorecard as tables, then the lists.
func RenderText(w io.Writer, r *Result) error {
	verdict := "NOT PASSED"
	if r.Passed {
		verdict = "PASSED"
	}
	fmt.Fprintf(w, "Grade: %s   score %d/%d\n", verdict, r.Score, r.MaxScore)
	fmt.Fprintf(w, "%s\n\n", r.identity())
	opts := []tablewriter.Option{
		tablewriter.WithRowAutoWrap(tw.WrapNormal),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithMaxWidth(120),
	}
	t := tablewriter.NewTable(w, opts...)
	t.Header("Check", "Result", "Detail")
	for _, c := range r.Checks {
		if err := t.Append([]string{c.ID, mark(c.Passed), c.Detail}); err != nil {
			return fmt.Errorf("render checks: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("render checks: %w", err)
	}
	fmt.Fprintln(w)
	t = tablewriter.NewTable(w, opts...)
	t.Header("Area", "Rating", "Justification")
	for _, a := range r.Scorecard {
		if err := t.Append([]string{a.Area, a.Rating, a.Justification}); err != nil {
			return fmt.Errorf("render scorecard: %w", err)
		}
	}
	if err := t.Render(); err != nil {
		return fmt.Errorf("render scorecard: %w", err)
	}
	list := func(title string, items []string) {
		fmt.Fprintf(w, "\n%s:\n", title)
		if len(items) == 0 {
			fmt.Fprintln(w, "  (none)")
		}
		for i, s := range items {
			fmt.Fprintf(w, "  %d. %s\n", i+1, s)
		}
	}
	list("Strengths", r.Strengths)
	list("Improvements", r.Improvements)
	var res []string
	for _, x := range r.Resources {
		res = append(res, x.Title+" - "+x.URL)
	}
	list("Further study", res)
	return nil
}

// RenderMarkdown writes the report for lab platforms and game-day write-ups.
func RenderMarkdown(w io.Writer, r *Result) error {
	var b strings.Builder
	verdict := "not passed"
	if r.Passed {
		verdict = "passed"
	}
	fmt.Fprintf(&b, "# Sandbox grade: %s (score %d/%d)\n\n%s\n\n", verdict, r.Score, r.MaxScore, r.identity())
	b.WriteString("## Checks\n\n| Check | Result | Detail |\n|---|---|---|\n")
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.ID, mark(c.Passed), mdCell(c.Detail))
	}
	b.WriteString("\n## Scorecard\n\n| Area | Rating | Justification |\n|---|---|---|\n")
	for _, a := range r.Scorecard {
		fmt.Fprintf(&b, "| %s | **%s** | %s |\n", a.Area, a.Rating, mdCell(a.Justification))
	}
	section := func(title string, items []string) {
		fmt.Fprintf(&b, "\n## %s\n\n", title)
		for _, s := range items {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	section("Strengths", r.Strengths)
	section("Improvements", r.Improvements)
	b.WriteString("\n## Further study\n\n")
	for _, x := range r.Resources {
		fmt.Fprintf(&b, "- [%s](%s)\n", x.Title, x.URL)
	}
	if len(r.Evidence) > 0 {
		section("Timeline as graded", r.Evidence)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write grade markdown: %w", err)
	}
	return nil
}

// identity names the sandbox graded and the thresholds used; a non-default threshold is marked with '*'.
func (r *Result) identity() string {
	var th []string
	nonDefault := false
	for _, t := range r.Thresholds {
		v := t.Name + "=" + t.Value
		if t.NonDefault {
			v += "* (default " + t.Default + ")"
			nonDefault = true
		}
		th = append(th, v)
	}
	s := fmt.Sprintf("Sandbox %s · seed %s · faults %s · thresholds %s", orDefault(r.Meta["sandbox"], "?"),
		orDefault(r.Meta["seed"], "?"), orDefault(r.Meta["faults"], "?"), orDefault(strings.Join(th, ", "), "default"))
	if nonDefault {
		s += "\n* non-default threshold: this verdict is not the lab's default SLO"
	}
	return s
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// Render writes r in format "text" (or ""), "json" or "markdown"/"md".
func Render(w io.Writer, format string, r *Result) error {
	switch format {
	case "", "text", "human", "table":
		return RenderText(w, r)
	case "json":
		return RenderJSON(w, r)
	case "markdown", "md":
		return RenderMarkdown(w, r)
	}
	return fmt.Errorf("unknown output format %q: use text, json or markdown", format)
}
