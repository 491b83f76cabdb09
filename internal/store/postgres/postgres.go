// Package postgres is costwarden's shared store: store.Store on PostgreSQL
// (github.com/jackc/pgx/v5 with a connection pool), for installations that run
// several server replicas on one database.
//
// It owns the connection (TLS with CA verification by default; plain TCP only
// to a loopback server), its schema and versioned migrations, and the mapping of
// PostgreSQL errors to the store's sentinel errors. Migrations run at Open under
// a transaction-scoped advisory lock, so replicas starting together apply each
// migration once; a database whose schema is newer than this binary is refused
// before anything is written. Writes are single statements or transactions;
// window writes are idempotent upserts on the window's unique key, so replicas
// cannot double-write a window. It must not see plaintext customer data and must
// not import internal/seal.
package postgres

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"embed"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/costwarden/costwarden/internal/store"
)

// Config says where the database is and how to reach it.
type Config struct {
	Host     string
	Port     int
	Database string
	User     string
	Password []byte // from a file; may be empty
	// SSLMode: "verify-full" (default), "verify-ca" or "disable" (loopback only).
	SSLMode  string
	CAFile   string // PEM roots for the server certificate; empty: system roots
	CertFile string // client certificate (optional)
	KeyFile  string
	MaxConns int32
	// ConnectTimeout bounds connecting, TLS included; default 10s.
	ConnectTimeout time.Duration
	// Dial, if set, makes every connection (internal/egress's guarded dialer);
	// it gets the configured host name, not a resolved address.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Options tunes the store.
type Options struct {
	// Now is the clock for timestamps the caller leaves zero; default time.Now.
	Now func() time.Time
	// LeaseCheck is how often a held lease pings its session (default
	// DefaultLeaseCheck); LeaseIdleTimeout is the session's idle timeout
	// (default DefaultLeaseIdleTimeout; negative: none).
	LeaseCheck, LeaseIdleTimeout time.Duration
}

// Store is the PostgreSQL implementation of store.Store, safe for concurrent use
// by goroutines and by several processes.
type Store struct {
	pool *pgxpool.Pool
	name string // user@host:port/db for messages
	now  func() time.Time

	leaseCheck, leaseIdle time.Duration
}

var _ store.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s: name must be NNNN_name.sql", e.Name())
		}
		body, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(body)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migration %s: expected version %d", m.name, i+1)
		}
	}
	return out, nil
}

// LatestVersion is the schema version this binary migrates to.
func LatestVersion() int {
	ms, err := loadMigrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrationLock is the advisory lock key held while migrating ("CWSD").
const migrationLock = 0x43575344

// tlsConfig builds the client TLS configuration for c.SSLMode.
func tlsConfig(c Config) (*tls.Config, error) {
	mode := c.SSLMode
	if mode == "" {
		mode = "verify-full"
	}
	if mode == "disable" {
		ip := net.ParseIP(c.Host)
		if c.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("store: postgres: sslMode disable is refused for %s: only a loopback server may be reached without TLS", c.Host)
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.Host}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("store: postgres: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("store: postgres: CA file %s holds no PEM certificate", c.CAFile)
		}
		cfg.RootCAs = pool
	}
	if c.CertFile != "" {
		if fi, err := os.Stat(c.KeyFile); err == nil && !privateKeyMode(fi) {
			return nil, fmt.Errorf("store: postgres: key file %s is readable by others (mode %04o)", c.KeyFile, fi.Mode().Perm())
		}
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("store: postgres: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	switch mode {
	case "verify-full":
	case "verify-ca":
		// Chain verified against the roots, host name not checked. The check
		// runs in VerifyConnection, which (unlike VerifyPeerCertificate) also
		// runs on resumed sessions.
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true // #nosec G402 -- replaced by the chain check in VerifyConnection below
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			certs := cs.PeerCertificates
			if len(certs) == 0 {
				return errors.New("server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range certs[1:] {
				inter.AddCert(c)
			}
			_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	default:
		return nil, fmt.Errorf("store: postgres: unknown sslMode %q", mode)
	}
	return cfg, nil
}

// Open connects, checks the schema version and applies pending migrations.
func Open(ctx context.Context, c Config, opts Options) (*Store, error) {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 10
	}
	name := fmt.Sprintf("postgres://%s@%s/%s", c.User, net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), c.Database)
	tlsCfg, err := tlsConfig(c)
	if err != nil {
		return nil, err
	}
	pc, err := pgxpool.ParseConfig("")
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	cc := pc.ConnConfig
	cc.Host, cc.Port, cc.Database, cc.User = c.Host, uint16(c.Port), c.Database, c.User
	cc.Password = string(c.Password)
	cc.TLSConfig = tlsCfg
	cc.Fallbacks = nil // never retry without TLS
	cc.ConnectTimeout = c.ConnectTimeout
	if c.Dial != nil {
		cc.DialFunc = c.Dial
		// The dialer resolves, so that it sees (and allows) the host name.
		cc.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
	}
	cc.RuntimeParams = map[string]string{"application_name": "costwarden", "timezone": "UTC"}
	pc.MaxConns = c.MaxConns
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", name, err)
	}
	s := &Store{pool: pool, name: name, now: opts.Now, leaseCheck: opts.LeaseCheck, leaseIdle: opts.LeaseIdleTimeout}
	if s.now == nil {
		s.now = time.Now
	}
	if s.leaseCheck <= 0 {
		s.leaseCheck = DefaultLeaseCheck
	}
	if s.leaseIdle == 0 {
		s.leaseIdle = DefaultLeaseIdleTimeout
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connecting to %s: %w", name, err)
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// schemaVersion returns the applied version (0 if the table is missing).
func schemaVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := q.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v)
	return v, err
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	latest := ms[len(ms)-1].version
	cur, err := schemaVersion(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("store: %s: reading the schema version: %w", s.name, mapErr(err))
	}
	if cur > latest {
		return fmt.Errorf("store: %s: %w: its schema version is %d, this binary knows up to %d; run a costwarden release at least as new as the one that wrote it", s.name, store.ErrSchemaTooNew, cur, latest)
	}
	if cur == latest {
		return nil
	}
	// A session lock taken before the transaction begins: the transaction then
	// starts after the previous holder committed and sees its catalog changes
	// (a lock taken inside the transaction would leave stale catalog caches).
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: %s: %w", s.name, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", int64(migrationLock)); err != nil {
		return fmt.Errorf("store: %s: migration lock: %w", s.name, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", int64(migrationLock))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: %s: %w", s.name, err)
	}
	defer tx.Rollback(ctx)
	// Another replica may have migrated while this one waited for the lock.
	if cur, err = schemaVersion(ctx, tx); err != nil {
		return fmt.Errorf("store: %s: %w", s.name, err)
	}
	if cur > latest {
		return fmt.Errorf("store: %s: %w: its schema version is %d, this binary knows up to %d", s.name, store.ErrSchemaTooNew, cur, latest)
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at bigint NOT NULL)"); err != nil {
		return fmt.Errorf("store: %s: %w", s.name, err)
	}
	for _, m := range ms {
		if m.version <= cur {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return fmt.Errorf("store: %s: applying migration %s: %w", s.name, m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", m.version, s.now().UnixNano()); err != nil {
			return fmt.Errorf("store: %s: applying migration %s: %w", s.name, m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: %s: committing migrations: %w", s.name, mapErr(err))
	}
	return nil
}

// SchemaVersion returns the applied migration version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, s.pool)
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", mapErr(err))
	}
	return v, nil
}

// Check verifies the schema version and reads every table; with the amcheck
// extension installed it also verifies every index's B-tree structure.
func (s *Store) Check(ctx context.Context) error {
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if v != LatestVersion() {
		return fmt.Errorf("store: %s: schema version %d, want %d: %w", s.name, v, LatestVersion(), store.ErrCorrupt)
	}
	for _, t := range []string{"meta", "keys", "clusters", "windows", "principals", "tokens", "audit", "audit_checkpoints"} {
		var n int64
		if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return fmt.Errorf("store: %s: checking %s: %w", s.name, t, mapErr(err))
		}
	}
	var amcheck bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'amcheck')").Scan(&amcheck); err != nil {
		return fmt.Errorf("store: %s: %w", s.name, mapErr(err))
	}
	if amcheck {
		_, err := s.pool.Exec(ctx, `SELECT bt_index_check(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')`)
		if err != nil {
			return fmt.Errorf("store: %s: index check: %w: %w", s.name, store.ErrCorrupt, err)
		}
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// mapErr maps PostgreSQL errors to the store's sentinels, keeping the cause.
func mapErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case "XX001", "XX002": // data_corrupted, index_corrupted
			return fmt.Errorf("%w: %w", store.ErrCorrupt, err)
		}
	}
	return err
}

func isFK(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// insertErr wraps the error of inserting the row what/id, which refers to the
// row parent/parentID: a missing parent is store.ErrNotFound, a duplicate
// store.ErrConflict; nil stays nil.
func insertErr(err error, what, id, parent, parentID string) error {
	switch {
	case err == nil:
		return nil
	case isFK(err):
		return fmt.Errorf("store: inserting %s %q: %s %q: %w", what, id, parent, parentID, store.ErrNotFound)
	default:
		return fmt.Errorf("store: inserting %s %q: %w", what, id, mapErr(err))
	}
}

// inTx runs fn in a transaction and commits if it succeeds.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return mapErr(tx.Commit(ctx))
}

// Times are int64 Unix nanoseconds, NULL for the zero time.

func timeArg(t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	if !storable(t) {
		return nil, fmt.Errorf("store: time %s is outside the storable range (years 1678 to 2262)", t.Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

func storable(t time.Time) bool {
	return !t.Before(time.Unix(0, math.MinInt64)) && !t.After(time.Unix(0, math.MaxInt64))
}

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

func fromNanos(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return time.Unix(0, *v).UTC()
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.Unix(0, t.UnixNano()).UTC()
}

func bound(t time.Time) int64 {
	switch {
	case t.IsZero() || t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func blobArg(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (s *Store) nowIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}

func notFoundIfZero(tag pgconn.CommandTag, what string, args ...any) error {
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: "+what+": %w", append(args, store.ErrNotFound)...)
	}
	return nil
}

// privateKeyMode reports whether a private key file is private enough: readable by
// its owner only, or owned by root and readable by its group only (0440: a
// Kubernetes Secret mounted into a non-root pod through fsGroup), as PostgreSQL
// itself accepts for its server key.
func privateKeyMode(fi os.FileInfo) bool {
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0 && perm&0o037 == 0
}
