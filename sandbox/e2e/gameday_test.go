package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/gameday"
)

// TestIntegrationGameday plays a facilitator with two teams at a low load: gameday up gives each team its own
// sandbox on its own seed, both shipping v2.4.0 at the same moment; the leaderboard reads both; gameday down
// removes the game and nothing else.
func TestIntegrationGameday(t *testing.T) {
	e := requireEngine(t)
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	game := "h-gd-" + hex.EncodeToString(b)
	teams := []string{"team-1", "team-2"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		for _, tm := range teams {
			name := gameday.SandboxName(game, tm)
			if t.Failed() {
				dumpDiagnostics(t, name)
			}
			if _, err := e.Down(ctx, name); err != nil {
				t.Errorf("cleanup %s: %v", name, err)
			}
			_ = e.RemoveSandboxImagesOf(ctx, name)
		}
	})
	// A bystander: a resource of another sandbox, which gameday down must leave alone.
	bystander := game + "-other"
	bv, err := e.VolumeCreate(t.Context(), volume.CreateOptions{Name: sandbox.VolumeName(bystander, "pgdata"), Labels: sandbox.ResourceLabels(bystander, "pgdata", "")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.VolumeRemove(context.Background(), bv.Name, true) })

	start := time.Now()
	_, errs, code := runCLI(t, "gameday", "up", "--game", game, "--teams", "2", "--seed", "42", "--load-rps", "10", "--baseline", baseline(), "--wait", "4m")
	t.Logf("gameday up --teams 2: exit %d after %s\n%s", code, time.Since(start).Round(time.Second), errs)
	if code != 0 {
		t.Fatalf("gameday up: exit %d", code)
	}
	if !strings.Contains(errs, "Every team paged") {
		t.Errorf("gameday up did not say every team was paged:\n%s", errs)
	}

	ids, seeds := map[string]bool{}, map[int64]bool{}
	var due time.Time
	for _, tm := range teams {
		name := gameday.SandboxName(game, tm)
		id, err := e.SandboxID(t.Context(), name)
		if err != nil {
			t.Fatalf("team %s: %v", tm, err)
		}
		ids[id] = true
		s, err := e.SandboxSettings(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Seed != gameday.TeamSeed(42, tm) {
			t.Errorf("team %s runs seed %d, want %d (derived from the game's seed)", tm, s.Seed, gameday.TeamSeed(42, tm))
		}
		seeds[s.Seed] = true
		// Every container of the team is labelled as a member of the game.
		cs, err := e.ContainerList(t.Context(), container.ListOptions{All: true, Filters: sandbox.NameFilter(name)})
		if err != nil || len(cs) == 0 {
			t.Fatalf("team %s containers: %d, %v", tm, len(cs), err)
		}
		for _, c := range cs {
			if c.Labels[sandbox.LabelGame] != game {
				t.Errorf("container %v of team %s is not labelled as a member of game %s: %v", c.Names, tm, game, c.Labels[sandbox.LabelGame])
			}
		}
		ep, err := e.Endpoints(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		tl, err := ep.ControlRoom().Timeline(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ro := sandbox.RolloutFromTimeline(tl)
		// The page may come while the pipeline still rolls the last service: started is what it takes.
		if ro.Due.IsZero() || ro.Started.IsZero() {
			t.Errorf("team %s: rollout %+v, want scheduled and started by the pipeline", tm, ro)
		}
		if due.IsZero() {
			due = ro.Due
		} else if !ro.Due.Equal(due) {
			t.Errorf("team %s: v2.4.0 due at %s, the other team at %s; want the same moment", tm, ro.Due, due)
		}
	}
	if len(ids) != 2 || len(seeds) != 2 {
		t.Errorf("want two distinct sandboxes on two distinct seeds; got networks %v seeds %v", ids, seeds)
	}

	// Both teams are on the leaderboard as paged; their customer impact is counted from the control room's
	// series as it comes in (at the page itself there may be no point after the spike yet).
	var lb gameday.Leaderboard
	deadline := time.Now().Add(90 * time.Second)
	for {
		out := mustCLI(t, "gameday", "status", "--game", game, "--output", "json")
		lb = gameday.Leaderboard{}
		if err := json.Unmarshal([]byte(out), &lb); err != nil {
			t.Fatalf("leaderboard json: %v\n%s", err, out)
		}
		if len(lb.Teams) != 2 {
			t.Fatalf("leaderboard has %d teams, want 2:\n%s", len(lb.Teams), out)
		}
		counted := true
		for _, r := range lb.Teams {
			if !r.Reachable || r.PagedAt == nil || r.Phase == gameday.PhaseUnreachable || r.Phase == gameday.PhaseWaiting {
				t.Fatalf("team %s on the leaderboard: %+v", r.Team, r)
			}
			counted = counted && r.Errors > 0 && r.FailedCheck > 0
		}
		if counted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no team's failed requests counted 90 s after the page:\n%s", out)
		}
		time.Sleep(3 * time.Second)
	}
	table := mustCLI(t, "gameday", "status", "--game", game)
	t.Logf("leaderboard:\n%s", table)
	for _, tm := range teams {
		if !strings.Contains(table, tm) {
			t.Errorf("leaderboard table lacks %s", tm)
		}
	}
	report := mustCLI(t, "gameday", "report", "--game", game)
	if !strings.Contains(report, "## Ranking rule") || !strings.Contains(report, "Not graded yet") {
		t.Errorf("report:\n%s", report)
	}

	_, errs, code = runCLI(t, "gameday", "down", "--game", game)
	if code != 0 {
		t.Fatalf("gameday down: exit %d\n%s", code, errs)
	}
	f := filters.NewArgs(filters.Arg("label", sandbox.LabelGame+"="+game))
	cs, _ := e.ContainerList(t.Context(), container.ListOptions{All: true, Filters: f})
	ns, _ := e.NetworkList(t.Context(), network.ListOptions{Filters: f})
	vs, _ := e.VolumeList(t.Context(), volume.ListOptions{Filters: f})
	if len(cs)+len(ns)+len(vs.Volumes) != 0 {
		t.Errorf("after gameday down: %d containers, %d networks, %d volumes of the game remain", len(cs), len(ns), len(vs.Volumes))
	}
	for _, tm := range teams {
		if insts, _ := e.Instances(t.Context(), gameday.SandboxName(game, tm)); len(insts) != 0 {
			t.Errorf("team %s still has %d containers", tm, len(insts))
		}
	}
	if _, err := e.VolumeInspect(t.Context(), bv.Name); err != nil {
		t.Errorf("gameday down removed another sandbox's volume: %v", err)
	}
}
