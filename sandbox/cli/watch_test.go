package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/services/status"
)

func TestRenderChartDrawsTheCardShapeWithMarkers(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	var series []sandbox.SeriesPoint
	for i := 0; i < 120; i++ {
		er := 0.001
		switch {
		case i >= 40 && i < 50:
			er = 0.015 * float64(i-39) // the ramp
		case i >= 50 && i < 100:
			er = 0.15 // the plateau
		}
		series = append(series, sandbox.SeriesPoint{T: t0.Add(time.Duration(i) * 2 * time.Second), ErrorRate: er})
	}
	evs := []status.Event{
		{At: t0.Add(80 * time.Second), Kind: status.EventDeployStarted},
		{At: t0.Add(81 * time.Second), Kind: status.EventMigration},
		{At: t0.Add(200 * time.Second), Kind: status.EventRollback},
	}
	out := RenderChart(series, evs, 80, 8)
	lines := strings.Split(out, "\n")
	if !strings.Contains(lines[0], "15.0") {
		t.Errorf("top of the y axis should be 15%%:\n%s", out)
	}
	var markers string
	for _, l := range lines {
		if strings.Contains(l, "D") && strings.Contains(l, "R") && !strings.Contains(l, "deploy") {
			markers = l
		}
	}
	if markers == "" || strings.Index(markers, "D") > strings.Index(markers, "R") || !strings.Contains(markers, "M") {
		t.Errorf("marker row should show D (then M) before R:\n%s", out)
	}
	for _, l := range lines {
		if len([]rune(l)) > 80 {
			t.Errorf("line wider than an 80-column terminal: %q", l)
		}
	}
	if got := RenderChart(series[:1], nil, 80, 8); !strings.Contains(got, "waiting") {
		t.Errorf("one point: %q", got)
	}
}

func TestPrintStatusShowsCrashRestarts(t *testing.T) {
	var b strings.Builder
	PrintStatus(&b, status.Snapshot{Name: "s", Services: []status.Service{
		{Service: "orders", Versions: []string{"v2.3.0"}, Healthy: true, Restarts: 2},
		{Service: "catalog", Versions: []string{"v2.3.0"}, Healthy: true},
	}})
	out := b.String()
	if !strings.Contains(out, "healthy (crashed, restarted 2×)") {
		t.Errorf("orders' restarts not shown:\n%s", out)
	}
	if strings.Count(out, "restarted") != 1 {
		t.Errorf("a service that never crashed is shown as restarted:\n%s", out)
	}
}
