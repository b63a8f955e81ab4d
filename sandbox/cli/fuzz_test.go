package cli

import "testing"

// FuzzParseFlagValue: any flag value a trainee types is a usage error or a setting the flags table can hold
// (0-100%, enabled exactly when above 0).
func FuzzParseFlagValue(f *testing.F) {
	for _, s := range []string{"on", "off", "15", "15%", "-1", "101", "NaN", "1e2", "0x10", " 5", "%", "TRUE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		enabled, pct, err := parseFlagValue(v)
		if err != nil {
			if ExitCode(err) != ExitUsage {
				t.Fatalf("%q: error %v is not a usage error", v, err)
			}
			return
		}
		if pct < 0 || pct > 100 || enabled != (pct > 0) {
			t.Fatalf("%q -> enabled %v, %d%%", v, enabled, pct)
		}
	})
}
