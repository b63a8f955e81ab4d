package control

import (
	"net/http"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

func openAttempt(t *testing.T, dir string, attempt int, clock *fakeClock) *Controller {
	t.Helper()
	c, err := New(Options{Name: "t", DataDir: dir, Discover: (&fakeTopology{}).discover, Now: clock.Now, Attempt: attempt,
		TokenDigest: status.TokenDigest(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestResetArchivesTheRecord: a control room started for a later attempt keeps the earlier record, whole and
// verifiable, as a past attempt, and starts a fresh chain with a fresh baseline and scenario; restarting it
// for the same attempt archives nothing more.
func TestResetArchivesTheRecord(t *testing.T) {
	dir, clock := t.TempDir(), newClock()
	c := openAttempt(t, dir, 0, clock)
	for _, ev := range []status.Event{
		{Kind: status.EventSandboxUp, Actor: "cli"},
		{Kind: status.EventDeployStarted, Actor: "pipeline", Service: "orders,payments,checkout", To: "v2.4.0"},
		{Kind: status.EventAttemptEnded, Actor: "cli", Detail: "attempt ended: not passed, score 3/12"},
	} {
		if _, err := c.AddEvent(ev); err != nil {
			t.Fatal(err)
		}
	}
	c.baseline = &status.Baseline{P99Ms: 190, Frozen: true}
	if err := c.SetScenario(Scenario{DeployAt: clock.Now(), Factor: 15}); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	clock.Advance(time.Minute)
	c = openAttempt(t, dir, 2, clock)
	if evs := c.Timeline().Events(0); len(evs) != 0 {
		t.Fatalf("attempt 2 starts with %d events of attempt 1", len(evs))
	}
	if c.baseline != nil || !c.Scenario().DeployAt.IsZero() {
		t.Errorf("attempt 2 kept attempt 1's baseline %+v or scenario %+v", c.baseline, c.Scenario())
	}
	ev, err := c.AddEvent(status.Event{Kind: status.EventSandboxUp, Actor: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 1 || ev.Prev != "" {
		t.Errorf("first event of attempt 2: seq %d prev %q, want a fresh chain", ev.Seq, ev.Prev)
	}
	if err := status.VerifyChain(c.Timeline().Events(0)); err != nil {
		t.Errorf("attempt 2's chain: %v", err)
	}
	a, err := ListAttempts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Current != 2 || len(a.Past) != 1 {
		t.Fatalf("attempts %+v, want current 2 and one past", a)
	}
	p := a.Past[0]
	if p.Attempt != 1 || p.Events != 3 || !p.Intact || !p.Shipped || !p.Graded || p.Verdict == "" {
		t.Errorf("past attempt %+v", p)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// A restart with the same SANDBOX_ATTEMPT (docker restart, a crash) is the same attempt.
	c = openAttempt(t, dir, 2, clock)
	defer c.Close()
	if n := len(c.Timeline().Events(0)); n != 1 {
		t.Errorf("after a restart attempt 2 has %d events, want 1", n)
	}
	if a, _ := ListAttempts(dir); len(a.Past) != 1 {
		t.Errorf("a restart archived again: %+v", a.Past)
	}

	srv := serveAPI(t, c)
	var got Attempts
	getJSON(t, srv.URL+"/api/attempts", &got)
	if got.Current != 2 || len(got.Past) != 1 || got.Past[0].Events != 3 {
		t.Errorf("GET /api/attempts = %+v", got)
	}
	var evs []status.Event
	getJSON(t, srv.URL+"/api/attempts/1/timeline", &evs)
	if len(evs) != 3 || status.VerifyChain(evs) != nil {
		t.Errorf("past timeline: %d events, chain %v", len(evs), status.VerifyChain(evs))
	}
	if code := write(t, http.MethodGet, srv.URL+"/api/attempts/7/timeline", "", nil); code != http.StatusNotFound {
		t.Errorf("unknown attempt: %d, want 404", code)
	}
}

// An edited archived record is reported, not hidden.
func TestPastAttemptEditedIsNotIntact(t *testing.T) {
	evs := []status.Event{status.Seal(status.Event{Seq: 1, Kind: "command"}, "")}
	evs = append(evs, status.Seal(status.Event{Seq: 2, Kind: "command"}, evs[0].Hash))
	evs[1].Detail = "edited"
	if p := summarise(1, evs); p.Intact || p.Problem == "" {
		t.Errorf("edited record summarised as %+v", p)
	}
}
