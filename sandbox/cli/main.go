package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// ExitInterrupted is the exit code of a command stopped by SIGINT, SIGTERM or SIGHUP (the shell's 128+SIGINT).
const ExitInterrupted = 130

// Main runs the CLI as a process on the os streams: SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal
// closed) cancel the command's context, so every command stops the same way whichever signal came.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	return Run(ctx, args, IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
}
