// Package compose tests compose/docker-compose.yml: the shop started by docker-compose from the images
// `sandbox images` builds.
package compose

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/sandbox-labs/sandbox/internal/testenv"
	"github.com/sandbox-labs/sandbox/sandbox"
)

const composeFile = "docker-compose.yml"

// composeCmd finds docker-compose (v1, Debian's package) or the v2 plugin.
func composeCmd(t *testing.T) []string {
	t.Helper()
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	if out, err := exec.Command("docker", "compose", "version").CombinedOutput(); err == nil && bytes.Contains(out, []byte("version")) {
		return []string{"docker", "compose"}
	}
	testenv.Missing(t, "docker-compose not installed (apt-get install docker-compose)", nil)
	return nil
}

// composeVersion returns the major version: v1 has no `up --wait`.
func composeVersion(t *testing.T, cmd []string) int {
	out, err := exec.Command(cmd[0], append(cmd[1:], "version", "--short")...).Output()
	if err != nil {
		return 1
	}
	m := regexp.MustCompile(`v?(\d+)\.`).FindSubmatch(out)
	if m == nil {
		return 1
	}
	v, _ := strconv.Atoi(string(m[1]))
	return v
}

type project struct {
	cmd  []string
	name string
	env  []string
}

func (p project) run(ctx context.Context, args ...string) (string, error) {
	full := append(append(append([]string(nil), p.cmd[1:]...), "-p", p.name, "-f", composeFile), args...)
	c := exec.CommandContext(ctx, p.cmd[0], full...)
	c.Env = append(os.Environ(), p.env...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err := c.Run()
	return out.String(), err
}

// TestIntegrationComposeUp builds the images with the sandbox library, starts the stack with docker-compose
// and checks the gateway serves the catalog through its published loopback port.
func TestIntegrationComposeUp(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test: needs a Docker engine and docker-compose (skipped under -short)")
	}
	cmd := composeCmd(t)
	e, err := sandbox.Connect(context.Background())
	if err != nil {
		testenv.Missing(t, "end-to-end test: needs a Docker engine", err)
	}
	t.Cleanup(func() { e.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	b := make([]byte, 2)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	prefix := "compose-" + id // image prefix and io.sandbox.name
	p := project{cmd: cmd, name: "sandbox-compose-" + id}

	start := time.Now()
	pgRef, err := e.PrepareImages(ctx, prefix, sandbox.DefaultSettings(), func(s string) { t.Log(s) })
	if err != nil {
		t.Fatalf("images: %v", err)
	}
	t.Logf("measure: images ready in %s", time.Since(start).Round(time.Millisecond))
	p.env = []string{"SANDBOX_IMAGE_PREFIX=" + prefix, "POSTGRES_IMAGE=" + pgRef, "SANDBOX_NAME=" + prefix,
		"SANDBOX_COMPOSE_TEST=true"}

	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if t.Failed() {
			out, _ := p.run(cctx, "ps")
			t.Logf("compose ps at failure:\n%s", out)
			out, _ = p.run(cctx, "logs", "--no-color", "--tail", "20")
			t.Logf("compose logs at failure:\n%s", out)
		}
		if out, err := p.run(cctx, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
		_ = e.RemoveSandboxImagesOf(cctx, prefix)
	})

	start = time.Now()
	args := []string{"up", "-d"}
	if composeVersion(t, cmd) >= 2 {
		args = append(args, "--wait")
	}
	if out, err := p.run(ctx, args...); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}
	upReturned := time.Since(start)

	out, err := p.run(ctx, "port", "gateway", "8080")
	if err != nil {
		t.Fatalf("compose port gateway: %v\n%s", err, out)
	}
	hostPort := strings.TrimSpace(out)
	if !strings.HasPrefix(hostPort, "127.0.0.1:") {
		t.Fatalf("gateway published on %q, want 127.0.0.1 only", hostPort)
	}

	// docker-compose 1.x returns once the last containers are started, not healthy: poll (bounded).
	var status int
	var body string
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		status, body, err = get(ctx, "http://"+hostPort+"/api/catalog")
		if err == nil && status == http.StatusOK {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if status != http.StatusOK {
		t.Fatalf("GET /api/catalog via the gateway: %d %v %.200s", status, err, body)
	}
	if !strings.Contains(body, "products") {
		t.Errorf("catalog body %.200q has no products", body)
	}
	t.Logf("measure: compose up returned in %s, gateway served /api/catalog 200 after %s",
		upReturned.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// db-init ran the migrations and exited 0; every container runs as the sandbox does.
	checkContainers(ctx, t, e, prefix)
}

func get(ctx context.Context, url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := testHTTP.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b), nil
}

func checkContainers(ctx context.Context, t *testing.T, e *sandbox.Engine, name string) {
	t.Helper()
	list, err := e.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", "io.sandbox.managed=true"), filters.Arg("label", "io.sandbox.name="+name),
		filters.Arg("label", "io.sandbox.test=true"))})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range list {
		svc := c.Labels["io.sandbox.service"]
		seen[svc] = true
		ins, err := e.ContainerInspect(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		for port, bindings := range ins.HostConfig.PortBindings {
			for _, b := range bindings {
				if b.HostIP != "127.0.0.1" {
					t.Errorf("%s publishes %s on %q, want 127.0.0.1 only", svc, port, b.HostIP)
				}
			}
		}
		if ins.HostConfig.Memory == 0 {
			t.Errorf("%s has no memory limit", svc)
		}
		switch svc {
		case "postgres":
		case "db-init":
			if ins.State.Running || ins.State.ExitCode != 0 {
				t.Errorf("db-init: running %v exit %d, want completed with 0", ins.State.Running, ins.State.ExitCode)
			}
		default:
			if !ins.HostConfig.ReadonlyRootfs || ins.Config.User != "65534:65534" {
				t.Errorf("%s: read-only %v user %q, want read-only as 65534:65534", svc, ins.HostConfig.ReadonlyRootfs, ins.Config.User)
			}
			if ins.State.Health == nil || ins.State.Health.Status == "unhealthy" {
				t.Errorf("%s: health %+v", svc, ins.State.Health)
			}
		}
	}
	for _, want := range append([]string{"postgres", "db-init"}, sandbox.Roles...) {
		if !seen[want] {
			t.Errorf("no %s container labelled for %s (have %v)", want, name, seen)
		}
	}
}
