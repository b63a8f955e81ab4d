package layers

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sandbox-labs/sandbox/"

// rules: a package (by prefix, most specific first) may import only module packages under these prefixes.
var rules = []struct {
	pkg     string
	mayUse  []string
	because string
}{
	{"services/release", nil, "the release manifest is a leaf table"},
	{"services/topology", nil, "the topology is a leaf table"},
	{"services/status", []string{"services/topology"}, "status types are shared by writer and reader"},
	{"services/", []string{"services/"}, "the shop never knows the sandbox that runs it"},
	{"faults/fault", nil, "the fault types are a leaf"},
	{"faults/", []string{"services/release", "services/topology", "faults/fault"}, "a fault folder is data about its fault"},
	{"faults", []string{"services/release", "services/topology", "faults/"}, "the fault catalogue lists the fault folders"},
	{"sandbox/grade", []string{"services/", "faults"}, "the grader is pure: no engine, no CLI"},
	{"sandbox/cli", []string{"services/", "faults", "sandbox", "sandbox/"}, "the CLI sits on the sandbox"},
	{"sandbox/gameday", []string{"services/", "faults", "sandbox", "sandbox/grade"}, "a game day runs sandboxes; the CLI sits on it"},
	{"sandbox/e2e", []string{"services/", "faults", "sandbox", "internal/"}, "end-to-end tests drive everything"},
	{"sandbox/engine", nil, "the engine layer is a leaf: everything that talks to Docker shares it"},
	{"sandbox/", []string{"services/", "faults", "sandbox/", "dashboards", "internal/"}, "helpers below the sandbox engine"},
	{"sandbox", []string{"services/", "faults", "sandbox/"}, "the engine layer uses the helpers below it"},
	{"cmd/", []string{"sandbox/cli"}, "main only calls the CLI"},
}

func TestNoPackageImportsALayerAboveIt(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command on PATH: " + err.Error())
	}
	// Non-test imports only: tests may reach across layers to build fixtures.
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		rule := -1
		for i, r := range rules {
			if pkg == r.pkg || strings.HasSuffix(r.pkg, "/") && strings.HasPrefix(pkg, r.pkg) {
				rule = i
				break
			}
		}
		if rule < 0 {
			continue
		}
		checked++
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if strings.HasPrefix(dep, "internal/") && strings.HasPrefix(pkg, "internal/") || strings.HasPrefix(dep, pkg+"/") {
				continue // its own sub-packages
			}
			ok := false
			for _, p := range rules[rule].mayUse {
				if dep == p || strings.HasPrefix(dep, strings.TrimSuffix(p, "/")+"/") { // a package allows its sub-packages
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s imports %s: %s", pkg, dep, rules[rule].because)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d packages: go list output changed shape?\n%s", checked, out)
	}
}
