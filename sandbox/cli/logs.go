package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sandbox-labs/sandbox/sandbox"
)

func init() {
	extraCommands = append(extraCommands, NewCmdLogs)
}

// NewCmdLogs builds `sandbox logs <service> [--follow] [--since]`.
func NewCmdLogs(streams IO, g *Globals) *cobra.Command {
	var follow bool
	var since string
	var tail int
	cmd := &cobra.Command{
		Use:     "logs <service>",
		Short:   "Show a service's logs (every running instance, prefixed by container)",
		Example: "  sandbox logs payments --since 2m\n  sandbox logs checkout -f",
		Args:    exactArgs(1, "a service"),
		RunE: func(c *cobra.Command, args []string) error {
			svc := args[0]
			if !sandbox.IsRole(svc) && svc != "postgres" {
				return Usagef("unknown service %q; use one of: postgres, %s", svc, strings.Join(sandbox.Roles, ", "))
			}
			if tail < 0 {
				return Usagef("--tail must be 0 (all lines) or more, got %d", tail)
			}
			if since != "" {
				if _, err := time.ParseDuration(since); err != nil {
					if _, err := time.Parse(time.RFC3339, since); err != nil {
						return Usagef("--since %q: use a duration like 5m or an RFC3339 time", since)
					}
				}
			}
			return logsRun(c.Context(), streams, g.Name, svc, follow, since, tail)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep streaming new lines")
	cmd.Flags().StringVar(&since, "since", "", "only lines newer than a duration (5m) or RFC3339 time")
	cmd.Flags().IntVar(&tail, "tail", 200, "lines per instance from the end (0 = all)")
	return cmd
}

func logsRun(ctx context.Context, streams IO, name, svc string, follow bool, since string, tail int) error {
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	insts, err := e.Instances(ctx, name, svc)
	if err != nil {
		return err
	}
	if len(insts) == 0 {
		return fmt.Errorf("no %s container in sandbox %q", svc, name)
	}
	t := "all"
	if tail > 0 {
		t = fmt.Sprint(tail)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(insts))
	for _, in := range insts {
		rc, err := e.ContainerLogs(ctx, in.ID, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow, Since: since, Tail: t})
		if err != nil {
			return fmt.Errorf("logs %s: %w", in.Name, err)
		}
		wg.Add(1)
		go func(in sandbox.Instance, rc io.ReadCloser) {
			defer wg.Done()
			defer rc.Close()
			pr, pw := io.Pipe()
			go func() { _, err := stdcopy.StdCopy(pw, pw, rc); pw.CloseWithError(err) }()
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			prefix := ""
			if len(insts) > 1 {
				prefix = fmt.Sprintf("[%s %s] ", in.Name, in.Version)
			}
			for sc.Scan() {
				mu.Lock()
				fmt.Fprintln(streams.Out, prefix+sc.Text())
				mu.Unlock()
			}
			if err := sc.Err(); err != nil && ctx.Err() == nil {
				errs <- err
			}
		}(in, rc)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// NewCmdPsql builds `sandbox psql`: an interactive psql on the shop database.
func NewCmdPsql(streams IO, g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "psql",
		Short: "Open an interactive psql on the shop database (host psql if installed, else inside the container)",
		Args:  noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return psqlRun(c.Context(), streams, g.Name)
		},
	}
}

func psqlRun(ctx context.Context, streams IO, name string) error {
	e, err := connect(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	ep, err := e.Endpoints(ctx, name)
	if err != nil {
		return err
	}
	if p, err := exec.LookPath("psql"); err == nil && ep.DatabaseURL != "" {
		cmd := exec.CommandContext(ctx, p, ep.DatabaseURL)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = streams.In, streams.Out, streams.ErrOut
		return cmd.Run()
	}
	insts, err := e.Instances(ctx, name, "postgres")
	if err != nil || len(insts) == 0 {
		return fmt.Errorf("no postgres container in sandbox %q", name)
	}
	in, isTTY := streams.In.(*os.File)
	tty := isTTY && term.IsTerminal(int(in.Fd()))
	ex, err := e.ContainerExecCreate(ctx, insts[len(insts)-1].ID, container.ExecOptions{
		Cmd: []string{"psql", "-U", "shop", "shop"}, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: tty,
	})
	if err != nil {
		return fmt.Errorf("exec psql: %w", err)
	}
	hj, err := e.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{Tty: tty})
	if err != nil {
		return fmt.Errorf("attach psql: %w", err)
	}
	defer hj.Close()
	if tty {
		old, err := term.MakeRaw(int(in.Fd()))
		if err == nil {
			defer term.Restore(int(in.Fd()), old)
		}
		if w, h, err := term.GetSize(int(in.Fd())); err == nil {
			_ = e.ContainerExecResize(ctx, ex.ID, container.ResizeOptions{Width: uint(w), Height: uint(h)})
		}
	}
	go func() { _, _ = io.Copy(hj.Conn, streams.In); _ = hj.CloseWrite() }()
	if tty {
		_, err = io.Copy(streams.Out, hj.Reader)
	} else {
		_, err = stdcopy.StdCopy(streams.Out, streams.ErrOut, hj.Reader)
	}
	return err
}
