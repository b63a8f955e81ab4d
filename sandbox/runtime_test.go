package sandbox

import (
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/services/status"
)

func TestFilterEnvKeepsSandboxSettingsOnly(t *testing.T) {
	got := filterEnv([]string{"PATH=/bin", "SANDBOX_NAME=x", "SANDBOX_SERVICE=orders", "SANDBOX_RELEASE={}", "SANDBOX_LOAD_RPS=9"})
	if strings.Join(got, " ") != "SANDBOX_NAME=x SANDBOX_LOAD_RPS=9" {
		t.Errorf("filterEnv = %v", got)
	}
}

func TestClassifySplitsAffectedRoutes(t *testing.T) {
	before := status.Snapshot{Endpoints: []status.Endpoint{{Route: "/api/checkout", ErrorRate: 0.001}, {Route: "/api/search", ErrorRate: 0.001}}}
	now := status.Snapshot{Endpoints: []status.Endpoint{{Route: "/api/checkout", ErrorRate: 0.8}, {Route: "/api/search", ErrorRate: 0.002}}}
	a, u := Classify(before, now)
	if strings.Join(a, ",") != "/api/checkout" || strings.Join(u, ",") != "/api/search" {
		t.Errorf("affected %v unaffected %v", a, u)
	}
}

func TestScenarioClock(t *testing.T) {
	at := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{0: "14:00", time.Minute: "14:15", -2 * time.Minute: "13:30", 4 * time.Minute: "15:00"} {
		if got := ScenarioClock(at, at.Add(d)); got != want {
			t.Errorf("ScenarioClock(+%s) = %s, want %s", d, got, want)
		}
	}
}

func TestRoleEnv(t *testing.T) {
	s := DefaultSettings()
	env := strings.Join(RoleEnv("team-1", "loadgen", s), " ")
	for _, want := range []string{"SANDBOX_NAME=team-1", "SANDBOX_LOAD_RPS=40", "SANDBOX_TARGET=http://gateway:8080", "SANDBOX_DATABASE_URL=postgres://"} {
		if !strings.Contains(env, want) {
			t.Errorf("loadgen env %q lacks %q", env, want)
		}
	}
	if gw := strings.Join(RoleEnv("x", "gateway", s), " "); strings.Contains(gw, "DATABASE_URL") || !strings.Contains(gw, "SANDBOX_NOISE_RATE=0.001") {
		t.Errorf("gateway env %q", gw)
	}
}
