package control

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/status"
)

func serveAPI(t *testing.T, c *Controller) *httptest.Server {
	t.Helper()
	cfg := platform.Config{Service: "control", Env: func(string) string { return "" }}
	s := platform.NewServer(cfg, zap.NewNop())
	c.Mount(s)
	srv := httptest.NewServer(s.Mux)
	t.Cleanup(srv.Close)
	return srv
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := testHTTP.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("decode %s: %v: %s", url, err, b)
		}
	}
	return resp.StatusCode
}

// postJSON writes as the CLI does: JSON with the sandbox's token.
func postJSON(t *testing.T, url, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(status.AuthHeader, status.AuthScheme+testSecret)
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("decode %s: %v: %s", url, err, b)
		}
	}
	return resp.StatusCode
}

func TestRestartKeepsEventsSeriesAndBaseline(t *testing.T) {
	h := newHarness(t)
	gw := newInstance(t, "gateway", "v2.3.0")
	lg := newInstance(t, "loadgen", "v2.3.0")
	h.topo.set("gateway", gw)
	h.topo.set("loadgen", lg)
	h.tick()
	for range 5 {
		gw.serve("/api/payments", "200", 90, 0.2)
		gw.serve("/api/payments", "502", 10, 0.2)
		h.clock.Advance(2 * time.Second)
		h.tick()
	}
	lg.reg.Load().loadgen.WithLabelValues("/api/payments", "ok").Add(90)
	lg.reg.Load().loadgen.WithLabelValues("/api/payments", "error").Add(9)
	lg.reg.Load().loadgen.WithLabelValues("/api/payments", "dropped").Add(1)
	h.tick()
	if _, err := h.c.AddEvent(status.Event{Kind: status.EventDeployStarted, Actor: "cli", Service: "all", To: "v2.4.0"}); err != nil {
		t.Fatal(err)
	}
	before := h.c.Timeline().Events(0)
	points := h.c.Series(time.Time{})
	edge := h.c.Status(30 * time.Second).Edge
	if len(points) != 6 || len(before) < 2 || edge.Requests != 500 {
		t.Fatalf("before restart: %d points, %d events, edge %+v", len(points), len(before), edge)
	}
	if lgs := h.c.Status(30 * time.Second).Loadgen; lgs == nil || lgs.Sent != 100 || lgs.OK != 90 || lgs.Dropped != 1 {
		t.Fatalf("loadgen %+v", lgs)
	}

	h.reopen()
	after := h.c.Timeline().Events(0)
	if len(after) != len(before) || after[len(after)-1].Seq != before[len(before)-1].Seq ||
		!after[len(after)-1].At.Equal(before[len(before)-1].At) || after[len(after)-1].Kind != status.EventDeployStarted {
		t.Fatalf("events after restart %+v, before %+v", after, before)
	}
	if got := h.c.Series(time.Time{}); len(got) != len(points) || !got[5].T.Equal(points[5].T) || got[5].ErrorRate != points[5].ErrorRate {
		t.Fatalf("series after restart: %d points", len(got))
	}
	if e := h.c.Status(30 * time.Second).Edge; e.Requests != edge.Requests || e.Errors != edge.Errors {
		t.Fatalf("edge after restart %+v, want %+v", e, edge)
	}
	e, err := h.c.AddEvent(status.Event{Kind: status.EventCommand, Detail: "sandbox status"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != before[len(before)-1].Seq+1 {
		t.Fatalf("seq after restart %d, want %d", e.Seq, before[len(before)-1].Seq+1)
	}
	// The baseline survived too: same live state, so no new observed events.
	h.clock.Advance(2 * time.Second)
	h.tick()
	h.clock.Advance(2 * time.Second)
	h.tick()
	if n := len(h.c.Timeline().Events(e.Seq)); n != 0 {
		t.Fatalf("%d events after restart with unchanged state: %+v", n, h.c.Timeline().Events(e.Seq))
	}
	if n := len(h.events(EventObservedInitial)); n != 1 {
		t.Fatalf("%d observed_initial events, want 1", n)
	}
}

func TestAPI(t *testing.T) {
	h := newHarness(t)
	gw := newInstance(t, "gateway", "v2.3.0")
	h.topo.set("gateway", gw)
	h.tick()
	gw.serve("/api/auth", "200", 20, 0.01)
	h.clock.Advance(2 * time.Second)
	h.tick()
	srv := serveAPI(t, h.c)

	// Events: kind is required; seq, at and the chain are assigned by the control room.
	if code := postJSON(t, srv.URL+"/api/events", `{"actor":"cli"}`, nil); code != http.StatusBadRequest {
		t.Errorf("event without kind: %d", code)
	}
	if code := postJSON(t, srv.URL+"/api/events", `{not json`, nil); code != http.StatusBadRequest {
		t.Errorf("bad json: %d", code)
	}
	var ev status.Event
	if code := postJSON(t, srv.URL+"/api/events", `{"kind":"deploy_started","seq":99,"service":"all","from":"v2.3.0","to":"v2.4.0"}`, &ev); code != http.StatusCreated {
		t.Fatalf("post event: %d", code)
	}
	if ev.Seq == 99 || ev.Seq == 0 || !ev.At.Equal(h.clock.Now()) || ev.Actor != "cli" || ev.To != "v2.4.0" || ev.Hash == "" {
		t.Errorf("stored event %+v", ev)
	}
	// A client's time is ignored: the record's clock is the control room's.
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ev2 status.Event
	postJSON(t, srv.URL+"/api/events", `{"kind":"hint","actor":"trainee","at":"`+at.Format(time.RFC3339)+`","data":{"level":"1"}}`, &ev2)
	if ev2.Seq != ev.Seq+1 || !ev2.At.Equal(h.clock.Now()) || ev2.Data["level"] != "1" || ev2.Prev != ev.Hash {
		t.Errorf("second event %+v", ev2)
	}
	var tl []status.Event
	getJSON(t, srv.URL+"/api/timeline", &tl)
	if len(tl) < 2 || tl[len(tl)-1].Seq != ev2.Seq {
		t.Errorf("timeline %+v", tl)
	}
	getJSON(t, srv.URL+"/api/timeline?after="+itoa(ev.Seq), &tl)
	if len(tl) != 1 || tl[0].Kind != "hint" {
		t.Errorf("timeline after %d: %+v", ev.Seq, tl)
	}

	// deploy_started set the scenario clock: the deploy is 14:00, one wall minute later is 14:15.
	var sv scenarioView
	getJSON(t, srv.URL+"/api/scenario", &sv)
	if sv.DeployAt == nil || sv.Clock != "14:00" || sv.Factor != 15 {
		t.Errorf("scenario after deploy_started %+v", sv)
	}
	h.clock.Advance(time.Minute)
	h.tick()
	var snap status.Snapshot
	if code := getJSON(t, srv.URL+"/api/status?window=10s", &snap); code != 200 {
		t.Fatalf("status %d", code)
	}
	if snap.Scenario != "14:15" || snap.WindowS != 10 || snap.Name != "test" || len(snap.Services) != len(status.Roles) {
		t.Errorf("snapshot %+v", snap)
	}
	if code := getJSON(t, srv.URL+"/api/status?window=forever", nil); code != http.StatusBadRequest {
		t.Errorf("bad window: %d", code)
	}

	// Series: every point carries the scenario clock and per-route error rates; since filters.
	var pts []Point
	getJSON(t, srv.URL+"/api/series", &pts)
	if len(pts) != 2 || pts[0].Routes["/api/auth"] != 0 || len(pts[0].Routes) != 6 || !approx(pts[0].RPS, 10) {
		t.Fatalf("series %+v", pts)
	}
	if pts[1].Scenario != "14:15" {
		t.Errorf("last point scenario %q", pts[1].Scenario)
	}
	getJSON(t, srv.URL+"/api/series?since="+pts[0].T.Format(time.RFC3339), &pts)
	if len(pts) != 1 {
		t.Errorf("series since first point: %d points", len(pts))
	}
	if code := getJSON(t, srv.URL+"/api/series?since=yesterday", nil); code != http.StatusBadRequest {
		t.Errorf("bad since: %d", code)
	}

	// Scenario set explicitly: ten wall seconds before the deploy is 13:57:30 -> "13:57".
	deploy := h.clock.Now().Add(10 * time.Second)
	if code := postJSON(t, srv.URL+"/api/scenario", `{"deploy_at":"`+deploy.Format(time.RFC3339)+`"}`, &sv); code != 200 {
		t.Fatalf("post scenario %d", code)
	}
	if sv.Clock != "13:57" {
		t.Errorf("scenario before deploy %+v", sv)
	}
	if code := postJSON(t, srv.URL+"/api/scenario", `{"factor":-1}`, nil); code != http.StatusBadRequest {
		t.Errorf("negative factor: %d", code)
	}

	// No database configured.
	if code := getJSON(t, srv.URL+"/api/state", nil); code != http.StatusServiceUnavailable {
		t.Errorf("state without db: %d", code)
	}
	resp, err := testHTTP.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte("control room")) {
		t.Errorf("GET / %d %q", resp.StatusCode, b)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestScenarioClock(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	sc, err := ParseScenario(`{"deploy_at":"` + now.Add(-time.Minute).Format(time.RFC3339) + `","factor":15}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.Clock(now); got != "14:15" {
		t.Errorf("one minute after deploy: %s", got)
	}
	sc.DeployAt = now.Add(time.Minute)
	if got := sc.Clock(now); got != "13:45" {
		t.Errorf("one minute before deploy: %s", got)
	}
	if sc, _ := ParseScenario(""); sc.Clock(now) != "" || sc.Factor != DefaultFactor {
		t.Errorf("no scenario: %+v", sc)
	}
	if _, err := ParseScenario(`{"deploy_at":"soon"}`); err == nil {
		t.Error("bad deploy_at accepted")
	}
}

func TestParseStatic(t *testing.T) {
	m, err := ParseStatic("gateway=127.0.0.1:1, orders=127.0.0.1:2,orders=127.0.0.1:3")
	if err != nil {
		t.Fatal(err)
	}
	if len(m["gateway"]) != 1 || len(m["orders"]) != 2 || m["orders"][1] != "127.0.0.1:3" {
		t.Errorf("parsed %v", m)
	}
	for _, bad := range []string{"gateway", "gateway=nohost", "=127.0.0.1:1"} {
		if _, err := ParseStatic(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
