package engine

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"
)

// fakeContainers plays a container through a list of states, one per inspect, repeating the last.
type fakeContainers struct {
	client.ContainerAPIClient
	states   []container.InspectResponse
	inspects int
	logs     string
}

func (f *fakeContainers) ContainerInspect(context.Context, string) (container.InspectResponse, error) {
	i := min(f.inspects, len(f.states)-1)
	f.inspects++
	return f.states[i], nil
}

func (f *fakeContainers) ContainerLogs(context.Context, string, container.LogsOptions) (io.ReadCloser, error) {
	// The engine multiplexes stdout/stderr with an 8-byte header per frame.
	body := []byte(f.logs)
	hdr := []byte{1, 0, 0, 0, byte(len(body) >> 24), byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
	return io.NopCloser(strings.NewReader(string(hdr) + string(body))), nil
}

func state(status string, health string) container.InspectResponse {
	st := &container.State{Status: status, Running: status == "running", ExitCode: 0}
	if status == "exited" {
		st.ExitCode = 3
	}
	if health != "" {
		st.Health = &container.Health{Status: health}
	}
	return container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{Name: "/s-orders-abc", State: st}}
}

func TestWaitForHealthGoesFromStartingToHealthy(t *testing.T) {
	f := &fakeContainers{states: []container.InspectResponse{state("running", "starting"), state("running", "starting"), state("running", "healthy")}}
	if err := Wait(t.Context(), f, "id", 10*time.Second, ForHealth()); err != nil {
		t.Fatal(err)
	}
	if f.inspects != 3 {
		t.Fatalf("inspected %d times, want 3", f.inspects)
	}
}

func TestWaitStopsAtOnceWhenTheContainerExits(t *testing.T) {
	f := &fakeContainers{states: []container.InspectResponse{state("running", "starting"), state("exited", "")}, logs: "panic: boom\n"}
	start := time.Now()
	err := Wait(t.Context(), f, "id", time.Minute, ForHealth())
	if err == nil || !strings.Contains(err.Error(), "exited (code 3)") || !strings.Contains(err.Error(), "panic: boom") {
		t.Fatalf("err = %v, want the exit code and the log tail", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("waited out the timeout for a container that had exited")
	}
}

func TestWaitTreatsARestartAsAnExit(t *testing.T) {
	restarted := state("running", "starting")
	restarted.RestartCount = 1
	f := &fakeContainers{states: []container.InspectResponse{restarted}}
	if err := Wait(t.Context(), f, "id", time.Minute, ForHealth()); err == nil || !strings.Contains(err.Error(), "restarted 1 time") {
		t.Fatalf("err = %v, want it to say the container was restarted", err)
	}
}

func TestWaitGivesUpOnUnhealthyAndTimesOutSayingWhatItLastSaw(t *testing.T) {
	f := &fakeContainers{states: []container.InspectResponse{state("running", "unhealthy")}}
	if err := Wait(t.Context(), f, "id", time.Minute, ForHealth()); err == nil || !strings.Contains(err.Error(), "unhealthy") {
		t.Fatalf("unhealthy: err = %v", err)
	}
	f = &fakeContainers{states: []container.InspectResponse{state("running", "starting")}}
	err := Wait(t.Context(), f, "id", 600*time.Millisecond, ForHealth())
	if err == nil || !strings.Contains(err.Error(), "not ready after") || !strings.Contains(err.Error(), "health starting") {
		t.Fatalf("timeout: err = %v, want 'not ready after' with the last health seen", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Wait(ctx, f, "id", time.Minute, ForHealth()); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err = %v", err)
	}
}

func TestForHTTPWaitsForA200(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls++; calls < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	f := &fakeContainers{states: []container.InspectResponse{state("running", "")}}
	if err := Wait(t.Context(), f, "id", 10*time.Second, ForHTTP(srv.URL)); err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls, want ready on the third", err, calls)
	}
}

func TestPublishedOnOnlyLoopback(t *testing.T) {
	ns := &container.NetworkSettings{NetworkSettingsBase: container.NetworkSettingsBase{Ports: nat.PortMap{
		"8080/tcp": {{HostIP: "0.0.0.0", HostPort: "1"}, {HostIP: "127.0.0.1", HostPort: "49153"}},
		"5432/tcp": {{HostIP: "0.0.0.0", HostPort: "2"}},
	}}}
	if got, err := PublishedOn(ns, "8080/tcp"); err != nil || got != "127.0.0.1:49153" {
		t.Fatalf("8080: %q %v", got, err)
	}
	if _, err := PublishedOn(ns, "5432/tcp"); err == nil {
		t.Fatal("a port published beyond loopback only must be an error")
	}
	if _, err := PublishedOn(nil, "8080/tcp"); err == nil {
		t.Fatal("no network settings must be an error")
	}
}

func TestBuildContextHoldsTheFiles(t *testing.T) {
	r, err := BuildContext(File{Name: "Dockerfile", Mode: 0o644, Body: []byte("FROM scratch\n")}, File{Name: "bin", Mode: 0o755, Body: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names = append(names, h.Name+":"+string(b))
	}
	if strings.Join(names, ",") != "Dockerfile:FROM scratch\n,bin:x" {
		t.Fatalf("context holds %q", names)
	}
	if a, b := RandomSuffix(3), RandomSuffix(3); len(a) != 6 || a == b {
		t.Fatalf("suffixes %q %q", a, b)
	}
}
