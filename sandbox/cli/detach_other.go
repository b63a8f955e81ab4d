//go:build !unix

package cli

import (
	"errors"
	"os/exec"
)

func detach(cmd *exec.Cmd) error {
	return errors.New("starting a detached process is not supported on this OS")
}
