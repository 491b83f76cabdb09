// Package sqlite is costwarden's embedded store: store.Store on a single SQLite
// file (pure Go driver modernc.org/sqlite, no cgo), for one-binary installations.
//
// It owns the file (created 0600), its schema and migrations, and the mapping of
// SQLite errors to the store's sentinel errors. It must not see plaintext customer
// data: it stores sealed blobs, blind indexes and opaque identifiers as given, and
// it must not import internal/seal.
//
// Two processes (the server and the CLI) may use one file at once: the database
// runs in WAL mode with a busy timeout, writes go through one connection per
// process in BEGIN IMMEDIATE transactions, and migrations re-check the schema
// version inside their transaction. Open checks an existing file before writing
// anything to it: a file that fails PRAGMA quick_check, or whose schema is newer
// than this binary's, is left exactly as it was.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/costwarden/costwarden/internal/store"
)

// ErrReadOnly is returned by every write to a store opened with Options.ReadOnly.
var ErrReadOnly = errors.New("opened read-only")

// applicationID marks a costwarden database file (PRAGMA application_id, "CWSD").
const applicationID = 0x43575344

// busyTimeout is how long a statement waits for another connection's lock (the
// other process's write transaction) before failing.
const busyTimeout = 10 * time.Second

// Options configures Open.
type Options struct {
	// Now is the clock used for timestamps the caller leaves zero; default time.Now.
	Now func() time.Time
	// ReadOnly opens an existing, fully migrated database without writing to it
	// (inspection, doctor); every write returns ErrReadOnly.
	ReadOnly bool
}

// Store is the SQLite implementation of store.Store. It is safe for concurrent use.
type Store struct {
	path string
	now  func() time.Time
	w    *sql.DB // the one write connection (nil when read-only)
	r    *sql.DB // read connections

	locks locks // leases held by this process
}

var _ store.Store = (*Store)(nil)

// Open opens the database at path, creating it (mode 0600) when missing; the
// directory must exist. An existing file is first checked read-only: integrity
// (error wrapping store.ErrCorrupt), that it is a costwarden database, and its
// schema version (store.ErrSchemaTooNew when newer than this binary's). Only then
// are pending migrations applied, each in its own transaction.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store: sqlite: %q is not a database file path", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	migrations, err := loadMigrations()
	if err != nil {
		return nil, err
	}
	existed, err := ensureFile(abs, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	if existed {
		if err := precheck(ctx, abs, latestVersion(migrations)); err != nil {
			return nil, err
		}
	}
	s := &Store{path: abs, now: opts.Now}
	if s.now == nil {
		s.now = time.Now
	}
	if opts.ReadOnly {
		if s.r, err = openDB(abs, readOnlyConn); err != nil {
			return nil, err
		}
		v, err := s.SchemaVersion(ctx)
		if err == nil && v != latestVersion(migrations) {
			err = fmt.Errorf("store: database %s has schema version %d, this binary needs %d; open it read-write once to migrate", abs, v, latestVersion(migrations))
		}
		if err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	if err := checkWritable(abs); err != nil {
		return nil, err
	}
	if s.w, err = openDB(abs, writeConn); err != nil {
		return nil, err
	}
	// One write connection per process: writers queue in Go rather than in
	// SQLite's busy handler, and BEGIN IMMEDIATE takes the lock up front.
	s.w.SetMaxOpenConns(1)
	if err := s.w.PingContext(ctx); err != nil { // sets WAL before readers open
		s.w.Close()
		return nil, fmt.Errorf("store: opening %s: %w", abs, classify(err))
	}
	if s.r, err = openDB(abs, readConn); err != nil {
		s.w.Close()
		return nil, err
	}
	if err := s.migrate(ctx, migrations); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ensureFile creates path with mode 0600 when it does not exist and reports
// whether it existed.
func ensureFile(path string, readOnly bool) (bool, error) {
	fi, err := os.Stat(path)
	switch {
	case err == nil:
		if !fi.Mode().IsRegular() {
			return false, fmt.Errorf("store: %s is not a regular file (mode %s)", path, fi.Mode())
		}
		return true, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("store: %w", err)
	case readOnly:
		return false, fmt.Errorf("store: database %s does not exist: %w", path, fs.ErrNotExist)
	}
	// Created here, not by SQLite, so the mode is 0600 whatever the umask allows;
	// SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return true, nil // another process created it a moment ago
	}
	if err != nil {
		return false, fmt.Errorf("store: creating database: %w", err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("store: creating database: %w", err)
	}
	return false, nil
}

// connKind selects the DSN parameters of a connection pool.
type connKind int

const (
	writeConn     connKind = iota // the write connection
	readConn                      // read connections next to a writer
	readOnlyConn                  // read connections of a read-only store or precheck
	immutableConn                 // precheck of a database without a WAL: creates no side files
)

// dsn builds a file: URI for path; the path is escaped, so names holding '?', '#'
// or '%' cannot inject parameters.
func dsn(path string, kind connKind) string {
	params := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeout.Milliseconds()),
		"_pragma=foreign_keys(1)",
	}
	switch kind {
	case writeConn:
		// WAL, durable commits, BEGIN IMMEDIATE, and deleted content overwritten
		// with zeros, freed pages included (erases shredded keys and expired
		// windows from the file; Reclaim then clears the WAL's older copies).
		params = append(params, "_pragma=journal_mode(WAL)", "_pragma=synchronous(FULL)",
			"_pragma=secure_delete(ON)", "_txlock=immediate")
	case readConn:
		params = append(params, "_pragma=query_only(1)")
	case readOnlyConn:
		params = append(params, "_pragma=query_only(1)", "mode=ro")
	case immutableConn:
		params = append(params, "_pragma=query_only(1)", "mode=ro", "immutable=1")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: strings.Join(params, "&")}
	return u.String()
}

func openDB(path string, kind connKind) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, kind))
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	return db, nil
}

// precheck inspects an existing file through a read-only connection, so a file
// that is corrupt, foreign or too new is not modified (no migration, no journal
// mode change, no checkpoint).
func precheck(ctx context.Context, path string, latest int) error {
	kind := readOnlyConn
	if _, err := os.Stat(path + "-wal"); errors.Is(err, fs.ErrNotExist) {
		// No write-ahead log: the main file is the whole database, and opening it
		// immutable creates no -wal or -shm file, so a refused start leaves the data
		// directory exactly as it was.
		kind = immutableConn
	}
	db, err := openDB(path, kind)
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := quickCheck(ctx, db, path); err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			return fmt.Errorf("%w; the file was left as it was: restore it from a backup", err)
		}
		return err
	}
	var appID int64
	if err := db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return fmt.Errorf("store: reading %s: %w", path, classify(err))
	}
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").Scan(&tables); err != nil {
		return fmt.Errorf("store: reading %s: %w", path, classify(err))
	}
	if tables == 0 {
		return nil // empty: a database being created
	}
	version, hasVersions, err := schemaVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("store: reading the schema version of %s: %w", path, classify(err))
	}
	if appID != applicationID || !hasVersions {
		return fmt.Errorf("store: %s is an SQLite database but not a costwarden one (application id %#x); refusing to modify it", path, appID)
	}
	if version > latest {
		return fmt.Errorf("store: %s: %w: its schema version is %d, this binary knows up to %d; run a costwarden release at least as new as the one that wrote it", path, store.ErrSchemaTooNew, version, latest)
	}
	return nil
}

// quickCheck runs PRAGMA quick_check; anything but "ok" is ErrCorrupt.
func quickCheck(ctx context.Context, db *sql.DB, path string) error {
	var problems []string
	err := queryEach(ctx, db, "checking "+path, scanString, func(line string) error {
		if line != "ok" && len(problems) < 5 {
			problems = append(problems, line)
		}
		return nil
	}, "PRAGMA quick_check")
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("store: %s: %w: %s", path, store.ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

// classify maps SQLite's corruption, read-only and disk-full codes to the
// store's sentinels, keeping the cause.
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("%w: %w", store.ErrCorrupt, err)
		case sqlite3.SQLITE_READONLY:
			return fmt.Errorf("%w (read-only file system or database; nothing was written): %w", store.ErrReadOnlyStorage, err)
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("%w (the disk is full; the write was rolled back, stored data is intact; free space and it resumes): %w", store.ErrStorageFull, err)
		}
	}
	if errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("%w (read-only file system): %w", store.ErrReadOnlyStorage, err)
	}
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w (no space left on device): %w", store.ErrStorageFull, err)
	}
	return err
}

// checkWritable reports a database file, or its directory (where SQLite
// creates the -wal and -shm files), on a read-only file system before SQLite
// tries and fails with a vaguer message.
func checkWritable(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err == nil {
		f.Close()
		err = syscall.Access(filepath.Dir(path), 2 /* W_OK */)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("store: %s is on a read-only file system; costwarden writes its database there (mount the data directory read-write): %w: %w", path, store.ErrReadOnlyStorage, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("store: %s is not writable by this user: %w", path, err)
	}
	return fmt.Errorf("store: %s: %w", path, err)
}

// isConstraint reports whether err is the SQLite constraint violation code (an
// extended code such as SQLITE_CONSTRAINT_UNIQUE).
func isConstraint(err error, code int) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == code
}

// isBusy reports whether err is SQLITE_BUSY or SQLITE_LOCKED (any extended code).
func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code() & 0xff
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

// conflictOr wraps err with store.ErrConflict when it is a uniqueness violation.
func conflictOr(err error) error {
	if isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) || isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) {
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return classify(err)
}

// insertErr wraps the error of inserting the row what/id, which refers to the
// row parent/parentID: a missing parent is store.ErrNotFound, a duplicate
// store.ErrConflict; nil stays nil.
func insertErr(err error, what, id, parent, parentID string) error {
	switch {
	case err == nil:
		return nil
	case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
		return fmt.Errorf("store: inserting %s %q: %s %q: %w", what, id, parent, parentID, store.ErrNotFound)
	default:
		return fmt.Errorf("store: inserting %s %q: %w", what, id, conflictOr(err))
	}
}

// Check runs PRAGMA quick_check on the open database.
func (s *Store) Check(ctx context.Context) error {
	return quickCheck(ctx, s.r, s.path)
}

// SchemaVersion returns the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, _, err := schemaVersion(ctx, s.r)
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", classify(err))
	}
	return v, nil
}

// Close closes the store's connections. The last connection to close checkpoints
// the WAL into the database file.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

func (s *Store) writer() (*sql.DB, error) {
	if s.w == nil {
		return nil, fmt.Errorf("store: %s: %w", s.path, ErrReadOnly)
	}
	return s.w, nil
}

// inTx runs fn in a write transaction (BEGIN IMMEDIATE) and commits if it succeeds.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.w == nil {
		return fmt.Errorf("%s: %w", s.path, ErrReadOnly)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return classify(tx.Commit())
}

// timeArg converts t for storage: nil for the zero time, Unix nanoseconds
// otherwise. Times outside what nanoseconds can hold (years 1678–2262) are errors.
func timeArg(t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	if !storable(t) {
		return nil, fmt.Errorf("store: time %s is outside the storable range (years 1678 to 2262)", t.Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

// storable reports whether t fits in int64 Unix nanoseconds.
func storable(t time.Time) bool {
	return !t.Before(time.Unix(0, math.MinInt64)) && !t.After(time.Unix(0, math.MaxInt64))
}

// timeArgs converts several times, returning the first error.
func timeArgs(ts ...time.Time) ([]any, error) {
	out := make([]any, len(ts))
	for i, t := range ts {
		v, err := timeArg(t)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// fromNanos converts a stored time back: NULL is time.Time{}, anything else UTC.
func fromNanos(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(0, v.Int64).UTC()
}

// normTime returns t as a read of the stored value returns it.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.Unix(0, t.UnixNano()).UTC()
}

// bound converts a range bound, clamping instead of failing: the zero time (and
// anything before 1678) sorts before every stored time.
func bound(t time.Time) int64 {
	switch {
	case t.IsZero() || t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// blobArg stores nil as an empty blob: the columns are NOT NULL.
func blobArg(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nowIfZero returns t, or the store's clock when t is zero.
func (s *Store) nowIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}

// Path is the database file's absolute path.
func (s *Store) Path() string { return s.path }
