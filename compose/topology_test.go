package compose

import (
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/sandbox-labs/sandbox/services/topology"
)

type composeSpec struct {
	Services map[string]struct {
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   map[string]any    `yaml:"depends_on"`
	} `yaml:"services"`
}

// The Compose stack and `sandbox up` are two ways to run one shop: the compose file must say what the
// topology table says, so neither can drift.
func TestComposeFileMatchesTheTopology(t *testing.T) {
	b, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeSpec
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	var roles []string
	for name := range cf.Services {
		if name != "postgres" && name != "db-init" {
			roles = append(roles, name)
		}
	}
	sort.Strings(roles)
	want := topology.Names(nil)
	sort.Strings(want)
	if !slices.Equal(roles, want) {
		t.Fatalf("compose roles %v, topology roles %v", roles, want)
	}
	// after reports whether compose starts role after dep, directly or through what it depends on.
	var after func(role, dep string, seen map[string]bool) bool
	after = func(role, dep string, seen map[string]bool) bool {
		if seen[role] {
			return false
		}
		seen[role] = true
		for d := range cf.Services[role].DependsOn {
			if d == dep || after(d, dep, seen) {
				return true
			}
		}
		return false
	}
	for _, r := range topology.Roles {
		svc := cf.Services[r.Name]
		if got := len(svc.Ports) > 0; got != r.Published {
			t.Errorf("%s: compose publishes a port %v, topology says %v", r.Name, got, r.Published)
		}
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q beyond 127.0.0.1", r.Name, p)
			}
		}
		var mounts []string
		for _, v := range svc.Volumes {
			if i := strings.Index(v, ":"); i >= 0 {
				mounts = append(mounts, v[i+1:])
			}
		}
		if r.DataDir == "" && len(mounts) > 0 || r.DataDir != "" && !slices.Equal(mounts, []string{r.DataDir}) {
			t.Errorf("%s: compose mounts %v, topology's data dir is %q", r.Name, mounts, r.DataDir)
		}
		if got := svc.Environment["SANDBOX_DATABASE_URL"] != ""; got != r.UsesDB {
			t.Errorf("%s: compose gives a database URL %v, topology says it uses the database %v", r.Name, got, r.UsesDB)
		}
		for _, c := range r.Calls {
			if !after(r.Name, c, map[string]bool{}) {
				t.Errorf("%s calls %s, but compose may start it first (depends_on %v)", r.Name, c, keys(svc.DependsOn))
			}
		}
		for d := range svc.DependsOn {
			if d != "db-init" && d != "postgres" && !slices.Contains(r.Calls, d) {
				t.Errorf("%s: compose depends on %s, which topology does not list among its calls", r.Name, d)
			}
		}
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
