//go:build unix

package rootfs

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// emptyDirs keep only their own entry in the image: the engine mounts its own
// /dev, /proc and /sys, and device nodes from the build host have no place there.
var emptyDirs = map[string]bool{"dev": true, "proc": true, "sys": true}

type inode struct{ dev, ino uint64 }

// WriteTree streams root as a tar archive for ImageImport. It preserves what a
// root filesystem needs: symlinks as links (never followed), permission and
// setuid bits, numeric uid/gid (names would be resolved against the host's
// /etc/passwd, which is not the image's), and hard links as links so shared
// files are stored once. Sockets and device nodes are skipped.
func WriteTree(w io.Writer, root string) error {
	tw := tar.NewWriter(w)
	seen := map[inode]string{}

	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)

		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		mode := info.Mode()
		if mode&(os.ModeSocket|os.ModeDevice|os.ModeCharDevice|os.ModeNamedPipe) != 0 {
			return nil
		}

		link := ""
		if mode&os.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("tar header %s: %w", rel, err)
		}
		hdr.Name = rel
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uname, hdr.Gname = "", ""
		hdr.Format = tar.FormatPAX

		st, ok := info.Sys().(*syscall.Stat_t)
		if ok {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
			if mode.IsRegular() && st.Nlink > 1 {
				key := inode{uint64(st.Dev), uint64(st.Ino)}
				if first, dup := seen[key]; dup {
					hdr.Typeflag = tar.TypeLink
					hdr.Linkname = first
					hdr.Size = 0
				} else {
					seen[key] = rel
				}
			}
		}

		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar header %s: %w", rel, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if err := copyFile(tw, path); err != nil {
				return fmt.Errorf("tar %s: %w", rel, err)
			}
		}
		if info.IsDir() && emptyDirs[rel] {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// isUnder reports whether p is dir or inside it.
func isUnder(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}
