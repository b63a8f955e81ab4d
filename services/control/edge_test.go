package control

import (
	"testing"
	"time"
)

func TestWindowErrorRateAndP99(t *testing.T) {
	h := newHarness(t)
	gw := newInstance(t, "gateway", "v2.4.0")
	h.topo.set("gateway", gw)
	gw.serve("/api/checkout", "200", 500, 0.05) // before the first scrape: never part of a window
	h.tick()

	// 100 checkout requests: 85 ok and 15 failed; 98 fast (0.1s, the le=0.1 bucket) and 2 slow (0.45s).
	gw.serve("/api/checkout", "200", 83, 0.1)
	gw.serve("/api/checkout", "500", 15, 0.1)
	gw.serve("/api/checkout", "200", 2, 0.45)
	gw.serve("/api/search", "200", 50, 0.01)
	h.clock.Advance(10 * time.Second)
	h.tick()

	s := h.c.Status(30 * time.Second)
	co := endpoint(s, "/api/checkout")
	if co.Requests != 100 || co.Errors != 15 || !approx(co.ErrorRate, 0.15) || !approx(co.RPS, 10) {
		t.Fatalf("checkout figures %+v", co)
	}
	// rank 99 falls between le=0.4 (98) and le=0.45 (100): 0.4 + 0.05*(1/2) = 425ms.
	if !approx(co.P99Ms, 425) {
		t.Errorf("checkout p99 %.3f ms, want 425", co.P99Ms)
	}
	se := endpoint(s, "/api/search")
	if se.Requests != 50 || se.Errors != 0 || se.P99Ms <= 5 || se.P99Ms > 10 {
		t.Errorf("search figures %+v", se)
	}
	// Total: 150 requests, rank 148.5 between le=0.4 (148) and le=0.45 (150) -> 412.5ms.
	if s.Edge.Requests != 150 || s.Edge.Errors != 15 || !approx(s.Edge.ErrorRate, 0.1) || !approx(s.Edge.P99Ms, 412.5) ||
		!approx(s.Edge.RPS, 15) {
		t.Errorf("edge %+v", s.Edge)
	}
	if len(s.Endpoints) != 6 || s.Endpoints[0].Route != "/api/checkout" || s.Endpoints[5].Route != "/api/auth" {
		t.Errorf("endpoints not in status.Routes order: %+v", s.Endpoints)
	}

	// Ten seconds later with only healthy traffic: a 5s window sees none of the errors, 30s sees all.
	gw.serve("/api/checkout", "200", 40, 0.02)
	h.clock.Advance(10 * time.Second)
	h.tick()
	short := endpoint(h.c.Status(5*time.Second), "/api/checkout")
	if short.Requests != 40 || short.Errors != 0 || !approx(short.RPS, 4) {
		t.Errorf("5s window %+v", short)
	}
	long := endpoint(h.c.Status(30*time.Second), "/api/checkout")
	if long.Requests != 140 || long.Errors != 15 {
		t.Errorf("30s window %+v", long)
	}
}

func TestCounterResetsAndMissedScrapes(t *testing.T) {
	h := newHarness(t)
	a := newInstance(t, "gateway", "v2.3.0")
	h.topo.set("gateway", a)
	a.serve("/api/orders", "200", 1000, 0.1)
	h.tick()

	// The instance restarts at the same address: its counters start again from zero.
	a.restart()
	a.serve("/api/orders", "200", 5, 0.1)
	a.serve("/api/orders", "503", 5, 0.1)
	h.clock.Advance(2 * time.Second)
	h.tick()
	got := endpoint(h.c.Status(2*time.Second), "/api/orders")
	if got.Requests != 10 || got.Errors != 5 {
		t.Fatalf("after reset: %+v, want 10 requests, 5 errors", got)
	}

	// A second instance joins (rolling deploy) with its own traffic, and the first misses one scrape.
	b := newInstance(t, "gateway", "v2.4.0")
	h.topo.set("gateway", a, b)
	b.serve("/api/orders", "200", 20, 0.1)
	a.serve("/api/orders", "200", 7, 0.1)
	a.down.Store(true)
	h.clock.Advance(2 * time.Second)
	h.tick()
	a.down.Store(false)
	a.serve("/api/orders", "200", 3, 0.1)
	h.clock.Advance(2 * time.Second)
	h.tick()
	got = endpoint(h.c.Status(4*time.Second), "/api/orders")
	// b's 20 plus a's 7+3 since the reset scrape: the missed scrape must not re-count a's earlier 10.
	if got.Requests != 30 || got.Errors != 0 {
		t.Fatalf("rolling window %+v, want 30 requests, 0 errors", got)
	}
	if s := h.c.Status(30 * time.Second); s.Edge.Requests != 40 || s.Edge.Errors != 5 {
		t.Fatalf("whole window edge %+v, want 40 requests 5 errors", s.Edge)
	}
}

func TestQuantileEdgeCases(t *testing.T) {
	f := newFigures()
	if f.Quantile(0.99) != 0 {
		t.Error("no observations must give 0")
	}
	// Everything slower than the highest finite bound: report that bound.
	f.Buckets[1], f.Buckets[5] = 0, 0
	f.Count = 10
	if q := f.Quantile(0.99); q != 5 {
		t.Errorf("all in +Inf: %v, want 5", q)
	}
	// Everything in the first bucket: interpolate from zero.
	g := newFigures()
	g.Buckets[0.1], g.Buckets[0.2], g.Count = 100, 100, 100
	if q := g.Quantile(0.5); !approx(q, 0.05) {
		t.Errorf("median in first bucket %v, want 0.05", q)
	}
}
