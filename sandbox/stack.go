package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"
	"github.com/jackc/pgx/v5"

	"github.com/sandbox-labs/sandbox/sandbox/pgimage"
	"github.com/sandbox-labs/sandbox/services/release"
	"github.com/sandbox-labs/sandbox/services/schema"
)

// Shop database credentials inside the sandbox network (a training shop, not a secret).
const (
	dbUser = "shop"
	dbPass = "shop"
	dbName = "shop"
)

// LabelSettings on the sandbox network holds its Settings as JSON: the one place a later command (deploy,
// rollback) learns how the sandbox was created, kept on the engine so it cannot drift from what runs.
const LabelSettings = "io.sandbox.settings"

// Settings are how a sandbox was created.
type Settings struct {
	LoadRPS        float64  `json:"load_rps"`
	NoiseRate      float64  `json:"noise_rate"`
	Seed           int64    `json:"seed"`
	Faults         []string `json:"faults"`
	ScrapeInterval string   `json:"scrape_interval"`
	PostgresImage  string   `json:"postgres_image"`
	RetryBackoff   string   `json:"retry_backoff,omitempty"`
}

// DefaultSettings reproduce the scenario card.
func DefaultSettings() Settings {
	return Settings{LoadRPS: 40, NoiseRate: 0.001, Faults: append([]string(nil), release.AllFaults...), ScrapeInterval: "2s"}
}

// ErrAlreadyRunning means `up` found containers of the sandbox on the engine.
var ErrAlreadyRunning = errors.New("sandbox already running")

// InternalDatabaseURL is how services reach Postgres on the sandbox network.
func InternalDatabaseURL() string {
	return fmt.Sprintf("postgres://%s:%s@postgres:5432/%s?sslmode=disable", dbUser, dbPass, dbName)
}

// RoleEnv is the environment of a role's container.
func RoleEnv(name, role string, s Settings) []string {
	env := []string{"SANDBOX_NAME=" + name, "SANDBOX_SEED=" + strconv.FormatInt(s.Seed, 10), "SANDBOX_LISTEN=:8080"}
	switch role {
	case "provider", "gateway":
	default:
		env = append(env, "SANDBOX_DATABASE_URL="+InternalDatabaseURL())
	}
	switch role {
	case "gateway":
		env = append(env, "SANDBOX_NOISE_RATE="+strconv.FormatFloat(s.NoiseRate, 'f', -1, 64))
		if s.RetryBackoff != "" {
			env = append(env, "SANDBOX_RETRY_BACKOFF="+s.RetryBackoff)
		}
	case "loadgen":
		env = append(env, "SANDBOX_LOAD_RPS="+strconv.FormatFloat(s.LoadRPS, 'f', -1, 64), "SANDBOX_TARGET=http://gateway:8080")
	case "control":
		env = append(env, "SANDBOX_DATA_DIR=/data", "SANDBOX_SCRAPE_INTERVAL="+s.ScrapeInterval)
	}
	return env
}

// Progress receives one line per step of a long operation.
type Progress func(string)

// UpOptions configure `sandbox up`.
type UpOptions struct {
	Name     string
	Settings Settings
	// Game, when set, labels the sandbox as a team of that game day (LabelGame).
	Game string
}

// Endpoints are where a running sandbox can be reached from the host.
type Endpoints struct {
	Gateway     string // http://127.0.0.1:port
	Control     string
	DatabaseURL string // postgres://...@127.0.0.1:port/shop
	// Secret authenticates the CLI's writes to the control room ("" for a sandbox without one).
	Secret string
	// Untrusted names containers that carry the sandbox's labels but no valid seal: not created by the CLI.
	// Endpoints never points at them.
	Untrusted []string
}

// ControlRoom is an authenticated client of the sandbox's control room.
func (ep Endpoints) ControlRoom() *ControlRoom {
	cr := NewControlRoom(ep.Control)
	cr.Token = ep.Secret
	return cr
}

// Releases of the scenario for a sandbox's settings.
func BuiltinReleases(s Settings) []release.Release {
	return []release.Release{release.V230(), release.V240(s.Faults, s.Seed)}
}

// PrepareImages makes sure the Postgres image and every role image of the built-in releases exist.
func (e *Engine) PrepareImages(ctx context.Context, name string, s Settings, progress Progress) (pgRef string, err error) {
	pgRef, err = pgimage.Ensure(ctx, e.APIClient, s.PostgresImage, progress)
	if err != nil {
		return "", fmt.Errorf("postgres image: %w", err)
	}
	info, err := e.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("engine info: %w", err)
	}
	bin, err := ResolveBinary(ctx, info.OSType, normalizeArch(info.Architecture), CacheDir(), progress)
	if err != nil {
		return "", err
	}
	if _, err := e.EnsureBaseImage(ctx, bin, progress); err != nil {
		return "", err
	}
	for _, rel := range BuiltinReleases(s) {
		if err := e.EnsureRelease(ctx, name, rel, bin, progress); err != nil {
			return "", err
		}
	}
	return pgRef, nil
}

// CurrentBinary resolves the service binary for this engine (used to build fix-forward releases).
func (e *Engine) CurrentBinary(ctx context.Context, progress Progress) (Binary, error) {
	info, err := e.Info(ctx)
	if err != nil {
		return Binary{}, fmt.Errorf("engine info: %w", err)
	}
	return ResolveBinary(ctx, info.OSType, normalizeArch(info.Architecture), CacheDir(), progress)
}

func normalizeArch(a string) string {
	switch a {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	}
	return a
}

// Up starts a sandbox healthy on v2.3.0. On any failure, including Ctrl-C, it removes what it started.
func (e *Engine) Up(ctx context.Context, o UpOptions, progress Progress) (ep Endpoints, err error) {
	if err := ValidateName(o.Name); err != nil {
		return ep, err
	}
	existing, err := e.Instances(ctx, o.Name)
	if err != nil {
		return ep, err
	}
	if len(existing) > 0 {
		return ep, fmt.Errorf("%w: %q has %d containers; see `sandbox status --name %s`, or remove it with `sandbox down --name %s`",
			ErrAlreadyRunning, o.Name, len(existing), o.Name, o.Name)
	}
	if nets, _ := e.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", NetworkName(o.Name)))}); len(nets) > 0 {
		for _, n := range nets {
			if n.Name == NetworkName(o.Name) && n.Labels[LabelManaged] != "true" {
				return ep, fmt.Errorf("a network named %s exists and is not the sandbox's; remove it or pick another --name", n.Name)
			}
		}
	}
	defer func() {
		if err != nil {
			// Never leave half a sandbox behind: it would block the next `up`.
			progress("cleaning up the partial sandbox")
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
			defer cancel()
			if _, derr := e.Down(cctx, o.Name); derr != nil {
				err = errors.Join(err, fmt.Errorf("cleanup: %w", derr))
			}
		}
	}()
	s := o.Settings
	pgRef, err := e.PrepareImages(ctx, o.Name, s, progress)
	if err != nil {
		return ep, err
	}
	s.PostgresImage = pgRef
	settingsJSON, _ := json.Marshal(s)
	progress("creating network " + NetworkName(o.Name))
	netLabels := ResourceLabels(o.Name, "network", "")
	netLabels[LabelSettings] = string(settingsJSON)
	netLabels[LabelSecret] = newSecret()
	if o.Game != "" {
		netLabels[LabelGame] = o.Game
	}
	if _, err := e.NetworkCreate(ctx, NetworkName(o.Name), network.CreateOptions{Driver: "bridge", Labels: netLabels}); err != nil {
		return ep, fmt.Errorf("create network: %w", err)
	}
	for _, purpose := range []string{"pgdata", "control"} {
		labels := ResourceLabels(o.Name, purpose, "")
		if o.Game != "" {
			labels[LabelGame] = o.Game
		}
		if _, err := e.VolumeCreate(ctx, volume.CreateOptions{Name: VolumeName(o.Name, purpose), Labels: labels}); err != nil {
			return ep, fmt.Errorf("create volume: %w", err)
		}
	}
	progress("starting postgres (" + pgRef + ")")
	pgID, err := e.StartContainer(ctx, ContainerSpec{Name: o.Name, Service: "postgres", Image: pgRef, Root: true,
		Env:     []string{"POSTGRES_USER=" + dbUser, "POSTGRES_PASSWORD=" + dbPass, "POSTGRES_DB=" + dbName},
		Publish: "5432/tcp", Mounts: map[string]string{VolumeName(o.Name, "pgdata"): "/var/lib/postgresql/data"},
		Health: &container.HealthConfig{Test: pgimage.HealthCmd, Interval: 2 * time.Second, Timeout: 3 * time.Second, Retries: 5, StartPeriod: 60 * time.Second}})
	if err != nil {
		return ep, err
	}
	if err := e.WaitHealthy(ctx, pgID, 120*time.Second); err != nil {
		return ep, fmt.Errorf("postgres: %w", err)
	}
	if ep, err = e.Endpoints(ctx, o.Name); err != nil {
		return ep, err
	}
	if err := waitDB(ctx, ep.DatabaseURL, 60*time.Second); err != nil {
		return ep, err
	}
	progress("migrating the shop database to v2.3.0's schema")
	if _, err := schema.Up(ctx, ep.DatabaseURL, release.MigrationBase, schema.OptionsForRelease(release.V240(s.Faults, s.Seed))); err != nil {
		return ep, fmt.Errorf("migrate: %w", err)
	}
	if err := applySeedDetails(ctx, ep.DatabaseURL, s.Seed); err != nil {
		return ep, err
	}
	v230 := release.V230()
	ids := map[string]string{}
	for _, role := range Roles {
		progress(fmt.Sprintf("starting %s %s", role, v230.Version))
		spec := ContainerSpec{Name: o.Name, Service: role, Version: v230.Version, Image: ImageRef(o.Name, role, v230.Version),
			Env: RoleEnv(o.Name, role, s)}
		switch role {
		case "gateway":
			spec.Publish = "8080/tcp"
		case "control":
			spec.Publish = "8080/tcp"
			spec.Mounts = map[string]string{VolumeName(o.Name, "control"): "/data"}
		}
		id, err := e.StartContainer(ctx, spec)
		if err != nil {
			return ep, err
		}
		ids[role] = id
	}
	for _, role := range Roles {
		if err := e.WaitHealthy(ctx, ids[role], 60*time.Second); err != nil {
			return ep, fmt.Errorf("%s: %w", role, err)
		}
	}
	progress("all services healthy")
	return e.Endpoints(ctx, o.Name)
}

// applySeedDetails varies the cohort share by seed; seed 0 keeps the card's 15%.
func applySeedDetails(ctx context.Context, dbURL string, seed int64) error {
	if seed == 0 {
		return nil
	}
	pct := 10 + int(uint64(seed)%11) // 10..20%
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE feature_flags SET rollout_percent = $1 WHERE name = 'discount_codes'`, pct); err != nil {
		return fmt.Errorf("set cohort share: %w", err)
	}
	return nil
}

func waitDB(ctx context.Context, dbURL string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, dbURL)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(context.WithoutCancel(ctx))
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections: %w", err)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// SandboxSettings reads the settings a sandbox was created with from its network's label.
func (e *Engine) SandboxSettings(ctx context.Context, name string) (Settings, error) {
	nets, err := e.NetworkList(ctx, network.ListOptions{Filters: NameFilter(name, "network")})
	if err != nil {
		return Settings{}, fmt.Errorf("list networks: %w", err)
	}
	if len(nets) == 0 {
		return Settings{}, fmt.Errorf("no sandbox named %q on this engine; start one with `sandbox up --name %s`", name, name)
	}
	var s Settings
	if err := json.Unmarshal([]byte(nets[0].Labels[LabelSettings]), &s); err != nil {
		return Settings{}, fmt.Errorf("read sandbox settings: %w", err)
	}
	return s, nil
}

// Endpoints discovers the host addresses of a sandbox by inspecting its containers' published ports.
func (e *Engine) Endpoints(ctx context.Context, name string) (Endpoints, error) {
	var ep Endpoints
	insts, err := e.Instances(ctx, name)
	if err != nil {
		return ep, err
	}
	if len(insts) == 0 {
		return ep, fmt.Errorf("no sandbox named %q is running; start it with `sandbox up --name %s`", name, name)
	}
	if ep.Secret, err = e.Secret(ctx, name); err != nil {
		return ep, err
	}
	for i := len(insts) - 1; i >= 0; i-- { // newest first, so a redeployed gateway wins
		in := insts[i]
		if ep.Secret != "" && !SealValid(ep.Secret, in.Name, in.Seal) {
			ep.Untrusted = append(ep.Untrusted, fmt.Sprintf("%s (%s, %s)", in.Name, in.Service, shortID(in.ID)))
			continue
		}
		if in.State != "running" {
			continue
		}
		switch in.Service {
		case "gateway", "control":
			hp, err := e.PublishedPort(ctx, in.ID, "8080/tcp")
			if err != nil {
				continue
			}
			if in.Service == "gateway" && ep.Gateway == "" {
				ep.Gateway = "http://" + hp
			}
			if in.Service == "control" && ep.Control == "" {
				ep.Control = "http://" + hp
			}
		case "postgres":
			if hp, err := e.PublishedPort(ctx, in.ID, "5432/tcp"); err == nil && ep.DatabaseURL == "" {
				ep.DatabaseURL = (&url.URL{Scheme: "postgres", User: url.UserPassword(dbUser, dbPass), Host: hp, Path: "/" + dbName, RawQuery: "sslmode=disable"}).String()
			}
		}
	}
	return ep, nil
}

// DownResult counts what `down` removed.
type DownResult struct{ Containers, Networks, Volumes int }

// Down removes every container, network and volume of sandbox name ("" = every sandbox). Removing what is
// already gone is not an error, so it can run twice.
func (e *Engine) Down(ctx context.Context, name string) (DownResult, error) {
	var res DownResult
	var errs []error
	f := NameFilter(name)
	list, err := e.ContainerList(ctx, container.ListOptions{All: true, Filters: f})
	if err != nil {
		return res, fmt.Errorf("list containers: %w", err)
	}
	for _, c := range list {
		if err := e.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove container %s: %w", strings.TrimPrefix(firstName(c.Names), "/"), err))
			continue
		}
		res.Containers++
	}
	nets, err := e.NetworkList(ctx, network.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list networks: %w", err))
	}
	for _, n := range nets {
		if err := e.NetworkRemove(ctx, n.ID); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove network %s: %w", n.Name, err))
			continue
		}
		res.Networks++
	}
	vols, err := e.VolumeList(ctx, volume.ListOptions{Filters: f})
	if err != nil {
		errs = append(errs, fmt.Errorf("list volumes: %w", err))
	}
	for _, v := range vols.Volumes {
		if err := e.VolumeRemove(ctx, v.Name, true); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
			continue
		}
		res.Volumes++
	}
	return res, errors.Join(errs...)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func firstName(n []string) string {
	if len(n) > 0 {
		return n[0]
	}
	return ""
}
