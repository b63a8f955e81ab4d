package dashboards_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"

	"github.com/sandbox-labs/sandbox/dashboards"
	"github.com/sandbox-labs/sandbox/internal/testenv"
	"github.com/sandbox-labs/sandbox/sandbox"
	"github.com/sandbox-labs/sandbox/services/checkout"
	"github.com/sandbox-labs/sandbox/services/gateway"
	"github.com/sandbox-labs/sandbox/services/loadgen"
	"github.com/sandbox-labs/sandbox/services/orders"
	"github.com/sandbox-labs/sandbox/services/payments"
	"github.com/sandbox-labs/sandbox/services/platform"
	"github.com/sandbox-labs/sandbox/services/release"
)

// family is one exported metric family: its type and label names.
type family struct {
	histogram bool
	labels    map[string]bool
}

// recorder is a Registerer that registers for real and remembers what each collector describes.
type recorder struct {
	reg  *prometheus.Registry
	fams map[string]family
}

var descRE = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

func (r *recorder) describe(c prometheus.Collector, histogram bool) {
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			panic("unexpected Desc format: " + d.String())
		}
		f := family{histogram: histogram, labels: map[string]bool{}}
		for _, l := range strings.Split(m[2], ",") {
			if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
				f.labels[l] = true
			}
		}
		r.fams[m[1]] = f
	}
}

func (r *recorder) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	_, isHist := c.(*prometheus.HistogramVec)
	r.describe(c, isHist)
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *recorder) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

func testConfig(role string) platform.Config {
	return platform.Config{Service: role, Name: "test", Release: release.V240(release.AllFaults, 0),
		Listen: ":0", Env: func(string) string { return "" }}
}

// exported builds the real metric registries of every service that exports something the dashboards may
// use, and returns the families they register (counters with no samples yet included).
func exported(t *testing.T) map[string]family {
	t.Helper()
	r := &recorder{reg: prometheus.NewRegistry(), fams: map[string]family{}}
	m := platform.NewMetrics(testConfig("payments"))
	r.describe(m.Requests, false)
	r.describe(m.Duration, true)
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if _, ok := r.fams[mf.GetName()]; ok || len(mf.GetMetric()) == 0 {
			continue
		}
		f := family{labels: map[string]bool{}}
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			f.labels[lp.GetName()] = true
		}
		r.fams[mf.GetName()] = f
	}
	log := zap.NewNop()
	gateway.New(gateway.Config{}, r, log)
	loadgen.New(loadgen.Config{Target: "http://gateway:8080"}, r, log)
	checkout.New(testConfig("checkout"), log, nil, "http://orders:8080", r)
	orders.New(testConfig("orders"), log, nil, "http://payments:8080", http.DefaultClient, r)
	payments.New(testConfig("payments"), log, nil, "http://provider:8080", http.DefaultClient, r)
	return r.fams
}

// prometheusSeries are series Prometheus itself makes; ALERTS's labels include each rule's own labels.
var prometheusSeries = map[string]map[string]bool{
	"up":     {"job": true, "instance": true, "role": true},
	"ALERTS": {"alertname": true, "alertstate": true, "severity": true, "team": true, "route": true, "service": true},
}

// targetLabels are attached by the scrape config (prometheus.yml) to every scraped series.
var targetLabels = []string{"job", "instance", "role"}

// checkExpr reports every metric or label in expr that the services (or Prometheus) do not export.
func checkExpr(expr string, fams map[string]family) []string {
	p, err := parsePromQL(expr)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	known := map[string]bool{}
	for _, l := range targetLabels {
		known[l] = true
	}
	for _, s := range p.Selectors {
		if s.Name == "" {
			problems = append(problems, fmt.Sprintf("selector without a metric name in %q", expr))
			continue
		}
		labels, ok := labelsOf(s.Name, fams)
		if !ok {
			problems = append(problems, fmt.Sprintf("metric %s is not exported by any service (%q)", s.Name, expr))
			continue
		}
		for l := range labels {
			known[l] = true
		}
		for _, l := range s.Labels {
			if !labels[l] && !slices.Contains(targetLabels, l) {
				problems = append(problems, fmt.Sprintf("metric %s has no label %s (%q)", s.Name, l, expr))
			}
		}
	}
	for _, l := range p.Grouping {
		if !known[l] {
			problems = append(problems, fmt.Sprintf("grouping label %s is on none of the expression's metrics (%q)", l, expr))
		}
	}
	return problems
}

// labelsOf resolves a series name, including a histogram's _bucket/_sum/_count series.
func labelsOf(name string, fams map[string]family) (map[string]bool, bool) {
	if l, ok := prometheusSeries[name]; ok {
		return l, true
	}
	if f, ok := fams[name]; ok && !f.histogram {
		return f.labels, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		f, ok := fams[strings.TrimSuffix(name, suffix)]
		if !ok || !f.histogram || !strings.HasSuffix(name, suffix) {
			continue
		}
		out := map[string]bool{}
		for l := range f.labels {
			out[l] = true
		}
		if suffix == "_bucket" {
			out["le"] = true
		}
		return out, true
	}
	return nil, false
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(dashboards.FS, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type dashboard struct {
	UID         string `json:"uid"`
	Annotations struct {
		List []struct {
			Name       string `json:"name"`
			Expr       string `json:"expr"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		GridPos struct{ X, Y, W, H int } `json:"gridPos"`
		Targets []struct {
			RefID        string `json:"refId"`
			Expr         string `json:"expr"`
			LegendFormat string `json:"legendFormat"`
			Datasource   struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	var d dashboard
	if err := json.Unmarshal([]byte(readFile(t, dashboards.GrafanaDashboard)), &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	return d
}

// labeledExpr is an expression and where it came from, for messages.
type labeledExpr struct{ where, expr string }

func dashboardExprs(t *testing.T) []labeledExpr {
	d := loadDashboard(t)
	var out []labeledExpr
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, labeledExpr{fmt.Sprintf("panel %d %q", p.ID, p.Title), tg.Expr})
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out = append(out, labeledExpr{"annotation " + a.Name, a.Expr})
		}
	}
	return out
}

var ruleStartRE = regexp.MustCompile(`^\s*- (alert|record): *(\S+)`)
var exprRE = regexp.MustCompile(`^(\s*)expr: *(.*)$`)

// ruleExprs reads each rule's expr from alerts.yml: a one-line value or a `|` block. The count is checked
// against the rules, so a layout this reader does not follow fails instead of passing silently.
func ruleExprs(t *testing.T) []labeledExpr {
	t.Helper()
	lines := strings.Split(readFile(t, dashboards.AlertRules), "\n")
	var out []labeledExpr
	rules, rule := 0, ""
	for i := 0; i < len(lines); i++ {
		if m := ruleStartRE.FindStringSubmatch(lines[i]); m != nil {
			rules++
			rule = m[2]
			continue
		}
		m := exprRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		if v := strings.TrimSpace(m[2]); v != "|" && v != ">" {
			out = append(out, labeledExpr{"rule " + rule, v})
			continue
		}
		var block []string
		for i+1 < len(lines) && (strings.TrimSpace(lines[i+1]) == "" || len(lines[i+1])-len(strings.TrimLeft(lines[i+1], " ")) > len(m[1])) {
			i++
			block = append(block, strings.TrimSpace(lines[i]))
		}
		out = append(out, labeledExpr{"rule " + rule, strings.TrimSpace(strings.Join(block, " "))})
	}
	if len(out) != rules || rules == 0 {
		t.Fatalf("read %d exprs for %d rules in %s", len(out), rules, dashboards.AlertRules)
	}
	return out
}

func TestEveryMetricIsExported(t *testing.T) {
	fams := exported(t)
	// The contract's names (docs/ARCHITECTURE.md "Metrics") must all be registered by the code, or the
	// check below would be against the wrong list.
	for _, name := range []string{"http_requests_total", "http_request_duration_seconds", "app_build_info",
		"edge_requests_total", "edge_request_duration_seconds", "edge_upstream_retries_total", "loadgen_requests_total",
		"checkout_discount_validations_total", "orders_inserts_total", "payments_charges_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("the services do not register %s", name)
		}
	}
	exprs := append(ruleExprs(t), dashboardExprs(t)...)
	used := map[string]bool{}
	for _, e := range exprs {
		for _, p := range checkExpr(e.expr, fams) {
			t.Errorf("%s: %s", e.where, p)
		}
		p, _ := parsePromQL(e.expr)
		for _, s := range p.Selectors {
			used[s.Name] = true
		}
	}
	// The minimum: the edge metrics and the versions.
	for _, name := range []string{"edge_requests_total", "edge_request_duration_seconds_bucket", "app_build_info"} {
		if !used[name] {
			t.Errorf("no dashboard or rule uses %s", name)
		}
	}
}

func TestCheckExprRejectsUnknownNames(t *testing.T) {
	fams := exported(t)
	for expr, want := range map[string]string{
		`sum(rate(edge_request_total[1m]))`:                                 "metric edge_request_total",
		`sum by (endpoint) (rate(edge_requests_total[1m]))`:                 "grouping label endpoint",
		`rate(edge_requests_total{status="500"}[1m])`:                       "has no label status",
		`histogram_quantile(0.99, rate(edge_request_duration_seconds[1m]))`: "metric edge_request_duration_seconds is not",
		`rate(http_requests_total_bucket[1m])`:                              "metric http_requests_total_bucket",
	} {
		got := strings.Join(checkExpr(expr, fams), "; ")
		if !strings.Contains(got, want) {
			t.Errorf("checkExpr(%q) = %q, want a problem containing %q", expr, got, want)
		}
	}
	if p := checkExpr(`histogram_quantile(0.99, sum by (route, le) (rate(edge_request_duration_seconds_bucket{route="/api/checkout"}[1m])))`, fams); len(p) > 0 {
		t.Errorf("a valid expression was rejected: %v", p)
	}
}

// TestGatewayServesTheSeriesTheDashboardGroupsBy scrapes a real gateway (platform server + gateway routes, a
// stub catalog upstream) in-process and checks the edge series carry the labels the dashboard uses.
func TestGatewayServesTheSeriesTheDashboardGroupsBy(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Sandbox-Service", "catalog")
		w.Header().Set("X-Sandbox-Version", "v2.3.0")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"products":[]}`))
	}))
	defer upstream.Close()
	cfg := testConfig("gateway")
	srv := platform.NewServer(cfg, zap.NewNop())
	host := strings.TrimPrefix(upstream.URL, "http://")
	gateway.New(gateway.Config{Upstreams: map[string]string{"catalog": host}}, srv.Metrics.Registry, zap.NewNop()).Mount(srv)
	edge := httptest.NewServer(srv.Mux)
	defer edge.Close()

	resp, err := testHTTP.Get(edge.URL + "/api/catalog")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/catalog through the gateway: %s", resp.Status)
	}
	resp, err = testHTTP.Get(edge.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	want := map[string][]string{
		"edge_requests_total":           {"route", "code"},
		"edge_request_duration_seconds": {"route"},
		"app_build_info":                {"service", "version", "sdk_version"},
		"http_requests_total":           {"service", "route", "method", "code"},
	}
	for name, labels := range want {
		mf, ok := mfs[name]
		if !ok || len(mf.GetMetric()) == 0 {
			t.Errorf("/metrics has no %s", name)
			continue
		}
		got := map[string]string{}
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for _, l := range labels {
			if _, ok := got[l]; !ok {
				t.Errorf("%s has no label %s: %v", name, l, got)
			}
		}
	}
	if got := labelValue(mfs["edge_requests_total"], "route"); got != "/api/catalog" {
		t.Errorf("edge_requests_total route = %q, want the route family /api/catalog", got)
	}
	if mf := mfs["edge_request_duration_seconds"]; mf != nil && mf.GetMetric()[0].GetHistogram() == nil {
		t.Errorf("edge_request_duration_seconds is not a histogram (the dashboard reads its _bucket series)")
	}
}

func labelValue(mf *dto.MetricFamily, name string) string {
	if mf == nil || len(mf.GetMetric()) == 0 {
		return ""
	}
	for _, lp := range mf.GetMetric()[0].GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func TestScrapeConfigCoversEveryRole(t *testing.T) {
	cfg := readFile(t, dashboards.PrometheusConfig)
	m := regexp.MustCompile(`(?m)^\s*- names: \[([^\]]*)\]`).FindStringSubmatch(cfg)
	if m == nil {
		t.Fatalf("%s: no dns_sd_configs names list", dashboards.PrometheusConfig)
	}
	var names []string
	for _, n := range strings.Split(m[1], ",") {
		names = append(names, strings.TrimSpace(n))
	}
	sort.Strings(names)
	roles := slices.Clone(sandbox.Roles)
	sort.Strings(roles)
	if !slices.Equal(names, roles) {
		t.Errorf("scraped aliases %v, want every role %v", names, roles)
	}
	for _, want := range []string{"type: A", "port: 8080", "- " + dashboards.AlertRules} {
		if !strings.Contains(cfg, want) {
			t.Errorf("%s lacks %q", dashboards.PrometheusConfig, want)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" {
		t.Error("dashboard has no uid (provisioned dashboards need a stable one)")
	}
	ds := readFile(t, dashboards.GrafanaDatasource)
	if !strings.Contains(ds, "uid: "+dashboards.DatasourceUID) || !strings.Contains(ds, "url: http://prometheus:9090") {
		t.Errorf("%s does not define datasource uid %q at http://prometheus:9090", dashboards.GrafanaDatasource, dashboards.DatasourceUID)
	}
	if prov := readFile(t, dashboards.GrafanaProvider); !strings.Contains(prov, "path: "+dashboards.GrafanaDashboardDir) {
		t.Errorf("%s does not load %s", dashboards.GrafanaProvider, dashboards.GrafanaDashboardDir)
	}
	ids := map[int]bool{}
	type rect struct{ x, y, w, h int }
	var placed []rect
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Datasource.UID != dashboards.DatasourceUID {
			t.Errorf("panel %q uses datasource %q, want %q", p.Title, p.Datasource.UID, dashboards.DatasourceUID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != dashboards.DatasourceUID || tg.Expr == "" {
				t.Errorf("panel %q target %s: datasource %q expr %q", p.Title, tg.RefID, tg.Datasource.UID, tg.Expr)
			}
		}
		r := rect{p.GridPos.X, p.GridPos.Y, p.GridPos.W, p.GridPos.H}
		if r.w <= 0 || r.h <= 0 || r.x+r.w > 24 {
			t.Errorf("panel %q gridPos %+v is outside the 24-column grid", p.Title, r)
		}
		for _, o := range placed {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				t.Errorf("panel %q overlaps another at %+v", p.Title, o)
			}
		}
		placed = append(placed, r)
	}
	// What the issue asks for, by the queries that provide it.
	has := func(what string, ok func(expr, legend string) bool) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				if ok(tg.Expr, tg.LegendFormat) {
					return
				}
			}
		}
		t.Errorf("dashboard has no panel for %s", what)
	}
	has("error rate by endpoint", func(e, l string) bool {
		return strings.Contains(e, `edge_requests_total{code=~"5.."}`) && strings.Contains(e, "by (route)") && l == "{{route}}"
	})
	has("p99 by endpoint", func(e, l string) bool {
		return strings.Contains(e, "histogram_quantile(0.99") && strings.Contains(e, "by (route, le)") && l == "{{route}}"
	})
	has("running versions", func(e, l string) bool {
		return strings.Contains(e, "by (service, version") && strings.Contains(e, "app_build_info")
	})
	deploys := false
	for _, a := range d.Annotations.List {
		if strings.Contains(a.Expr, "app_build_info") {
			deploys = a.Datasource.UID == dashboards.DatasourceUID
		}
	}
	if !deploys {
		t.Error("dashboard has no deploy annotation from app_build_info on the Prometheus datasource")
	}
}

// promtool returns the promtool binary, or skips: it comes from Debian's prometheus package, which .ci/run
// installs; a developer machine without it still runs the rest.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Missing(t, "promtool not installed (apt-get install prometheus); skipping the config and rule checks", nil)
	}
	return p
}

func runPromtool(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtool(t *testing.T) {
	bin := promtool(t)
	// Run on the embedded bytes (what Prometheus gets), laid out in a temp dir like in the container.
	dir := t.TempDir()
	for _, name := range []string{dashboards.PrometheusConfig, dashboards.AlertRules} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(readFile(t, name)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, err := os.ReadFile("alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	// The dashboard's queries, as recording rules: promtool parses them with Prometheus's own parser.
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range dashboardExprs(t) {
		q, _ := json.Marshal(e.expr) // a JSON string is a valid YAML scalar
		fmt.Fprintf(&rules, "      - record: dashboard_query_%d\n        expr: %s\n", i, q)
	}
	if err := os.WriteFile(filepath.Join(dir, "dashboard_rules.yml"), []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	out := runPromtool(t, bin, dir, "check", "config", dashboards.PrometheusConfig)
	t.Logf("promtool check config:\n%s", out)
	out = runPromtool(t, bin, dir, "check", "rules", dashboards.AlertRules)
	if !strings.Contains(out, "SUCCESS: 5 rules found") {
		t.Errorf("promtool check rules: want 5 rules, got:\n%s", out)
	}
	out = runPromtool(t, bin, dir, "check", "rules", "dashboard_rules.yml")
	t.Logf("promtool check rules (dashboard queries):\n%s", out)
	out = runPromtool(t, bin, dir, "test", "rules", "alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules:\n%s", out)
	}
	t.Logf("promtool test rules:\n%s", out)
}

// TestPromtoolTestRulesCanFail proves the rule test has teeth: with the error threshold raised to 20%, the
// 15%-errors case must no longer fire and promtool must fail.
func TestPromtoolTestRulesCanFail(t *testing.T) {
	bin := promtool(t)
	dir := t.TempDir()
	rules := readFile(t, dashboards.AlertRules)
	broken := strings.Replace(rules, `sum(rate(edge_requests_total[1m])) > 0.05`, `sum(rate(edge_requests_total[1m])) > 0.20`, 1)
	if broken == rules {
		t.Fatal("HighErrorRate threshold not found in alerts.yml")
	}
	src, err := os.ReadFile("alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{dashboards.AlertRules: broken, "alerts_test.yml": string(src)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "test", "rules", "alerts_test.yml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "alertname: HighErrorRate") {
		t.Errorf("promtool test rules passed with a 20%% threshold (err %v):\n%s", err, out)
	}
}
