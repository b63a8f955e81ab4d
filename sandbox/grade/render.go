package grade

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

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
	// EndedAt is when the attempt ended (the attempt_ended event); Recorded says this verdict was read back
	// from that event rather than judged just now.
	EndedAt  *time.Time `json:"ended_at,omitempty"`
	Recorded bool       `json:"recorded,omitempty"`
	// AfterAttempt are the live checks now, after the attempt ended: shown, never graded.
	AfterAttempt []jsonCheck `json:"after_attempt,omitempty"`
}

type jsonCheck struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	Passed  bool   `json:"passed"`
	Detail  string `json:"detail"`
	Explain string `json:"explain,omitempty"`
}

type jsonRes struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// RenderJSON writes the machine-readable result.
func RenderJSON(w io.Writer, r *Result) error {
	out := jsonResult{Passed: r.Passed, Score: r.Score, MaxScore: r.MaxScore, Scorecard: r.Scorecard,
		Strengths: nonNil(r.Strengths), Improvements: nonNil(r.Improvements), Faults: nonNil(r.Faults),
		HintsTaken: r.HintsTaken, Evidence: nonNil(r.Evidence), Checks: []jsonCheck{}, Resources: []jsonRes{},
		EndedAt: r.EndedAt, Recorded: r.Recorded}
	if out.HintsTaken == nil {
		out.HintsTaken = []HintTaken{}
	}
	if out.Scorecard == nil {
		out.Scorecard = []AreaScore{}
	}
	for _, c := range r.Checks {
		out.Checks = append(out.Checks, jsonCheck(c))
	}
	for _, c := range r.AfterAttempt {
		out.AfterAttempt = append(out.AfterAttempt, jsonCheck(c.Neutral()))
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
	fmt.Fprintf(w, "%s\n", r.identity())
	if e := r.ended(); e != "" {
		fmt.Fprintln(w, e)
	}
	fmt.Fprintln(w)
	opts := []tablewriter.Option{
		tablewriter.WithRowAutoWrap(tw.WrapNormal),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithMaxWidth(120),
	}
	t := tablewriter.NewTable(w, opts...)
	t.Header("Check", "Result", "Detail")
	for _, c := range r.Checks {
		if err := t.Append([]string{c.ID, mark(c.Passed), withWhy(c, "\nWhy: ")}); err != nil {
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
	if len(r.AfterAttempt) > 0 {
		fmt.Fprintln(w, "\nAfter the attempt (live now; not graded, the verdict above stands):")
		writeCheckLines(w, r.AfterAttempt)
	}
	return nil
}

// withWhy is a check's detail followed by its explanation, for the views after the attempt ended.
func withWhy(c Check, sep string) string {
	if c.Explain == "" {
		return c.Detail
	}
	return c.Detail + sep + c.Explain
}

// ended says when the attempt ended, for the report's header.
func (r *Result) ended() string {
	if r.EndedAt == nil {
		return ""
	}
	s := "Attempt ended at " + r.EndedAt.UTC().Format("2006-01-02 15:04:05Z")
	if r.Recorded {
		return s + ": the verdict recorded then (changes and answers since do not count)."
	}
	return s + ": this verdict is recorded; every later `sandbox grade` prints it."
}

func writeCheckLines(w io.Writer, checks []Check) {
	for _, c := range checks {
		fmt.Fprintf(w, "  %s  %-26s %s\n", mark(c.Passed), c.ID, c.Detail)
	}
}

// CheckReport is what `sandbox check` prints: the live checks, neutral.
type CheckReport struct {
	Passed bool        `json:"passed"`
	Checks []jsonCheck `json:"checks"`
}

// NewCheckReport strips every explanation from checks: `check` runs before the attempt ends.
func NewCheckReport(checks []Check) CheckReport {
	rep := CheckReport{Passed: len(checks) > 0, Checks: []jsonCheck{}}
	for _, c := range checks {
		rep.Passed = rep.Passed && c.Passed
		rep.Checks = append(rep.Checks, jsonCheck(c.Neutral()))
	}
	return rep
}

// RenderChecks writes `sandbox check`'s report in format "text" (or "") or "json". It prints what was
// observed and never an explanation: no PR, fault, code path or fix.
func RenderChecks(w io.Writer, format string, checks []Check) error {
	rep := NewCheckReport(checks)
	switch format {
	case "", "text":
		failed := 0
		for _, c := range rep.Checks {
			if !c.Passed {
				failed++
			}
		}
		verdict := "all checks pass"
		if failed > 0 {
			verdict = fmt.Sprintf("%d of %d checks fail", failed, len(rep.Checks))
		}
		fmt.Fprintf(w, "Checks: %s\n", verdict)
		for _, c := range rep.Checks {
			fmt.Fprintf(w, "%s  %-26s %s\n", mark(c.Passed), c.ID, c.Detail)
		}
		return nil
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("write checks json: %w", err)
		}
		return nil
	}
	return fmt.Errorf("unknown output format %q: use text or json", format)
}

// RenderMarkdown writes the report for lab platforms and game-day write-ups.
func RenderMarkdown(w io.Writer, r *Result) error {
	var b strings.Builder
	verdict := "not passed"
	if r.Passed {
		verdict = "passed"
	}
	fmt.Fprintf(&b, "# Sandbox grade: %s (score %d/%d)\n\n%s\n\n", verdict, r.Score, r.MaxScore, r.identity())
	if e := r.ended(); e != "" {
		b.WriteString(e + "\n\n")
	}
	b.WriteString("## Checks\n\n| Check | Result | Detail |\n|---|---|---|\n")
	for _, c := range r.Checks {
		d := mdCell(c.Detail)
		if c.Explain != "" {
			d += "<br>**Why:** " + mdCell(c.Explain)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.ID, mark(c.Passed), d)
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
	if len(r.AfterAttempt) > 0 {
		b.WriteString("\n## After the attempt (live now; not graded)\n\n| Check | Result | Detail |\n|---|---|---|\n")
		for _, c := range r.AfterAttempt {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c.ID, mark(c.Passed), mdCell(c.Detail))
		}
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
