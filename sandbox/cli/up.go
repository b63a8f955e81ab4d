package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sandbox-labs/sandbox/faults"
	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/status"
)

// UpOptions are `sandbox up`'s flags.
type UpOptions struct {
	IO            IO
	G             *Globals
	Settings      sandbox.Settings
	Faults        string
	Baseline      time.Duration
	Incident      bool
	Wait          time.Duration
	PostgresImage string
	Observability bool
}

// NewCmdUp builds `sandbox up`; runF lets tests check flag parsing without an engine.
func NewCmdUp(streams IO, g *Globals) *cobra.Command { return newCmdUp(streams, g, upRun) }

func newCmdUp(streams IO, g *Globals, runF func(context.Context, *UpOptions) error) *cobra.Command {
	o := &UpOptions{IO: streams, G: g, Settings: sandbox.DefaultSettings()}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Build and start a sandbox: the healthy v2.3.0 shop, then the bad v2.4.0 rollout",
		Example: `  sandbox up                          # the card's incident, baseline one minute
  sandbox up --name team-1 --seed 7   # a game-day team with varied details
  sandbox up --incident=false         # stay healthy on v2.3.0
  sandbox up --faults flag-leak,sdk-break --baseline 30s`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runF(c.Context(), o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Baseline, "baseline", time.Minute, "how long the shop runs healthy on v2.3.0, from when every service is up, before v2.4.0 ships (it ships then even if up is interrupted)")
	f.BoolVar(&o.Incident, "incident", true, "ship v2.4.0 after the baseline (false: stay healthy on v2.3.0)")
	f.StringVar(&o.Faults, "faults", strings.Join(release.AllFaults, ","), "faults v2.4.0 ships with (comma-separated: "+strings.Join(release.AllFaults, ", ")+")")
	f.Int64Var(&o.Settings.Seed, "seed", 0, "vary the details (cohort share, which payment path breaks); 0 reproduces the card")
	f.Float64Var(&o.Settings.LoadRPS, "load-rps", o.Settings.LoadRPS, "load generator requests per second")
	f.Float64Var(&o.Settings.NoiseRate, "noise", o.Settings.NoiseRate, "background error share at the edge (0.001 = 0.1%)")
	f.StringVar(&o.Settings.ScrapeInterval, "scrape-interval", o.Settings.ScrapeInterval, "control room scrape interval")
	f.StringVar(&o.PostgresImage, "postgres-image", envOr("SANDBOX_POSTGRES_IMAGE", "postgres:16-alpine"), "Postgres image (built locally from Debian packages when it cannot be pulled; env SANDBOX_POSTGRES_IMAGE)")
	f.BoolVar(&o.Observability, "observability", false, "also run Prometheus (and Grafana when its image is present) wired to dashboards/")
	f.DurationVar(&o.Wait, "wait", 3*time.Minute, "how long to wait for steady traffic and for the spike")
	return cmd
}

func (o *UpOptions) validate() error {
	fs, err := ParseFaults(o.Faults)
	if err != nil {
		return err
	}
	o.Settings.Faults = fs
	if o.Baseline < 0 || o.Baseline > 24*time.Hour {
		return Usagef("--baseline must be between 0s and 24h, got %s", o.Baseline)
	}
	// Written so NaN fails too (every comparison with NaN is false).
	if !(o.Settings.LoadRPS > 0 && o.Settings.LoadRPS <= 500) {
		return Usagef("--load-rps must be between 0 and 500, got %g", o.Settings.LoadRPS)
	}
	if !(o.Settings.NoiseRate >= 0 && o.Settings.NoiseRate < 0.05) {
		return Usagef("--noise must be a fraction in [0, 0.05), got %g", o.Settings.NoiseRate)
	}
	if d, err := time.ParseDuration(o.Settings.ScrapeInterval); err != nil || d < 500*time.Millisecond || d > time.Minute {
		return Usagef("--scrape-interval must be a duration between 500ms and 1m, got %q", o.Settings.ScrapeInterval)
	}
	o.Settings.PostgresImage = o.PostgresImage
	return nil
}

// ParseFaults validates a comma-separated fault list against the catalogue.
func ParseFaults(s string) ([]string, error) {
	out := []string{}
	if strings.TrimSpace(s) == "" || s == "none" {
		return out, nil
	}
	seen := map[string]bool{}
	for _, id := range strings.Split(s, ",") {
		id = strings.TrimSpace(id)
		if _, err := faults.Lookup(id); err != nil {
			return nil, UsageError{err}
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

func upRun(ctx context.Context, o *UpOptions) error {
	w := o.IO.ErrOut
	name := o.G.Name
	start := time.Now()
	fmt.Fprintf(w, "Starting sandbox %q\n", name)
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	ep, err := startSandbox(ctx, e, sandbox.UpOptions{Name: name, Settings: o.Settings}, o.G.LockWait, o.Baseline, o.Incident, progressTo(w))
	if err != nil {
		return err
	}
	// The sandbox is up. From here an interrupt (Ctrl-C, SIGTERM, the terminal closing) ends this command
	// only: the sandbox keeps running and the scheduled rollout still ships, as a CD pipeline would.
	if o.Observability {
		if err := startObservability(ctx, o.IO, e, name); err != nil {
			fmt.Fprintln(w, "warning: observability: "+err.Error())
		}
	}
	return incidentRun{IO: o.IO, Name: name, Settings: o.Settings, Incident: o.Incident, Baseline: o.Baseline, Wait: o.Wait,
		Start: start, Follow: true}.run(ctx, e, ep)
}

// incidentRun is what up (and reset) do once the sandbox runs on v2.3.0: schedule the v2.4.0 rollout, wait
// for steady baseline traffic, then, when following, stay until v2.4.0 ships and page.
type incidentRun struct {
	IO       IO
	Name     string
	Settings sandbox.Settings
	Incident bool
	Baseline time.Duration
	Wait     time.Duration
	Start    time.Time // the figure "steady baseline traffic after" counts from here
	Follow   bool      // false: return at steady traffic (the rollout still ships at its time)
	Ready    func()    // called once at steady traffic, after where the sandbox is
}

func (r incidentRun) run(ctx context.Context, e *sandbox.Engine, ep sandbox.Endpoints) error {
	w, name := r.IO.ErrOut, r.Name
	bg := context.WithoutCancel(ctx)
	cr := ep.ControlRoom()
	var ro *scheduled
	var err error
	if r.Incident {
		fallback, cancel := context.WithCancel(ctx) // only for a rollout that has to run inside this command
		defer cancel()
		if ro, err = scheduleRollout(bg, fallback, w, e, name, cr, time.Now().Add(r.Baseline)); err != nil {
			return fmt.Errorf("schedule the v2.4.0 rollout: %w (the sandbox runs on v2.3.0; `sandbox deploy all v2.4.0%s` ships it by hand)", err, nameFlag(name))
		}
	}
	if ctx.Err() != nil {
		return ro.interrupted(w, name)
	}
	fmt.Fprintf(w, "  • waiting for steady traffic (%.0f rps)\n", r.Settings.LoadRPS)
	before, err := sandbox.WaitSteady(ctx, cr, r.Settings.LoadRPS, 10*time.Second, r.Wait)
	if err != nil {
		if ctx.Err() != nil {
			return ro.interrupted(w, name)
		}
		return fmt.Errorf("%w (the sandbox is still running%s; see `sandbox status%s`)", err, ro.stillShips(), nameFlag(name))
	}
	fmt.Fprintf(w, "  • steady baseline traffic after %.1fs\n", time.Since(r.Start).Seconds())
	printWhere(w, name, ep)
	if r.Ready != nil {
		r.Ready()
	}
	if ro == nil {
		fmt.Fprintln(w, "\nThe shop stays healthy on v2.3.0 (--incident=false).")
		return nil
	}
	fmt.Fprintf(w, "\nBaseline: the shop runs healthy on v2.3.0 until %s UTC (in %s), then v2.4.0 ships (scenario clock 14:00).\n", ro.due.Format("15:04:05"), until(ro.due))
	if !r.Follow {
		fmt.Fprintf(w, "Its pipeline process ships it then (pid %d); `sandbox status%s --watch` follows it.\n", ro.pid, nameFlag(name))
		return nil
	}
	err = ro.wait(ctx, w, func() {
		if s, err := cr.Status(ctx, clampWindow(r.Baseline)); err == nil {
			before = s
		}
		fmt.Fprintln(w, "v2.4.0 is due: the pipeline deploys it (migrations, then a rolling replacement of orders, payments, checkout)")
	})
	if ctx.Err() != nil {
		return ro.interrupted(w, name)
	}
	if err != nil {
		return fmt.Errorf("the v2.4.0 rollout failed: %w (log: %s)", err, ro.log)
	}
	tl, err := cr.Timeline(bg)
	if err != nil {
		return fmt.Errorf("after the rollout the control room does not answer (was the sandbox removed?): %w", err)
	}
	st := sandbox.RolloutFromTimeline(tl)
	if st.Finished.IsZero() {
		if st.Shipped {
			fmt.Fprintln(w, "v2.4.0 was already deployed by hand; the pipeline had nothing to do.")
			return nil
		}
		return fmt.Errorf("v2.4.0 did not ship (log: %s)", ro.log)
	}
	ro.shipped = true
	if len(r.Settings.Faults) == 0 {
		fmt.Fprintln(w, "v2.4.0 shipped with no faults enabled.")
		return nil
	}
	now, err := sandbox.WaitSpike(ctx, cr, 0.05, 15*time.Second, r.Wait)
	if ctx.Err() != nil {
		return ro.interrupted(w, name)
	}
	if err != nil {
		fmt.Fprintln(w, "warning: "+err.Error())
	}
	// Let the plateau settle so the page shows it, not the ramp.
	select {
	case <-ctx.Done():
		return ro.interrupted(w, name)
	case <-time.After(10 * time.Second):
	}
	if s, err := cr.Status(ctx, 15*time.Second); err == nil {
		now = s
	}
	printPage(r.IO.Out, name, st.Started, before, now)
	return nil
}

// startSandbox is the first half of `up`, shared by `gameday up` for every team: under the sandbox's change
// lock it starts the sandbox healthy on v2.3.0 and records sandbox_up. It does not schedule the rollout.
func startSandbox(ctx context.Context, e *sandbox.Engine, uo sandbox.UpOptions, lockWait, baseline time.Duration, incident bool, progress sandbox.Progress) (sandbox.Endpoints, error) {
	// Held while the sandbox is created: two ups of one name must not race (the loser's cleanup would
	// remove the winner's resources). The rollout takes it again when it deploys.
	lock, err := sandbox.LockSandbox(ctx, uo.Name, "sandbox up", lockWait)
	if err != nil {
		return sandbox.Endpoints{}, err
	}
	ep, err := e.Up(ctx, uo, progress)
	lock.Release()
	if err != nil {
		if ctx.Err() != nil {
			return ep, fmt.Errorf("interrupted; the partial sandbox was removed: %w", err)
		}
		return ep, err
	}
	data := map[string]string{"faults": fmt.Sprint(len(uo.Settings.Faults)), "seed": fmt.Sprint(uo.Settings.Seed), "baseline": baseline.String(), "incident": fmt.Sprint(incident)}
	if uo.Game != "" {
		data["game"] = uo.Game
	}
	// Not the fault ids: the timeline is readable before the attempt ends, and they name the causes.
	_ = ep.ControlRoom().Record(context.WithoutCancel(ctx), status.Event{Kind: status.EventSandboxUp, Actor: "cli", Detail: "sandbox up", Data: data})
	return ep, nil
}

func clampWindow(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return 10 * time.Second
	}
	if d > 5*time.Minute {
		return 5 * time.Minute
	}
	return d
}

func printWhere(w io.Writer, name string, ep sandbox.Endpoints) {
	flag := nameFlag(name)
	fmt.Fprintf(w, "\nSandbox %q is up.\n", name)
	fmt.Fprintf(w, "  Shop (gateway):   %s   e.g. curl %s/api/catalog\n", ep.Gateway, ep.Gateway)
	fmt.Fprintf(w, "  Control room:     %s\n", ep.Control)
	fmt.Fprintf(w, "  Shop database:    %s\n", ep.DatabaseURL)
	fmt.Fprintf(w, "  Status:           sandbox status%s   (--watch to follow)\n", flag)
	fmt.Fprintf(w, "  Tear down:        sandbox down%s\n", flag)
}

func printPage(w io.Writer, name string, at time.Time, before, now status.Snapshot) {
	affected, unaffected := sandbox.Classify(before, now)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "🚨 PAGE  [FIRING] HighErrorRate  shop-edge  severity=critical")
	fmt.Fprintf(w, "   sandbox %s · scenario clock %s (deploy at 14:00; real %s UTC)\n", name, sandbox.ScenarioClock(at, time.Now()), at.Format("15:04:05"))
	fmt.Fprintln(w, "   Deploy: v2.3.0 -> v2.4.0 at 14:00")
	fmt.Fprintf(w, "   Error rate: %s -> %s\n", pct(before.Edge.ErrorRate), pct(now.Edge.ErrorRate))
	fmt.Fprintf(w, "   P99 latency: %.0fms -> %.0fms\n", before.Edge.P99Ms, now.Edge.P99Ms)
	fmt.Fprintf(w, "   Affected endpoints: %s\n", strings.Join(affected, ", "))
	fmt.Fprintf(w, "   Not affected: %s\n", strings.Join(unaffected, ", "))
	fmt.Fprintln(w, "   v2.4.0 changelog:")
	for _, pr := range release.V240PRs {
		fmt.Fprintf(w, "     - PR #%d: %s (%s)\n", pr.Number, pr.Title, pr.Service)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "You are on call. What do you do first?")
	fmt.Fprintln(w, "  (sandbox status · sandbox changelog · sandbox logs <service> · sandbox hint · sandbox grade)")
}

func pct(f float64) string {
	if f < 0.01 {
		return fmt.Sprintf("%.2f%%", f*100)
	}
	return fmt.Sprintf("%.1f%%", f*100)
}
