package schema

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"testing/fstest"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/sandbox-labs/sandbox/services/release"
)

//go:embed migrations/*.sql variants/*.sql
var embedded embed.FS

// Migration describes one schema version for display and ordering.
type Migration struct {
	Version int64  `json:"version"`
	Name    string `json:"name"`
	// Release is the shop release that introduced the migration.
	Release string `json:"release"`
	// PR is the changelog PR number, 0 for the base schema.
	PR int `json:"pr,omitempty"`
	// Up and Down are the SQL text goose runs (for display; goose reads the same embedded files).
	Up   string `json:"up"`
	Down string `json:"down"`
}

// Options choose the form of migrations that game days can vary. The zero value is the scenario default.
type Options struct {
	// SafeOrderMetadata ships version 5 in its safe expand form (nullable, DEFAULT '{}') instead of the
	// faulty NOT NULL without a default. Set it when the not-null-migration fault is disabled.
	SafeOrderMetadata bool
}

// OptionsForRelease returns the options for migrating to rel: version 5 is safe when rel contains PR #905
// but its not-null-migration fault is not enabled.
func OptionsForRelease(rel release.Release) Options {
	return Options{SafeOrderMetadata: rel.HasPR(release.PROrderMetadata) && !rel.FaultActive(release.FaultNotNullTrap)}
}

// meta is the metadata goose files cannot carry.
var meta = map[int64]struct {
	release string
	pr      int
}{
	1: {"v2.3.0", 0}, 2: {"v2.3.0", 0}, 3: {"v2.3.0", 0}, 4: {"v2.3.0", 0},
	5: {"v2.4.0", release.PROrderMetadata},
}

// Applied is the result of running one migration.
type Applied struct {
	Version   int64         `json:"version"`
	Name      string        `json:"name"`
	Direction string        `json:"direction"` // "up" or "down"
	Duration  time.Duration `json:"duration"`
}

// MigrationStatus is one known migration and whether the database has it.
type MigrationStatus struct {
	Version   int64     `json:"version"`
	Name      string    `json:"name"`
	Applied   bool      `json:"applied"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

// migrationsFS returns the goose source tree for opts: the embedded migrations with variant files swapped in.
func migrationsFS(opts Options) (fs.FS, error) {
	out := fstest.MapFS{}
	entries, err := fs.ReadDir(embedded, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(embedded, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read embedded migration %s: %w", e.Name(), err)
		}
		out[e.Name()] = &fstest.MapFile{Data: b, Mode: 0o444}
	}
	if opts.SafeOrderMetadata {
		b, err := fs.ReadFile(embedded, "variants/00005_order_metadata.sql")
		if err != nil {
			return nil, fmt.Errorf("read safe order_metadata migration: %w", err)
		}
		out["00005_order_metadata.sql"] = &fstest.MapFile{Data: b, Mode: 0o444}
	}
	return out, nil
}

// List returns every migration in version order, in the form opts selects.
func List(opts Options) []Migration {
	fsys, err := migrationsFS(opts)
	if err != nil {
		panic(err) // embedded files are part of the binary; failing here is a build defect
	}
	names, _ := fs.Glob(fsys, "*.sql")
	var out []Migration
	for _, n := range names {
		v, err := goose.NumericComponent(n)
		if err != nil {
			panic(fmt.Sprintf("schema: bad embedded migration name %q: %v", n, err))
		}
		b, _ := fs.ReadFile(fsys, n)
		up, down := splitSQL(string(b))
		m := meta[v]
		out = append(out, Migration{Version: v, Name: migrationName(n), Release: m.release, PR: m.pr, Up: up, Down: down})
	}
	slices.SortFunc(out, func(a, b Migration) int { return int(a.Version - b.Version) })
	return out
}

// Latest is the highest known migration version.
func Latest() int64 {
	l := List(Options{})
	return l[len(l)-1].Version
}

// migrationName turns "00005_order_metadata.sql" into "order_metadata".
func migrationName(file string) string {
	n := strings.TrimSuffix(file, ".sql")
	if i := strings.IndexByte(n, '_'); i >= 0 {
		return n[i+1:]
	}
	return n
}

// splitSQL returns the statements under "-- +goose Up" and "-- +goose Down", trimmed.
func splitSQL(s string) (up, down string) {
	var cur *strings.Builder
	var ub, db strings.Builder
	for _, line := range strings.Split(s, "\n") {
		switch strings.TrimSpace(line) {
		case "-- +goose Up":
			cur = &ub
			continue
		case "-- +goose Down":
			cur = &db
			continue
		}
		if cur != nil {
			cur.WriteString(line)
			cur.WriteByte('\n')
		}
	}
	return strings.TrimSpace(ub.String()), strings.TrimSpace(db.String())
}

func knownVersion(v int64) bool {
	_, ok := meta[v]
	return ok
}

func newProvider(db *sql.DB, opts Options) (*goose.Provider, error) {
	fsys, err := migrationsFS(opts)
	if err != nil {
		return nil, err
	}
	// A session advisory lock keeps a CLI migration and another migrator from interleaving.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 60))
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("create migration provider: %w", err)
	}
	return p, nil
}

func open(dbURL string) (*sql.DB, error) {
	if dbURL == "" {
		return nil, errors.New("database url is empty")
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

func toApplied(rs []*goose.MigrationResult) []Applied {
	out := make([]Applied, 0, len(rs))
	for _, r := range rs {
		if r == nil || r.Source == nil || r.Error != nil {
			continue
		}
		out = append(out, Applied{Version: r.Source.Version, Name: migrationName(path.Base(r.Source.Path)),
			Direction: r.Direction, Duration: r.Duration})
	}
	return out
}

func partial(err error, op string) ([]Applied, error) {
	var pe *goose.PartialError
	if errors.As(err, &pe) {
		v := int64(0)
		if pe.Failed != nil && pe.Failed.Source != nil {
			v = pe.Failed.Source.Version
		}
		return toApplied(pe.Applied), fmt.Errorf("%s: version %d failed: %w", op, v, pe.Err)
	}
	return nil, fmt.Errorf("%s: %w", op, err)
}

// Up applies pending migrations up to and including target (target <= 0 means the latest), in the form
// opts selects. It returns the migrations it applied; on failure, those that succeeded before it. An
// unknown target is an error and changes nothing.
func Up(ctx context.Context, dbURL string, target int64, opts Options) ([]Applied, error) {
	if target <= 0 {
		target = Latest()
	}
	if !knownVersion(target) {
		return nil, fmt.Errorf("migrate up: unknown target version %d (known 1..%d)", target, Latest())
	}
	db, err := open(dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	p, err := newProvider(db, opts)
	if err != nil {
		return nil, err
	}
	rs, err := p.UpTo(ctx, target)
	if err != nil {
		return partial(err, "migrate up")
	}
	return toApplied(rs), nil
}

// Down reverts every applied migration with a version above target (target 0 reverts all), newest first.
// Down SQL is the same for both forms of a migration, so no options are needed. An unknown target is an
// error and changes nothing.
func Down(ctx context.Context, dbURL string, target int64) ([]Applied, error) {
	if target < 0 || (target != 0 && !knownVersion(target)) {
		return nil, fmt.Errorf("migrate down: unknown target version %d (known 0..%d)", target, Latest())
	}
	db, err := open(dbURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	p, err := newProvider(db, Options{})
	if err != nil {
		return nil, err
	}
	rs, err := p.DownTo(ctx, target)
	if err != nil {
		return partial(err, "migrate down")
	}
	return toApplied(rs), nil
}

// Status lists every known migration with whether it is applied, and the database's current version
// (0 when nothing is applied).
func Status(ctx context.Context, dbURL string) ([]MigrationStatus, int64, error) {
	db, err := open(dbURL)
	if err != nil {
		return nil, 0, err
	}
	defer db.Close()
	p, err := newProvider(db, Options{})
	if err != nil {
		return nil, 0, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("migration status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(st))
	var current int64
	for _, s := range st {
		ms := MigrationStatus{Version: s.Source.Version, Name: migrationName(path.Base(s.Source.Path)),
			Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt}
		if ms.Applied && ms.Version > current {
			current = ms.Version
		}
		out = append(out, ms)
	}
	return out, current, nil
}
