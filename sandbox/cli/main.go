package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sandbox-labs/sandbox/sandbox"
)

// ExitInterrupted is the exit code of a command stopped by SIGINT, SIGTERM or SIGHUP (the shell's 128+SIGINT).
const ExitInterrupted = 130

// Main runs the CLI as a process on the os streams: SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal
// closed) cancel the command's context, so every command stops the same way whichever signal came.
func Main(args []string) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go onSignals(sigs, cancel, os.Stderr, nameIn(args), os.Exit)
	return Run(ctx, args, IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
}

// onSignals cancels the command at the first signal, so it stops and cleans up. A second one says that
// cleanup is still running and what removes whatever it leaves; a third quits at once, saying the same.
func onSignals(sigs <-chan os.Signal, cancel func(), errOut io.Writer, name string, exit func(int)) {
	n := 0
	for range sigs {
		switch n++; n {
		case 1:
			cancel()
		case 2:
			fmt.Fprintf(errOut, "\nStill stopping and cleaning up; interrupt once more to quit at once. "+
				"Whatever is left behind is removed by `sandbox down --name %s`.\n", name)
		default:
			fmt.Fprintf(errOut, "\nQuit before the cleanup finished: `sandbox status --name %s` shows what is left, "+
				"`sandbox down --name %s` removes it.\n", name, name)
			exit(ExitInterrupted)
			return
		}
	}
}

// nameIn is the sandbox name a command line addresses (--name, else SANDBOX_NAME, else the default), for
// messages printed outside the command.
func nameIn(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--name="); ok {
			return v
		}
		if a == "--name" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return envOr("SANDBOX_NAME", sandbox.DefaultName)
}
