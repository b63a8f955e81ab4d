// Command sandbox is a live chaos sandbox for practising a bad-deploy incident. All logic lives in
// github.com/sandbox-labs/sandbox/sandbox/cli.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/sandbox-labs/sandbox/sandbox/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Run(ctx, os.Args[1:], cli.IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}
