// Package observability runs Prometheus (and Grafana, when its image is on the engine) next to a sandbox: on the
// sandbox's network, scraping every instance of every role by DNS, with the alert rules and dashboard from
// dashboards/.
//
// Prometheus's image is prom/prometheus when present or pullable; where no registry answers (training rooms,
// this project's CI) it is sandbox/prometheus:debian, built from Debian's prometheus package with debootstrap
// and imported through the Engine API, the way sandbox/pgimage builds Postgres. Grafana has no Debian package,
// so it is started only when a grafana/grafana image is already present.
package observability

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/go-connections/nat"

	"github.com/sandbox-labs/sandbox/dashboards"
	"github.com/sandbox-labs/sandbox/sandbox/engine"
)

// Labels as in docs/ARCHITECTURE.md; spelled out here because the sandbox package will import this one.
const (
	labelManaged = "io.sandbox.managed"
	labelName    = "io.sandbox.name"
	labelService = "io.sandbox.service"
)

// Service names (io.sandbox.service) and network aliases of the containers this package starts.
const (
	ServicePrometheus = "prometheus"
	ServiceGrafana    = "grafana"
)

// Image references.
const (
	// DefaultPrometheusRef is used when present or pullable.
	DefaultPrometheusRef = "prom/prometheus"
	// LocalPrometheusRef is built from Debian's packages when DefaultPrometheusRef can't be had.
	LocalPrometheusRef = "sandbox/prometheus:debian"
	// GrafanaRef is used only when already present: no registry here, no Debian package to build from.
	GrafanaRef = "grafana/grafana"
)

// ErrNoGrafana means no Grafana image is on the engine; the dashboards still work through Prometheus.
var ErrNoGrafana = errors.New("no " + GrafanaRef + " image on this engine (Grafana has no Debian package to build one from; `docker load` one to get the dashboard)")

const (
	prometheusPort   = "9090/tcp"
	grafanaPort      = "3000/tcp"
	configDir        = "/etc/prometheus"           // exists in both images
	configSubdir     = "sandbox"                   // our files go to /etc/prometheus/sandbox
	dataDir          = "/prometheus"               // writable by 65534 in both images
	prometheusMemory = 256 << 20                   // TSDB head of ~10 targets, a few thousand series
	grafanaMemory    = 256 << 20                   //
	pullTimeout      = 30 * time.Second            // no registry should fail fast; a black hole must not stall
	readyTimeout     = 90 * time.Second            // first start replays nothing, but the engine may be busy
	stopTimeout      = 10                          // seconds
	readyPath        = "/-/ready"                  //
	grafanaHealth    = "/api/health"               //
	provisioningDir  = "/etc/grafana/provisioning" //
)

// PrometheusArgs are the flags Prometheus runs with; both images' entrypoint is the prometheus binary.
var PrometheusArgs = []string{
	"--config.file=" + path.Join(configDir, configSubdir, dashboards.PrometheusConfig),
	"--storage.tsdb.path=" + dataDir,
	"--storage.tsdb.retention.time=1d",
	"--web.listen-address=:9090",
}

// EnsurePrometheusImage returns a Prometheus image reference that exists on the engine. Order:
// prom/prometheus present; prom/prometheus pulled; sandbox/prometheus:debian present and built by this
// recipe; sandbox/prometheus:debian (re)built with debootstrap (needs root and debootstrap).
func EnsurePrometheusImage(ctx context.Context, cli client.APIClient, progress func(string)) (ref string, err error) {
	return ensurePrometheusImage(ctx, cli, progress, buildLocal)
}

type builder func(ctx context.Context, cli client.APIClient, progress func(string)) error

func ensurePrometheusImage(ctx context.Context, cli client.APIClient, progress func(string), build builder) (string, error) {
	if progress == nil {
		progress = func(string) {}
	}
	if ok, err := engine.ImagePresent(ctx, cli, DefaultPrometheusRef); err != nil {
		return "", err
	} else if ok {
		progress("prometheus image " + DefaultPrometheusRef + ": present")
		return DefaultPrometheusRef, nil
	}
	present, current, err := localImage(ctx, cli)
	if err != nil {
		return "", err
	}
	if current {
		progress("prometheus image " + LocalPrometheusRef + ": present")
		return LocalPrometheusRef, nil
	}
	progress("prometheus image " + DefaultPrometheusRef + ": not present, pulling")
	if perr := engine.Pull(ctx, cli, DefaultPrometheusRef, pullTimeout); perr == nil {
		progress("prometheus image " + DefaultPrometheusRef + ": pulled")
		return DefaultPrometheusRef, nil
	} else if ctx.Err() != nil {
		return "", fmt.Errorf("pull %s: %w", DefaultPrometheusRef, ctx.Err())
	} else {
		progress(fmt.Sprintf("prometheus image %s: pull failed (%v); using local build %s", DefaultPrometheusRef, perr, LocalPrometheusRef))
	}
	if present {
		progress("prometheus image " + LocalPrometheusRef + ": built by an older recipe, rebuilding")
	}
	if err := build(ctx, cli, progress); err != nil {
		if present && ctx.Err() == nil {
			progress(fmt.Sprintf("warning: rebuild of %s failed, using the older build: %v", LocalPrometheusRef, err))
			return LocalPrometheusRef, nil
		}
		return "", fmt.Errorf("build %s: %w", LocalPrometheusRef, err)
	}
	return LocalPrometheusRef, nil
}

// localImage reports whether LocalPrometheusRef exists and whether this recipe built it.
func localImage(ctx context.Context, cli client.APIClient) (present, current bool, err error) {
	present, labels, err := engine.ImageLabels(ctx, cli, LocalPrometheusRef)
	return present, present && labels[RecipeLabel] == recipeHash(), err
}

func ownFilter(name, service string) filters.Args {
	return filters.NewArgs(filters.Arg("label", labelManaged+"=true"), filters.Arg("label", labelName+"="+name),
		filters.Arg("label", labelService+"="+service))
}

// Start runs Prometheus on network for sandbox name, with dashboards' config and alert rules copied in, and
// returns its URL on the host (published on 127.0.0.1, engine-chosen port) once it is ready. labels are added
// to the container's (io.sandbox.managed/name/service are always set). A Prometheus already running for the
// sandbox is reused. It ensures the image without progress: call EnsurePrometheusImage first to show it.
func Start(ctx context.Context, cli client.APIClient, name, network string, labels map[string]string) (hostURL string, err error) {
	if url, ok, err := running(ctx, cli, name, ServicePrometheus, prometheusPort); err != nil || ok {
		return url, err
	}
	ref, err := EnsurePrometheusImage(ctx, cli, nil)
	if err != nil {
		return "", err
	}
	files, err := prometheusFiles()
	if err != nil {
		return "", err
	}
	return startContainer(ctx, cli, spec{
		name: name, network: network, labels: labels, service: ServicePrometheus, image: ref, cmd: PrometheusArgs,
		port: prometheusPort, memory: prometheusMemory, readyPath: readyPath,
		copies: []copySpec{{dir: configDir, files: files}},
	})
}

// StartGrafana runs Grafana on network, provisioned with the Prometheus datasource (http://prometheus:9090)
// and the sandbox dashboard, and returns its host URL. It returns ErrNoGrafana when no grafana/grafana image
// is on the engine. Anonymous users may view; the admin login is Grafana's default.
func StartGrafana(ctx context.Context, cli client.APIClient, name, network string, labels map[string]string) (hostURL string, err error) {
	if url, ok, err := running(ctx, cli, name, ServiceGrafana, grafanaPort); err != nil || ok {
		return url, err
	}
	ref, err := grafanaImage(ctx, cli)
	if err != nil {
		return "", err
	}
	prov, dash, err := grafanaFiles()
	if err != nil {
		return "", err
	}
	return startContainer(ctx, cli, spec{
		name: name, network: network, labels: labels, service: ServiceGrafana, image: ref,
		env:  []string{"GF_AUTH_ANONYMOUS_ENABLED=true", "GF_AUTH_ANONYMOUS_ORG_ROLE=Viewer", "GF_ANALYTICS_REPORTING_ENABLED=false", "GF_ANALYTICS_CHECK_FOR_UPDATES=false"},
		port: grafanaPort, memory: grafanaMemory, readyPath: grafanaHealth, keepUser: true,
		copies: []copySpec{{dir: provisioningDir, files: prov}, {dir: path.Dir(dashboards.GrafanaDashboardDir), files: dash}},
	})
}

// grafanaImage finds any local grafana/grafana tag.
func grafanaImage(ctx context.Context, cli client.APIClient) (string, error) {
	imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", GrafanaRef))})
	if err != nil {
		return "", fmt.Errorf("list images: %w", err)
	}
	for _, im := range imgs {
		for _, tag := range im.RepoTags {
			if strings.HasPrefix(tag, GrafanaRef+":") {
				return tag, nil
			}
		}
	}
	return "", ErrNoGrafana
}

// Stop removes the sandbox's Prometheus and Grafana containers (`sandbox down` removes them too, by label).
func Stop(ctx context.Context, cli client.APIClient, name string) (removed int, err error) {
	var errs []error
	for _, svc := range []string{ServicePrometheus, ServiceGrafana} {
		list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: ownFilter(name, svc)})
		if err != nil {
			return removed, fmt.Errorf("list containers: %w", err)
		}
		for _, c := range list {
			if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove %s container: %w", svc, err))
				continue
			}
			removed++
		}
	}
	return removed, errors.Join(errs...)
}

// running returns the host URL of the sandbox's running service container, removing a stopped one.
func running(ctx context.Context, cli client.APIClient, name, service, port string) (string, bool, error) {
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: ownFilter(name, service)})
	if err != nil {
		return "", false, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range list {
		if c.State == "running" {
			addr, err := engine.HostPort(ctx, cli, c.ID, port)
			return "http://" + addr, err == nil, err
		}
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
			return "", false, fmt.Errorf("remove stopped %s: %w", service, err)
		}
	}
	return "", false, nil
}

type copySpec struct {
	dir   string
	files []tarEntry
}

type spec struct {
	name, network, service, image, port, readyPath string
	labels                                         map[string]string
	cmd, env                                       []string
	memory                                         int64
	copies                                         []copySpec
	keepUser                                       bool // the image's own non-root user (Grafana's 472)
}

func startContainer(ctx context.Context, cli client.APIClient, s spec) (hostURL string, err error) {
	labels := map[string]string{}
	for k, v := range s.labels {
		labels[k] = v
	}
	labels[labelManaged], labels[labelName], labels[labelService] = "true", s.name, s.service
	p := nat.Port(s.port)
	stop := stopTimeout
	cfg := &container.Config{Image: s.image, Cmd: s.cmd, Env: s.env, Labels: labels, StopTimeout: &stop,
		ExposedPorts: nat.PortSet{p: {}}}
	if !s.keepUser {
		cfg.User = "65534:65534"
	}
	hc := &container.HostConfig{
		NetworkMode:  container.NetworkMode(s.network),
		PortBindings: nat.PortMap{p: {{HostIP: "127.0.0.1", HostPort: ""}}},
		Resources:    container.Resources{Memory: s.memory},
		CapDrop:      []string{"ALL"},
		SecurityOpt:  []string{"no-new-privileges"},
	}
	nc := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		s.network: {Aliases: []string{s.service}},
	}}
	c, err := cli.ContainerCreate(ctx, cfg, hc, nc, nil, s.name+"-"+s.service+"-"+engine.RandomSuffix(3))
	if err != nil {
		return "", fmt.Errorf("create %s: %w", s.service, err)
	}
	defer func() {
		if err != nil {
			// Leave nothing half-started behind; the next Start would otherwise reuse it.
			_ = cli.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	}()
	for _, cp := range s.copies {
		archive, err := tarOf(cp.files)
		if err != nil {
			return "", err
		}
		if err := cli.CopyToContainer(ctx, c.ID, cp.dir, archive, container.CopyToContainerOptions{}); err != nil {
			return "", fmt.Errorf("copy config into %s: %w", s.service, err)
		}
	}
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return "", fmt.Errorf("start %s: %w", s.service, err)
	}
	addr, err := engine.HostPort(ctx, cli, c.ID, s.port)
	if err != nil {
		return "", err
	}
	url := "http://" + addr
	if err := engine.Wait(ctx, cli, c.ID, readyTimeout, engine.ForHTTP(url+s.readyPath)); err != nil {
		return "", fmt.Errorf("%s: %w", s.service, err)
	}
	return url, nil
}

// tarEntry is one file or directory of an archive for CopyToContainer.
type tarEntry struct {
	name string
	body []byte
	dir  bool
}

// tarOf builds an archive readable by the container's non-root user (root-owned, world-readable).
func tarOf(entries []tarEntry) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, ModTime: time.Now(), Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		if e.dir {
			hdr.Name, hdr.Mode, hdr.Typeflag, hdr.Size = strings.TrimSuffix(e.name, "/")+"/", 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("tar %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("tar %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

func embedded(name string) ([]byte, error) {
	b, err := fs.ReadFile(dashboards.FS, name)
	if err != nil {
		return nil, fmt.Errorf("embedded %s: %w", name, err)
	}
	return b, nil
}

// prometheusFiles are copied into /etc/prometheus: sandbox/prometheus.yml and the rules next to it.
func prometheusFiles() ([]tarEntry, error) {
	out := []tarEntry{{name: configSubdir, dir: true}}
	for _, f := range []string{dashboards.PrometheusConfig, dashboards.AlertRules} {
		b, err := embedded(f)
		if err != nil {
			return nil, err
		}
		out = append(out, tarEntry{name: configSubdir + "/" + f, body: b})
	}
	return out, nil
}

// grafanaFiles are the provisioning tree (into /etc/grafana/provisioning) and the dashboard (into
// /var/lib/grafana/dashboards).
func grafanaFiles() (prov, dash []tarEntry, err error) {
	const provPrefix = "grafana/provisioning/"
	prov = []tarEntry{{name: "datasources", dir: true}, {name: "dashboards", dir: true}}
	for _, f := range []string{dashboards.GrafanaDatasource, dashboards.GrafanaProvider} {
		b, err := embedded(f)
		if err != nil {
			return nil, nil, err
		}
		prov = append(prov, tarEntry{name: strings.TrimPrefix(f, provPrefix), body: b})
	}
	b, err := embedded(dashboards.GrafanaDashboard)
	if err != nil {
		return nil, nil, err
	}
	base := path.Base(dashboards.GrafanaDashboardDir)
	dash = []tarEntry{{name: base, dir: true}, {name: base + "/" + dashboards.GrafanaDashboard, body: b}}
	return prov, dash, nil
}
