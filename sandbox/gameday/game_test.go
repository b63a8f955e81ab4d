package gameday

import (
	"context"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/network"

	"github.com/sandbox-labs/sandbox/sandbox"
)

// fakeNets answers NetworkList like the engine: only networks carrying every label the filter asks for.
type fakeNets []network.Summary

func (f fakeNets) NetworkList(_ context.Context, o network.ListOptions) ([]network.Summary, error) {
	var out []network.Summary
	for _, n := range f {
		ok := true
		for _, want := range o.Filters.Get("label") {
			k, v, hasV := strings.Cut(want, "=")
			got, has := n.Labels[k]
			if !has || hasV && got != v {
				ok = false
			}
		}
		if ok {
			out = append(out, n)
		}
	}
	return out, nil
}

func net(name, game, settings string) network.Summary {
	l := sandbox.ResourceLabels(name, "network", "")
	if game != "" {
		l[sandbox.LabelGame] = game
	}
	if settings != "" {
		l[sandbox.LabelSettings] = settings
	}
	return network.Summary{Name: sandbox.NetworkName(name), Labels: l}
}

func TestTeamsAreFoundByLabel(t *testing.T) {
	e := fakeNets{
		net("gd-1-red", "gd-1", `{"seed": 11}`),
		net("gd-1-blue", "gd-1", `{"seed": 12}`),
		net("gd-2-red", "gd-2", `{"seed": 13}`),
		net("sandbox", "", ""),   // a trainee's own sandbox, in no game
		net("gd-1-fake", "", ""), // named like a team, not labelled as one
	}
	teams, err := Teams(context.Background(), e, "gd-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(teams) != 2 || teams[0] != (Team{Name: "blue", Sandbox: "gd-1-blue", Seed: 12}) || teams[1] != (Team{Name: "red", Sandbox: "gd-1-red", Seed: 11}) {
		t.Errorf("teams of gd-1: %+v", teams)
	}
	games, _ := Games(context.Background(), e)
	if strings.Join(games, ",") != "gd-1,gd-2" {
		t.Errorf("games %v", games)
	}
	if _, err := ResolveGame(context.Background(), e, ""); err == nil || !strings.Contains(err.Error(), "--game") {
		t.Errorf("two games and no --game: %v", err)
	}
	if g, err := ResolveGame(context.Background(), fakeNets{net("gd-3-a", "gd-3", "")}, ""); err != nil || g != "gd-3" {
		t.Errorf("the only game: %q %v", g, err)
	}
	if _, err := ResolveGame(context.Background(), fakeNets{}, ""); err == nil || !strings.Contains(err.Error(), "gameday up") {
		t.Errorf("no game: %v", err)
	}
}

func TestParseTeams(t *testing.T) {
	got, err := ParseTeams("gd", "3")
	if err != nil || strings.Join(got, ",") != "team-1,team-2,team-3" {
		t.Errorf("3: %v %v", got, err)
	}
	got, err = ParseTeams("gd", " red, blue ")
	if err != nil || strings.Join(got, ",") != "red,blue" {
		t.Errorf("names: %v %v", got, err)
	}
}
