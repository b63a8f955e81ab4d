package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sandbox-labs/sandbox/faults"
	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/grade"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/status"
)

func init() {
	extraCommands = append(extraCommands, NewCmdGrade, NewCmdHint, NewCmdAnswer, NewCmdTimeline)
}

// NewCmdGrade builds `sandbox grade`.
func NewCmdGrade(streams IO, g *Globals) *cobra.Command {
	var output string
	th := grade.DefaultThresholds()
	cmd := &cobra.Command{
		Use:   "grade",
		Short: "Check the live end state and the timeline, and print the scorecard (exit 0 passed, 1 not passed, 2 could not grade)",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json", "markdown"); err != nil {
				return err
			}
			if err := validateThresholds(th); err != nil {
				return err
			}
			return gradeRun(c.Context(), streams, g.Name, output, th)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, json or markdown")
	cmd.Flags().DurationVar(&th.Window, "window", th.Window, "recent window the edge SLO is judged over")
	cmd.Flags().Float64Var(&th.MaxErrorRate, "max-error-rate", th.MaxErrorRate, "edge error-rate SLO (fraction)")
	cmd.Flags().Float64Var(&th.MaxP99Ms, "max-p99-ms", th.MaxP99Ms, "edge p99 SLO in milliseconds")
	return cmd
}

// validateThresholds refuses NaN, infinite and out-of-range SLOs before anything is read: a lab that gates on
// the exit code must not be passed by `--max-error-rate 1`.
func validateThresholds(th grade.Thresholds) error {
	// The control room answers windows up to 10m (control.RingKeep).
	if th.Window < 10*time.Second || th.Window > 10*time.Minute {
		return Usagef("--window must be between 10s and 10m, got %s", th.Window)
	}
	if math.IsNaN(th.MaxErrorRate) || math.IsInf(th.MaxErrorRate, 0) || th.MaxErrorRate <= 0 || th.MaxErrorRate > 0.05 {
		return Usagef("--max-error-rate must be a fraction in (0, 0.05] (the card's SLO is 0.01), got %v", th.MaxErrorRate)
	}
	if math.IsNaN(th.MaxP99Ms) || math.IsInf(th.MaxP99Ms, 0) || th.MaxP99Ms < 50 || th.MaxP99Ms > 1000 {
		return Usagef("--max-p99-ms must be between 50 and 1000, got %v", th.MaxP99Ms)
	}
	return nil
}

func gradeRun(ctx context.Context, streams IO, name, output string, th grade.Thresholds) error {
	res, err := GradeSandbox(ctx, name, th)
	if err != nil {
		return ExitError{Code: 2, Err: fmt.Errorf("could not grade: %w", err)}
	}
	if err := grade.Render(streams.Out, output, res); err != nil {
		return ExitError{Code: 2, Err: err}
	}
	if code := grade.ExitCode(res, nil); code != 0 {
		return ExitError{Code: code}
	}
	return nil
}

// GradeSandbox runs the live checks against sandbox name and grades the run. It reads only the engine, the
// live services and the control room's record: nothing a trainee can edit in a working directory.
func GradeSandbox(ctx context.Context, name string, th grade.Thresholds) (*grade.Result, error) {
	e, cr, ep, err := controlRoom(ctx, name)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	settings, err := e.SandboxSettings(ctx, name)
	if err != nil {
		return nil, err
	}
	// Fresh: a change made a moment ago is on record before the record is judged.
	obs, err := grade.Collect(ctx, grade.LiveInput{GatewayURL: ep.Gateway, DatabaseURL: ep.DatabaseURL, ControlURL: cr.Base,
		Thresholds: th, Fresh: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	// Only a real incident is graded: settings come from the engine, the rollout and spike from the observer.
	if err := grade.IncidentShipped(settings.Faults, obs.Timeline); err != nil {
		return nil, err
	}
	if obs.State != nil {
		// Which orders code writes order_metadata is a fact of each release's manifest, not of its name.
		rels, err := e.Releases(ctx, name)
		if err == nil {
			obs.State.WritesMetadata = map[string]bool{}
			for v, r := range rels {
				obs.State.WritesMetadata[v] = r.HasPR(release.PROrderMetadata) || r.HasPatch("orders-keep-schema")
			}
		}
	}
	checks := append(grade.Evaluate(obs, th), grade.TrustedContainers(ep.Secret, ep.Untrusted))
	res := grade.Grade(grade.Input{Checks: checks, Timeline: obs.Timeline, Answers: grade.AnswersFromTimeline(obs.Timeline),
		Faults: settings.Faults, Thresholds: th, State: obs.State, Now: time.Now()})
	res.Meta["sandbox"] = name
	res.Meta["seed"] = strconv.FormatInt(settings.Seed, 10)
	res.Meta["faults"] = strings.Join(settings.Faults, ",")
	res.Thresholds = grade.DescribeThresholds(th)
	return res, nil
}

// NewCmdHint builds `sandbox hint [<symptom>]`.
func NewCmdHint(streams IO, g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:     "hint [<symptom>]",
		Short:   "Take the next progressive hint for a symptom (each hint taken costs score)",
		Example: "  sandbox hint            # list the symptoms\n  sandbox hint migration",
		Args:    rangeArgs(0, 1, "an optional symptom"),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				fmt.Fprintln(streams.Out, "Symptoms with hints (each hint taken is recorded and costs score):")
				for _, f := range faults.All() {
					fmt.Fprintf(streams.Out, "  %-10s PR #%d %s (%d hints)\n", f.Aliases[0], f.PR, f.Title, len(f.Hints))
				}
				fmt.Fprintln(streams.Out, "\nsandbox hint <symptom> shows the next one.")
				return nil
			}
			f, err := faults.Lookup(args[0])
			if err != nil {
				return UsageError{err}
			}
			return hintRun(c.Context(), streams, g.Name, f)
		},
	}
}

func hintRun(ctx context.Context, streams IO, name string, f faults.Fault) error {
	e, cr, _, err := controlRoom(ctx, name)
	if err != nil {
		return err
	}
	defer e.Close()
	tl, err := cr.Timeline(ctx)
	if err != nil {
		return err
	}
	taken := 0
	for _, ev := range tl {
		if ev.Kind != status.EventHint {
			continue
		}
		if got, err := faults.Lookup(firstNonEmpty(ev.Data["fault"], ev.Data["symptom"])); err == nil && got.ID == f.ID {
			taken++
		}
	}
	if taken >= len(f.Hints) {
		fmt.Fprintf(streams.Out, "No more hints for %s: you have seen all %d.\n", f.Aliases[0], len(f.Hints))
		return nil
	}
	level := taken + 1
	text, last, _ := faults.Hint(f.ID, level)
	if err := cr.Record(ctx, status.Event{Kind: status.EventHint, Actor: "trainee", Detail: fmt.Sprintf("hint %d/%d for %s", level, len(f.Hints), f.ID),
		Data: map[string]string{"fault": f.ID, "symptom": f.Aliases[0], "level": strconv.Itoa(level)}}); err != nil {
		return fmt.Errorf("record the hint: %w", err)
	}
	fmt.Fprintf(streams.Out, "Hint %d/%d (%s):\n  %s\n", level, len(f.Hints), f.Aliases[0], text)
	if last {
		fmt.Fprintln(streams.Out, "(that was the last hint for this symptom)")
	}
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// AnswerOptions are `sandbox answer`'s flags.
type AnswerOptions struct {
	Fault          string
	PR             int
	CodePath       string
	Compatible     string
	MigrationWhy   string
	WhyTestsMissed string
	Process        []string
	Notes          string
	Show           bool
}

// NewCmdAnswer builds `sandbox answer`.
func NewCmdAnswer(streams IO, g *Globals) *cobra.Command {
	o := &AnswerOptions{}
	cmd := &cobra.Command{
		Use:   "answer",
		Short: "Record your analysis: per symptom the PR and code path, migration compatibility, why tests missed it, process changes",
		Long: `Record your analysis for the grader. With a terminal and no flags it asks question by question; labs
script it with flags. Answers can be amended: run it again and the latest value of each field counts.`,
		Example: `  sandbox answer --fault migration --pr 905 --code-path "orders.createOrder INSERT without order_metadata" \
      --migration-compatible=false --migration-why "NOT NULL without a default: v2.3.0 inserts fail (23502)"
  sandbox answer --process "expand-contract migrations" --process "canary deploys"
  sandbox answer --show`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if o.Compatible != "" && o.Compatible != "true" && o.Compatible != "false" {
				return Usagef("--migration-compatible must be true or false")
			}
			if o.Fault == "" && (o.PR != 0 || o.CodePath != "" || o.Compatible != "" || o.MigrationWhy != "" || o.WhyTestsMissed != "") {
				return Usagef("--pr, --code-path, --migration-* and --why-tests-missed need --fault <symptom> (one of: %s)", strings.Join(faults.Symptoms(), ", "))
			}
			if o.Fault != "" {
				if _, err := faults.Lookup(o.Fault); err != nil {
					return UsageError{err}
				}
			}
			return answerRun(c.Context(), streams, g.Name, o, c.Flags().NFlag() == 0)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Fault, "fault", "", "symptom or fault the answer is about ("+strings.Join(faults.Symptoms(), ", ")+")")
	f.IntVar(&o.PR, "pr", 0, "the PR that caused it")
	f.StringVar(&o.CodePath, "code-path", "", "the exact code path that fails")
	f.StringVar(&o.Compatible, "migration-compatible", "", "is the release's migration backward compatible with the previous code? true|false")
	f.StringVar(&o.MigrationWhy, "migration-why", "", "why (not)")
	f.StringVar(&o.WhyTestsMissed, "why-tests-missed", "", "why the tests did not catch it")
	f.StringArrayVar(&o.Process, "process", nil, "a process change you would make (repeatable)")
	f.StringVar(&o.Notes, "notes", "", "free notes")
	f.BoolVar(&o.Show, "show", false, "print the answers recorded so far")
	return cmd
}

func answerRun(ctx context.Context, streams IO, name string, o *AnswerOptions, noFlags bool) error {
	e, cr, _, err := controlRoom(ctx, name)
	if err != nil {
		return err
	}
	defer e.Close()
	tl, err := cr.Timeline(ctx)
	if err != nil {
		return err
	}
	cur := grade.AnswersFromTimeline(tl)
	if cur == nil {
		cur = &grade.Answers{Faults: map[string]grade.FaultAnswer{}}
	}
	if o.Show {
		return printAnswers(streams.Out, cur)
	}
	if noFlags {
		in, ok := streams.In.(*os.File)
		if !ok || !term.IsTerminal(int(in.Fd())) {
			return Usagef("no answers given: use flags (see `sandbox answer --help`) or run it in a terminal to be asked")
		}
		if err := askAnswers(streams, cur); err != nil {
			return err
		}
	} else {
		applyAnswerFlags(cur, o)
	}
	cur.At = time.Now().UTC()
	b, _ := json.Marshal(cur)
	if err := cr.Record(ctx, status.Event{Kind: status.EventAnswer, Actor: "trainee", Detail: "answers recorded", Data: map[string]string{"answers": string(b)}}); err != nil {
		return fmt.Errorf("record the answers: %w", err)
	}
	fmt.Fprintln(streams.ErrOut, "Answers recorded (the latest value of each counts; `sandbox answer --show` prints them).")
	return nil
}

// applyAnswerFlags amends the current answers with the fields given: unset flags keep earlier values.
func applyAnswerFlags(cur *grade.Answers, o *AnswerOptions) {
	if o.Fault != "" {
		f, _ := faults.Lookup(o.Fault)
		fa := cur.Faults[f.ID]
		if o.PR != 0 {
			fa.PR = o.PR
		}
		if o.CodePath != "" {
			fa.CodePath = o.CodePath
		}
		if o.Compatible != "" {
			v := o.Compatible == "true"
			fa.MigrationBackwardCompatible = &v
		}
		if o.MigrationWhy != "" {
			fa.MigrationWhy = o.MigrationWhy
		}
		if o.WhyTestsMissed != "" {
			fa.WhyTestsMissed = o.WhyTestsMissed
		}
		cur.Faults[f.ID] = fa
	}
	if len(o.Process) > 0 {
		cur.ProcessChanges = o.Process
	}
	if o.Notes != "" {
		cur.Notes = o.Notes
	}
}

func askAnswers(streams IO, cur *grade.Answers) error {
	rd := bufio.NewReader(streams.In)
	ask := func(q, def string) (string, error) {
		if def != "" {
			fmt.Fprintf(streams.ErrOut, "%s [%s]: ", q, def)
		} else {
			fmt.Fprintf(streams.ErrOut, "%s: ", q)
		}
		line, err := rd.ReadString('\n')
		if err != nil && err != io.EOF {
			return "", err
		}
		line = strings.TrimSpace(line)
		if line == "" {
			return def, nil
		}
		return line, nil
	}
	for _, f := range faults.All() {
		fmt.Fprintf(streams.ErrOut, "\n— symptom: %s (%s) — Enter keeps the current answer, '-' skips\n", f.Aliases[0], f.Symptom)
		fa := cur.Faults[f.ID]
		def := ""
		if fa.PR != 0 {
			def = strconv.Itoa(fa.PR)
		}
		s, err := ask("Which PR caused it?", def)
		if err != nil {
			return err
		}
		if s == "-" {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(s, "#")); err == nil {
			fa.PR = n
		}
		if fa.CodePath, err = ask("The exact code path that fails", fa.CodePath); err != nil {
			return err
		}
		if f.ID == release.FaultNotNullTrap {
			s, err := ask("Is the migration backward compatible with v2.3.0? (yes/no)", "")
			if err != nil {
				return err
			}
			if s != "" {
				v := strings.HasPrefix(strings.ToLower(s), "y")
				fa.MigrationBackwardCompatible = &v
			}
			if fa.MigrationWhy, err = ask("Why?", fa.MigrationWhy); err != nil {
				return err
			}
		}
		if fa.WhyTestsMissed, err = ask("Why did the tests not catch it?", fa.WhyTestsMissed); err != nil {
			return err
		}
		cur.Faults[f.ID] = fa
	}
	s, err := ask("\nProcess changes you would make (separate with ';')", strings.Join(cur.ProcessChanges, "; "))
	if err != nil {
		return err
	}
	if s != "" {
		var list []string
		for _, p := range strings.Split(s, ";") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		cur.ProcessChanges = list
	}
	return nil
}

func printAnswers(w io.Writer, a *grade.Answers) error {
	if len(a.Faults) == 0 && len(a.ProcessChanges) == 0 {
		fmt.Fprintln(w, "No answers recorded yet.")
		return nil
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(a)
}

// NewCmdTimeline builds `sandbox timeline`.
func NewCmdTimeline(streams IO, g *Globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "timeline",
		Short: "Print the incident timeline; --output markdown prints a postmortem draft",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json", "markdown"); err != nil {
				return err
			}
			e, cr, _, err := controlRoom(c.Context(), g.Name)
			if err != nil {
				return err
			}
			defer e.Close()
			tl, err := cr.Timeline(c.Context())
			if err != nil {
				return err
			}
			switch output {
			case "json":
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(tl)
			case "markdown":
				var series []sandbox.SeriesPoint
				_ = cr.Get(c.Context(), "/api/series", &series)
				snap, _ := cr.Status(c.Context(), 60*time.Second)
				return sandbox.WritePostmortem(streams.Out, g.Name, tl, series, snap)
			}
			sandbox.WriteTimeline(streams.Out, tl)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, json or markdown (a postmortem draft)")
	return cmd
}
