package patches

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sandbox-labs/sandbox/services/release"
)

func TestValidate(t *testing.T) {
	if err := Validate([]string{release.PatchCheckoutNullGuard, release.PatchPaymentsPinSDK31}); err != nil {
		t.Fatal(err)
	}
	if err := Validate(nil); err != nil {
		t.Fatal(err)
	}
	err := Validate([]string{release.PatchCheckoutNullGuard, "checkout-fix-everything"})
	if err == nil || !strings.Contains(err.Error(), `"checkout-fix-everything"`) {
		t.Fatalf("unknown id: %v", err)
	}
	for _, id := range IDs() {
		if !strings.Contains(err.Error(), id) {
			t.Fatalf("error does not list known patch %s: %v", id, err)
		}
	}
	if err := Validate([]string{release.PatchCheckoutNullGuard, release.PatchCheckoutNullGuard}); err == nil {
		t.Fatal("a duplicate id must be rejected")
	}
	if _, err := Lookup("nope"); err == nil || !strings.Contains(err.Error(), release.PatchOrdersKeepSchema) {
		t.Fatalf("Lookup: %v", err)
	}
	if p, err := Lookup(release.PatchPaymentsRetryCharge); err != nil || p.Fixes != Decoy {
		t.Fatalf("Lookup: %+v %v", p, err)
	}
}

func TestCatalogueShape(t *testing.T) {
	want := map[string][]string{
		release.FaultFlagLeak:    {release.PatchCheckoutBackendFlagGate, release.PatchCheckoutNullGuard},
		release.FaultSDKBreak:    {release.PatchPaymentsCallV4Signature, release.PatchPaymentsPinSDK31},
		release.FaultNotNullTrap: {release.PatchOrdersKeepSchema},
		Decoy:                    {release.PatchCheckoutFlagDefaultOff, release.PatchPaymentsRetryCharge, release.PatchOrdersCatch23502, release.PatchCheckoutRaiseTimeout},
	}
	for fault, ids := range want {
		if got := Fixing(fault); strings.Join(got, ",") != strings.Join(ids, ",") {
			t.Errorf("Fixing(%s) = %v, want %v", fault, got, ids)
		}
	}
	// The ids the services honour are the catalogue's.
	for _, id := range []string{release.PatchCheckoutBackendFlagGate, release.PatchCheckoutNullGuard, release.PatchCheckoutFlagDefaultOff,
		release.PatchCheckoutRaiseTimeout, release.PatchPaymentsCallV4Signature, release.PatchPaymentsPinSDK31, release.PatchPaymentsRetryCharge,
		release.PatchOrdersKeepSchema, release.PatchOrdersCatch23502} {
		if _, err := Lookup(id); err != nil {
			t.Error(err)
		}
	}
	if len(PRs()) != len(release.V240PRs) {
		t.Fatalf("%d PRs, release has %d", len(PRs()), len(release.V240PRs))
	}
	for _, rp := range release.V240PRs {
		p, ok := LookupPR(rp.Number)
		if !ok || p.Title != rp.Title || p.Service != rp.Service || p.Fault != rp.Fault || p.Author == "" || p.Description == "" {
			t.Errorf("PR %d does not match the release manifest: %+v", rp.Number, p)
		}
	}
	for _, p := range Patches() {
		if p.Title == "" || p.Description == "" || p.Why == "" || p.Diff == "" || p.Service == "" {
			t.Errorf("patch %s is incomplete", p.ID)
		}
		if !strings.HasPrefix(p.ID, p.Service+"-") {
			t.Errorf("patch %s is not named after its service %s", p.ID, p.Service)
		}
	}
}

var hunkRe = regexp.MustCompile(`^@@ -(\d+),(\d+) \+(\d+),(\d+) @@ ?(.*)$`)

// TestDiffsMatchTheCode checks every diff is well formed and names files and functions that exist, so the
// changelog a trainee reads points at the code paths the logs name.
func TestDiffsMatchTheCode(t *testing.T) {
	root := filepath.Join("..", "..")
	type item struct{ name, diff string }
	var all []item
	for _, p := range PRs() {
		all = append(all, item{"PR " + strconv.Itoa(p.Number), p.Diff})
	}
	for _, p := range Patches() {
		all = append(all, item{p.ID, p.Diff})
	}
	funcRe := regexp.MustCompile(`func (?:\([^)]*\) )?(\w+)\(`)
	for _, it := range all {
		var file string
		var funcs map[string]bool
		lines := strings.Split(strings.TrimSuffix(it.diff, "\n"), "\n")
		for i := 0; i < len(lines); i++ {
			l := lines[i]
			switch {
			case strings.HasPrefix(l, "+++ b/"):
				file = strings.TrimPrefix(l, "+++ b/")
				src, err := os.ReadFile(filepath.Join(root, file))
				if err != nil {
					t.Fatalf("%s: diff names a file that does not exist: %v", it.name, err)
				}
				funcs = map[string]bool{}
				if strings.HasSuffix(file, ".go") {
					f, err := parser.ParseFile(token.NewFileSet(), file, src, 0)
					if err != nil {
						t.Fatal(err)
					}
					for _, d := range f.Decls {
						if fd, ok := d.(*ast.FuncDecl); ok {
							funcs[fd.Name.Name] = true
						}
					}
				}
			case strings.HasPrefix(l, "@@"):
				m := hunkRe.FindStringSubmatch(l)
				if m == nil {
					t.Fatalf("%s: bad hunk header %q", it.name, l)
				}
				if fm := funcRe.FindStringSubmatch(m[5]); fm != nil && !funcs[fm[1]] {
					t.Errorf("%s: hunk names func %s, not in %s", it.name, fm[1], file)
				}
				oldN, _ := strconv.Atoi(m[2])
				newN, _ := strconv.Atoi(m[4])
				var o, n int
				for i+1 < len(lines) && !strings.HasPrefix(lines[i+1], "@@") && !strings.HasPrefix(lines[i+1], "diff --git") {
					i++
					switch lines[i][0] {
					case '+':
						n++
						if fm := funcRe.FindStringSubmatch(lines[i]); fm != nil && strings.HasPrefix(lines[i], "+func") && !funcs[fm[1]] {
							t.Errorf("%s: diff adds func %s, not in %s", it.name, fm[1], file)
						}
					case '-':
						o++
					case ' ':
						o++
						n++
					default:
						t.Fatalf("%s: line without a diff prefix: %q", it.name, lines[i])
					}
				}
				if o != oldN || n != newN {
					t.Errorf("%s: hunk %q counts %d/%d lines", it.name, l, o, n)
				}
			}
		}
	}
}

// TestChangelogNamesTheLoggedCodePaths: the function each fault's log line names appears in its PR's diff.
func TestChangelogNamesTheLoggedCodePaths(t *testing.T) {
	for n, path := range map[int]string{
		release.PRDiscountValidation: "validateDiscount",
		release.PRPaymentSDK4:        "chargeStoredCredential",
		release.PROrderMetadata:      "createOrder",
	} {
		p, _ := LookupPR(n)
		if !strings.Contains(p.Diff, path) {
			t.Errorf("PR %d diff does not show %s", n, path)
		}
	}
}
