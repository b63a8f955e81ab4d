package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"
	"github.com/jackc/pgx/v5"

	"github.com/sandbox-labs/sandbox/services/release"
)

// A reset puts a running sandbox back at the start of the incident without rebuilding anything: a fresh shop
// database (v2.3.0's schema, seed data and flags, exactly as `up` makes it), every service on v2.3.0, the
// trainee's fix-forward release images gone, and a control room that keeps the last attempt's record as a
// numbered past attempt and starts a fresh one (new chain, new baseline). The network, and with it the
// sandbox's secret and settings, stays.
//
// Each attempt is marked on the engine by a volume labelled with its number (attempt 1 has none), created
// before anything else changes: a v2.4.0 rollout scheduled for an earlier attempt sees it and stops, so a
// reset sandbox never receives the last attempt's rollout.

// LabelAttempt on an attempt marker volume is the attempt's number.
const LabelAttempt = "io.sandbox.attempt"

// Attempt is the sandbox's current attempt at the incident: 1 until the first reset.
func (e *Engine) Attempt(ctx context.Context, name string) (int, error) {
	vols, err := e.VolumeList(ctx, volume.ListOptions{Filters: NameFilter(name, "attempt")})
	if err != nil {
		return 0, fmt.Errorf("list volumes: %w", err)
	}
	n := 1
	for _, v := range vols.Volumes {
		if a, err := strconv.Atoi(v.Labels[LabelAttempt]); err == nil && a > n {
			n = a
		}
	}
	return n, nil
}

// ResetResult says what a reset did.
type ResetResult struct {
	Attempt       int // the attempt that now starts
	Removed       int // service containers removed
	ReleaseImages int // fix-forward release images removed
	Endpoints     Endpoints
}

// CheckResettable validates that sandbox name can be reset without changing anything: it exists, its
// settings are readable, and every v2.3.0 image and the Postgres image are present (a reset builds nothing).
func (e *Engine) CheckResettable(ctx context.Context, name string) (Settings, error) {
	s, err := e.SandboxSettings(ctx, name)
	if err != nil {
		return s, err
	}
	v := release.V230().Version
	for _, role := range Roles {
		if _, err := e.ImageInspect(ctx, ImageRef(name, role, v)); err != nil {
			if errdefs.IsNotFound(err) {
				return s, fmt.Errorf("the %s image of sandbox %q (%s) is gone, so a reset cannot start the shop without a rebuild: `sandbox down --name %s` and `sandbox up --name %s`",
					v, name, ImageRef(name, role, v), name, name)
			}
			return s, fmt.Errorf("inspect image %s: %w", ImageRef(name, role, v), err)
		}
	}
	if s.PostgresImage != "" {
		if _, err := e.ImageInspect(ctx, s.PostgresImage); err != nil {
			return s, fmt.Errorf("the Postgres image %s of sandbox %q is gone: `sandbox images` rebuilds it (%w)", s.PostgresImage, name, err)
		}
	}
	return s, nil
}

// Reset puts sandbox name back at the start of the incident (see the top of this file). The caller holds
// the sandbox's change lock. It does not schedule the v2.4.0 rollout; the CLI does, as after `up`.
func (e *Engine) Reset(ctx context.Context, name string, progress Progress) (ResetResult, error) {
	var res ResetResult
	s, err := e.CheckResettable(ctx, name)
	if err != nil {
		return res, err
	}
	cur, err := e.Attempt(ctx, name)
	if err != nil {
		return res, err
	}
	res.Attempt = cur + 1
	// First: from here a rollout scheduled for an earlier attempt stands down.
	labels := ResourceLabels(name, "attempt", "")
	labels[LabelAttempt] = strconv.Itoa(res.Attempt)
	if _, err := e.VolumeCreate(ctx, volume.CreateOptions{Name: VolumeName(name, "attempt-"+strconv.Itoa(res.Attempt)), Labels: labels}); err != nil {
		return res, fmt.Errorf("mark attempt %d: %w", res.Attempt, err)
	}
	progress(fmt.Sprintf("attempt %d: stopping the shop", res.Attempt))
	insts, err := e.Instances(ctx, name)
	if err != nil {
		return res, err
	}
	secret, err := e.Secret(ctx, name)
	if err != nil {
		return res, err
	}
	var doomed []Instance
	var pg []Instance
	for _, in := range insts {
		switch {
		case in.Service == "postgres":
			pg = append(pg, in)
		case IsRole(in.Service):
			doomed = append(doomed, in)
		}
	}
	// Postgres is kept when it is the sandbox's own and running: the database is recreated inside it,
	// which is much faster than a new data directory.
	pgKeep := ""
	if len(pg) == 1 && pg[0].State == "running" && (secret == "" || SealValid(secret, pg[0].Name, pg[0].Seal)) {
		pgKeep = pg[0].ID
	} else {
		doomed = append(doomed, pg...)
	}
	res.Removed, err = e.removeAll(ctx, doomed)
	if err != nil {
		return res, err
	}
	if res.ReleaseImages, err = e.RemoveReleaseImages(ctx, name); err != nil {
		return res, err
	}
	ep, err := e.resetPostgres(ctx, name, s.PostgresImage, pgKeep, progress)
	if err != nil {
		return res, err
	}
	// The control room's volume holds the records of every attempt: made again (with its labels, so
	// `down` finds it) only if someone removed it.
	if _, err := e.VolumeCreate(ctx, volume.CreateOptions{Name: VolumeName(name, "control"), Labels: ResourceLabels(name, "control", "")}); err != nil {
		return res, fmt.Errorf("create volume: %w", err)
	}
	if err := initShopDB(ctx, ep.DatabaseURL, s, progress); err != nil {
		return res, err
	}
	if err := e.startShop(ctx, name, s, res.Attempt, progress); err != nil {
		return res, err
	}
	res.Endpoints, err = e.Endpoints(ctx, name)
	return res, err
}

// resetPostgres leaves an empty shop database on a healthy Postgres: recreated inside the running one (keep,
// when set, else one started on the existing data volume), or, when that refuses (a trainee changed the shop
// user's password, broke the cluster), in a new Postgres on a new data volume.
func (e *Engine) resetPostgres(ctx context.Context, name, pgRef, keep string, progress Progress) (Endpoints, error) {
	if keep == "" {
		id, err := e.postgresOnVolume(ctx, name, pgRef, progress)
		if err != nil {
			return Endpoints{}, err
		}
		keep = id
	}
	ep, err := e.recreateIn(ctx, name, keep, progress)
	if err == nil || ctx.Err() != nil {
		return ep, err
	}
	progress("the shop database cannot be recreated in place (" + err.Error() + "): starting a new Postgres on a new data volume")
	if _, err := e.removeAll(ctx, []Instance{{ID: keep, Name: "postgres"}}); err != nil {
		return ep, err
	}
	if err := e.VolumeRemove(ctx, VolumeName(name, "pgdata"), true); err != nil && !errdefs.IsNotFound(err) {
		return ep, fmt.Errorf("remove volume: %w", err)
	}
	if _, err := e.postgresOnVolume(ctx, name, pgRef, progress); err != nil {
		return Endpoints{}, err
	}
	return e.Endpoints(ctx, name) // a new cluster: its shop database is already empty
}

// postgresOnVolume starts Postgres on the sandbox's data volume, made first if it is missing.
func (e *Engine) postgresOnVolume(ctx context.Context, name, pgRef string, progress Progress) (string, error) {
	if _, err := e.VolumeCreate(ctx, volume.CreateOptions{Name: VolumeName(name, "pgdata"), Labels: ResourceLabels(name, "pgdata", "")}); err != nil {
		return "", fmt.Errorf("create volume: %w", err)
	}
	return e.startPostgres(ctx, name, pgRef, progress)
}

// recreateIn recreates the shop database inside the running Postgres id.
func (e *Engine) recreateIn(ctx context.Context, name, id string, progress Progress) (Endpoints, error) {
	if err := e.WaitHealthy(ctx, id, 60*time.Second); err != nil {
		return Endpoints{}, err
	}
	ep, err := e.Endpoints(ctx, name)
	if err != nil {
		return ep, err
	}
	progress("recreating the shop database")
	return ep, recreateDB(ctx, ep.DatabaseURL)
}

// removeAll force-removes containers side by side (a reset throws their state away: no drain).
func (e *Engine) removeAll(ctx context.Context, insts []Instance) (int, error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		n    int
		errs []error
	)
	for _, in := range insts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := e.ContainerRemove(ctx, in.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove container %s: %w", in.Name, err))
				return
			}
			n++
		}()
	}
	wg.Wait()
	return n, errors.Join(errs...)
}

// recreateDB drops the shop database, whatever the trainee did to it, and creates it empty, through the
// maintenance database of the same server.
func recreateDB(ctx context.Context, dbURL string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return fmt.Errorf("database url: %w", err)
	}
	u.Path = "/postgres"
	// Postgres is healthy by now: a refusal here (a changed password) will not go away by waiting.
	if err := waitDB(ctx, u.String(), 10*time.Second); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return fmt.Errorf("connect to database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// FORCE ends the sessions still open on it (a trainee's psql, a service not yet stopped).
	for _, q := range []string{
		"DROP DATABASE IF EXISTS " + pgx.Identifier{dbName}.Sanitize() + " WITH (FORCE)",
		"CREATE DATABASE " + pgx.Identifier{dbName}.Sanitize() + " OWNER " + pgx.Identifier{dbUser}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("recreate the shop database: %w", err)
		}
	}
	return nil
}
