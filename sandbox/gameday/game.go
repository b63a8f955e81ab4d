// Package gameday runs a game day: several teams, each in its own sandbox labelled as a member of the game,
// all shipping v2.4.0 at the same moment; a leaderboard read from every team's control room; and a report
// that ranks them. The sandboxes are ordinary ones (the same `up` path); this package only plans, finds
// and compares them.
package gameday

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/sandbox-labs/sandbox/sandbox"
)

// DefaultGame is the game's name when --game is not given.
const DefaultGame = "game"

// MaxTeams bounds --teams: every team is a whole shop on the engine.
const MaxTeams = 12

// Team is one team of a game: its name and the sandbox it plays in.
type Team struct {
	Name    string `json:"team"`
	Sandbox string `json:"sandbox"` // the --name to use
	Seed    int64  `json:"seed"`
}

// ValidateGame checks a game name: it prefixes every team's sandbox name.
func ValidateGame(game string) error {
	if err := sandbox.ValidateName(game); err != nil {
		return fmt.Errorf("invalid game name %q: use lowercase letters, digits or '-', starting with a letter (e.g. gd-1)", game)
	}
	return nil
}

// SandboxName is the sandbox of team in game.
func SandboxName(game, team string) string { return game + "-" + team }

// ParseTeams reads --teams: a count ("3": team-1 ... team-3) or comma-separated names ("red,blue,green").
// Every team's sandbox name (game-team) must be a valid sandbox name.
func ParseTeams(game, spec string) ([]string, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" {
		return nil, fmt.Errorf("--teams is required: a count (e.g. 3) or names (e.g. red,blue,green)")
	}
	var names []string
	if n, err := strconv.Atoi(spec); err == nil {
		if n < 1 || n > MaxTeams {
			return nil, fmt.Errorf("--teams %d: want between 1 and %d teams", n, MaxTeams)
		}
		for i := 1; i <= n; i++ {
			names = append(names, fmt.Sprintf("team-%d", i))
		}
	} else {
		seen := map[string]bool{}
		for _, p := range strings.Split(spec, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				return nil, fmt.Errorf("--teams %q: an empty team name", spec)
			}
			if seen[p] {
				return nil, fmt.Errorf("--teams %q: team %q is named twice", spec, p)
			}
			seen[p] = true
			names = append(names, p)
		}
		if len(names) > MaxTeams {
			return nil, fmt.Errorf("--teams: %d teams, at most %d", len(names), MaxTeams)
		}
	}
	for _, t := range names {
		if err := sandbox.ValidateName(t); err != nil {
			return nil, fmt.Errorf("team name %q: use lowercase letters, digits or '-', starting with a letter", t)
		}
		if err := sandbox.ValidateName(SandboxName(game, t)); err != nil {
			return nil, fmt.Errorf("team %q of game %q makes the sandbox name %q, longer than 30 characters: use a shorter --game or team name",
				t, game, SandboxName(game, t))
		}
	}
	return names, nil
}

// TeamSeed is team's seed in a game played with seed: derived from both, so teams side by side get
// different variants and the same seed replays the same game (a team's seed does not depend on the others).
// It is never 0 (seed 0 is the card's exact incident, which every team would share).
func TeamSeed(seed int64, team string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", seed, team)
	v := int64(h.Sum64() & (1<<62 - 1))
	if v == 0 {
		v = 1
	}
	return v
}

// Lister is the part of the engine that finds teams (a fake in tests).
type Lister interface {
	NetworkList(ctx context.Context, o network.ListOptions) ([]network.Summary, error)
}

// Teams lists the teams of game on the engine, by label, in name order.
func Teams(ctx context.Context, e Lister, game string) ([]Team, error) {
	nets, err := e.NetworkList(ctx, network.ListOptions{Filters: sandbox.GameFilter(game)})
	if err != nil {
		return nil, fmt.Errorf("list the teams of game %q: %w", game, err)
	}
	var out []Team
	for _, n := range nets {
		name := n.Labels[sandbox.LabelName]
		if n.Labels[sandbox.LabelGame] != game || n.Name != sandbox.NetworkName(name) {
			continue
		}
		var s sandbox.Settings
		_ = json.Unmarshal([]byte(n.Labels[sandbox.LabelSettings]), &s)
		out = append(out, Team{Name: strings.TrimPrefix(name, game+"-"), Sandbox: name, Seed: s.Seed})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Games lists the games with at least one team on the engine, in name order.
func Games(ctx context.Context, e Lister) ([]string, error) {
	nets, err := e.NetworkList(ctx, network.ListOptions{Filters: sandbox.GameFilter("")})
	if err != nil {
		return nil, fmt.Errorf("list games: %w", err)
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range nets {
		if g := n.Labels[sandbox.LabelGame]; g != "" && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ResolveGame picks the game a command acts on: the one named, else the only game on the engine.
func ResolveGame(ctx context.Context, e Lister, named string) (string, error) {
	if named != "" {
		return named, nil
	}
	games, err := Games(ctx, e)
	if err != nil {
		return "", err
	}
	switch len(games) {
	case 0:
		return "", fmt.Errorf("no game day runs on this engine; start one with `sandbox gameday up --teams 3`")
	case 1:
		return games[0], nil
	}
	return "", fmt.Errorf("%d games run on this engine (%s): say which with --game", len(games), strings.Join(games, ", "))
}

// Members are the sandbox names of every resource labelled as a team of game (containers, networks,
// volumes), so `gameday down` also finds a team whose network is already gone.
func Members(ctx context.Context, e *sandbox.Engine, game string) ([]string, error) {
	f := filters.NewArgs(filters.Arg("label", sandbox.LabelManaged+"=true"), filters.Arg("label", sandbox.LabelGame+"="+game))
	seen := map[string]bool{}
	add := func(labels map[string]string) {
		if n := labels[sandbox.LabelName]; n != "" && labels[sandbox.LabelGame] == game {
			seen[n] = true
		}
	}
	cs, err := e.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range cs {
		add(c.Labels)
	}
	nets, err := e.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list networks: %w", err)
	}
	for _, n := range nets {
		add(n.Labels)
	}
	vols, err := e.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		return nil, fmt.Errorf("list volumes: %w", err)
	}
	for _, v := range vols.Volumes {
		add(v.Labels)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}
