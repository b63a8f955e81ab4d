package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/services/status"
)

func init() {
	extraCommands = append(extraCommands, NewCmdRollout)
}

// RolloutOptions are the hidden `sandbox rollout`'s flags.
type RolloutOptions struct {
	IO        IO
	G         *Globals
	SandboxID string
	At        string
	Attempt   int
	due       time.Time
}

// NewCmdRollout builds the hidden `sandbox rollout`: the pipeline process `sandbox up` starts detached to ship
// v2.4.0 at its due time, whatever happens to up and its terminal.
func NewCmdRollout(streams IO, g *Globals) *cobra.Command {
	return newCmdRollout(streams, g, rolloutRun)
}

func newCmdRollout(streams IO, g *Globals, runF func(context.Context, *RolloutOptions) error) *cobra.Command {
	o := &RolloutOptions{IO: streams, G: g}
	cmd := &cobra.Command{
		Use:   "rollout --sandbox-id <id> --at <time>",
		Short: "Ship v2.4.0 to a sandbox at a set time (the pipeline process `sandbox up` starts)",
		Long: `rollout waits until --at and then ships v2.4.0 through the deploy pipeline, like the CD pipeline of the
scenario. It acts only on the sandbox whose network has --sandbox-id (a sandbox removed and started again
under the same name is another one), ends as soon as that sandbox is removed, and does nothing if v2.4.0 was
already deployed by hand. sandbox up starts it on its own; it is not meant to be typed.`,
		Hidden: true,
		Args:   noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runF(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.SandboxID, "sandbox-id", "", "ID of the sandbox's network when the rollout was scheduled (required)")
	cmd.Flags().StringVar(&o.At, "at", "", "when v2.4.0 ships, an RFC 3339 time (required)")
	cmd.Flags().IntVar(&o.Attempt, "attempt", 0, "the attempt (see `sandbox reset`) the rollout is for; it stands down when a reset starts another (0: any)")
	return cmd
}

var networkIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (o *RolloutOptions) validate() error {
	if !networkIDRE.MatchString(o.SandboxID) {
		return Usagef("--sandbox-id must be the sandbox network's ID (64 hex digits), got %q", o.SandboxID)
	}
	due, err := time.Parse(time.RFC3339, o.At)
	if err != nil {
		return Usagef("--at must be an RFC 3339 time such as 2006-01-02T14:00:00Z, got %q", o.At)
	}
	o.due = due
	if o.Attempt < 0 {
		return Usagef("--attempt must be an attempt number (1, 2, ...), got %d", o.Attempt)
	}
	return nil
}

// logNote marks a line of the rollout's log that is about the pipeline process itself; `up` does not echo it.
const logNote = "# "

func rolloutRun(ctx context.Context, o *RolloutOptions) error {
	w, name := o.IO.ErrOut, o.G.Name
	note := func(format string, a ...any) {
		fmt.Fprintf(w, logNote+time.Now().UTC().Format(time.RFC3339)+" "+format+"\n", a...)
	}
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	note("pipeline process %d: v2.4.0 ships to sandbox %q (network %.12s) at %s", os.Getpid(), name, o.SandboxID, o.due.UTC().Format(time.RFC3339))
	out, err := sandbox.Rollout{Due: o.due, Target: e.RolloutTarget(name, o.SandboxID, o.Attempt)}.Run(ctx, progressTo(w))
	if err != nil {
		if ctx.Err() != nil {
			note("stopped by a signal; v2.4.0 did not ship")
			return ExitError{Code: ExitInterrupted}
		}
		return fmt.Errorf("rollout of v2.4.0: %w", err)
	}
	switch out {
	case sandbox.RolloutShipped:
		note("v2.4.0 shipped")
	case sandbox.RolloutAlreadyShipped:
		note("v2.4.0 was already deployed by hand: nothing to do")
	case sandbox.RolloutSandboxGone:
		note("sandbox %q was removed, replaced by a new one, or reset to a new attempt: nothing to do", name)
	}
	return nil
}

// scheduled is the v2.4.0 rollout `up` scheduled.
type scheduled struct {
	due     time.Time
	pid     int    // the detached pipeline process; 0 when the rollout runs inside up
	why     string // why it runs inside up
	log     string
	done    <-chan error
	shipped bool
}

// scheduleRollout records the rollout as due at due and hands it to a detached pipeline process. Where this
// program cannot start one, the rollout runs inside up under fallback (and stops with it).
func scheduleRollout(ctx, fallback context.Context, w io.Writer, e *sandbox.Engine, name string, cr *sandbox.ControlRoom, due time.Time) (*scheduled, error) {
	due = due.UTC().Round(time.Second)
	id, err := e.SandboxID(ctx, name)
	if err != nil {
		return nil, err
	}
	dir, err := rolloutLogDir()
	if err != nil {
		return nil, err
	}
	attempt, err := e.Attempt(ctx, name)
	if err != nil {
		return nil, err
	}
	logName := fmt.Sprintf("%s-%.12s.log", name, id)
	if attempt > 1 {
		logName = fmt.Sprintf("%s-%.12s-attempt-%d.log", name, id, attempt)
	}
	r := &scheduled{due: due, log: filepath.Join(dir, logName)}
	// The baseline shows on the scenario clock too (13:45 ... 14:00); the rollout resets it to the real deploy.
	_ = cr.Post(ctx, "/api/scenario", map[string]any{"deploy_at": due, "factor": sandbox.ScenarioFactor})
	if err := cr.Record(ctx, status.Event{Kind: status.EventRolloutScheduled, Actor: "cli", To: "v2.4.0",
		Detail: "v2.4.0 rollout scheduled for " + due.Format(time.RFC3339), Data: map[string]string{"due": due.Format(time.RFC3339)}}); err != nil {
		fmt.Fprintln(w, "warning: could not record the scheduled rollout: "+err.Error())
	}
	args := []string{"rollout", "--name", name, "--sandbox-id", id, "--at", due.Format(time.RFC3339), "--attempt", fmt.Sprint(attempt)}
	c, err := startDetached(args, r.log)
	if err == nil {
		r.pid, r.done = c.pid, c.done
		fmt.Fprintf(w, "  • v2.4.0 rollout scheduled for %s UTC, shipped by a pipeline process of its own (pid %d, log %s)\n", due.Format("15:04:05"), r.pid, r.log)
		return r, nil
	}
	r.why = err.Error()
	fmt.Fprintf(w, "warning: cannot start the rollout pipeline in the background (%s): it runs inside this command, so keep it running until v2.4.0 ships\n", r.why)
	f, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		defer f.Close()
		_, err := sandbox.Rollout{Due: due, Target: e.RolloutTarget(name, id, attempt)}.Run(fallback, progressTo(f))
		done <- err
	}()
	r.done = done
	return r, nil
}

// wait follows the rollout's log on w until it ends or ctx is done; atDue runs once, just before it is due.
func (r *scheduled) wait(ctx context.Context, w io.Writer, atDue func()) error {
	t := &logTail{path: r.log}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	due := time.NewTimer(time.Until(r.due) - 500*time.Millisecond)
	defer due.Stop()
	for {
		select {
		case <-ctx.Done():
			t.copyTo(w)
			return ctx.Err()
		case err := <-r.done:
			t.copyTo(w)
			return err
		case <-due.C:
			atDue()
		case <-tick.C:
			t.copyTo(w)
		}
	}
}

// interrupted tells what an interrupted `up` leaves running and returns the interrupted exit.
func (r *scheduled) interrupted(w io.Writer, name string) error {
	n := nameFlag(name)
	switch {
	case r == nil:
		fmt.Fprintf(w, "\nInterrupted. The sandbox keeps running on v2.3.0; `sandbox down%s` removes it.\n", n)
	case r.shipped:
		fmt.Fprintf(w, "\nInterrupted. v2.4.0 has shipped and the incident is live: `sandbox status%s`.\n", n)
	case r.pid == 0:
		fmt.Fprintf(w, "\nInterrupted. The v2.4.0 rollout ran inside this command (%s) and is cancelled; the sandbox keeps running on v2.3.0: `sandbox deploy all v2.4.0%s` ships it by hand, `sandbox down%s` removes it.\n", r.why, n, n)
	case time.Now().Before(r.due):
		fmt.Fprintf(w, "\nInterrupted. The sandbox keeps running, and the v2.4.0 rollout still ships at %s UTC (in %s), as a CD pipeline would (pid %d, log %s); `sandbox down%s` to stop it.\n",
			r.due.Format("15:04:05"), until(r.due), r.pid, r.log, n)
	default:
		fmt.Fprintf(w, "\nInterrupted. The v2.4.0 rollout (due %s UTC) goes on in its pipeline process (pid %d, log %s); `sandbox down%s` to stop it.\n",
			r.due.Format("15:04:05"), r.pid, r.log, n)
	}
	return ExitError{Code: ExitInterrupted}
}

// stillShips is said when up fails after scheduling: the rollout does not depend on up.
func (r *scheduled) stillShips() string {
	if r == nil || r.pid == 0 {
		return ""
	}
	return fmt.Sprintf(", and the v2.4.0 rollout still ships at %s UTC (pid %d)", r.due.Format("15:04:05"), r.pid)
}

// logTail copies complete new lines of a log, less the pipeline's own notes.
type logTail struct {
	path string
	off  int64
}

func (t *logTail) copyTo(w io.Writer) {
	f, err := os.Open(t.path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return
	}
	b, _ := io.ReadAll(f)
	end := bytes.LastIndexByte(b, '\n')
	if end < 0 {
		return
	}
	for _, line := range bytes.SplitAfter(b[:end+1], []byte("\n")) {
		if len(line) > 0 && !bytes.HasPrefix(line, []byte(logNote)) {
			_, _ = w.Write(line)
		}
	}
	t.off += int64(end + 1)
}

// rolloutLine is what `sandbox status` says about the scheduled rollout at now ("" once nothing is pending).
func rolloutLine(r sandbox.RolloutState, now time.Time, name string) string {
	switch {
	case r.Pending() && now.Before(r.Due):
		return fmt.Sprintf("v2.4.0 rollout due at %s UTC (in %s)", r.Due.UTC().Format("15:04:05"), r.Due.Sub(now).Round(time.Second))
	case r.Pending() && now.Sub(r.Due) < 30*time.Second:
		return fmt.Sprintf("v2.4.0 rollout due at %s UTC (due now)", r.Due.UTC().Format("15:04:05"))
	case r.Pending():
		return fmt.Sprintf("v2.4.0 rollout was due at %s UTC and has not started (%s late): is its pipeline process still running? `sandbox deploy all v2.4.0%s` ships it by hand",
			r.Due.UTC().Format("15:04:05"), now.Sub(r.Due).Round(time.Second), nameFlag(name))
	case r.InProgress():
		return fmt.Sprintf("v2.4.0 rollout in progress since %s UTC", r.Started.UTC().Format("15:04:05"))
	}
	return ""
}

func until(t time.Time) time.Duration { return time.Until(t).Round(time.Second) }

// nameFlag is the --name flag to repeat in a suggested command ("" for the default sandbox).
func nameFlag(name string) string {
	if name == sandbox.DefaultName {
		return ""
	}
	return " --name " + name
}
