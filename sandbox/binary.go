package sandbox

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
)

// Binary is the static Linux executable baked into every service image.
type Binary struct {
	Path string
	SHA  string // hex sha256, first 12 chars name the base image
}

// elfInfo reports the arch and whether an ELF file is statically linked (no program interpreter).
func elfInfo(path string) (goarch string, static bool, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_X86_64:
		goarch = "amd64"
	case elf.EM_AARCH64:
		goarch = "arm64"
	default:
		goarch = f.Machine.String()
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return goarch, false, nil
		}
	}
	return goarch, true, nil
}

// ResolveBinary finds a static linux/<arch> build of this program for the engine: the running executable
// when it already is one, otherwise a cross-compile from the module source (CGO off), otherwise an error that
// says what to do.
func ResolveBinary(ctx context.Context, engineOS, engineArch, cacheDir string, progress func(string)) (Binary, error) {
	if engineOS != "linux" {
		return Binary{}, fmt.Errorf("the Docker engine runs %s/%s containers; the sandbox needs Linux containers (switch the engine to Linux containers)", engineOS, engineArch)
	}
	if exe, err := os.Executable(); err == nil && runtime.GOOS == "linux" && isSandboxMain() {
		if arch, static, err := elfInfo(exe); err == nil && static && arch == engineArch {
			return hashBinary(exe)
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return Binary{}, fmt.Errorf("this sandbox executable is not a static linux/%s build and the source is not here to build one: run from the sandbox source tree, or build with `CGO_ENABLED=0 GOOS=linux GOARCH=%s go build ./cmd/sandbox`", engineArch, engineArch)
	}
	if _, err := exec.LookPath("go"); err != nil {
		return Binary{}, fmt.Errorf("need the Go toolchain to build the linux/%s service binary: install Go or run a static build of sandbox (CGO_ENABLED=0 go build ./cmd/sandbox)", engineArch)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return Binary{}, fmt.Errorf("create build cache dir: %w", err)
	}
	out := filepath.Join(cacheDir, "sandbox-linux-"+engineArch)
	progress(fmt.Sprintf("compiling the service binary for linux/%s", engineArch))
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/sandbox")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+engineArch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return Binary{}, fmt.Errorf("build service binary: %w\n%s", err, strings.TrimSpace(string(b)))
	}
	return hashBinary(out)
}

// IsSandboxMain reports whether this process is the sandbox command itself (not, say, a test binary that
// links the library but cannot serve roles or run the CLI when executed again).
func IsSandboxMain() bool { return isSandboxMain() }

func isSandboxMain() bool {
	bi, ok := debug.ReadBuildInfo()
	return ok && bi.Path == "github.com/sandbox-labs/sandbox/cmd/sandbox"
}

func hashBinary(path string) (Binary, error) {
	f, err := os.Open(path)
	if err != nil {
		return Binary{}, fmt.Errorf("open binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Binary{}, fmt.Errorf("hash binary: %w", err)
	}
	return Binary{Path: path, SHA: hex.EncodeToString(h.Sum(nil))}, nil
}

// moduleRoot walks up from the working directory to the sandbox module's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/sandbox-labs/sandbox\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("sandbox module not found")
		}
		dir = parent
	}
}

// CacheDir is where built artifacts are kept between runs.
func CacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "sandbox")
	}
	return filepath.Join(os.TempDir(), "sandbox-cache")
}
