package control

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/status"
)

func TestDNSDiscoverer(t *testing.T) {
	lookup := func(ctx context.Context, host string) ([]string, error) {
		switch host {
		case "orders":
			return []string{"172.20.0.9", "172.20.0.5"}, nil
		case "gateway":
			return []string{"172.20.0.2"}, nil
		}
		return nil, errors.New("no such host")
	}
	m := DNSDiscoverer(lookup, "8080")(context.Background())
	if len(m) != 2 || len(m["orders"]) != 2 || m["orders"][0] != "172.20.0.5:8080" || m["gateway"][0] != "172.20.0.2:8080" {
		t.Fatalf("discovered %v", m)
	}
}

// Run as the container runs it: env config, static discovery, a data dir, shutdown on cancel.
func TestRunServesAndPersists(t *testing.T) {
	gw := newInstance(t, "gateway", "v2.4.0")
	gw.serve("/api/search", "200", 10, 0.01)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String() // held and handed to Run: no window for another process to take the port
	dir := t.TempDir()
	env := map[string]string{"SANDBOX_NAME": "run", "SANDBOX_LISTEN": addr, "SANDBOX_DATA_DIR": dir,
		"SANDBOX_SCRAPE_INTERVAL": "50ms", "SANDBOX_DISCOVERY_STATIC": "gateway=" + gw.addr(),
		"SANDBOX_SCENARIO": `{"deploy_at":"","factor":15}`, status.ControlTokenEnv: status.TokenDigest(testSecret)}
	cfg, err := platform.LoadConfig("control", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()

	base := "http://" + addr
	var snap status.Snapshot
	deadline := time.Now().Add(20 * time.Second)
	for {
		snap = status.Snapshot{}
		var pts []Point
		if code := getStatus(base, &snap); code == 200 && len(snap.Services) > 0 && snap.Services[0].Healthy &&
			getJSON(t, base+"/api/series", &pts) == 200 && len(pts) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway never seen healthy with a series point: %+v", snap)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if snap.Name != "run" || snap.Services[0].Versions[0] != "v2.4.0" {
		t.Fatalf("snapshot %+v", snap)
	}
	var ev status.Event
	if code := postJSON(t, base+"/api/events", `{"kind":"command","detail":"sandbox status"}`, &ev); code != 201 {
		t.Fatalf("post event %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
	for _, f := range []string{"events.jsonl", "state.json", "ring.json", "series.jsonl"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not persisted: %v", f, err)
		}
	}
	tl, err := OpenTimeline(dir, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	if evs := tl.Events(ev.Seq - 1); len(evs) == 0 || evs[0].Detail != "sandbox status" {
		t.Fatalf("posted event not in the record: %+v", evs)
	}
}

func getStatus(base string, v *status.Snapshot) int {
	resp, err := testHTTP.Get(base + "/api/status?window=30s")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return resp.StatusCode
	}
	if err := jsonDecode(resp.Body, v); err != nil {
		return 0
	}
	return 200
}
