package dbstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sandbox-labs/sandbox/services/status"
)

// The watch: every orders and payments row the control room has seen (id at or below its table's high-water
// mark) is expected to stay, and every order whose order_metadata carried data (anything but NULL and '{}':
// all of it written since the v2.4.0 deploy, since the column did not exist before) is expected to keep that
// value. Anything else is data loss, however it was done: DELETE, TRUNCATE, UPDATE, the down migration, a
// column dropped and added again, a table dropped.
//
// Rows are kept in chunks of ChunkSize ids. Each row has a 64-bit contribution computed by Postgres:
// hashint8extended(id) for every row, xor jsonb_hash_extended(order_metadata, id) for an order with data in
// order_metadata. A chunk's digest is the xor of its rows' contributions, so a check reads one (count, digest)
// pair per chunk; only a chunk that no longer matches is read row by row and compared with the rows kept. The
// shop's own writes never change a contribution: it inserts rows (taken in above the high-water mark) and
// updates orders.status (not hashed). A NULL or '{}' order_metadata hashes like no value at all, so the column
// being added, backfilled with '{}' or made nullable changes nothing either.
//
// Each check verifies the two newest chunks and Budget rows more (a rotation over the rest), so its cost stays
// bounded however large the tables grow; every chunk is verified at least every ceil(rows/Budget) checks.
// Catalog signals read on every check (table oid and filenode, pg_stat_user_tables.n_tup_del, order_metadata's
// attnum and type), none of which the shop's own traffic moves, mark every chunk due: the next check verifies
// due chunks up to dueFactor*Budget rows (512k by default), so the loud ways of losing data (DELETE, TRUNCATE,
// the down migration, DROP+ADD) are caught on the next check up to that size, and within a few beyond it.
// BenchmarkWatchCheck measures a check. Needs PostgreSQL 14 or later (bit_xor).

// ChunkSize is how many ids one chunk covers: chunk n holds ids n*ChunkSize+1 .. (n+1)*ChunkSize.
const ChunkSize = 1024

// Defaults of WatchOptions.
const (
	DefaultBudget = 32 * ChunkSize // rows verified per check beyond the two newest chunks
	DefaultIntake = 32 * ChunkSize // new rows taken into the watch per check
	dueFactor     = 16             // a check verifies due chunks up to dueFactor * Budget rows
	maxLossIDs    = 10             // ids a loss lists
)

// WatchedTables are the tables whose rows the watch keeps.
var WatchedTables = []string{"orders", "payments"}

// WatchOptions configure a Watch.
type WatchOptions struct {
	// Dir holds one file per chunk; "" keeps the watch in memory only.
	Dir    string
	Budget int // rows verified per check; <= 0 means DefaultBudget
	Intake int // new rows taken in per check; <= 0 means DefaultIntake
}

// WatchMeta is the small part of the watch the control room persists in its state.json; the rows live in
// the chunk files under WatchOptions.Dir.
type WatchMeta struct {
	Since  time.Time            `json:"since"`
	Tables map[string]TableMeta `json:"tables"`
}

// TableMeta is one table's high-water mark and the catalog facts the last check saw.
type TableMeta struct {
	HighWater int64  `json:"high_water"`
	OID       uint32 `json:"oid"`
	FileNode  uint32 `json:"filenode"`
	Deletes   int64  `json:"n_tup_del"`
	Attnum    int16  `json:"attnum,omitempty"`    // orders.order_metadata's attnum; 0 when absent
	DataType  string `json:"data_type,omitempty"` // orders.order_metadata's type
	Cursor    int64  `json:"cursor"`              // the chunk the rotation verifies next
}

// Loss is what one check found lost in one table.
type Loss struct {
	Table        string
	Cause        string // a status.Cause* value
	Deleted      int64  // watched rows gone
	Overwritten  int64  // orders still there whose order_metadata lost its data
	MetadataRows int64  // of the rows lost (deleted or overwritten), orders that carried order_metadata
	IDs          []int64
	ColumnExists bool // orders: order_metadata exists after the loss
}

// Rows is the number of rows lost.
func (l Loss) Rows() int64 { return l.Deleted + l.Overwritten }

// Watch keeps the rows already seen and checks them against the database.
type Watch struct {
	opts      WatchOptions
	meta      WatchMeta
	tables    map[string]*table
	lastErr   string
	checkedAt time.Time // the last check that read the catalog
	removals  []string  // chunk files to delete on Save
}

type table struct {
	chunks map[int64]*chunk
	due    map[int64]bool
}

type chunk struct {
	Table    string `json:"table"`
	N        int64  `json:"n"`
	Digest   int64  `json:"digest"`
	Rows     []row  `json:"rows"` // ascending id
	verified time.Time
	dirty    bool
}

// row is one watched row: C is its contribution when it carries watched order_metadata, else 0.
type row struct {
	ID int64
	C  int64
}

func (r row) MarshalJSON() ([]byte, error) { return json.Marshal([2]int64{r.ID, r.C}) }

func (r *row) UnmarshalJSON(b []byte) error {
	var a [2]int64
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	r.ID, r.C = a[0], a[1]
	return nil
}

func (c *chunk) metadataRows() int64 {
	n := int64(0)
	for _, r := range c.Rows {
		if r.C != 0 {
			n++
		}
	}
	return n
}

// NewWatch returns an empty watch.
func NewWatch(opts WatchOptions) *Watch {
	if opts.Budget <= 0 {
		opts.Budget = DefaultBudget
	}
	if opts.Intake <= 0 {
		opts.Intake = DefaultIntake
	}
	w := &Watch{opts: opts, meta: WatchMeta{Tables: map[string]TableMeta{}}, tables: map[string]*table{}}
	for _, t := range WatchedTables {
		w.tables[t] = &table{chunks: map[int64]*chunk{}, due: map[int64]bool{}}
	}
	return w
}

// RestoreWatch reopens a watch from meta (state.json) and the chunk files in opts.Dir. Without meta (a fresh
// data dir) any chunk files left there are stale and removed.
func RestoreWatch(opts WatchOptions, meta *WatchMeta) (*Watch, error) {
	w := NewWatch(opts)
	if opts.Dir == "" {
		return w, nil
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("watch dir: %w", err)
	}
	entries, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("watch dir: %w", err)
	}
	if meta != nil {
		w.meta.Since = meta.Since
		for k, v := range meta.Tables {
			w.meta.Tables[k] = v
		}
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(opts.Dir, name)
		if meta == nil {
			_ = os.Remove(path)
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read watch chunk %s: %w", name, err)
		}
		var c chunk
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("decode watch chunk %s: %w", name, err)
		}
		t := w.tables[c.Table]
		if t == nil || name != chunkFile(c.Table, c.N) {
			continue
		}
		t.chunks[c.N] = &c
		if n := len(c.Rows); n > 0 {
			tm := w.meta.Tables[c.Table]
			tm.HighWater = max(tm.HighWater, c.Rows[n-1].ID)
			w.meta.Tables[c.Table] = tm
		}
	}
	return w, nil
}

func chunkFile(table string, n int64) string { return fmt.Sprintf("%s-%06d.json", table, n) }

// Meta returns a copy of the persisted part.
func (w *Watch) Meta() WatchMeta {
	m := WatchMeta{Since: w.meta.Since, Tables: map[string]TableMeta{}}
	for k, v := range w.meta.Tables {
		m.Tables[k] = v
	}
	return m
}

// Save writes the chunks changed since the last Save (each atomically) and removes dropped ones. Call it
// after the losses the check returned are recorded: a crash in between reports them again, never not at all.
func (w *Watch) Save() error {
	if w.opts.Dir == "" {
		for _, t := range w.tables {
			for _, c := range t.chunks {
				c.dirty = false
			}
		}
		w.removals = nil
		return nil
	}
	var errs []error
	for _, name := range w.removals {
		if err := os.Remove(filepath.Join(w.opts.Dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	w.removals = nil
	for _, t := range w.tables {
		for _, c := range t.chunks {
			if !c.dirty {
				continue
			}
			if err := writeFileAtomic(filepath.Join(w.opts.Dir, chunkFile(c.Table, c.N)), c); err != nil {
				errs = append(errs, err)
				continue
			}
			c.dirty = false
		}
	}
	return errors.Join(errs...)
}

func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Summary is the watch as /api/state shows it.
func (w *Watch) Summary() *status.Integrity {
	in := &status.Integrity{Since: w.meta.Since, Error: w.lastErr, Tables: []status.TableWatch{}}
	verified, all := w.checkedAt, !w.meta.Since.IsZero()
	for _, name := range WatchedTables {
		tw := status.TableWatch{Table: name, HighWater: w.meta.Tables[name].HighWater}
		for _, c := range w.tables[name].chunks {
			tw.Rows += int64(len(c.Rows))
			tw.MetadataRows += c.metadataRows()
			if c.verified.IsZero() {
				all = false
			} else if c.verified.Before(verified) {
				verified = c.verified
			}
		}
		in.Tables = append(in.Tables, tw)
	}
	if all {
		in.VerifiedAt = verified
	}
	return in
}

// identity is what the catalog says about a table, read on every check.
type identity struct {
	Exists   bool
	OID      uint32
	FileNode uint32
	Deletes  int64
	Attnum   int16
	DataType string
}

const identitySQL = `SELECT t.name, c.oid IS NOT NULL, COALESCE(c.oid, 0)::int8, COALESCE(c.relfilenode, 0)::int8,
	COALESCE(s.n_tup_del, 0), COALESCE(a.attnum, 0), COALESCE(format_type(a.atttypid, NULL), '')
FROM unnest($1::text[]) AS t(name)
LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'order_metadata' AND NOT a.attisdropped AND a.attnum > 0`

func identities(ctx context.Context, q Querier) (map[string]identity, error) {
	rows, err := q.Query(ctx, identitySQL, WatchedTables)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]identity{}
	for rows.Next() {
		var name string
		var id identity
		var oid, node int64
		if err := rows.Scan(&name, &id.Exists, &oid, &node, &id.Deletes, &id.Attnum, &id.DataType); err != nil {
			return nil, err
		}
		id.OID, id.FileNode = uint32(oid), uint32(node)
		out[name] = id
	}
	return out, rows.Err()
}

// contribution returns the SQL of a row's contribution and of "carries watched order_metadata". A json or
// text column (ALTER ... TYPE) is read as jsonb, so its values hash as before; textual hashes the text instead,
// for values that are not JSON any more (which no longer match what was written).
func contribution(tableName string, id identity, textual bool) (c, meta string) {
	const base = "hashint8extended(id, 0)"
	if tableName != "orders" || id.Attnum == 0 {
		return base, "false"
	}
	v := "order_metadata"
	switch {
	case id.DataType == "jsonb":
	case !textual && (id.DataType == "json" || id.DataType == "text" || strings.HasPrefix(id.DataType, "character varying")):
		v = "order_metadata::text::jsonb"
	default:
		m := "order_metadata IS NOT NULL AND order_metadata::text <> '{}'"
		return base + " # CASE WHEN " + m + " THEN hashtextextended(order_metadata::text, id) ELSE 0 END", m
	}
	m := v + " IS NOT NULL AND " + v + " <> '{}'::jsonb"
	return base + " # CASE WHEN " + m + " THEN jsonb_hash_extended(" + v + ", id) ELSE 0 END", m
}

// Check compares the database with the rows kept, takes in new rows and returns what was lost. It changes the
// watch in memory only; Save persists it.
func (w *Watch) Check(ctx context.Context, q Querier, now time.Time) ([]Loss, error) {
	ids, err := identities(ctx, q)
	if err != nil {
		w.lastErr = "read catalog: " + err.Error()
		return nil, fmt.Errorf("watch: read catalog: %w", err)
	}
	var losses []Loss
	var errs []error
	for _, name := range WatchedTables {
		id := ids[name]
		if id.Exists && w.meta.Since.IsZero() {
			w.meta.Since = now.UTC()
		}
		l, err := w.checkTable(ctx, q, now.UTC(), name, id)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if l != nil {
			losses = append(losses, *l)
		}
	}
	if err := errors.Join(errs...); err != nil {
		w.lastErr = err.Error()
		return losses, fmt.Errorf("watch: %w", err)
	}
	w.lastErr, w.checkedAt = "", now.UTC()
	return losses, nil
}

func (w *Watch) checkTable(ctx context.Context, q Querier, now time.Time, name string, id identity) (*Loss, error) {
	t := w.tables[name]
	tm := w.meta.Tables[name]
	if !id.Exists {
		if len(t.chunks) == 0 {
			w.meta.Tables[name] = TableMeta{}
			return nil, nil
		}
		l := &Loss{Table: name, Cause: status.CauseTableDropped}
		for _, n := range sortedChunks(t) {
			for _, r := range t.chunks[n].Rows {
				l.add(r, true)
			}
			w.removals = append(w.removals, chunkFile(name, n))
		}
		t.chunks, t.due = map[int64]*chunk{}, map[int64]bool{}
		w.meta.Tables[name] = TableMeta{}
		return l, nil
	}
	cause := ""
	if tm.OID != 0 {
		switch {
		case name == "orders" && tm.Attnum != 0 && id.Attnum == 0:
			cause = status.CauseColumnDropped
		case name == "orders" && tm.Attnum != 0 && id.Attnum != tm.Attnum:
			cause = status.CauseColumnReplaced
		case tm.FileNode != id.FileNode:
			cause = status.CauseTableEmptied // TRUNCATE, or a rewrite: told apart below by what is left
		}
		if cause != "" || tm.OID != id.OID || tm.Deletes != id.Deletes || tm.Attnum != id.Attnum || tm.DataType != id.DataType {
			for n := range t.chunks {
				t.due[n] = true
			}
		}
	}
	rd, err := w.read(ctx, q, name, t, tm, id, false)
	var pgErr *pgconn.PgError
	if err != nil && errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
		// order_metadata's values are no longer all JSON: compare their text.
		rd, err = w.read(ctx, q, name, t, tm, id, true)
	}
	if err != nil {
		return nil, err
	}
	return w.apply(now, name, t, tm, id, cause, rd), nil
}

// reading is everything one check of a table read, before any of it changes the watch.
type reading struct {
	verified   []int64             // chunks whose count and digest matched
	mismatched map[int64][]fetched // chunks that did not, as they are now
	fresh      []fetched           // rows above the high-water mark
	cursor     int64
}

func (w *Watch) read(ctx context.Context, q Querier, name string, t *table, tm TableMeta, id identity, textual bool) (reading, error) {
	rd := reading{mismatched: map[int64][]fetched{}}
	cExpr, mExpr := contribution(name, id, textual)
	tbl := pgx.Identifier{name}.Sanitize()
	k := strconv.Itoa(ChunkSize)

	// 1. Verify the chosen chunks: one (count, digest) pair each.
	pick, cursor := w.pickChunks(t, tm.Cursor)
	rd.cursor = cursor
	if len(pick) > 0 {
		sql := `SELECT g.n, a.cnt, a.x FROM unnest($1::int8[]) AS g(n), LATERAL (
			SELECT count(*) AS cnt, COALESCE(bit_xor(` + cExpr + `), 0) AS x FROM ` + tbl + `
			WHERE id > g.n * ` + k + ` AND id <= LEAST((g.n + 1) * ` + k + `, $2::int8)) AS a`
		rows, err := q.Query(ctx, sql, pick, tm.HighWater)
		if err != nil {
			return rd, fmt.Errorf("verify: %w", err)
		}
		got := map[int64][2]int64{}
		for rows.Next() {
			var n, cnt, x int64
			if err := rows.Scan(&n, &cnt, &x); err != nil {
				rows.Close()
				return rd, fmt.Errorf("verify: %w", err)
			}
			got[n] = [2]int64{cnt, x}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return rd, fmt.Errorf("verify: %w", err)
		}
		for _, n := range pick {
			c := t.chunks[n]
			if g := got[n]; g[0] == int64(len(c.Rows)) && g[1] == c.Digest {
				rd.verified = append(rd.verified, n)
				continue
			}
			// 2. A chunk that no longer matches is read row by row.
			cur, err := readRows(ctx, q, `SELECT id, `+cExpr+`, `+mExpr+` FROM `+tbl+` WHERE id > $1 AND id <= $2 ORDER BY id`,
				n*ChunkSize, min((n+1)*ChunkSize, tm.HighWater))
			if err != nil {
				return rd, fmt.Errorf("read chunk %d: %w", n, err)
			}
			rd.mismatched[n] = cur
		}
	}

	// 3. The rows above the high-water mark.
	fresh, err := readRows(ctx, q, `SELECT id, `+cExpr+`, `+mExpr+` FROM `+tbl+` WHERE id > $1 ORDER BY id LIMIT $2`,
		tm.HighWater, w.opts.Intake)
	if err != nil {
		return rd, fmt.Errorf("take in new rows: %w", err)
	}
	rd.fresh = fresh
	return rd, nil
}

// apply folds a reading into the watch and returns what was lost: a kept row that is gone, or an order whose
// kept order_metadata changed. Rows that appeared below the high-water mark (an insert that committed after
// a later id was taken in) or gained data are simply kept from now on.
func (w *Watch) apply(now time.Time, name string, t *table, tm TableMeta, id identity, cause string, rd reading) *Loss {
	for _, n := range rd.verified {
		t.chunks[n].verified = now
		delete(t.due, n)
	}
	var l *Loss
	for _, n := range sortedKeys(rd.mismatched) {
		cur := rd.mismatched[n]
		c := t.chunks[n]
		byID := make(map[int64]fetched, len(cur))
		for _, f := range cur {
			byID[f.ID] = f
		}
		for _, r := range c.Rows {
			f, ok := byID[r.ID]
			if ok && (r.C == 0 || f.C == r.C) {
				continue
			}
			if l == nil {
				l = &Loss{Table: name}
			}
			l.add(r, !ok)
		}
		delete(t.due, n)
		if len(cur) == 0 {
			delete(t.chunks, n)
			w.removals = append(w.removals, chunkFile(name, n))
			continue
		}
		c.Rows, c.Digest = c.Rows[:0], 0
		for _, f := range cur {
			c.Rows = append(c.Rows, f.kept())
			c.Digest ^= f.C
		}
		c.verified, c.dirty = now, true
	}
	for _, f := range rd.fresh {
		n := (f.ID - 1) / ChunkSize
		c := t.chunks[n]
		if c == nil {
			c = &chunk{Table: name, N: n, verified: now}
			t.chunks[n] = c
		}
		c.Rows = append(c.Rows, f.kept())
		c.Digest ^= f.C
		c.dirty = true
		tm.HighWater = f.ID
	}
	tm.Cursor = rd.cursor
	tm.OID, tm.FileNode, tm.Deletes, tm.Attnum, tm.DataType = id.OID, id.FileNode, id.Deletes, id.Attnum, id.DataType
	w.meta.Tables[name] = tm
	if l == nil {
		return nil
	}
	l.ColumnExists = name == "orders" && id.Attnum != 0
	switch {
	case cause == status.CauseTableEmptied && l.Overwritten == 0 && len(t.chunks) == 0:
		l.Cause = cause
	case cause == status.CauseColumnDropped || cause == status.CauseColumnReplaced:
		l.Cause = cause
	case l.Deleted > 0:
		l.Cause = status.CauseRowsDeleted
	default:
		l.Cause = status.CauseOverwritten
	}
	return l
}

func (l *Loss) add(r row, deleted bool) {
	if deleted {
		l.Deleted++
	} else {
		l.Overwritten++
	}
	if r.C != 0 {
		l.MetadataRows++
	}
	if len(l.IDs) < maxLossIDs {
		l.IDs = append(l.IDs, r.ID)
	}
}

// pickChunks chooses what a check verifies: the two newest chunks (where late commits land) always, chunks
// marked due up to dueFactor*Budget rows, then the rotation from cursor up to Budget rows (at least one chunk,
// so the rotation always moves). It returns them ascending and the next cursor.
func (w *Watch) pickChunks(t *table, cursor int64) ([]int64, int64) {
	all := sortedChunks(t)
	if len(all) == 0 {
		return nil, cursor
	}
	picked := map[int64]bool{}
	var out []int64
	take := func(n int64) int {
		picked[n] = true
		out = append(out, n)
		return max(len(t.chunks[n].Rows), 1)
	}
	for _, n := range all[max(0, len(all)-2):] {
		take(n)
	}
	due := dueFactor * w.opts.Budget
	for _, n := range all {
		if t.due[n] && !picked[n] && due > 0 {
			due -= take(n)
		}
	}
	budget, taken := w.opts.Budget, 0
	start, _ := slices.BinarySearch(all, cursor)
	for i := 0; i < len(all) && (budget > 0 || taken == 0); i++ {
		n := all[(start+i)%len(all)]
		if !picked[n] {
			budget -= take(n)
			taken++
		}
		cursor = n + 1
	}
	slices.Sort(out)
	return out, cursor
}

func sortedChunks(t *table) []int64 { return sortedKeys(t.chunks) }

func sortedKeys[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

type fetched struct {
	ID, C int64
	Meta  bool
}

func (f fetched) kept() row {
	if f.Meta {
		return row{ID: f.ID, C: f.C}
	}
	return row{ID: f.ID}
}

func readRows(ctx context.Context, q Querier, sql string, args ...any) ([]fetched, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []fetched
	for rows.Next() {
		var f fetched
		if err := rows.Scan(&f.ID, &f.C, &f.Meta); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
