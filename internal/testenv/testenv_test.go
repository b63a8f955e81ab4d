package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that notes whether Missing skipped or failed.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Skip(args ...any)          { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(f string, a ...any) { r.failed = fmt.Sprintf(f, a...) }
func (r *recorder) Skipf(f string, a ...any)  { r.skipped = fmt.Sprintf(f, a...) }
func (r *recorder) Fatal(args ...any)         { r.failed = fmt.Sprint(args...) }
func (r *recorder) Errorf(f string, a ...any) { r.failed = fmt.Sprintf(f, a...) }

func TestMissingSkipsLocallyAndFailsInCI(t *testing.T) {
	for _, c := range []struct {
		ci       string
		wantFail bool
	}{{"", false}, {"false", false}, {"0", false}, {"true", true}, {"1", true}} {
		t.Setenv("CI", c.ci)
		r := &recorder{}
		Missing(r, "needs a Docker engine", errors.New("no socket"))
		if got := r.failed != ""; got != c.wantFail {
			t.Errorf("CI=%q: failed=%q skipped=%q, want fail=%v", c.ci, r.failed, r.skipped, c.wantFail)
		}
		if msg := r.failed + r.skipped; !strings.Contains(msg, "needs a Docker engine: no socket") {
			t.Errorf("CI=%q: message %q does not say what is missing", c.ci, msg)
		}
	}
}

// TestNoEngineFailsUnderCI runs a real Postgres-backed test with no engine: under CI=true it must fail, not
// skip. This is the rule the whole suite's Docker, Postgres and Chromium tests follow.
func TestNoEngineFailsUnderCI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs `go test` in a subprocess")
	}
	goBin := runtime.GOROOT() + "/bin/go"
	run := func(ci string) (string, error) {
		cmd := exec.Command(goBin, "test", "-count=1", "-run", "TestIntegrationStart$", "../testpg")
		cmd.Env = append(os.Environ(), "CI="+ci, "DOCKER_HOST=unix:///nonexistent/docker.sock")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("true")
	if err == nil || !strings.Contains(out, "CI must provide this") {
		t.Errorf("no engine under CI=true: err %v, output:\n%s", err, out)
	}
	out, err = run("")
	if err != nil || !strings.Contains(out, "ok") {
		t.Errorf("no engine without CI: err %v, want a skip (ok); output:\n%s", err, out)
	}
}

func TestRefusedAddrRefuses(t *testing.T) {
	addr := RefusedAddr(t)
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			t.Fatalf("%s accepted a connection", addr)
		}
		if !strings.Contains(err.Error(), "refused") {
			t.Fatalf("dial %s: %v, want connection refused", addr, err)
		}
	}
	if ln, err := net.Listen("tcp", addr); err == nil {
		ln.Close()
		t.Fatalf("another listener could take %s", addr)
	}
}
