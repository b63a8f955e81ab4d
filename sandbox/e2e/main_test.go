package e2e

import (
	"flag"
	"os"
	"testing"
)

// TestMain lets several sandboxes run side by side: the reference runs are I/O- and sleep-bound, so more
// than GOMAXPROCS of them fit on a 2-core machine. E2E_PARALLEL tunes it.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.parallel"); f != nil && !isSet("test.parallel") {
		p := os.Getenv("E2E_PARALLEL")
		if p == "" {
			p = "3"
		}
		_ = f.Value.Set(p)
	}
	os.Exit(m.Run())
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
