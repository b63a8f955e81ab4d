package control

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

// write sends one raw request to the API and returns its status code.
func write(t *testing.T, method, url, body string, hdr map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := testHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestWriteAPIRefusesForgery: the attempts of a trainee, a web page or another team that does not hold the
// sandbox's secret, and the forgeries the secret does not license, all change nothing in the record.
func TestWriteAPIRefusesForgery(t *testing.T) {
	h := newHarness(t)
	srv := serveAPI(t, h.c)
	good := func() map[string]string {
		return map[string]string{"Content-Type": "application/json", status.AuthHeader: status.AuthScheme + testSecret}
	}
	with := func(k, v string) map[string]string { m := good(); m[k] = v; return m }
	without := func(k string) map[string]string { m := good(); delete(m, k); return m }
	cmd := `{"kind":"command","actor":"trainee","detail":"sandbox status"}`
	big := `{"kind":"command","detail":"` + strings.Repeat("x", maxEventBytes) + `"}`
	huge := `{"kind":"answer","data":{"answers":"` + strings.Repeat("x", maxBigEventBytes) + `"}}`
	cases := []struct {
		name, path, body string
		hdr              map[string]string
		want             int
	}{
		{"no token (curl from the host)", "/api/events", cmd, without(status.AuthHeader), http.StatusUnauthorized},
		{"wrong token (another team's)", "/api/events", cmd, with(status.AuthHeader, status.AuthScheme+"other-team"), http.StatusUnauthorized},
		{"the digest itself as token", "/api/events", cmd, with(status.AuthHeader, status.AuthScheme+status.TokenDigest(testSecret)), http.StatusUnauthorized},
		{"text/plain body (a form's simple request)", "/api/events", cmd, with("Content-Type", "text/plain"), http.StatusUnsupportedMediaType},
		{"foreign origin (a web page)", "/api/events", cmd, with("Origin", "http://evil.example"), http.StatusForbidden},
		{"cross-site fetch", "/api/events", cmd, with("Sec-Fetch-Site", "cross-site"), http.StatusForbidden},
		{"rebound host name", "/api/events", cmd, with("Host", "evil.example:8080"), http.StatusForbidden},
		{"observed kind: data_loss", "/api/events", `{"kind":"data_loss","data":{"rows":"900"}}`, good(), http.StatusForbidden},
		{"observed kind: recovered", "/api/events", `{"kind":"recovered"}`, good(), http.StatusForbidden},
		{"observed kind: version_change", "/api/events", `{"kind":"version_change","service":"orders","to":"v2.4.0"}`, good(), http.StatusForbidden},
		{"observer as actor", "/api/events", `{"kind":"command","actor":"observed"}`, good(), http.StatusBadRequest},
		{"odd kind", "/api/events", `{"kind":"Spike Start!"}`, good(), http.StatusBadRequest},
		{"command over 8 KiB", "/api/events", big, good(), http.StatusRequestEntityTooLarge},
		{"answer over 64 KiB", "/api/events", huge, good(), http.StatusRequestEntityTooLarge},
		{"scenario without token", "/api/scenario", `{"factor":1}`, without(status.AuthHeader), http.StatusUnauthorized},
		{"scenario from a web page", "/api/scenario", `{"factor":1}`, with("Origin", "http://evil.example"), http.StatusForbidden},
	}
	before := len(h.c.Timeline().Events(0))
	scenario := h.c.Scenario()
	for _, c := range cases {
		if got := write(t, http.MethodPost, srv.URL+c.path, c.body, c.hdr); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	if n := len(h.c.Timeline().Events(0)); n != before {
		t.Errorf("refused writes changed the record: %d events, had %d", n, before)
	}
	if h.c.Scenario() != scenario {
		t.Errorf("refused writes changed the scenario: %+v", h.c.Scenario())
	}

	// What the CLI sends is accepted: from 127.0.0.1 (httptest), localhost, the alias, same-origin.
	for _, hdr := range []map[string]string{good(), with("Host", "localhost:1234"), with("Host", "control:8080"),
		with("Content-Type", "application/json; charset=utf-8")} {
		if got := write(t, http.MethodPost, srv.URL+"/api/events", cmd, hdr); got != http.StatusCreated {
			t.Errorf("CLI write with %v: %d", hdr, got)
		}
	}
	same := with("Origin", srv.URL)
	if got := write(t, http.MethodPost, srv.URL+"/api/events", cmd, same); got != http.StatusCreated {
		t.Errorf("same-origin write: %d", got)
	}
	answer := `{"kind":"answer","data":{"answers":"` + strings.Repeat("x", 20<<10) + `"}}`
	if got := write(t, http.MethodPost, srv.URL+"/api/events", answer, good()); got != http.StatusCreated {
		t.Errorf("20 KiB answer: %d", got)
	}
	// Reads stay open for the dashboard.
	if got := write(t, http.MethodGet, srv.URL+"/api/timeline", "", nil); got != http.StatusOK {
		t.Errorf("timeline read: %d", got)
	}
}

// A control room started without a token digest (not by `sandbox up`) takes no writes at all.
func TestWriteAPIClosedWithoutToken(t *testing.T) {
	c, err := New(Options{Name: "t", DataDir: t.TempDir(), Discover: (&fakeTopology{}).discover})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	srv := serveAPI(t, c)
	hdr := map[string]string{"Content-Type": "application/json", status.AuthHeader: status.AuthScheme + testSecret}
	if got := write(t, http.MethodPost, srv.URL+"/api/events", `{"kind":"command"}`, hdr); got != http.StatusUnauthorized {
		t.Errorf("write to a tokenless control room: %d", got)
	}
}

// TestWriteAPIRateLimited: a flood is cut off at the burst, so it cannot fill the container's memory.
func TestWriteAPIRateLimited(t *testing.T) {
	h := newHarness(t)
	srv := serveAPI(t, h.c)
	hdr := map[string]string{"Content-Type": "application/json", status.AuthHeader: status.AuthScheme + testSecret}
	var limited, created int
	for range writeBurst + 50 {
		switch write(t, http.MethodPost, srv.URL+"/api/events", `{"kind":"command"}`, hdr) {
		case http.StatusTooManyRequests:
			limited++
		case http.StatusCreated:
			created++
		}
	}
	// The limiter refills at writeRate a second while the loop runs, so a few more than the burst pass.
	if limited == 0 || created < writeBurst || created > writeBurst+50-1 {
		t.Errorf("%d created, %d limited of %d writes; want the burst (%d) through and the rest limited", created, limited, writeBurst+50, writeBurst)
	}
}

// TestTimelineChainSurvivesRestartAndShowsEdits: the record is sealed across a restart, and an edit of
// events.jsonl (what a trainee with the volume could do) breaks the chain where it was made.
func TestTimelineChainSurvivesRestartAndShowsEdits(t *testing.T) {
	h := newHarness(t)
	for _, k := range []string{status.EventSandboxUp, status.EventCommand} {
		if _, err := h.c.AddEvent(status.Event{Kind: k, Actor: "cli"}); err != nil {
			t.Fatal(err)
		}
	}
	h.reopen()
	h.clock.Advance(time.Second)
	if _, err := h.c.AddEvent(status.Event{Kind: status.EventHint, Actor: "trainee"}); err != nil {
		t.Fatal(err)
	}
	evs := h.c.Timeline().Events(0)
	if err := status.VerifyChain(evs); err != nil || len(evs) != 3 {
		t.Fatalf("chain across a restart: %v (%d events)", err, len(evs))
	}
	path := filepath.Join(h.dir, "events.jsonl")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Promote the command to the trainee's and back-date it: the kind of edit that raised Triage.
	edited := strings.Replace(string(b), `"kind":"command","actor":"cli"`, `"kind":"command","actor":"trainee"`, 1)
	if edited == string(b) {
		t.Fatal("test did not find the event to edit")
	}
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	h.reopen()
	err = status.VerifyChain(h.c.Timeline().Events(0))
	if err == nil || !strings.Contains(err.Error(), "seq 2") {
		t.Errorf("edited record verified: %v", err)
	}
}
