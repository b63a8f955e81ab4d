package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sandbox-labs/sandbox/sandbox/grade"
	"github.com/sandbox-labs/sandbox/services/status"
)

// The attempt: `check` looks at the live end state without ending anything; `grade` ends the attempt,
// records the verdict in the timeline (attempt_ended) and from then on prints that verdict.

func init() {
	extraCommands = append(extraCommands, NewCmdCheck)
	noRecord["check"] = struct{}{} // checkRun records itself, pass or fail
}

// record is the part of the control room the attempt needs: read the timeline, append an event.
type record interface {
	Timeline(ctx context.Context) ([]status.Event, error)
	Record(ctx context.Context, ev status.Event) error
}

// CheckOptions are `sandbox check`'s flags.
type CheckOptions struct {
	IO         IO
	Name       string
	Output     string
	Thresholds grade.Thresholds
}

// NewCmdCheck builds `sandbox check`.
func NewCmdCheck(streams IO, g *Globals) *cobra.Command {
	o := &CheckOptions{IO: streams, Thresholds: grade.DefaultThresholds()}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run the live checks alone, PASS/FAIL with what was observed (exit 0 all pass, 1 not); ends nothing, gives no answers",
		Long: `check runs the same live checks as grade (edge SLO, synthetic checkout, order and payment probes, schema
compatibility, data loss, unaffected services) and prints what each one observed: status codes, the error
text a client gets, rates. It never names the PR, code path or fix behind a symptom, and it does not end
the attempt: run it as often as you like, or from a lab's check script.`,
		Example: "  sandbox check\n  sandbox check --output json --window 30s",
		Args:    noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(o.Output, "text", "json"); err != nil {
				return err
			}
			if err := validateThresholds(o.Thresholds); err != nil {
				return err
			}
			o.Name = g.Name
			defer recordRun(c, g.Name, args)
			return checkRun(c.Context(), o, func(ctx context.Context) ([]grade.Check, error) {
				checks, _, err := liveChecks(ctx, o.Name, o.Thresholds)
				return checks, err
			})
		},
	}
	addThresholdFlags(cmd, &o.Thresholds)
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "text or json")
	return cmd
}

func addThresholdFlags(cmd *cobra.Command, th *grade.Thresholds) {
	cmd.Flags().DurationVar(&th.Window, "window", th.Window, "recent window the edge SLO is judged over")
	cmd.Flags().Float64Var(&th.MaxErrorRate, "max-error-rate", th.MaxErrorRate, "edge error-rate SLO (fraction)")
	cmd.Flags().Float64Var(&th.MaxP99Ms, "max-p99-ms", th.MaxP99Ms, "edge p99 SLO in milliseconds")
}

// checkRun prints the neutral checks; exit 0 when all pass, 1 otherwise, 2 when they could not run.
func checkRun(ctx context.Context, o *CheckOptions, live func(context.Context) ([]grade.Check, error)) error {
	checks, err := live(ctx)
	if err != nil {
		return ExitError{Code: grade.ExitCouldNotRun, Err: fmt.Errorf("could not check: %w", err)}
	}
	if err := grade.RenderChecks(o.IO.Out, o.Output, checks); err != nil {
		return ExitError{Code: grade.ExitCouldNotRun, Err: err}
	}
	if !grade.NewCheckReport(checks).Passed {
		return ExitError{Code: grade.ExitNotPassed}
	}
	return nil
}

// GradeOptions are `sandbox grade`'s flags.
type GradeOptions struct {
	IO         IO
	Name       string
	Output     string
	Thresholds grade.Thresholds
	// Yes ends the attempt without asking, even while checks still fail.
	Yes bool
	// Terminal says whether IO.In is a terminal a person answers at (nil: isTerminal); tests inject it.
	Terminal func(io.Reader) bool
}

// gradeLive judges the sandbox now; checks are the live checks alone (for the view after the attempt).
type gradeLive struct {
	judge  func(context.Context) (*grade.Result, error)
	checks func(context.Context) ([]grade.Check, error)
}

// gradeAttempt is `sandbox grade`: print the recorded verdict when the attempt has ended; otherwise judge the
// live state, confirm on a terminal when checks still fail, record attempt_ended and print the verdict.
func gradeAttempt(ctx context.Context, o *GradeOptions, rec record, live gradeLive) error {
	tl, err := rec.Timeline(ctx)
	if err != nil {
		return ExitError{Code: grade.ExitCouldNotRun, Err: fmt.Errorf("could not grade: %w", err)}
	}
	if stored, err := grade.StoredVerdict(tl); err == nil {
		if live.checks != nil {
			if now, err := live.checks(ctx); err == nil {
				stored.AfterAttempt = grade.NeutralChecks(now)
			} else {
				fmt.Fprintf(o.IO.ErrOut, "note: the live state after the attempt could not be read: %v\n", err)
			}
		}
		return printVerdict(o, stored)
	} else if !errors.Is(err, grade.ErrNoVerdict) {
		return ExitError{Code: grade.ExitCouldNotRun, Err: fmt.Errorf("could not grade: %w", err)}
	}
	res, err := live.judge(ctx)
	if err != nil {
		return ExitError{Code: grade.ExitCouldNotRun, Err: fmt.Errorf("could not grade: %w", err)}
	}
	terminal := o.Terminal
	if terminal == nil {
		terminal = isTerminal
	}
	if !res.Passed && !o.Yes && terminal(o.IO.In) {
		fmt.Fprintln(o.IO.ErrOut, "Live checks now:")
		for _, c := range res.Checks {
			if !c.Passed {
				fmt.Fprintf(o.IO.ErrOut, "  FAIL  %s: %s\n", c.ID, clipLine(c.Neutral().Detail, 100))
			}
		}
		ok, err := askYesNo(bufio.NewReader(o.IO.In), o.IO.ErrOut, "checks still fail: end the attempt and grade now? [y/N] ", false)
		if err != nil {
			return ExitError{Code: grade.ExitCouldNotRun, Err: err}
		}
		if !ok {
			fmt.Fprintln(o.IO.ErrOut, "Not graded: the attempt goes on. `sandbox check` runs the checks without ending it.")
			return ExitError{Code: grade.ExitCouldNotRun}
		}
	}
	ev, err := grade.AttemptEndedEvent(res)
	if err != nil {
		return ExitError{Code: grade.ExitCouldNotRun, Err: fmt.Errorf("could not grade: %w", err)}
	}
	// The answer key is printed only once the end is on the record.
	if err := rec.Record(ctx, ev); err != nil {
		return ExitError{Code: grade.ExitCouldNotRun, Err: fmt.Errorf("could not record the end of the attempt, so nothing is graded: %w", err)}
	}
	// Read it back: if another grade ended the attempt first, its verdict is the one.
	now := time.Now().UTC()
	res.EndedAt = &now
	if tl, err := rec.Timeline(ctx); err == nil {
		if first, ok := grade.EndedEvent(tl); ok {
			if first.Data["verdict"] == ev.Data["verdict"] {
				at := first.At
				res.EndedAt = &at
			} else if stored, err := grade.StoredVerdict(tl); err == nil {
				fmt.Fprintln(o.IO.ErrOut, "note: another `sandbox grade` ended the attempt first; its verdict is the one recorded.")
				res = stored
			}
		}
	}
	return printVerdict(o, res)
}

func printVerdict(o *GradeOptions, res *grade.Result) error {
	if err := grade.Render(o.IO.Out, o.Output, res); err != nil {
		return ExitError{Code: grade.ExitCouldNotRun, Err: err}
	}
	if code := grade.ExitCode(res, nil); code != 0 {
		return ExitError{Code: code}
	}
	return nil
}

func clipLine(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// askYesNo asks q until the reply is y, yes, n or no (any case). An empty reply, or the end of input, takes
// def; anything else is asked again, so a stray word is never read as an answer.
func askYesNo(rd *bufio.Reader, w io.Writer, q string, def bool) (bool, error) {
	v, err := askYesNoOptional(rd, w, q)
	if err != nil || v == nil {
		return def && err == nil, err
	}
	return *v, nil
}

// askYesNoOptional is askYesNo where an empty reply (or the end of input) is no answer at all (nil).
func askYesNoOptional(rd *bufio.Reader, w io.Writer, q string) (*bool, error) {
	for {
		fmt.Fprint(w, q)
		line, err := rd.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, err
		}
		yes, no := true, false
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return &yes, nil
		case "n", "no":
			return &no, nil
		case "":
			if err == io.EOF && line == "" {
				fmt.Fprintln(w)
			}
			return nil, nil
		}
		if err == io.EOF {
			fmt.Fprintln(w)
			return nil, nil
		}
		fmt.Fprintln(w, "please answer y, yes, n or no")
	}
}
