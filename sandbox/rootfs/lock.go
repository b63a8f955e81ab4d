//go:build unix

package rootfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Lock serialises builds of one image across processes (go test runs packages in parallel, and each may
// ask for the image), so the tree is built once. name picks the lock file; what names the image in the
// waiting message.
func Lock(ctx context.Context, name, what string, progress func(string)) (func(), error) {
	path := filepath.Join(os.TempDir(), "sandbox-"+name+".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("build lock: %w", err)
	}
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("build lock %s: %w", path, err)
		}
		if !told {
			progress(fmt.Sprintf("waiting for another build of %s (lock %s)", what, path))
			told = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("build lock: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
}
