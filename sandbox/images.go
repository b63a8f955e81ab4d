package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"
	"github.com/docker/go-connections/nat"

	"github.com/sandbox-labs/sandbox/sandbox/engine"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/topology"
)

// Roles that run from the sandbox binary, in start order (services/topology).
var Roles = topology.StartOrder()

// ShopRoles are the roles a release deploys (control room and load generator are infrastructure, not shop).
var ShopRoles = topology.Names(func(r topology.Role) bool { return r.Shop })

// IsRole reports whether role is one of the sandbox's service roles.
func IsRole(role string) bool {
	for _, r := range Roles {
		if r == role {
			return true
		}
	}
	return false
}

// BaseImageRef names the image holding just the binary; every role image builds on it, so they all share one
// layer on disk.
func BaseImageRef(b Binary) string { return "sandbox-base:" + b.SHA[:12] }

type tarFile struct {
	name string
	mode int64
	uid  int
	body []byte
	dir  bool
	path string // copy from disk instead of body
}

func buildContext(files []tarFile) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: time.Unix(0, 0)}
		if f.dir {
			hdr.Typeflag = tar.TypeDir
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, err
			}
			continue
		}
		body := f.body
		if f.path != "" {
			b, err := os.ReadFile(f.path)
			if err != nil {
				return nil, err
			}
			body = b
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = int64(len(body))
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// runBuild sends a classic-builder build (no BuildKit: a FROM scratch build then needs no registry) and
// waits for it, returning the daemon's error message if the build failed.
func (e *Engine) runBuild(ctx context.Context, ctxTar io.Reader, tag string, labels map[string]string) error {
	return engine.Build(ctx, e, ctxTar, []string{tag}, labels)
}

func (e *Engine) imageLabels(ctx context.Context, ref string) (map[string]string, bool) {
	ins, err := e.ImageInspect(ctx, ref)
	if err != nil || ins.Config == nil {
		return nil, false
	}
	return ins.Config.Labels, true
}

// EnsureBaseImage builds sandbox-base:<sha> from the binary unless it exists.
func (e *Engine) EnsureBaseImage(ctx context.Context, b Binary, progress func(string)) (string, error) {
	ref := BaseImageRef(b)
	if _, ok := e.imageLabels(ctx, ref); ok {
		return ref, nil
	}
	progress("building base image " + ref)
	dockerfile := "FROM scratch\nCOPY sandbox /sandbox\nCOPY --chown=65534:65534 data/ /data/\nCOPY --chown=65534:65534 tmp/ /tmp/\n" +
		"USER 65534:65534\nEXPOSE 8080\n"
	tr, err := buildContext([]tarFile{
		{name: "Dockerfile", mode: 0o644, body: []byte(dockerfile)},
		{name: "sandbox", mode: 0o755, path: b.Path},
		{name: "data/", mode: 0o755, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
	})
	if err != nil {
		return "", fmt.Errorf("build context: %w", err)
	}
	labels := map[string]string{LabelImage: "true", LabelBinary: b.SHA, LabelService: "base"}
	if err := e.runBuild(ctx, tr, ref, labels); err != nil {
		return "", err
	}
	return ref, nil
}

// EnsureRoleImage makes <name>/<role>:<version> carrying rel's manifest, unless an identical one exists. It
// is a commit of an (unstarted) container of the base image with the role's config: one API round trip
// instead of a Dockerfile build, whose every metadata step costs a layer commit on the classic builder.
func (e *Engine) EnsureRoleImage(ctx context.Context, name, role string, rel release.Release, b Binary) (string, error) {
	ref := ImageRef(name, role, rel.Version)
	manifest := rel.Encode()
	if l, ok := e.imageLabels(ctx, ref); ok && l[LabelBinary] == b.SHA && l[LabelRelease] == manifest {
		return ref, nil
	}
	labels := map[string]string{LabelImage: "true", LabelManaged: "true", LabelName: name, LabelService: role,
		LabelVersion: rel.Version, LabelRelease: manifest, LabelBinary: b.SHA}
	cfg := &container.Config{
		Image:        BaseImageRef(b),
		Env:          []string{"SANDBOX_SERVICE=" + role, "SANDBOX_RELEASE=" + manifest},
		Entrypoint:   []string{"/sandbox", "serve", role},
		User:         "65534:65534",
		ExposedPorts: nat.PortSet{"8080/tcp": {}},
		Labels:       labels,
		Healthcheck:  serviceHealthcheck(),
	}
	c, err := e.ContainerCreate(ctx, cfg, nil, nil, nil, "")
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	defer func() {
		_ = e.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true})
	}()
	if _, err := e.ContainerCommit(ctx, c.ID, container.CommitOptions{Reference: ref, Config: cfg,
		Comment: "sandbox " + role + " " + rel.Version}); err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	return ref, nil
}

// serviceHealthcheck probes /healthz with the binary itself (a FROM scratch image has no curl). Every probe
// is an exec (runc plus a process start), so the interval is a CPU budget: at 1 s, four sandboxes kept two
// cores busy with health checks alone. 2 s keeps a rolling deploy quick (API 1.41 has no StartInterval).
func serviceHealthcheck() *container.HealthConfig {
	// Checked every 2 s so readiness shows fast, but judged unhealthy only after 5 misses of 5 s each: on a
	// busy game-day host an exec of the binary can take seconds, and that is not a sick service.
	return &container.HealthConfig{Test: []string{"CMD", "/sandbox", "healthcheck"}, Interval: 2 * time.Second,
		Timeout: 5 * time.Second, Retries: 5, StartPeriod: 30 * time.Second}
}

// EnsureRelease builds every role's image for rel in sandbox name.
func (e *Engine) EnsureRelease(ctx context.Context, name string, rel release.Release, b Binary, progress func(string)) error {
	progress(fmt.Sprintf("building %s images for %s", rel.Version, name))
	for _, role := range Roles {
		if _, err := e.EnsureRoleImage(ctx, name, role, rel, b); err != nil {
			return err
		}
	}
	return nil
}

// Releases lists the releases that exist for sandbox name, read back from the images' manifest labels.
func (e *Engine) Releases(ctx context.Context, name string) (map[string]release.Release, error) {
	imgs, err := e.ImageList(ctx, image.ListOptions{Filters: NameFilter(name, "checkout")})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := map[string]release.Release{}
	for _, im := range imgs {
		var rel release.Release
		if err := json.Unmarshal([]byte(im.Labels[LabelRelease]), &rel); err == nil && rel.Version != "" {
			out[rel.Version] = rel
		}
	}
	return out, nil
}

// RemoveReleaseImages removes the fix-forward release images a sandbox's trainee cut (every version but the
// scenario's own v2.3.0 and v2.4.0), so the next attempt under the same name neither finds the last team's
// fix nor is refused its own v2.4.1. An empty name means every sandbox. It returns how many it removed.
func (e *Engine) RemoveReleaseImages(ctx context.Context, name string) (int, error) {
	imgs, err := e.ImageList(ctx, image.ListOptions{Filters: NameFilter(name)})
	if err != nil {
		return 0, fmt.Errorf("list images: %w", err)
	}
	base := []string{release.V230().Version, release.V240(nil, 0).Version}
	n := 0
	var errs []error
	for _, im := range imgs {
		v := im.Labels[LabelVersion]
		if v == "" || slices.Contains(base, v) {
			continue
		}
		if _, err := e.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove image %s (%s): %w", shortID(im.ID), v, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// PruneResult says what PruneImages removed and what it kept because a container still uses it.
type PruneResult struct {
	Removed []string
	InUse   []string
}

// PruneImages removes the sandbox's images built from another binary than current (older builds of the
// base image and the role and release images on top of them), newest layer first. An image a container
// still uses (a running sandbox of an older build) is kept and listed; nothing is forced. only narrows the
// images considered to those with these extra labels ("key=value"; tests use it to touch only their own).
func (e *Engine) PruneImages(ctx context.Context, current Binary, only ...string) (PruneResult, error) {
	var res PruneResult
	f := filters.NewArgs(filters.Arg("label", LabelImage+"=true"))
	for _, l := range only {
		f.Add("label", l)
	}
	imgs, err := e.ImageList(ctx, image.ListOptions{Filters: f})
	if err != nil {
		return res, fmt.Errorf("list images: %w", err)
	}
	ctrs, err := e.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return res, fmt.Errorf("list containers: %w", err)
	}
	used := map[string]bool{}
	for _, c := range ctrs {
		used[c.ImageID] = true
	}
	// Role images before base images: a base image is the parent of every role image built on it.
	sort.SliceStable(imgs, func(i, j int) bool {
		return imgs[i].Labels[LabelService] != "base" && imgs[j].Labels[LabelService] == "base"
	})
	var errs []error
	for _, im := range imgs {
		sha := im.Labels[LabelBinary]
		if sha == "" || sha == current.SHA {
			continue
		}
		ref := im.ID
		if len(im.RepoTags) > 0 {
			ref = im.RepoTags[0]
		}
		if used[im.ID] {
			res.InUse = append(res.InUse, ref)
			continue
		}
		if _, err := e.ImageRemove(ctx, im.ID, image.RemoveOptions{Force: len(im.RepoTags) > 1, PruneChildren: true}); err != nil {
			if errdefs.IsNotFound(err) {
				continue
			}
			if errdefs.IsConflict(err) {
				res.InUse = append(res.InUse, ref)
				continue
			}
			errs = append(errs, fmt.Errorf("remove %s: %w", ref, err))
			continue
		}
		res.Removed = append(res.Removed, ref)
	}
	return res, errors.Join(errs...)
}
