package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

func TestElfInfoTellsStaticFromDynamic(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ELF check needs a linux host")
	}
	if testing.Short() {
		t.Skip("builds two small binaries with the Go toolchain")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	// net forces the cgo resolver when CGO is on, which makes a dynamic executable.
	if err := os.WriteFile(src, []byte("package main\nimport _ \"net\"\nfunc main(){}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(out, cgo string) string {
		cmd := exec.Command("go", "build", "-o", out, src)
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo, "GOFLAGS=")
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build test binary (cgo=%s): %v %s", cgo, err, b)
		}
		return out
	}
	arch, static, err := elfInfo(build(filepath.Join(dir, "static"), "0"))
	if err != nil || !static || arch != runtime.GOARCH {
		t.Errorf("static build: arch=%s static=%v err=%v", arch, static, err)
	}
	// A dynamic executable: a cgo build where a C compiler exists, else the system's own /bin/sh (always
	// dynamic on the Debian and Ubuntu hosts this runs on), so the dynamic branch is never silently untested.
	dynamic := "/bin/sh"
	if _, err := exec.LookPath("gcc"); err == nil {
		dynamic = build(filepath.Join(dir, "dynamic"), "1")
	}
	if _, static, err = elfInfo(dynamic); err != nil || static {
		t.Errorf("%s reported static=%v err=%v, want dynamic", dynamic, static, err)
	}
}

func TestResolveBinaryRefusesNonLinuxEngine(t *testing.T) {
	_, err := ResolveBinary(t.Context(), "windows", "amd64", t.TempDir(), func(string) {})
	if err == nil {
		t.Fatal("want an error for a windows engine")
	}
}
