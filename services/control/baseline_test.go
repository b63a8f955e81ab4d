package control

import (
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// TestBaselineMeasuredBeforeTheDeployAndKept: the edge's pre-deploy p99 is what recovery is judged against
// on a busy host, so it must come from before the deploy, stay put afterwards and survive a restart.
func TestBaselineMeasuredBeforeTheDeployAndKept(t *testing.T) {
	h := newHarness(t)
	gw := newInstance(t, "gateway", "v2.3.0")
	h.topo.set("gateway", gw)
	h.tick()
	tickFor := func(d time.Duration, secs float64) {
		for range int(d / (2 * time.Second)) {
			gw.serve("/api/catalog", "200", 40, secs)
			h.clock.Advance(2 * time.Second)
			h.tick()
		}
	}
	tickFor(10*time.Second, 0.2)
	if b := h.c.Status(time.Minute).Baseline; b != nil {
		t.Fatalf("baseline after 10 s: %+v; want none until the window covers %s", b, minBaselineCoverage)
	}
	tickFor(60*time.Second, 0.2)
	b := h.c.Status(time.Minute).Baseline
	if b == nil || b.Frozen || b.P99Ms < 150 || b.P99Ms > 250 {
		t.Fatalf("baseline after 80 s at 200 ms: %+v", b)
	}
	// A deploy freezes it; the slower traffic after it does not move it.
	if _, err := h.c.AddEvent(status.Event{Kind: status.EventDeployStarted, Actor: "pipeline"}); err != nil {
		t.Fatal(err)
	}
	h.c.noteDeployEvent(status.EventDeployStarted)
	tickFor(60*time.Second, 0.9)
	after := h.c.Status(time.Minute)
	if after.Baseline == nil || !after.Baseline.Frozen || after.Baseline.P99Ms != b.P99Ms || after.Edge.P99Ms < 500 {
		t.Fatalf("baseline after the deploy %+v (edge p99 %.0f), want frozen at %.0f", after.Baseline, after.Edge.P99Ms, b.P99Ms)
	}
	h.reopen()
	if r := h.c.Status(time.Minute).Baseline; r == nil || r.P99Ms != b.P99Ms || !r.Frozen {
		t.Fatalf("baseline after a restart %+v", r)
	}
}

// A version change seen live (a deploy by plain docker) freezes the baseline too.
func TestBaselineFrozenByObservedVersionChange(t *testing.T) {
	h := newHarness(t)
	gw := newInstance(t, "gateway", "v2.3.0")
	orders := newInstance(t, "orders", "v2.3.0")
	h.topo.set("gateway", gw)
	h.topo.set("orders", orders)
	for range 40 {
		gw.serve("/api/orders", "200", 40, 0.2)
		h.clock.Advance(2 * time.Second)
		h.tick()
	}
	b := h.c.Status(time.Minute).Baseline
	if b == nil || b.Frozen {
		t.Fatalf("baseline %+v", b)
	}
	h.topo.set("orders", newInstance(t, "orders", "v2.4.0"))
	for range 40 {
		gw.serve("/api/orders", "200", 40, 0.9)
		h.clock.Advance(2 * time.Second)
		h.tick()
	}
	if len(h.events(status.EventVersionObserved)) == 0 {
		t.Fatal("version change not observed")
	}
	if a := h.c.Status(time.Minute).Baseline; a == nil || !a.Frozen || a.P99Ms > 250 {
		t.Fatalf("baseline after a docker deploy %+v, want frozen near 200 ms", a)
	}
}
