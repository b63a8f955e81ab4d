package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

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
	o := &GradeOptions{IO: streams, Thresholds: grade.DefaultThresholds()}
	cmd := &cobra.Command{
		Use:   "grade",
		Short: "End the attempt: judge the live end state and the timeline, record the verdict and print the scorecard (exit 0 passed, 1 not passed, 2 could not grade)",
		Long: `grade ends the attempt. The first grade judges the live end state, the timeline and your answers, records
the verdict in the timeline (an attempt_ended event) and prints the scorecard with the answer key: the PR,
code path and fix behind each symptom. Every later grade prints that same verdict and exit code, with the
live state now shown apart; changes and answers after the end do not count.

On a terminal, grade asks before ending an attempt whose checks still fail (--yes does not ask); without a
terminal it proceeds. ` + "`sandbox check`" + ` runs the live checks without ending anything.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(o.Output, "text", "json", "markdown"); err != nil {
				return err
			}
			if err := validateThresholds(o.Thresholds); err != nil {
				return err
			}
			o.Name = g.Name
			e, cr, _, err := controlRoom(c.Context(), o.Name)
			if err != nil {
				return ExitError{Code: grade.ExitCouldNotRun, Err: fmt.Errorf("could not grade: %w", err)}
			}
			defer e.Close()
			return gradeAttempt(c.Context(), o, cr, gradeLive{
				judge: func(ctx context.Context) (*grade.Result, error) { return GradeSandbox(ctx, o.Name, o.Thresholds) },
				checks: func(ctx context.Context) ([]grade.Check, error) {
					checks, _, err := liveChecks(ctx, o.Name, o.Thresholds)
					return checks, err
				},
			})
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "text, json or markdown")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "end the attempt without asking, even while checks still fail")
	addThresholdFlags(cmd, &o.Thresholds)
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

// liveEvidence is what the live checks saw, with the sandbox's settings.
type liveEvidence struct {
	obs      grade.Observation
	settings sandbox.Settings
}

// liveChecks collects the live evidence of sandbox name and evaluates every check (the neutral Detail plus
// the explanation; callers decide what to show). It refuses a sandbox whose incident never shipped.
func liveChecks(ctx context.Context, name string, th grade.Thresholds) ([]grade.Check, liveEvidence, error) {
	e, cr, ep, err := controlRoom(ctx, name)
	if err != nil {
		return nil, liveEvidence{}, err
	}
	defer e.Close()
	settings, err := e.SandboxSettings(ctx, name)
	if err != nil {
		return nil, liveEvidence{}, err
	}
	dbURL := ep.DatabaseURL
	if dbURL != "" {
		if dbURL, err = sandbox.BoundedDBURL(dbURL, sandbox.ReadLimits); err != nil {
			return nil, liveEvidence{}, err
		}
	}
	// Fresh: a change made a moment ago is on record before the record is judged.
	obs, err := grade.Collect(ctx, grade.LiveInput{GatewayURL: ep.Gateway, DatabaseURL: dbURL, ControlURL: cr.Base,
		Thresholds: th, Fresh: 30 * time.Second})
	if err != nil {
		return nil, liveEvidence{}, sandbox.ExplainDBTimeout(err)
	}
	// Only a real incident is graded: settings come from the engine, the rollout and spike from the observer.
	if err := grade.IncidentShipped(settings.Faults, obs.Timeline); err != nil {
		return nil, liveEvidence{}, err
	}
	if obs.State != nil {
		// Which orders code writes order_metadata is a fact of each release's manifest, not of its name.
		rels, err := e.Releases(ctx, name)
		if err == nil {
			obs.State.WritesMetadata = map[string]bool{}
			for v, r := range rels {
				obs.State.WritesMetadata[v] = r.HasPR(release.PROrderMetadata) || r.HasPatch(release.PatchOrdersKeepSchema)
			}
		}
	}
	obs.Faults = settings.Faults
	checks := append(grade.Evaluate(obs, th), grade.TrustedContainers(ep.Secret, ep.Untrusted), grade.RecordIntact(obs.Timeline))
	return checks, liveEvidence{obs: obs, settings: settings}, nil
}

// GradeSandbox runs the live checks against sandbox name and grades the run. It reads only the engine, the
// live services and the control room's record: nothing a trainee can edit in a working directory. It does
// not end the attempt (gradeAttempt does).
func GradeSandbox(ctx context.Context, name string, th grade.Thresholds) (*grade.Result, error) {
	checks, lv, err := liveChecks(ctx, name, th)
	if err != nil {
		return nil, err
	}
	obs, settings := lv.obs, lv.settings
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
		Example: "  sandbox hint            # list the symptoms\n  sandbox hint orders",
		Args:    rangeArgs(0, 1, "an optional symptom"),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				// Where each symptom shows, never its cause or PR: the list is free, the hints are not.
				fmt.Fprintln(streams.Out, "Symptoms with hints (each hint taken is recorded and costs score):")
				for _, f := range faults.All() {
					fmt.Fprintf(streams.Out, "  %-10s %s (%d hints)\n", f.Name, f.Seen, len(f.Hints))
				}
				fmt.Fprintln(streams.Out, "\nsandbox hint <symptom> shows the next one.")
				return nil
			}
			f, err := faults.LookupSymptom(args[0])
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
	return nextHint(ctx, streams, cr, f)
}

// nextHint records and prints the next hint level for f that rec's timeline does not show taken yet.
func nextHint(ctx context.Context, streams IO, rec record, f faults.Fault) error {
	tl, err := rec.Timeline(ctx)
	if err != nil {
		return err
	}
	taken := 0
	for _, ev := range tl {
		if ev.Kind != status.EventHint {
			continue
		}
		// The highest level seen, not a count: a level recorded twice must not skip the next one.
		if got, err := faults.Lookup(firstNonEmpty(ev.Data["fault"], ev.Data["symptom"])); err == nil && got.ID == f.ID {
			if n, err := strconv.Atoi(ev.Data["level"]); err == nil && n > taken {
				taken = n
			} else if err != nil {
				taken++ // an older record without a level
			}
		}
	}
	if taken >= len(f.Hints) {
		fmt.Fprintf(streams.Out, "No more hints for %s: you have seen all %d.\n", f.Name, len(f.Hints))
		return nil
	}
	level := taken + 1
	text, last, _ := faults.Hint(f.ID, level)
	// The event names the symptom, not the fault id: the timeline is readable before the attempt ends.
	if err := rec.Record(ctx, status.Event{Kind: status.EventHint, Actor: "trainee", Detail: fmt.Sprintf("hint %d/%d for %s", level, len(f.Hints), f.Name),
		Data: map[string]string{"symptom": f.Name, "level": strconv.Itoa(level)}}); err != nil {
		return fmt.Errorf("record the hint: %w", err)
	}
	fmt.Fprintf(streams.Out, "Hint %d/%d (%s):\n  %s\n", level, len(f.Hints), f.Name, text)
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
	Function       string
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
		Short: "Record your analysis: per symptom the PR and the failing function, migration compatibility, why tests missed it, process changes",
		Long: `Record your analysis for the grader. Per symptom the grader judges two facts: the PR that caused it and
the function that fails, named as the service's own error log or stack trace names it. The free text
(--code-path, --why-tests-missed, --migration-why) supports them for the reader of the scorecard: no word in
it earns anything (the top rating only wants a why-tests-missed explanation to be there). With a terminal and no flags it asks question by question; labs script it with flags.
Answers can be amended until the attempt ends (` + "`sandbox grade`" + `): run it again and the latest value of each
field counts.`,
		Example: `  sandbox answer --fault orders --pr 123 --function orders.someFunction \
      --code-path "what fails, in your words" --why-tests-missed "why no test caught it"
  sandbox answer --migration-compatible=false --migration-why "what old code does with the new schema"
  sandbox answer --process "canary deploys" --process "..."
  sandbox answer --show`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if o.Compatible != "" && o.Compatible != "true" && o.Compatible != "false" {
				return Usagef("--migration-compatible must be true or false")
			}
			if o.Fault == "" && (o.PR != 0 || o.Function != "" || o.CodePath != "" || o.WhyTestsMissed != "") {
				return Usagef("--pr, --function, --code-path and --why-tests-missed need --fault <symptom> (one of: %s)", strings.Join(faults.Symptoms(), ", "))
			}
			if o.Fault != "" {
				if _, err := faults.LookupSymptom(o.Fault); err != nil {
					return UsageError{err}
				}
			}
			return answerRun(c.Context(), streams, g.Name, o, c.Flags().NFlag() == 0)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Fault, "fault", "", "the symptom the answer is about ("+strings.Join(faults.Symptoms(), ", ")+")")
	f.IntVar(&o.PR, "pr", 0, "the PR that caused it")
	f.StringVar(&o.Function, "function", "", "the function that fails, as the service's error log or stack trace names it (e.g. pkg.Function)")
	f.StringVar(&o.CodePath, "code-path", "", "the code path that fails, in your words (supports the answer; not scored)")
	f.StringVar(&o.Compatible, "migration-compatible", "", "is the release's migration backward compatible with the previous code? true|false")
	f.StringVar(&o.MigrationWhy, "migration-why", "", "why (not)")
	f.StringVar(&o.WhyTestsMissed, "why-tests-missed", "", "why the tests did not catch it")
	f.StringArrayVar(&o.Process, "process", nil, "a process change you would make, one per flag (repeatable)")
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
	cur := canonicalAnswers(grade.AnswersFromTimeline(tl))
	if o.Show {
		return printAnswers(streams.Out, cur)
	}
	if ev, ended := grade.EndedEvent(tl); ended {
		return ExitError{Code: ExitFailed, Err: fmt.Errorf("the attempt ended at %s (`sandbox grade`): answers given now are not graded; `sandbox grade` prints the verdict",
			ev.At.UTC().Format("15:04:05Z"))}
	}
	if noFlags {
		if !isTerminal(streams.In) {
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
	fmt.Fprintln(streams.ErrOut, "Answers recorded (the latest value of each counts until `sandbox grade` ends the attempt; `sandbox answer --show` prints them).")
	return nil
}

// canonicalAnswers files every answer under its symptom's neutral name (older records used fault ids), the
// answer already under the name winning; keys that name no symptom stay as they are.
func canonicalAnswers(a *grade.Answers) *grade.Answers {
	if a == nil {
		return &grade.Answers{Faults: map[string]grade.FaultAnswer{}}
	}
	out := *a
	out.Faults = map[string]grade.FaultAnswer{}
	for k, v := range a.Faults {
		if f, err := faults.Lookup(k); err == nil && k != f.Name {
			if _, ok := a.Faults[f.Name]; !ok {
				out.Faults[f.Name] = v
			}
			continue
		}
		out.Faults[k] = v
	}
	return &out
}

// migrationAnswerKey is where the release-wide migration answers are filed: with the symptom of the fault
// they judge. They are asked about the release, never under that symptom, so the question gives nothing away.
func migrationAnswerKey() string {
	f, _ := faults.Lookup(release.FaultNotNullTrap)
	return f.Name
}

// applyAnswerFlags amends the current answers with the fields given: unset flags keep earlier values.
func applyAnswerFlags(cur *grade.Answers, o *AnswerOptions) {
	if o.Fault != "" {
		f, _ := faults.LookupSymptom(o.Fault)
		fa := cur.Faults[f.Name]
		if o.PR != 0 {
			fa.PR = o.PR
		}
		if o.Function != "" {
			fa.Function = strings.TrimSpace(o.Function)
		}
		if o.CodePath != "" {
			fa.CodePath = o.CodePath
		}
		if o.WhyTestsMissed != "" {
			fa.WhyTestsMissed = o.WhyTestsMissed
		}
		cur.Faults[f.Name] = fa
	}
	if o.Compatible != "" || o.MigrationWhy != "" {
		k := migrationAnswerKey()
		fa := cur.Faults[k]
		if o.Compatible != "" {
			v := o.Compatible == "true"
			fa.MigrationBackwardCompatible = &v
		}
		if o.MigrationWhy != "" {
			fa.MigrationWhy = o.MigrationWhy
		}
		cur.Faults[k] = fa
	}
	if len(o.Process) > 0 {
		cur.ProcessChanges = o.Process
	}
	if o.Notes != "" {
		cur.Notes = o.Notes
	}
}

// askAnswers asks the questions one by one on streams: per symptom the PR and the failing function (the
// scored facts) and the supporting text, then the release's migration compatibility and the process changes.
// A PR must be a number and yes/no questions take y, yes, n or no: anything else is asked again.
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
	askPR := func(def int) (pr int, skip bool, err error) {
		d := ""
		if def != 0 {
			d = strconv.Itoa(def)
		}
		for {
			s, err := ask("Which PR caused it? (its number)", d)
			if err != nil {
				return 0, false, err
			}
			switch n, perr := strconv.Atoi(strings.TrimPrefix(s, "#")); {
			case s == "-":
				return 0, true, nil
			case s == "":
				return 0, false, nil
			case perr == nil && n > 0:
				return n, false, nil
			}
			fmt.Fprintln(streams.ErrOut, "please give the PR's number (e.g. 123), Enter to leave it, or '-' to skip this symptom")
			if _, err := rd.Peek(1); err == io.EOF {
				return def, false, nil
			}
		}
	}
	for _, f := range faults.All() {
		fmt.Fprintf(streams.ErrOut, "\n— symptom: %s (%s) — Enter keeps the current answer, '-' skips\n", f.Name, f.Seen)
		fa := cur.Faults[f.Name]
		pr, skip, err := askPR(fa.PR)
		if err != nil {
			return err
		}
		if skip {
			continue
		}
		if pr != 0 {
			fa.PR = pr
		}
		if fa.Function, err = ask("Which function fails? (as the service's error log or stack trace names it, e.g. pkg.Function)", fa.Function); err != nil {
			return err
		}
		if fa.CodePath, err = ask("In your words, what fails and how?", fa.CodePath); err != nil {
			return err
		}
		if fa.WhyTestsMissed, err = ask("Why did the tests not catch it?", fa.WhyTestsMissed); err != nil {
			return err
		}
		cur.Faults[f.Name] = fa
	}
	fmt.Fprintln(streams.ErrOut, "\n— the release —")
	k := migrationAnswerKey()
	fa := cur.Faults[k]
	v, err := askYesNoOptional(rd, streams.ErrOut, "Is v2.4.0's migration backward compatible with v2.3.0's code? (yes/no, Enter to leave it): ")
	if err != nil {
		return err
	}
	if v != nil {
		fa.MigrationBackwardCompatible = v
	}
	if fa.MigrationWhy, err = ask("Why (not)?", fa.MigrationWhy); err != nil {
		return err
	}
	if _, had := cur.Faults[k]; had || v != nil || fa.MigrationWhy != "" {
		cur.Faults[k] = fa
	}
	s, err := ask("\nProcess changes you would make (separate with ';', one practice each)", strings.Join(cur.ProcessChanges, "; "))
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
			var series []sandbox.SeriesPoint
			var snap status.Snapshot
			if output == "markdown" {
				_ = cr.Get(c.Context(), "/api/series", &series)
				snap, _ = cr.Status(c.Context(), 60*time.Second)
			}
			return writeTimelineOutput(streams.Out, g.Name, output, tl, series, snap)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text, json or markdown (a postmortem draft)")
	return cmd
}

// writeTimelineOutput renders the timeline of sandbox name as output (text, json or markdown); series and
// snap feed only the markdown postmortem draft.
func writeTimelineOutput(w io.Writer, name, output string, tl []status.Event, series []sandbox.SeriesPoint, snap status.Snapshot) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(tl)
	case "markdown":
		return sandbox.WritePostmortem(w, name, tl, series, snap)
	}
	sandbox.WriteTimeline(w, tl)
	return nil
}
