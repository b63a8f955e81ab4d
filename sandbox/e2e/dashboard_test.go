package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sandbox-labs/sandbox/internal/testenv"
	"github.com/sandbox-labs/sandbox/services/status"
)

// findChromium returns a headless-capable browser on PATH. Outside CI a machine without one skips the test;
// CI installs Debian's chromium (.ci/run), so there a missing browser is a broken set-up.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "dashboard test: no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)", nil)
	return ""
}

// pageView is what the dashboard shows, read from its stable ids and data attributes.
type pageView struct {
	EdgeErrorRate float64            `json:"edge_error_rate"`
	EdgeText      string             `json:"edge_text"`
	Routes        map[string]float64 `json:"routes"`
	Versions      map[string]string  `json:"versions"`
	Healthy       map[string]bool    `json:"healthy"`
	Clock         string             `json:"clock"`
	PathPoints    int                `json:"path_points"`
	PathD         string             `json:"path_d"`
	YLabels       []string           `json:"y_labels"`
	Annotations   []string           `json:"annotations"`
	TimelineKinds []string           `json:"timeline_kinds"`
	Updated       string             `json:"updated"`
	LoadMs        float64            `json:"load_ms"`
	FirstDataMs   float64            `json:"first_data_ms"`
	DocBytes      float64            `json:"doc_bytes"`
	DocTransfer   float64            `json:"doc_transfer"`
	Foreign       []string           `json:"foreign"`
}

const readPage = `(() => {
  const q = s => document.querySelector(s), qa = s => [...document.querySelectorAll(s)];
  const v = {routes: {}, versions: {}, healthy: {}};
  v.edge_error_rate = +q("#edge-error-rate").dataset.value;
  v.edge_text = q("#edge-error-rate").textContent;
  for (const tr of qa("#endpoints tbody tr[data-route]"))
    v.routes[tr.dataset.route] = +tr.querySelector('[data-col="error_rate"]').dataset.value;
  for (const tr of qa("#versions tbody tr[data-service]")) {
    v.versions[tr.dataset.service] = tr.dataset.versions;
    v.healthy[tr.dataset.service] = tr.dataset.healthy === "true";
  }
  v.clock = q("#scenario-clock").textContent;
  const p = q("#chart-error svg path.line");
  v.path_points = p ? +p.dataset.points : 0;
  v.path_d = p ? p.getAttribute("d") : "";
  v.y_labels = qa("#chart-error svg > text").map(t => t.textContent);
  v.annotations = qa("#chart-error .annot").map(g => g.dataset.kind);
  v.timeline_kinds = qa("#timeline li[data-kind]").map(li => li.dataset.kind);
  v.updated = document.body.dataset.updated || "";
  const nav = performance.getEntriesByType("navigation")[0];
  v.load_ms = nav.loadEventEnd - nav.startTime;
  v.first_data_ms = +(document.body.dataset.firstDataMs || 0);
  v.doc_bytes = nav.decodedBodySize;
  v.doc_transfer = nav.transferSize;
  // Everything must come from the control room itself: no CDN, no fonts, nothing a training room lacks.
  v.foreign = performance.getEntriesByType("resource").map(r => r.name).filter(n => !n.startsWith(location.origin));
  return v;
})()`

// TestIntegrationDashboard opens the control room's web dashboard in headless Chromium during the incident
// and checks that it shows the same live figures as `sandbox status`.
func TestIntegrationDashboard(t *testing.T) {
	e := requireEngine(t)
	browser := findChromium(t)
	t.Parallel()
	name := newSandbox(t, e, "dash")
	mustCLI(t, "up", "--name", name, "--baseline", baseline())
	waitStatus(t, name, "30s", 4*time.Minute, "the v2.4.0 spike at the edge", func(s status.Snapshot) bool {
		return s.Edge.ErrorRate > 0.05
	})

	url := strings.TrimSpace(mustCLI(t, "dashboard", "--name", name))
	if !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/$`).MatchString(url) {
		t.Fatalf("sandbox dashboard printed %q, want the control room's http://127.0.0.1:<port>/", url)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser),
		chromedp.NoSandbox, // Chromium refuses to run as root (CI) without it
		chromedp.WindowSize(1440, 1000), chromedp.Flag("hide-scrollbars", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelB()
	// The first Run starts the browser and owns its lifetime, so it runs without a deadline.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", browser, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	before := statusJSON(t, name, "30s")
	err := chromedp.Do(ctx,
		chromedp.Navigate(url),
		// Live data, a drawn chart and the rollout's deploy mark: the page has read all five APIs.
		voidPoll(`document.body.dataset.ready === "true" &&
			document.querySelectorAll("#endpoints tbody tr[data-route]").length >= 6 &&
			document.querySelector("#chart-error .annot[data-kind=deploy_started]") !== null`),
	)
	if err != nil {
		t.Fatalf("dashboard at %s did not render: %v", url, err)
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[pageView](readPage))
	if err != nil {
		t.Fatalf("read dashboard: %v", err)
	}
	after := statusJSON(t, name, "30s")

	// The page polls the same 30 s window as the CLI: its figure lies between the two snapshots bracketing
	// the read, give or take a few points of drift.
	lo := math.Min(before.Edge.ErrorRate, after.Edge.ErrorRate) - 0.03
	hi := math.Max(before.Edge.ErrorRate, after.Edge.ErrorRate) + 0.03
	if v.EdgeErrorRate < lo || v.EdgeErrorRate > hi || v.EdgeErrorRate < 0.05 {
		t.Errorf("page edge error rate %.4f (%q), status says %.4f then %.4f", v.EdgeErrorRate, v.EdgeText,
			before.Edge.ErrorRate, after.Edge.ErrorRate)
	}
	if !regexp.MustCompile(`^\d+(\.\d+)?%$`).MatchString(v.EdgeText) {
		t.Errorf("edge error rate shown as %q, want a percentage", v.EdgeText)
	}
	for _, route := range status.Routes {
		got, ok := v.Routes[route]
		if !ok {
			t.Errorf("endpoint table has no row for %s (rows %v)", route, v.Routes)
			continue
		}
		b, a := endpoint(before, route).ErrorRate, endpoint(after, route).ErrorRate
		if got < math.Min(a, b)-0.1 || got > math.Max(a, b)+0.1 {
			t.Errorf("%s: page error rate %.3f, status %.3f then %.3f", route, got, b, a)
		}
	}
	for _, role := range []string{"checkout", "orders", "payments"} {
		if v.Versions[role] != "v2.4.0" || !v.Healthy[role] {
			t.Errorf("%s: page shows versions %q healthy %v, want v2.4.0 healthy", role, v.Versions[role], v.Healthy[role])
		}
	}
	for _, role := range []string{"gateway", "catalog", "auth"} {
		if v.Versions[role] != strings.Join(service(after, role).Versions, ",") {
			t.Errorf("%s: page shows %q, status %v", role, v.Versions[role], service(after, role).Versions)
		}
	}
	if !regexp.MustCompile(`^\d\d:\d\d$`).MatchString(v.Clock) {
		t.Errorf("scenario clock shows %q, want HH:MM", v.Clock)
	}
	if v.PathPoints < 5 || strings.Count(v.PathD, "L") < 4 {
		t.Errorf("error-rate chart: %d points, path %.80q; want a line through the series", v.PathPoints, v.PathD)
	}
	if !slices.Contains(v.YLabels, "5%") && !slices.Contains(v.YLabels, "10%") {
		t.Errorf("error-rate chart y axis %v: want percentage ticks", v.YLabels)
	}
	if !slices.Contains(v.Annotations, "deploy_started") {
		t.Errorf("chart annotations %v: want the v2.4.0 deploy marked", v.Annotations)
	}
	if !slices.Contains(v.TimelineKinds, "deploy_started") || !slices.Contains(v.TimelineKinds, "spike_start") {
		t.Errorf("timeline kinds %v: want the deploy and the spike", v.TimelineKinds)
	}
	if len(v.Foreign) > 0 {
		t.Errorf("dashboard loaded resources from elsewhere: %v", v.Foreign)
	}

	// Live: the page moves on by itself (the control room scrapes every 2 s).
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](fmt.Sprintf(`document.body.dataset.updated !== %q`, v.Updated),
		chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Errorf("dashboard did not refresh after %s: %v", v.Updated, err)
	}

	// A second load shows the page's own cost once the browser has warmed up.
	if err := chromedp.Do(ctx, chromedp.Reload(), voidPoll(`document.body.dataset.ready === "true"`)); err != nil {
		t.Fatalf("reload dashboard: %v", err)
	}
	warm, err := chromedp.Run(ctx, chromedp.Evaluate[pageView](readPage))
	if err != nil {
		t.Fatalf("read reloaded dashboard: %v", err)
	}

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("E2E_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "dashboard-"+name+".png")
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("dashboard %s: document %.1f KB (%.1f KB transferred); first load: load event %.0f ms, live figures %.0f ms; "+
		"reload: load event %.0f ms, live figures %.0f ms; screenshot %s (%d KB)",
		url, v.DocBytes/1024, v.DocTransfer/1024, v.LoadMs, v.FirstDataMs, warm.LoadMs, warm.FirstDataMs, file, len(shot)/1024)
}

func voidPoll(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(90*time.Second))(ctx, t)
		return chromedp.Void{}, err
	}
}
