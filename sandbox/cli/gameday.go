package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/gameday"
	"github.com/sandbox-labs/sandbox/sandbox/grade"
	"github.com/sandbox-labs/sandbox/services/release"
)

// NewCmdGameday builds `sandbox gameday`: a facilitator's commands for several teams, each in its own sandbox.
func NewCmdGameday(streams IO, g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gameday",
		Short: "Run a game day: one sandbox per team, one v2.4.0 moment, a live leaderboard and a debrief",
		Long: `gameday runs several teams side by side: each team gets its own sandbox (its own seeded variant of the
incident), labelled as a member of the game, and v2.4.0 ships to every team at the same moment. status is
the leaderboard read from every team's control room, report the comparative debrief, down removes the game.`,
		Example: `  sandbox gameday up --teams red,blue --game gd-1 --seed 7
  sandbox gameday status --watch
  sandbox gameday report --output markdown > debrief.md
  sandbox gameday down`,
		Annotations: map[string]string{"skipNameCheck": "1"},
		// The facilitator's commands act on many sandboxes and are no team's evidence: no --name check, and
		// nothing is recorded on the default sandbox's timeline.
		PersistentPreRunE:  func(*cobra.Command, []string) error { return nil },
		PersistentPostRunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(newCmdGamedayUp(streams, g, gamedayUpRun), newCmdGamedayStatus(streams, g, gamedayStatusRun),
		newCmdGamedayDown(streams, g), newCmdGamedayReport(streams, g))
	return cmd
}

// GamedayUpOptions are `sandbox gameday up`'s flags: up's own, plus the game and its teams.
type GamedayUpOptions struct {
	Up    UpOptions // every team's sandbox is started the way `sandbox up` starts one
	Game  string
	Teams string
	names []string
}

func newCmdGamedayUp(streams IO, g *Globals, runF func(context.Context, *GamedayUpOptions) error) *cobra.Command {
	o := &GamedayUpOptions{Up: UpOptions{IO: streams, G: g, Settings: sandbox.DefaultSettings(), Incident: true}}
	cmd := &cobra.Command{
		Use:   "up --teams N|name,name,...",
		Short: "Start one sandbox per team, each its own seeded variant, all shipping v2.4.0 at the same moment",
		Example: `  sandbox gameday up --teams 3                         # team-1, team-2, team-3 of the game "game"
  sandbox gameday up --teams red,blue --game gd-1 --seed 7 --baseline 2m --load-rps 20`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runF(c.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Game, "game", gameday.DefaultGame, "the game's name: every team's sandbox is <game>-<team>")
	f.StringVar(&o.Teams, "teams", "", "how many teams (e.g. 3: team-1 ... team-3) or their names (e.g. red,blue,green)")
	f.Int64Var(&o.Up.Settings.Seed, "seed", 0, "the game's seed: each team's variant is derived from it and the team's name, so the same seed replays the same game")
	f.StringVar(&o.Up.Faults, "faults", strings.Join(release.AllFaults, ","), "faults v2.4.0 ships with for every team (comma-separated: "+strings.Join(release.AllFaults, ", ")+")")
	f.DurationVar(&o.Up.Baseline, "baseline", time.Minute, "how long every shop runs healthy on v2.3.0 once the last team is up, before v2.4.0 ships to all")
	f.Float64Var(&o.Up.Settings.LoadRPS, "load-rps", o.Up.Settings.LoadRPS, "load generator requests per second, per team")
	f.StringVar(&o.Up.PostgresImage, "postgres-image", envOr("SANDBOX_POSTGRES_IMAGE", "postgres:16-alpine"), "Postgres image (built locally when it cannot be pulled; env SANDBOX_POSTGRES_IMAGE)")
	f.DurationVar(&o.Up.Wait, "wait", 3*time.Minute, "how long to wait, after v2.4.0 is due, for every team to be paged")
	return cmd
}

func (o *GamedayUpOptions) validate() error {
	if err := gameday.ValidateGame(o.Game); err != nil {
		return UsageError{err}
	}
	names, err := gameday.ParseTeams(o.Game, o.Teams)
	if err != nil {
		return UsageError{err}
	}
	o.names = names
	return o.Up.validate()
}

// teamProgress prefixes a team's progress lines with its name.
func teamProgress(w io.Writer, team string) sandbox.Progress {
	var mu sync.Mutex
	return func(s string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "  • [%s] %s\n", team, s)
	}
}

func gamedayUpRun(ctx context.Context, o *GamedayUpOptions) error {
	w := o.Up.IO.ErrOut
	start := time.Now()
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	teams := make([]gameday.Team, len(o.names))
	for i, n := range o.names {
		teams[i] = gameday.Team{Name: n, Sandbox: gameday.SandboxName(o.Game, n), Seed: gameday.TeamSeed(o.Up.Settings.Seed, n)}
		// Checked for every team before any starts: a game is started whole or not at all.
		if insts, err := e.Instances(ctx, teams[i].Sandbox); err != nil {
			return err
		} else if len(insts) > 0 {
			return fmt.Errorf("team %s already has a sandbox (%s, %d containers): pick other team names, or `sandbox gameday down --game %s` first",
				n, teams[i].Sandbox, len(insts), o.Game)
		}
	}
	fmt.Fprintf(w, "Starting game %q: %d team(s), seed %d, load %.0f rps per team\n", o.Game, len(teams), o.Up.Settings.Seed, o.Up.Settings.LoadRPS)
	eps := make([]sandbox.Endpoints, len(teams))
	for i, t := range teams {
		s := o.Up.Settings
		s.Seed = t.Seed
		fmt.Fprintf(w, "Team %s: sandbox %s (seed %d)\n", t.Name, t.Sandbox, t.Seed)
		// One after another: every start builds images and warms a shop, which is what the host's cores are for.
		ep, err := startSandbox(ctx, e, sandbox.UpOptions{Name: t.Sandbox, Settings: s, Game: o.Game}, o.Up.G.LockWait, o.Up.Baseline, true, teamProgress(w, t.Name))
		if err != nil {
			left := ""
			if i > 0 {
				left = fmt.Sprintf(" (the %d team(s) started before it keep running on v2.3.0 with no rollout scheduled: `sandbox gameday down --game %s` removes them)", i, o.Game)
			}
			return fmt.Errorf("team %s: %w%s", t.Name, err, left)
		}
		eps[i] = ep
	}
	// One due time for every team, from when the last one is up: the game starts together.
	bg := context.WithoutCancel(ctx)
	due := time.Now().Add(o.Up.Baseline).UTC().Round(time.Second)
	fallback, cancel := context.WithCancel(ctx)
	defer cancel()
	ros := make([]*scheduled, len(teams))
	for i, t := range teams {
		if ros[i], err = scheduleRollout(bg, fallback, &prefixWriter{w: w, prefix: "[" + t.Name + "] "}, e, t.Sandbox, eps[i].ControlRoom(), due); err != nil {
			return fmt.Errorf("team %s: schedule the v2.4.0 rollout: %w (every team runs on v2.3.0; `sandbox gameday down --game %s` removes them)", t.Name, err, o.Game)
		}
	}
	printTeams(o.Up.IO.Out, o.Game, teams, eps)
	fmt.Fprintf(w, "\nEvery team is up after %.1fs. v2.4.0 ships to every team at %s UTC (in %s).\n", time.Since(start).Seconds(), due.Format("15:04:05"), until(due))
	fmt.Fprintf(w, "Leaderboard: sandbox gameday status --game %s --watch\n", o.Game)
	if ctx.Err() != nil {
		return gamedayInterrupted(w, o.Game, due)
	}
	fmt.Fprintln(w, "Waiting for every team to be paged (Ctrl-C stops waiting; the game goes on)...")
	var wg sync.WaitGroup
	paged := make([]error, len(teams))
	for i, t := range teams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait := time.Until(due) + o.Up.Wait
			if len(o.Up.Settings.Faults) == 0 {
				paged[i] = fmt.Errorf("no faults enabled: nothing pages")
				return
			}
			if _, err := sandbox.WaitSpike(ctx, eps[i].ControlRoom(), 0.05, 15*time.Second, wait); err != nil {
				paged[i] = err
				return
			}
			fmt.Fprintf(w, "  • [%s] paged %.1fs after gameday up started\n", t.Name, time.Since(start).Seconds())
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return gamedayInterrupted(w, o.Game, due)
	}
	var failed []string
	for i, err := range paged {
		if err != nil {
			failed = append(failed, teams[i].Name+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("not every team was paged: %s (see `sandbox gameday status --game %s`)", strings.Join(failed, "; "), o.Game)
	}
	fmt.Fprintf(w, "\nEvery team paged %.1fs after gameday up started. The incident is live for all %d team(s).\n", time.Since(start).Seconds(), len(teams))
	return nil
}

func gamedayInterrupted(w io.Writer, game string, due time.Time) error {
	fmt.Fprintf(w, "\nInterrupted. Every team keeps running and v2.4.0 still ships to all at %s UTC; `sandbox gameday down --game %s` ends the game.\n",
		due.Format("15:04:05"), game)
	return ExitError{Code: ExitInterrupted}
}

// printTeams is the data a facilitator hands out: per team the --name to use and where its shop is.
func printTeams(w io.Writer, game string, teams []gameday.Team, eps []sandbox.Endpoints) {
	fmt.Fprintf(w, "\nGame %s\n", game)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TEAM\tCOMMANDS\tSEED\tGATEWAY\tCONTROL ROOM")
	for i, t := range teams {
		fmt.Fprintf(tw, "%s\tsandbox status --name %s\t%d\t%s\t%s\n", t.Name, t.Sandbox, t.Seed, eps[i].Gateway, eps[i].Control)
	}
	tw.Flush()
}

// prefixWriter prefixes every line written through it.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	s := strings.TrimSuffix(string(b), "\n")
	for _, line := range strings.Split(s, "\n") {
		if _, err := fmt.Fprintln(p.w, strings.Replace(line, "  • ", "  • "+p.prefix, 1)); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// GamedayStatusOptions are `sandbox gameday status`'s flags.
type GamedayStatusOptions struct {
	IO     IO
	Game   string
	Output string
	Watch  bool
	Every  time.Duration
}

func newCmdGamedayStatus(streams IO, g *Globals, runF func(context.Context, *GamedayStatusOptions) error) *cobra.Command {
	o := &GamedayStatusOptions{IO: streams}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "The leaderboard: every team's phase, times, customer impact, data lost, hints, trap and grade",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(o.Output, "table", "json"); err != nil {
				return err
			}
			if o.Game != "" {
				if err := gameday.ValidateGame(o.Game); err != nil {
					return UsageError{err}
				}
			}
			if o.Watch && (o.Every < time.Second || o.Every > time.Minute) {
				return Usagef("--every must be between 1s and 1m, got %s", o.Every)
			}
			return runF(c.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Game, "game", "", "the game (default: the only game on this engine)")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "table", "output format: table or json")
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", false, "refresh until Ctrl-C")
	cmd.Flags().DurationVar(&o.Every, "every", 3*time.Second, "refresh interval for --watch")
	return cmd
}

// teamFetchTimeout bounds how long one team's control room may take to answer the leaderboard.
const teamFetchTimeout = 8 * time.Second

func gamedayStatusRun(ctx context.Context, o *GamedayStatusOptions) error {
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	game, err := gameday.ResolveGame(ctx, e, o.Game)
	if err != nil {
		return err
	}
	th := grade.DefaultThresholds()
	keep := &gameday.Keeper{}
	isTerm := false
	if f, ok := o.IO.Out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		isTerm = true
	}
	for {
		teams, err := gameday.Teams(ctx, e, game)
		if err != nil && !o.Watch {
			return err
		}
		if len(teams) == 0 && !o.Watch {
			return fmt.Errorf("game %q has no teams on this engine; start one with `sandbox gameday up --game %s --teams 2`", game, game)
		}
		now := time.Now()
		data := keep.Merge(gameday.Fetch(ctx, e, teams, teamFetchTimeout), now)
		lb := gameday.Leaderboard{Game: game, At: now.UTC(), Rule: gameday.RankingRule, Teams: gameday.Board(data, now, th)}
		if o.Output == "json" {
			if err := gameday.WriteJSON(o.IO.Out, lb); err != nil {
				return err
			}
		} else {
			if o.Watch && isTerm {
				fmt.Fprint(o.IO.Out, "\x1b[H\x1b[2J")
			}
			gameday.WriteTable(o.IO.Out, lb)
		}
		if !o.Watch {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Every):
		}
		if !isTerm {
			fmt.Fprintln(o.IO.Out)
		}
	}
}

func newCmdGamedayDown(streams IO, g *Globals) *cobra.Command {
	var game string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove every team's sandbox of the game, and nothing else",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if game != "" {
				if err := gameday.ValidateGame(game); err != nil {
					return UsageError{err}
				}
			}
			return gamedayDownRun(c.Context(), streams, g, game)
		},
	}
	cmd.Flags().StringVar(&game, "game", "", "the game (default: the only game on this engine)")
	return cmd
}

func gamedayDownRun(ctx context.Context, streams IO, g *Globals, named string) error {
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	game, err := gameday.ResolveGame(ctx, e, named)
	if err != nil {
		if named == "" {
			return err
		}
		game = named
	}
	members, err := gameday.Members(ctx, e, game)
	if err != nil {
		return err
	}
	if len(members) == 0 {
		fmt.Fprintf(streams.ErrOut, "Nothing to remove: game %q has no teams on this engine.\n", game)
		return nil
	}
	var errs []string
	for _, name := range members {
		lock, err := sandbox.LockSandbox(ctx, name, "sandbox gameday down", g.LockWait)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		err = downRun(ctx, streams, name, false, false)
		lock.Release()
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("game %q: %s", game, strings.Join(errs, "; "))
	}
	fmt.Fprintf(streams.ErrOut, "Game %q is over: %d team sandbox(es) removed.\n", game, len(members))
	return nil
}

func newCmdGamedayReport(streams IO, g *Globals) *cobra.Command {
	var game, output string
	cmd := &cobra.Command{
		Use:   "report",
		Short: "The comparative debrief: the ranking with its rule, every team's error rate on one chart (html), and each team's scorecard",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkOutput(output, "markdown", "html", "json"); err != nil {
				return err
			}
			if game != "" {
				if err := gameday.ValidateGame(game); err != nil {
					return UsageError{err}
				}
			}
			return gamedayReportRun(c.Context(), streams, game, output)
		},
	}
	cmd.Flags().StringVar(&game, "game", "", "the game (default: the only game on this engine)")
	cmd.Flags().StringVarP(&output, "output", "o", "markdown", "output format: markdown, html (one self-contained file with the chart) or json")
	return cmd
}

func gamedayReportRun(ctx context.Context, streams IO, named, output string) error {
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	game, err := gameday.ResolveGame(ctx, e, named)
	if err != nil {
		return err
	}
	teams, err := gameday.Teams(ctx, e, game)
	if err != nil {
		return err
	}
	if len(teams) == 0 {
		return fmt.Errorf("game %q has no teams on this engine: the report reads every team's control room, so run it before `sandbox gameday down`", game)
	}
	rep := gameday.BuildReport(game, gameday.Fetch(ctx, e, teams, teamFetchTimeout), time.Now(), grade.DefaultThresholds())
	switch output {
	case "json":
		return gameday.WriteJSON(streams.Out, rep)
	case "html":
		return gameday.WriteHTML(streams.Out, rep)
	}
	gameday.WriteMarkdown(streams.Out, rep)
	return nil
}
