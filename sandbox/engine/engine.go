// Package engine is the leaf layer every part that talks to the Docker engine shares: image presence, pulls
// and builds, published ports, log tails, random name suffixes, and waits for a container to be ready. It
// imports nothing of the project, so the sandbox, the Postgres and Prometheus image builders and the test
// helpers use one copy of each instead of their own.
package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
)

// RandomSuffix is 2n hex characters for a unique container or network name.
func RandomSuffix(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ImageLabels reports whether ref exists and, if it does, its labels.
func ImageLabels(ctx context.Context, cli client.ImageAPIClient, ref string) (present bool, labels map[string]string, err error) {
	info, err := cli.ImageInspect(ctx, ref)
	if client.IsErrNotFound(err) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if info.Config != nil {
		labels = info.Config.Labels
	}
	return true, labels, nil
}

// ImagePresent reports whether ref exists on the engine.
func ImagePresent(ctx context.Context, cli client.ImageAPIClient, ref string) (bool, error) {
	present, _, err := ImageLabels(ctx, cli, ref)
	return present, err
}

// Pull pulls ref within timeout. It reads the whole progress stream (the engine reports most pull failures
// inside it, not as the HTTP status) and checks that the image is there afterwards.
func Pull(ctx context.Context, cli client.ImageAPIClient, ref string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rc, err := cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(rc, io.Discard, 0, false, nil); err != nil {
		return err
	}
	present, err := ImagePresent(ctx, cli, ref)
	if err != nil {
		return err
	}
	if !present {
		return errors.New("image not present after pull")
	}
	return nil
}

// File is one file of a build context.
type File struct {
	Name string
	Mode int64
	Body []byte
}

// BuildContext is a tar build context holding files.
func BuildContext(files ...File) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Body))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// Build builds a tagged image from a tar context with the classic builder (the one every engine version
// has) and reads the whole stream, so a failed step is an error here rather than a missing image later.
func Build(ctx context.Context, cli client.ImageAPIClient, buildCtx io.Reader, tags []string, labels map[string]string) error {
	res, err := cli.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{
		Tags: tags, Labels: labels, Version: build.BuilderV1, Remove: true, ForceRemove: true,
	})
	if err != nil {
		return fmt.Errorf("build %s: %w", strings.Join(tags, ", "), err)
	}
	defer res.Body.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(res.Body, io.Discard, 0, false, nil); err != nil {
		return fmt.Errorf("build %s: %w", strings.Join(tags, ", "), err)
	}
	return nil
}

// HostPort is the 127.0.0.1 address ("127.0.0.1:<port>") the engine published a container port on.
func HostPort(ctx context.Context, cli client.ContainerAPIClient, id, port string) (string, error) {
	ins, err := cli.ContainerInspect(ctx, id)
	if err != nil {
		return "", fmt.Errorf("inspect container: %w", err)
	}
	return PublishedOn(ins.NetworkSettings, port)
}

// PublishedOn reads the 127.0.0.1 address of port from a container's network settings.
func PublishedOn(ns *container.NetworkSettings, port string) (string, error) {
	if ns == nil {
		return "", fmt.Errorf("port %s is not published", port)
	}
	for _, b := range ns.Ports[nat.Port(port)] {
		if b.HostPort != "" && (b.HostIP == "127.0.0.1" || b.HostIP == "") {
			return "127.0.0.1:" + b.HostPort, nil
		}
	}
	return "", fmt.Errorf("port %s is not published on 127.0.0.1", port)
}

// LogTail is the last lines of a container's output (both streams), at most 64 KiB, for error messages.
func LogTail(cli client.ContainerAPIClient, id string, lines int) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := cli.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(lines)})
	if err != nil {
		return "(no logs: " + err.Error() + ")"
	}
	defer rc.Close()
	var out bytes.Buffer
	_, _ = stdcopy.StdCopy(&out, &out, io.LimitReader(rc, 64<<10))
	return strings.TrimSpace(out.String())
}
