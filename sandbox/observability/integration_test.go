package observability_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/sandbox-labs/sandbox/internal/testenv"
	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/sandbox/observability"
)

func requireEngine(t *testing.T) *sandbox.Engine {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs a Docker engine (skipped under -short)")
	}
	e, err := sandbox.Connect(context.Background())
	if err != nil {
		testenv.Missing(t, "end-to-end test: needs a Docker engine", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// promQuery runs an instant query and returns the result vector's values by their labels' JSON.
func promQuery(ctx context.Context, base, q string) ([]map[string]any, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(q), nil)
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []map[string]any `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(req, &body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, body.Error)
	}
	return body.Data.Result, nil
}

func getJSON(req *http.Request, v any) error {
	resp, err := testHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL.Path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func scalarOf(r []map[string]any) (float64, bool) {
	if len(r) != 1 {
		return 0, false
	}
	v, ok := r[0]["value"].([]any)
	if !ok || len(v) != 2 {
		return 0, false
	}
	s, _ := v[1].(string)
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// TestIntegrationPrometheusScrapesASandbox starts a real sandbox, runs Prometheus on its network with the
// dashboards' config and rules, and checks that it scrapes every role by DNS, computes the edge rate, and
// has loaded the alert rules.
func TestIntegrationPrometheusScrapesASandbox(t *testing.T) {
	e := requireEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	progress := func(s string) { t.Log(s) }

	start := time.Now()
	ref, err := observability.EnsurePrometheusImage(ctx, e.APIClient, progress)
	if err != nil {
		t.Fatalf("prometheus image: %v", err)
	}
	if ins, err := e.ImageInspect(ctx, ref); err == nil {
		t.Logf("measure: prometheus image %s ready in %s, size %.0f MB", ref, time.Since(start).Round(time.Second), float64(ins.Size)/1e6)
	}

	b := make([]byte, 2)
	_, _ = rand.Read(b)
	name := "obs-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := observability.Stop(cctx, e.APIClient, name); err != nil {
			t.Errorf("stop observability: %v", err)
		}
		if _, err := e.Down(cctx, name); err != nil {
			t.Errorf("down %s: %v", name, err)
		}
		_ = e.RemoveSandboxImagesOf(cctx, name)
	})
	if _, err := e.Up(ctx, sandbox.UpOptions{Name: name, Settings: sandbox.DefaultSettings()}, progress); err != nil {
		t.Fatalf("up: %v", err)
	}

	labels := map[string]string{"io.sandbox.test": "true"}
	start = time.Now()
	base, err := observability.Start(ctx, e.APIClient, name, sandbox.NetworkName(name), labels)
	if err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Logf("measure: prometheus ready at %s in %s", base, time.Since(start).Round(time.Millisecond))

	// Start again: the running one is reused, not a second one started.
	again, err := observability.Start(ctx, e.APIClient, name, sandbox.NetworkName(name), labels)
	if err != nil || again != base {
		t.Errorf("second Start = %q, %v; want the running %q", again, err, base)
	}
	list, err := e.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
		filters.Arg("label", "io.sandbox.name="+name), filters.Arg("label", "io.sandbox.service=prometheus"),
		filters.Arg("label", "io.sandbox.managed=true"), filters.Arg("label", "io.sandbox.test=true"))})
	if err != nil || len(list) != 1 {
		t.Errorf("prometheus containers labelled for %s: %d (%v), want 1", name, len(list), err)
	}

	// Poll (bounded) until the edge rate is visible: scrapes every 5 s, rate needs two samples.
	var rate float64
	var lastErr error
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		r, err := promQuery(ctx, base, `sum(rate(edge_requests_total[1m]))`)
		if v, ok := scalarOf(r); err == nil && ok && v > 0 {
			rate = v
			break
		}
		lastErr = err
		time.Sleep(2 * time.Second)
	}
	if rate <= 0 {
		t.Fatalf("sum(rate(edge_requests_total[1m])) never > 0 (last error %v)", lastErr)
	}
	t.Logf("edge rate seen by Prometheus: %.1f req/s", rate)

	// Every role is discovered by its alias and answers.
	r, err := promQuery(ctx, base, `count by (role) (up{job="sandbox"} == 1)`)
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, s := range r {
		if m, ok := s["metric"].(map[string]any); ok {
			roles = append(roles, fmt.Sprint(m["role"]))
		}
	}
	for _, role := range sandbox.Roles {
		if !slices.Contains(roles, role) {
			t.Errorf("role %s is not scraped (up roles: %v)", role, roles)
		}
	}

	// The rules are loaded, with the names the dashboard and the page refer to.
	var rules struct {
		Data struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name   string `json:"name"`
					Type   string `json:"type"`
					Health string `json:"health"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/rules", nil)
	if err := getJSON(req, &rules); err != nil {
		t.Fatal(err)
	}
	loaded := map[string]bool{}
	for _, g := range rules.Data.Groups {
		for _, rl := range g.Rules {
			loaded[rl.Name] = rl.Type == "alerting" && rl.Health != "err"
		}
	}
	for _, want := range []string{"HighErrorRate", "HighLatencyP99", "EndpointErrorRate", "VersionSkew", "TargetDown"} {
		if !loaded[want] {
			t.Errorf("alert rule %s not loaded and healthy: %+v", want, rules.Data.Groups)
		}
	}

	// The series the dashboard's core panels read exist in the real sandbox, with the labels they group by.
	for _, q := range []string{
		`count(edge_requests_total{route="/api/checkout"})`,
		`count(edge_request_duration_seconds_bucket{route="/api/catalog",le="0.4"})`,
		`count(app_build_info{service="checkout",version="v2.3.0"})`,
		`count(http_requests_total{service="orders"})`,
		`count(payments_charges_total)`,
		`count(orders_inserts_total)`,
		`count(loadgen_requests_total)`,
	} {
		r, err := promQuery(ctx, base, q)
		if v, ok := scalarOf(r); err != nil || !ok || v < 1 {
			t.Errorf("%s: %v %v, want at least one series", q, r, err)
		}
	}
	// A healthy v2.3.0 sandbox does not fire the edge alerts.
	if r, err := promQuery(ctx, base, `ALERTS{alertname=~"HighErrorRate|HighLatencyP99",alertstate="firing"}`); err != nil || len(r) != 0 {
		t.Errorf("edge alerts firing on a healthy sandbox: %v %v", r, err)
	}

	// Grafana: started only when its image is on the engine.
	gurl, err := observability.StartGrafana(ctx, e.APIClient, name, sandbox.NetworkName(name), labels)
	switch {
	case errors.Is(err, observability.ErrNoGrafana):
		t.Logf("grafana: %v", err)
	case err != nil:
		t.Errorf("grafana: %v", err)
	default:
		t.Logf("grafana at %s", gurl)
	}

	n, err := observability.Stop(ctx, e.APIClient, name)
	if err != nil || n < 1 {
		t.Errorf("Stop removed %d containers (%v), want at least prometheus", n, err)
	}
}
