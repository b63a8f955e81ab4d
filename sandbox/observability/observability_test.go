package observability

import (
	"archive/tar"
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/dashboards"
)

func readTar(t *testing.T, entries []tarEntry) map[string]*tar.Header {
	t.Helper()
	r, err := tarOf(entries)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	out := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

// The config Prometheus is started with is the one copied in, and its rule file lands next to it (rule_files
// are relative to the config file).
func TestPrometheusFilesMatchTheFlags(t *testing.T) {
	files, err := prometheusFiles()
	if err != nil {
		t.Fatal(err)
	}
	got := readTar(t, files)
	var configFlag string
	for _, a := range PrometheusArgs {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			configFlag = v
		}
	}
	rel, ok := strings.CutPrefix(configFlag, configDir+"/")
	if !ok {
		t.Fatalf("--config.file=%s is not under %s, where the files are copied", configFlag, configDir)
	}
	for _, name := range []string{rel, path.Join(path.Dir(rel), dashboards.AlertRules)} {
		h, ok := got[name]
		if !ok {
			t.Errorf("archive lacks %s (has %v)", name, keys(got))
			continue
		}
		// Prometheus runs as 65534: the files must be world-readable.
		if h.Mode&0o004 == 0 {
			t.Errorf("%s mode %o is not world-readable", name, h.Mode)
		}
	}
	want, _ := fs.ReadFile(dashboards.FS, dashboards.PrometheusConfig)
	if h := got[rel]; h != nil && h.Size != int64(len(want)) {
		t.Errorf("%s is %d bytes, the embedded config %d", rel, h.Size, len(want))
	}
}

func TestGrafanaFilesLandWhereTheProviderLooks(t *testing.T) {
	prov, dash, err := grafanaFiles()
	if err != nil {
		t.Fatal(err)
	}
	p := readTar(t, prov)
	for _, name := range []string{"datasources/prometheus.yml", "dashboards/sandbox.yml"} {
		if _, ok := p[name]; !ok {
			t.Errorf("provisioning archive lacks %s (has %v)", name, keys(p))
		}
	}
	d := readTar(t, dash)
	// Copied into path.Dir(GrafanaDashboardDir), so the archive's first level is the folder's base name.
	want := path.Base(dashboards.GrafanaDashboardDir) + "/" + dashboards.GrafanaDashboard
	if _, ok := d[want]; !ok {
		t.Errorf("dashboard archive lacks %s (has %v)", want, keys(d))
	}
}

func TestRecipeHashChangesWithTheRecipe(t *testing.T) {
	before := recipeHash()
	old := trimmed
	t.Cleanup(func() { trimmed = old })
	trimmed = append(append([]string(nil), old...), "usr/share/zoneinfo")
	if recipeHash() == before {
		t.Error("recipe hash ignores the trimmed paths: a changed recipe would reuse a stale image")
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
