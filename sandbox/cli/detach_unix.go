//go:build unix

package cli

import (
	"os/exec"
	"syscall"
)

// detach makes cmd the leader of a new session: no controlling terminal, its own process group.
func detach(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return nil
}
