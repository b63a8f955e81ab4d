// Command sandbox is a live chaos sandbox for practising a bad-deploy incident. All logic lives in
// github.com/sandbox-labs/sandbox/sandbox/cli.
package main

import (
	"os"

	"github.com/sandbox-labs/sandbox/sandbox/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
