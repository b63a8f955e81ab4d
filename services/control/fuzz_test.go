package control

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/status"
)

// FuzzPostEvent: whatever body the write API gets (with the right token), it answers with a client error or
// stores an event the control room vouches for: its own seq, time and chain, a valid kind and actor, never an
// observed-only kind. It never panics and never answers 5xx for bad input.
func FuzzPostEvent(f *testing.F) {
	for _, s := range []string{`{"kind":"command","detail":"sandbox status"}`, `{"kind":"data_loss"}`,
		`{"kind":"hint","actor":"trainee","at":"2020-01-01T00:00:00Z","seq":5,"hash":"x","prev":"y","data":{"level":"1"}}`,
		`{"kind":"answer","data":{"answers":"{}"}}`, `{"kind":"Odd Kind"}`, `{"actor":"observed","kind":"command"}`,
		`[]`, `null`, `{"kind":1}`, `{"kind":"command","data":{"a":null}}`, "\x00", `{"kind":"command"}{"kind":"x"}`} {
		f.Add([]byte(s))
	}
	c, err := New(Options{Name: "fuzz", DataDir: f.TempDir(), Discover: (&fakeTopology{}).discover,
		TokenDigest: status.TokenDigest(testSecret)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close() })
	c.guard.limiter = rate.NewLimiter(rate.Inf, 0) // the limit is tested elsewhere; here every input is judged
	s := platform.NewServer(platform.Config{Service: "control", Env: func(string) string { return "" }}, zap.NewNop())
	c.Mount(s)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/api/events", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(status.AuthHeader, status.AuthScheme+testSecret)
		rec := httptest.NewRecorder()
		s.Mux.ServeHTTP(rec, req)
		switch {
		case rec.Code == http.StatusCreated:
			var e status.Event
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("201 with an undecodable event: %v", err)
			}
			if e.Seq <= 0 || e.At.IsZero() || e.Hash == "" || status.ObservedOnly(e.Kind) || !kindPattern.MatchString(e.Kind) ||
				!slices.Contains(PostActors, e.Actor) || status.ChainHash(e) != e.Hash {
				t.Fatalf("stored an event the control room cannot vouch for: %+v", e)
			}
		case rec.Code >= 400 && rec.Code < 500, rec.Code == http.StatusInsufficientStorage:
		default:
			t.Fatalf("answered %d to %q: %s", rec.Code, body, rec.Body.String())
		}
	})
}

// FuzzReadJSONLines: a torn, garbled or huge events file never makes the control room fail to start; it
// keeps every line that decodes.
func FuzzReadJSONLines(f *testing.F) {
	f.Add([]byte(`{"seq":1,"kind":"command"}` + "\n" + `{"seq":2,"kin`))
	f.Add([]byte("\n\n\x00{}\n[1,2]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "events.jsonl"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		tl, err := OpenTimeline(dir, nil)
		if err != nil {
			if !strings.Contains(err.Error(), "read events.jsonl") {
				t.Fatalf("open: %v", err)
			}
			return
		}
		_ = tl.Close()
	})
}
