package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
	"github.com/sandbox-labs/sandbox/services/status"
	"github.com/sandbox-labs/sandbox/services/topology"
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
	r, _ := topology.Lookup(role)
	if r.UsesDB {
		env = append(env, "SANDBOX_DATABASE_URL="+InternalDatabaseURL())
	}
	if r.DataDir != "" {
		env = append(env, "SANDBOX_DATA_DIR="+r.DataDir)
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
		env = append(env, "SANDBOX_SCRAPE_INTERVAL="+s.ScrapeInterval)
	}
	return env
}

// servicePort is the port every role serves on inside its container.
const servicePort = "8080/tcp"

// RoleSpec is how role's container runs at version: its image, environment, published port and volume, as
// the topology says. `up` and deploy both take it from here.
func RoleSpec(name, role, version string, s Settings) ContainerSpec {
	spec := ContainerSpec{Name: name, Service: role, Version: version, Image: ImageRef(name, role, version),
		Env: RoleEnv(name, role, s)}
	r, _ := topology.Lookup(role)
	if r.Published {
		spec.Publish = servicePort
	}
	if r.DataDir != "" {
		spec.Mounts = map[string]string{VolumeName(name, role): r.DataDir}
	}
	return spec
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
	volumes := append([]string{"pgdata"}, topology.Names(func(r topology.Role) bool { return r.DataDir != "" })...)
	for _, purpose := range volumes {
		labels := ResourceLabels(o.Name, purpose, "")
		if o.Game != "" {
			labels[LabelGame] = o.Game
		}
		if _, err := e.VolumeCreate(ctx, volume.CreateOptions{Name: VolumeName(o.Name, purpose), Labels: labels}); err != nil {
			return ep, fmt.Errorf("create volume: %w", err)
		}
	}
	if _, err := e.startPostgres(ctx, o.Name, pgRef, progress); err != nil {
		return ep, err
	}
	if ep, err = e.Endpoints(ctx, o.Name); err != nil {
		return ep, err
	}
	if err := initShopDB(ctx, ep.DatabaseURL, s, progress); err != nil {
		return ep, err
	}
	if err := e.startShop(ctx, o.Name, s, 0, progress); err != nil {
		return ep, err
	}
	return e.Endpoints(ctx, o.Name)
}

// startPostgres starts the sandbox's Postgres on its data volume and waits until it is healthy.
func (e *Engine) startPostgres(ctx context.Context, name, pgRef string, progress Progress) (string, error) {
	progress("starting postgres (" + pgRef + ")")
	pgID, err := e.StartContainer(ctx, ContainerSpec{Name: name, Service: "postgres", Image: pgRef, Root: true,
		Env:     []string{"POSTGRES_USER=" + dbUser, "POSTGRES_PASSWORD=" + dbPass, "POSTGRES_DB=" + dbName},
		Publish: "5432/tcp", Mounts: map[string]string{VolumeName(name, "pgdata"): "/var/lib/postgresql/data"},
		Health: &container.HealthConfig{Test: pgimage.HealthCmd, Interval: 2 * time.Second, Timeout: 3 * time.Second, Retries: 5, StartPeriod: 60 * time.Second}})
	if err != nil {
		return "", err
	}
	if err := e.WaitHealthy(ctx, pgID, 120*time.Second); err != nil {
		return "", fmt.Errorf("postgres: %w", err)
	}
	return pgID, nil
}

// initShopDB brings an empty shop database to the start of the incident: v2.3.0's schema (the migrations up
// to release.MigrationBase), the seed data, and the seed's cohort share.
func initShopDB(ctx context.Context, dbURL string, s Settings, progress Progress) error {
	if err := waitDB(ctx, dbURL, 60*time.Second); err != nil {
		return err
	}
	progress("migrating the shop database to v2.3.0's schema")
	if _, err := schema.Up(ctx, dbURL, release.MigrationBase, schema.OptionsForRelease(release.V240(s.Faults, s.Seed))); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return applySeedDetails(ctx, dbURL, s.Seed)
}

// startShop starts every role at v2.3.0 and waits until all are healthy. attempt > 0 tells the control room
// which attempt it records (see status.AttemptEnv); 0 is the sandbox's first.
func (e *Engine) startShop(ctx context.Context, name string, s Settings, attempt int, progress Progress) error {
	v230 := release.V230()
	spec := func(role string) ContainerSpec {
		spec := RoleSpec(name, role, v230.Version, s)
		if role == "control" && attempt > 0 {
			spec.Env = append(spec.Env, status.AttemptEnv+"="+strconv.Itoa(attempt))
		}
		return spec
	}
	// Side by side: nothing in the shop needs another service up to start (callers resolve and retry), and
	// one at a time costs a container start each on a busy engine. The load generator comes last, so its
	// first requests find a gateway.
	ids := map[string]string{}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	start := func(role string) {
		defer wg.Done()
		id, err := e.StartContainer(ctx, spec(role))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
			return
		}
		ids[role] = id
	}
	progress(fmt.Sprintf("starting %s %s", strings.Join(Roles, ", "), v230.Version))
	for _, role := range Roles {
		if role != "loadgen" {
			wg.Add(1)
			go start(role)
		}
	}
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	wg.Add(1)
	start("loadgen")
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, role := range Roles {
		if err := e.WaitHealthy(ctx, ids[role], 60*time.Second); err != nil {
			return fmt.Errorf("%s: %w", role, err)
		}
	}
	progress("all services healthy")
	return nil
}

// applySeedDetails sets the seed's cohort share; seed 0 keeps the card's, which the shop is seeded with.
func applySeedDetails(ctx context.Context, dbURL string, seed int64) error {
	if seed == 0 {
		return nil
	}
	pct := release.SeededCohortPercent(seed)
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
			hp, err := e.PublishedPort(ctx, in.ID, servicePort)
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
