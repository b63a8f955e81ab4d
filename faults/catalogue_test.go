package faults

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/services/release"
)

func TestCatalogueMatchesRelease(t *testing.T) {
	if got := IDs(); !slices.Equal(got, release.AllFaults) {
		t.Fatalf("IDs() = %v, want release.AllFaults %v", got, release.AllFaults)
	}
	for _, pr := range release.V240PRs {
		f, err := Lookup(pr.Fault)
		if err != nil {
			t.Fatalf("lookup %s: %v", pr.Fault, err)
		}
		if f.PR != pr.Number || f.Service != pr.Service || f.Title != pr.Title {
			t.Errorf("%s: PR %d service %q title %q, release says %d %q %q",
				f.ID, f.PR, f.Service, f.Title, pr.Number, pr.Service, pr.Title)
		}
		if g, ok := ForPR(pr.Number); !ok || g.ID != pr.Fault {
			t.Errorf("ForPR(%d) = %q %v", pr.Number, g.ID, ok)
		}
	}
}

func TestEveryFaultComplete(t *testing.T) {
	for _, f := range All() {
		if f.Symptom == "" || len(f.Affected) == 0 || len(f.SignalsInLogs) == 0 || len(f.Fixes) == 0 ||
			len(f.Prevention) == 0 || len(f.Keywords) == 0 || len(f.CodePath) == 0 || f.CodePathRef == "" {
			t.Errorf("%s: incomplete entry", f.ID)
		}
		if len(f.Hints) < 3 {
			t.Errorf("%s: %d hints, want at least 3 (progressive, the last giving the ways out)", f.ID, len(f.Hints))
		}
		if last := f.Hints[len(f.Hints)-1]; !strings.Contains(strings.ToLower(last), "ways out") {
			t.Errorf("%s: last hint should give the fix options, got %q", f.ID, last)
		}
		if n := len(f.Resources); n < 2 || n > 3 {
			t.Errorf("%s: %d resources, want 2-3", f.ID, n)
		}
		for _, r := range f.Resources {
			if !strings.HasPrefix(r.URL, "https://") || r.Title == "" {
				t.Errorf("%s: bad resource %+v", f.ID, r)
			}
		}
		for _, a := range f.Affected {
			if !strings.HasPrefix(a, "/api/") {
				t.Errorf("%s: affected %q is not an edge route", f.ID, a)
			}
		}
	}
}

func TestPreventionMatchesCard(t *testing.T) {
	want := map[string][]string{
		release.FaultNotNullTrap: {"expand-contract", "nullable", "backfill"},
		release.FaultFlagLeak:    {"frontend and the backend", "review"},
		release.FaultSDKBreak:    {"major", "contract tests"},
	}
	for id, words := range want {
		f, _ := Lookup(id)
		text := strings.Join(f.Prevention, " ")
		for _, w := range words {
			if !strings.Contains(text, w) {
				t.Errorf("%s prevention lacks %q", id, w)
			}
		}
	}
	nn, _ := Lookup(release.FaultNotNullTrap)
	for _, k := range []string{"expand", "contract", "default", "nullable", "backfill", "23502", "not null"} {
		if !slices.Contains(nn.Keywords, k) {
			t.Errorf("not-null keywords lack %q", k)
		}
	}
}

func TestLookupAliases(t *testing.T) {
	cases := map[string]string{
		"migration":          release.FaultNotNullTrap,
		"Migration":          release.FaultNotNullTrap,
		"905":                release.FaultNotNullTrap,
		"#905":               release.FaultNotNullTrap,
		"not_null_migration": release.FaultNotNullTrap,
		"flag":               release.FaultFlagLeak,
		"discount":           release.FaultFlagLeak,
		"892":                release.FaultFlagLeak,
		"sdk":                release.FaultSDKBreak,
		" payments ":         release.FaultSDKBreak,
		"sdk-break":          release.FaultSDKBreak,
	}
	for in, want := range cases {
		f, err := Lookup(in)
		if err != nil || f.ID != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", in, f.ID, err, want)
		}
	}
}

func TestAliasesUnique(t *testing.T) {
	seen := map[string]string{}
	for _, f := range All() {
		for _, a := range append([]string{f.ID}, f.Aliases...) {
			if other, ok := seen[a]; ok && other != f.ID {
				t.Errorf("alias %q names both %s and %s", a, other, f.ID)
			}
			seen[a] = f.ID
		}
	}
}

func TestLookupUnknownListsKnown(t *testing.T) {
	_, err := Lookup("latency")
	if err == nil {
		t.Fatal("Lookup(latency) succeeded")
	}
	for _, id := range release.AllFaults {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("error %q does not list %s", err, id)
		}
	}
	if !strings.Contains(err.Error(), "migration") {
		t.Errorf("error %q does not list the symptom words", err)
	}
}

func TestHintLevels(t *testing.T) {
	text, last, err := Hint("migration", 1)
	if err != nil || last || !strings.Contains(text, "SELECT *") {
		t.Fatalf("Hint(migration,1) = %q %v %v", text, last, err)
	}
	_, last, err = Hint("migration", 4)
	if err != nil || !last {
		t.Fatalf("Hint(migration,4) last=%v err=%v", last, err)
	}
	if _, _, err := Hint("sdk", 9); err == nil {
		t.Fatal("Hint(sdk,9) succeeded")
	}
	if _, _, err := Hint("nope", 1); err == nil {
		t.Fatal("Hint(nope,1) succeeded")
	}
}

func TestAllIsACopy(t *testing.T) {
	a := All()
	a[0].ID = "changed"
	if All()[0].ID == "changed" {
		t.Fatal("All() exposes the catalogue")
	}
}

// The neutral symptom words are printed before the attempt ends (`sandbox hint`, `sandbox answer`): they say
// where a symptom shows, never its cause, PR, failing function or fix.
func TestNeutralSymptomCarriesNoAnswer(t *testing.T) {
	var leaks []string
	for _, f := range All() {
		leaks = append(leaks, f.ID, fmt.Sprint(f.PR), f.Title)
		leaks = append(leaks, f.Functions...)
	}
	leaks = append(leaks, "flag", "sdk", "migration", "not null", "order_metadata", "discount", "charge(", "schema", "signature")
	seen := map[string]bool{}
	for _, f := range All() {
		if f.Name == "" || f.Seen == "" || len(f.Functions) == 0 {
			t.Errorf("%s: Name, Seen and Functions are required", f.ID)
		}
		if seen[f.Name] {
			t.Errorf("symptom name %q used twice", f.Name)
		}
		seen[f.Name] = true
		if g, err := LookupSymptom(f.Name); err != nil || g.ID != f.ID {
			t.Errorf("LookupSymptom(%q) = %q, %v", f.Name, g.ID, err)
		}
		for _, text := range []string{f.Name, f.Seen} {
			for _, l := range leaks {
				if strings.Contains(strings.ToLower(text), strings.ToLower(l)) {
					t.Errorf("%s: neutral text %q carries %q", f.ID, text, l)
				}
			}
		}
	}
	if got := strings.Join(Symptoms(), ","); got != "orders,checkout,payments" {
		t.Errorf("Symptoms() = %s", got)
	}
	_, err := LookupSymptom("latency")
	if err == nil {
		t.Fatal("LookupSymptom(latency) succeeded")
	}
	for _, id := range release.AllFaults {
		if strings.Contains(err.Error(), id) {
			t.Errorf("symptom error %q names the fault id %s", err, id)
		}
	}
}

// Functions[0] is the function the service's own error line names ("<service>.<function>: ..."), and every
// accepted name is a function of that service: the answer key matches what the trainee can find in the logs.
func TestFunctionsAreTheServicesOwn(t *testing.T) {
	for _, f := range All() {
		dir := filepath.Join("..", "services", f.Service)
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
		if err != nil {
			t.Fatalf("parse %s: %v", dir, err)
		}
		funcs, logged := map[string]bool{}, false
		for _, p := range pkgs {
			ast.Inspect(p, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.FuncDecl:
					funcs[x.Name.Name] = true
				case *ast.BasicLit:
					if x.Kind == token.STRING && strings.Contains(x.Value, f.Service+"."+f.Functions[0]+":") {
						logged = true
					}
				}
				return true
			})
		}
		for _, fn := range f.Functions {
			if !funcs[fn] {
				t.Errorf("%s: %s is not a function of services/%s", f.ID, fn, f.Service)
			}
		}
		if !logged {
			t.Errorf("%s: services/%s never logs %q", f.ID, f.Service, f.Service+"."+f.Functions[0]+":")
		}
	}
}
