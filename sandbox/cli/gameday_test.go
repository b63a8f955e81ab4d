package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox/gameday"
)

// Bad game-day command lines fail with exit 2 before any engine is touched.
func TestGamedayUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"gameday", "up"}, "--teams is required"},
		{[]string{"gameday", "up", "--teams", "0"}, "between 1 and"},
		{[]string{"gameday", "up", "--teams", "99"}, "between 1 and"},
		{[]string{"gameday", "up", "--teams", "red,,blue"}, "empty team name"},
		{[]string{"gameday", "up", "--teams", "red,red"}, "named twice"},
		{[]string{"gameday", "up", "--teams", "Red"}, "team name"},
		{[]string{"gameday", "up", "--teams", "2", "--game", "Bad_Game"}, "invalid game name"},
		{[]string{"gameday", "up", "--teams", "a-very-long-team-name", "--game", "h-gd-long-game"}, "longer than 30"},
		{[]string{"gameday", "up", "--teams", "2", "--load-rps", "NaN"}, "--load-rps"},
		{[]string{"gameday", "up", "--teams", "2", "--faults", "nope"}, "nope"},
		{[]string{"gameday", "up", "--teams", "2", "--baseline", "-1s"}, "--baseline"},
		{[]string{"gameday", "status", "--output", "yaml"}, "unknown --output"},
		{[]string{"gameday", "status", "--watch", "--every", "10ms"}, "--every"},
		{[]string{"gameday", "status", "--game", "x_y"}, "invalid game name"},
		{[]string{"gameday", "report", "--output", "pdf"}, "unknown --output"},
		{[]string{"gameday", "down", "--game", "UP"}, "invalid game name"},
		{[]string{"gameday", "frob"}, "unknown command"},
	}
	for _, c := range cases {
		_, errs, code := run(t, c.args...)
		if code != ExitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", c.args, code, errs, c.want)
		}
	}
}

func TestGamedayUpFlags(t *testing.T) {
	var got *GamedayUpOptions
	g := &Globals{LockWait: time.Second}
	cmd := newCmdGamedayUp(IO{}, g, func(_ context.Context, o *GamedayUpOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"--teams", "red,blue", "--game", "h-gd-x", "--seed", "9", "--faults", "flag-leak", "--baseline", "2m", "--load-rps", "15"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.names, ",") != "red,blue" || got.Game != "h-gd-x" || got.Up.Settings.Seed != 9 || got.Up.Baseline != 2*time.Minute ||
		got.Up.Settings.LoadRPS != 15 || strings.Join(got.Up.Settings.Faults, ",") != "flag-leak" || !got.Up.Incident {
		t.Errorf("parsed %+v (teams %v)", got.Up, got.names)
	}
	// The teams' seeds come from the game's seed and their names: the same game replays, the teams differ.
	if gameday.TeamSeed(9, "red") == gameday.TeamSeed(9, "blue") || gameday.TeamSeed(9, "red") != gameday.TeamSeed(9, "red") ||
		gameday.TeamSeed(9, "red") == gameday.TeamSeed(10, "red") || gameday.TeamSeed(0, "red") == 0 {
		t.Error("team seeds do not vary by team and game seed")
	}
}
