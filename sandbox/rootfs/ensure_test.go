//go:build unix

package rootfs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnsureDebootstrapInstallsItAsRootOnDebian: on a fresh machine (no debootstrap) where apt-get can run,
// it is installed first and then found; where it cannot, the error names the command. The installer here
// stands in for apt-get by putting a debootstrap on PATH, as the package would.
func TestEnsureDebootstrapInstallsItAsRootOnDebian(t *testing.T) {
	bin := t.TempDir()
	t.Setenv("PATH", bin) // a machine without debootstrap, whatever this one has
	oldApt, oldCan, oldSbin := aptInstall, canApt, sbinDebootstrap
	t.Cleanup(func() { aptInstall, canApt, sbinDebootstrap = oldApt, oldCan, oldSbin })
	sbinDebootstrap = nil

	var installed []string
	aptInstall = func(_ context.Context, _ func(string), pkgs ...string) error {
		installed = append(installed, pkgs...)
		return os.WriteFile(filepath.Join(bin, "debootstrap"), []byte("#!/bin/sh\n"), 0o755)
	}
	canApt = func() bool { return false }
	if _, err := EnsureDebootstrap(context.Background(), "the image", nil); err == nil ||
		!strings.Contains(err.Error(), "sudo apt-get install debootstrap") || len(installed) != 0 {
		t.Fatalf("not root: err %v, installed %v; want the command to run and nothing installed", err, installed)
	}
	canApt = func() bool { return true }
	var said []string
	p, err := EnsureDebootstrap(context.Background(), "the image", func(s string) { said = append(said, s) })
	if err != nil || p != filepath.Join(bin, "debootstrap") || strings.Join(installed, ",") != "debootstrap" {
		t.Fatalf("root on Debian: %q %v, installed %v", p, err, installed)
	}
	if len(said) == 0 || !strings.Contains(said[0], "installing it with apt-get") {
		t.Errorf("the install was not announced: %v", said)
	}
}
