package control

import (
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

func TestVersionChangeEvents(t *testing.T) {
	h := newHarness(t)
	gw := newInstance(t, "gateway", "v2.3.0")
	o1 := newInstance(t, "orders", "v2.3.0")
	h.topo.set("gateway", gw)
	h.topo.set("orders", o1)
	h.tick()
	h.clock.Advance(2 * time.Second)
	h.tick()
	if n := len(h.events(status.EventVersionObserved)); n != 0 {
		t.Fatalf("%d version_change events at startup, want 0", n)
	}
	init := h.events(EventObservedInitial)
	if len(init) != 1 || init[0].Data["version.orders"] != "v2.3.0" || init[0].Actor != "observed" {
		t.Fatalf("observed_initial %+v", init)
	}

	// Rolling deploy: a v2.4.0 instance joins the alias.
	o2 := newInstance(t, "orders", "v2.4.0")
	h.topo.set("orders", o1, o2)
	h.clock.Advance(2 * time.Second)
	h.tick()
	if n := len(h.events(status.EventVersionObserved)); n != 0 {
		t.Fatalf("version change reported after one scrape (debounce is %d)", versionDebounce)
	}
	h.clock.Advance(2 * time.Second)
	h.tick()
	evs := h.events(status.EventVersionObserved)
	if len(evs) != 1 || evs[0].Service != "orders" || evs[0].From != "v2.3.0" || evs[0].To != "v2.3.0,v2.4.0" {
		t.Fatalf("version events %+v", evs)
	}
	s := h.c.Status(30 * time.Second)
	if svc := s.Services[2]; svc.Service != "orders" || len(svc.Versions) != 2 || !svc.Healthy || len(svc.Instances) != 2 {
		t.Errorf("orders service %+v", svc)
	}

	// The old instance drains (unhealthy but still scraped), then leaves the alias.
	o1.healthy.Store(false)
	h.clock.Advance(2 * time.Second)
	h.tick()
	if s := h.c.Status(30 * time.Second); s.Services[2].Healthy {
		t.Error("orders healthy with a draining instance")
	}
	h.topo.set("orders", o2)
	for range 3 {
		h.clock.Advance(2 * time.Second)
		h.tick()
	}
	evs = h.events(status.EventVersionObserved)
	if len(evs) != 2 || evs[1].From != "v2.3.0,v2.4.0" || evs[1].To != "v2.4.0" {
		t.Fatalf("version events %+v", evs)
	}
	if len(h.events(EventObservedInitial)) != 1 {
		t.Error("observed_initial recorded more than once")
	}
	s = h.c.Status(30 * time.Second)
	if svc := s.Services[2]; len(svc.Versions) != 1 || svc.Versions[0] != "v2.4.0" || !svc.Healthy {
		t.Errorf("orders after rollout %+v", svc)
	}
	// Roles never discovered are listed, unhealthy; control lists itself.
	if svc := s.Services[3]; svc.Service != "payments" || svc.Healthy || len(svc.Versions) != 0 {
		t.Errorf("payments %+v", svc)
	}
	if svc := s.Services[8]; svc.Service != "control" || !svc.Healthy || svc.Versions[0] != "v2.3.0" {
		t.Errorf("control %+v", svc)
	}
}

func TestScrapeBlipIsNotAVersionChange(t *testing.T) {
	h := newHarness(t)
	o1 := newInstance(t, "orders", "v2.3.0")
	h.topo.set("orders", o1)
	h.tick()
	o1.down.Store(true)
	h.clock.Advance(2 * time.Second)
	h.tick()
	o1.down.Store(false)
	h.clock.Advance(2 * time.Second)
	h.tick()
	if n := len(h.events(status.EventVersionObserved)); n != 0 {
		t.Fatalf("a single failed scrape produced %d version events", n)
	}
}

// Healthy traffic, a 15% error plateau, then healthy traffic again, 80 requests per 2s tick.
func TestSpikeStartAndRecovered(t *testing.T) {
	h := newHarness(t)
	gw := newInstance(t, "gateway", "v2.3.0")
	h.topo.set("gateway", gw)
	h.tick()
	step := func(errs int) float64 {
		gw.serve("/api/checkout", "200", 80-errs, 0.1)
		gw.serve("/api/checkout", "500", errs, 0.3)
		h.clock.Advance(2 * time.Second)
		h.tick()
		return h.c.Status(SpikeWindow).Edge.ErrorRate
	}
	for range 10 {
		step(0)
	}
	if n := len(h.events(status.EventSpikeStart)); n != 0 {
		t.Fatalf("spike_start on healthy traffic")
	}
	var crossedAt time.Time
	for range 20 {
		if r := step(12); r > SpikeAbove && crossedAt.IsZero() {
			crossedAt = h.clock.Now()
		}
	}
	spikes := h.events(status.EventSpikeStart)
	if len(spikes) != 1 || !spikes[0].At.Equal(crossedAt) || spikes[0].Actor != "observed" {
		t.Fatalf("spike_start events %+v, want one at %v", spikes, crossedAt)
	}
	var underAt time.Time
	for range 30 {
		r := step(0)
		if r < RecoverBelow && underAt.IsZero() {
			underAt = h.clock.Now()
		}
		if rec := h.events(status.EventRecovered); len(rec) > 0 {
			if d := rec[0].At.Sub(underAt); d < RecoverSustain || d >= RecoverSustain+2*time.Second {
				t.Fatalf("recovered %v after going under 1%%, want the first scrape >= %v", d, RecoverSustain)
			}
			break
		}
	}
	if rec := h.events(status.EventRecovered); len(rec) != 1 {
		t.Fatalf("recovered events %+v", rec)
	}
	// A second spike is reported again.
	for range 10 {
		step(12)
	}
	if n := len(h.events(status.EventSpikeStart)); n != 2 {
		t.Fatalf("%d spike_start events after the second spike, want 2", n)
	}
}

func TestRecoveryNeedsSustainedHealth(t *testing.T) {
	h := newHarness(t)
	gw := newInstance(t, "gateway", "v2.3.0")
	h.topo.set("gateway", gw)
	h.tick()
	step := func(errs int) {
		gw.serve("/api/orders", "200", 80-errs, 0.1)
		gw.serve("/api/orders", "500", errs, 0.1)
		h.clock.Advance(2 * time.Second)
		h.tick()
	}
	for range 10 {
		step(0)
	}
	for range 10 {
		step(16)
	}
	// Healthy long enough to fall under 1%, but errors return before 10s of it.
	for range 10 {
		step(0)
	}
	for range 3 {
		step(40)
	}
	if n := len(h.events(status.EventRecovered)); n != 0 {
		t.Fatalf("recovered without 10s under 1%%")
	}
	if n := len(h.events(status.EventSpikeStart)); n != 1 {
		t.Fatalf("%d spike_start events, want 1 (still in the first spike)", n)
	}
}

func TestStartupErrorsAreNotASpike(t *testing.T) {
	h := newHarness(t)
	gw := newInstance(t, "gateway", "v2.3.0")
	h.topo.set("gateway", gw)
	h.tick()
	// Upstreams still starting: half the first requests fail, then the shop settles.
	for i := range 15 {
		errs := 0
		if i < 3 {
			errs = 40
		}
		gw.serve("/api/catalog", "200", 80-errs, 0.1)
		gw.serve("/api/catalog", "502", errs, 0.1)
		h.clock.Advance(2 * time.Second)
		h.tick()
	}
	if n := len(h.events(status.EventSpikeStart)); n != 0 {
		t.Fatalf("startup errors recorded as a spike")
	}
}
