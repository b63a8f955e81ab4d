package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/services/control"
	"github.com/sandbox-labs/sandbox/services/status"
)

func init() {
	extraCommands = append(extraCommands, NewCmdReset, NewCmdAttempts)
	noRecord["reset"] = struct{}{} // not a move in the incident: it ends one attempt and starts the next
	noRecord["attempts"] = struct{}{}
}

// ResetOptions are `sandbox reset`'s flags.
type ResetOptions struct {
	IO       IO
	G        *Globals
	Yes      bool
	Baseline time.Duration
	Incident bool
	Follow   bool
	Wait     time.Duration
	// set when the flag was given; otherwise the last attempt's choice is kept
	baselineSet, incidentSet bool
}

// NewCmdReset builds `sandbox reset`.
func NewCmdReset(streams IO, g *Globals) *cobra.Command { return newCmdReset(streams, g, resetRun) }

func newCmdReset(streams IO, g *Globals, runF func(context.Context, *ResetOptions) error) *cobra.Command {
	o := &ResetOptions{IO: streams, G: g}
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Put the sandbox back at the start of the incident (fresh data, v2.3.0, a new attempt) without rebuilding",
		Long: `reset puts a running sandbox back where ` + "`sandbox up`" + ` left it, without rebuilding images: a fresh shop
database (v2.3.0's schema, seed data and feature flags), every service on v2.3.0, the fix-forward release
images of the last attempt removed, a new pre-deploy baseline, and the v2.4.0 rollout scheduled again after
the baseline, as up does. The last attempt's record is kept, whole and verifiable, as a numbered past attempt
(` + "`sandbox attempts`" + `); the timeline, check and grade then cover only the new attempt.

It asks first on a terminal; elsewhere pass --yes. Unless given, --baseline and --incident are those of the
last attempt.`,
		Example: `  sandbox reset                       # asks, then the next attempt at the same incident
  sandbox reset --name team-1 --yes   # a lab's next trainee
  sandbox reset --yes --follow=false  # return once the baseline traffic is steady`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			o.baselineSet, o.incidentSet = c.Flags().Changed("baseline"), c.Flags().Changed("incident")
			if err := o.validate(); err != nil {
				return err
			}
			return runF(c.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Yes, "yes", "y", false, "reset without asking")
	f.DurationVar(&o.Baseline, "baseline", time.Minute, "how long the shop runs healthy on v2.3.0 before v2.4.0 ships (default: the last attempt's)")
	f.BoolVar(&o.Incident, "incident", true, "ship v2.4.0 after the baseline (default: as the last attempt)")
	f.BoolVar(&o.Follow, "follow", true, "stay until v2.4.0 ships and page, as up does (false: return at steady baseline traffic; it still ships)")
	f.DurationVar(&o.Wait, "wait", 3*time.Minute, "how long to wait for steady traffic and for the spike")
	return cmd
}

func (o *ResetOptions) validate() error {
	if o.Baseline < 0 || o.Baseline > 24*time.Hour {
		return Usagef("--baseline must be between 0s and 24h, got %s", o.Baseline)
	}
	if o.Wait <= 0 {
		return Usagef("--wait must be positive, got %s", o.Wait)
	}
	if !o.Yes && !isTerminal(o.IO.In) {
		return Usagef("reset throws away the sandbox's data and starts a new attempt: pass --yes to confirm (nothing was changed)")
	}
	return nil
}

// lastAttempt is what a sandbox's record says about how its current attempt was started.
type lastAttempt struct {
	baseline time.Duration
	incident bool
	found    bool
}

func readLastAttempt(tl []status.Event) lastAttempt {
	var la lastAttempt
	for _, ev := range tl {
		if ev.Kind != status.EventSandboxUp || ev.Data == nil {
			continue
		}
		if d, err := time.ParseDuration(ev.Data["baseline"]); err == nil && d >= 0 {
			la.baseline, la.found = d, true
		}
		if b, err := strconv.ParseBool(ev.Data["incident"]); err == nil {
			la.incident = b
		} else {
			la.incident = true
		}
	}
	return la
}

func resetRun(ctx context.Context, o *ResetOptions) error {
	w, name := o.IO.ErrOut, o.G.Name
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	// Everything is checked before anything changes: the sandbox exists and nothing needs a rebuild.
	settings, err := e.CheckResettable(ctx, name)
	if err != nil {
		return err
	}
	attempt, err := e.Attempt(ctx, name)
	if err != nil {
		return err
	}
	if !o.baselineSet || !o.incidentSet {
		if ep, err := e.Endpoints(ctx, name); err == nil && ep.Control != "" {
			if tl, err := ep.ControlRoom().Timeline(ctx); err == nil {
				if la := readLastAttempt(tl); la.found {
					if !o.baselineSet {
						o.Baseline = la.baseline
					}
					if !o.incidentSet {
						o.Incident = la.incident
					}
				}
			}
		}
	}
	if !o.Yes {
		ok, err := askYesNo(bufio.NewReader(o.IO.In), w, fmt.Sprintf("Reset sandbox %q? Attempt %d ends (its record is kept) and its data and fix-forward releases are thrown away. [y/N] ", name, attempt), false)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintln(w, "Nothing was changed.")
			return nil
		}
	}
	lock, err := sandbox.LockSandbox(ctx, name, "sandbox reset", o.G.LockWait)
	if err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(w, "Resetting sandbox %q to the start of the incident (attempt %d)\n", name, attempt+1)
	res, err := e.Reset(ctx, name, progressTo(w))
	lock.Release()
	if err != nil {
		return fmt.Errorf("reset: %w (the sandbox may be half reset: run `sandbox reset%s --yes` again, or `sandbox down%s` and `sandbox up%s`)", err, nameFlag(name), nameFlag(name), nameFlag(name))
	}
	bg := context.WithoutCancel(ctx)
	cr := res.Endpoints.ControlRoom()
	_ = cr.Record(bg, status.Event{Kind: status.EventSandboxUp, Actor: "cli", Detail: fmt.Sprintf("sandbox reset: attempt %d", res.Attempt),
		Data: map[string]string{"faults": fmt.Sprint(len(settings.Faults)), "seed": fmt.Sprint(settings.Seed), "baseline": o.Baseline.String(),
			"incident": fmt.Sprint(o.Incident), "attempt": fmt.Sprint(res.Attempt)}})
	fmt.Fprintf(w, "  • removed %d containers and %d fix-forward release images\n", res.Removed, res.ReleaseImages)
	return incidentRun{IO: o.IO, Name: name, Settings: settings, Incident: o.Incident, Baseline: o.Baseline, Wait: o.Wait,
		Start: start, Follow: o.Follow, Ready: func() { printAttempts(bg, w, cr) }}.run(ctx, e, res.Endpoints)
}

// printAttempts lists the sandbox's past attempts as the control room keeps them.
func printAttempts(ctx context.Context, w io.Writer, cr *sandbox.ControlRoom) {
	var a control.Attempts
	if err := cr.Get(ctx, "/api/attempts", &a); err != nil {
		fmt.Fprintln(w, "warning: past attempts: "+err.Error())
		return
	}
	writeAttempts(w, a)
}

func writeAttempts(w io.Writer, a control.Attempts) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nATTEMPT\tSTARTED\tENDED\tEVENTS\tV2.4.0\tGRADE\tRECORD\n")
	for _, p := range a.Past {
		first, last := "-", "-"
		if p.First != nil {
			first = p.First.UTC().Format("2006-01-02 15:04:05")
		}
		if p.Last != nil {
			last = p.Last.UTC().Format("15:04:05")
		}
		shipped, graded, rec := "not deployed", "not graded", "intact"
		if p.Shipped {
			shipped = "deployed"
		}
		if p.Graded {
			graded = p.Verdict
		}
		if !p.Intact {
			rec = "BROKEN: " + p.Problem
		}
		fmt.Fprintf(tw, "%d (past)\t%s\t%s\t%d\t%s\t%s\t%s\n", p.Attempt, first, last, p.Events, shipped, graded, rec)
	}
	since := "with the sandbox"
	if a.Since != nil {
		since = a.Since.UTC().Format("2006-01-02 15:04:05")
	}
	fmt.Fprintf(tw, "%d (current)\t%s\t\t\t\t\t\n", a.Current, since)
	_ = tw.Flush()
}

// NewCmdAttempts builds `sandbox attempts [<n>]`: the sandbox's attempts at the incident, or one past
// attempt's timeline.
func NewCmdAttempts(streams IO, g *Globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "attempts [<n>]",
		Short: "List the sandbox's attempts at the incident (the past ones `sandbox reset` kept, and the current one), or print past attempt n's timeline",
		Example: `  sandbox attempts
  sandbox attempts 1            # the first attempt's timeline
  sandbox attempts --output json`,
		Args: rangeArgs(0, 1, "at most an attempt number"),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			n := 0
			if len(args) == 1 {
				v, err := strconv.Atoi(args[0])
				if err != nil || v < 1 {
					return Usagef("attempt %q: want a past attempt's number (1, 2, ...; see `sandbox attempts`)", args[0])
				}
				n = v
			}
			e, cr, _, err := controlRoom(c.Context(), g.Name)
			if err != nil {
				return err
			}
			defer e.Close()
			if n > 0 {
				var tl []status.Event
				if err := cr.Get(c.Context(), fmt.Sprintf("/api/attempts/%d/timeline", n), &tl); err != nil {
					return err
				}
				return writeTimelineOutput(streams.Out, g.Name, output, tl, nil, status.Snapshot{})
			}
			var a control.Attempts
			if err := cr.Get(c.Context(), "/api/attempts", &a); err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(streams.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(a)
			}
			writeAttempts(streams.Out, a)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}
