//go:build unix

package rootfs

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteTreePreservesLinksModesOwners(t *testing.T) {
	root := t.TempDir()
	mustWrite := func(rel string, data string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask-proof
			t.Fatal(err)
		}
	}
	mustWrite("usr/bin/tool", "#!/bin/sh\n", 0o755|os.ModeSetuid)
	mustWrite("etc/secret", "s3cret", 0o640)
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/bin", filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/does/not/exist", filepath.Join(root, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(root, "usr/bin/tool"), filepath.Join(root, "usr/bin/tool-alias")); err != nil {
		t.Fatal(err)
	}
	// dev's contents must not travel (the engine provides /dev).
	mustWrite("dev/stale", "x", 0o644)

	asRoot := os.Geteuid() == 0
	if asRoot {
		if err := os.Lchown(filepath.Join(root, "etc/secret"), 1234, 5678); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(filepath.Join(root, "bin"), 42, 43); err != nil {
			t.Fatal(err)
		}
	}

	var buf bytes.Buffer
	if err := WriteTree(&buf, root); err != nil {
		t.Fatalf("writeTree: %v", err)
	}

	got := map[string]*tar.Header{}
	content := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[h.Name] = h
		b, _ := io.ReadAll(tr)
		content[h.Name] = string(b)
	}

	if h := got["bin"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "usr/bin" {
		t.Errorf("bin: want symlink to usr/bin, got %+v", h)
	}
	if h := got["dangling"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "/does/not/exist" {
		t.Errorf("dangling: want symlink kept as is, got %+v", h)
	}
	if h := got["usr/bin/tool"]; h == nil || h.Typeflag != tar.TypeReg || os.FileMode(h.Mode).Perm() != 0o755 || h.Mode&04000 == 0 {
		t.Errorf("usr/bin/tool: want regular 0755 with setuid, got %+v", h)
	} else if content["usr/bin/tool"] != "#!/bin/sh\n" {
		t.Errorf("usr/bin/tool content = %q", content["usr/bin/tool"])
	}
	if h := got["usr/bin/tool-alias"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "usr/bin/tool" {
		t.Errorf("usr/bin/tool-alias: want hard link to usr/bin/tool, got %+v", h)
	}
	if h := got["etc/secret"]; h == nil || os.FileMode(h.Mode).Perm() != 0o640 {
		t.Errorf("etc/secret: want mode 0640, got %+v", h)
	}
	if h := got["tmp/"]; h == nil || h.Typeflag != tar.TypeDir || os.FileMode(h.Mode).Perm() != 0o777 || h.Mode&01000 == 0 {
		t.Errorf("tmp/: want dir 1777, got %+v", h)
	}
	if _, ok := got["dev/"]; !ok {
		t.Errorf("dev/ itself must be kept")
	}
	if _, ok := got["dev/stale"]; ok {
		t.Errorf("dev/stale must not be archived")
	}
	for name, h := range got {
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: names %q/%q must be empty so the host's passwd can't leak in", name, h.Uname, h.Gname)
		}
	}
	if asRoot {
		if h := got["etc/secret"]; h.Uid != 1234 || h.Gid != 5678 {
			t.Errorf("etc/secret: want uid/gid 1234/5678, got %d/%d", h.Uid, h.Gid)
		}
		if h := got["bin"]; h.Uid != 42 || h.Gid != 43 {
			t.Errorf("bin: want symlink's own uid/gid 42/43, got %d/%d", h.Uid, h.Gid)
		}
	} else {
		if h := got["etc/secret"]; h.Uid != os.Getuid() || h.Gid != os.Getgid() {
			t.Errorf("etc/secret: want uid/gid %d/%d, got %d/%d", os.Getuid(), os.Getgid(), h.Uid, h.Gid)
		}
	}
}

func TestMountsUnderMatchesWholePathSegments(t *testing.T) {
	if !isUnder("/tmp/x/rootfs/proc", "/tmp/x") || !isUnder("/tmp/x", "/tmp/x") {
		t.Error("paths inside dir must match")
	}
	if isUnder("/tmp/xy/proc", "/tmp/x") {
		t.Error("a sibling with a common prefix must not match")
	}
	// A fresh temp dir has nothing mounted below it.
	got, err := MountsUnder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("MountsUnder(fresh dir) = %v", got)
	}
	if _, err := os.Stat("/proc/self/mounts"); err == nil {
		got, err := MountsUnder("/proc")
		if err != nil || len(got) == 0 || got[len(got)-1] != "/proc" {
			t.Errorf("MountsUnder(/proc) = %v, %v; want /proc last (deepest first)", got, err)
		}
	}
}
