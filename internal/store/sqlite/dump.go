package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// Dump calls fn with every row, read inside one read transaction: the WAL gives
// it a snapshot, so writers (the running server) continue and the dump is
// consistent as of its first read.
func (s *Store) Dump(ctx context.Context, fn func(store.Row) error) error {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: dump: %w", classify(err))
	}
	defer tx.Rollback()
	type part struct {
		name, query string
		scan        func(rowScanner) (store.Row, error)
	}
	parts := []part{
		{"meta", "SELECT key, value FROM meta ORDER BY key", func(r rowScanner) (store.Row, error) {
			var m store.MetaRow
			err := r.Scan(&m.Key, &m.Value)
			return store.Row{Meta: &m}, err
		}},
		{"keys", "SELECT tenant, version, kek_id, wrapped, created_at, state, uses FROM keys ORDER BY tenant, version", func(r rowScanner) (store.Row, error) {
			var k store.WrappedKey
			var created sql.NullInt64
			var uses int64
			err := r.Scan(&k.Tenant, &k.Version, &k.KEKID, &k.Wrapped, &created, &k.State, &uses)
			k.CreatedAt, k.Uses = fromNanos(created), uint64(uses)
			return store.Row{Key: &k}, err
		}},
		{"clusters", "SELECT tenant, " + clusterCols + " FROM clusters ORDER BY tenant, id", func(r rowScanner) (store.Row, error) {
			var tenant string
			var c store.Cluster
			var created sql.NullInt64
			err := r.Scan(&tenant, &c.ID, &c.NameIndex, &c.Sealed, &created)
			c.Tenant, c.CreatedAt = tenant, fromNanos(created)
			return store.Row{Cluster: &c}, err
		}},
		{"principals", "SELECT " + principalCols + " FROM principals ORDER BY tenant, id", func(r rowScanner) (store.Row, error) {
			p, err := scanPrincipal(r)
			return store.Row{Principal: &p}, err
		}},
		{"tokens", "SELECT " + tokenCols + " FROM tokens ORDER BY tenant, id", func(r rowScanner) (store.Row, error) {
			t, err := scanToken(r)
			return store.Row{Token: &t}, err
		}},
		{"sessions", "SELECT " + sessionCols + " FROM sessions ORDER BY tenant, id", func(r rowScanner) (store.Row, error) {
			x, err := scanSession(r)
			return store.Row{Session: &x}, err
		}},
		{"access_requests", "SELECT " + requestCols + " FROM access_requests ORDER BY tenant, id", func(r rowScanner) (store.Row, error) {
			a, err := scanRequest(r)
			return store.Row{AccessRequest: &a}, err
		}},
		{"agents", "SELECT " + agentCols + " FROM agents ORDER BY tenant, id", func(r rowScanner) (store.Row, error) {
			a, err := scanAgent(r)
			return store.Row{Agent: &a}, err
		}},
		{"tenants", `SELECT t.id, t.state, t.created_at, COALESCE((SELECT group_concat(host, ',') FROM
			(SELECT host FROM tenant_hosts h WHERE h.tenant = t.id ORDER BY host)), '') FROM tenants t ORDER BY t.id`, func(r rowScanner) (store.Row, error) {
			var t store.TenantRecord
			var created sql.NullInt64
			var hosts string
			err := r.Scan(&t.ID, &t.State, &created, &hosts)
			t.CreatedAt = fromNanos(created)
			if hosts != "" {
				t.Hosts = strings.Split(hosts, ",")
			}
			return store.Row{Tenant: &t}, err
		}},
		{"audit", "SELECT " + auditCols + " FROM audit ORDER BY tenant, seq", func(r rowScanner) (store.Row, error) {
			a, err := scanAudit(r)
			return store.Row{Audit: &a}, err
		}},
		{"audit_checkpoints", "SELECT " + checkpointCols + " FROM audit_checkpoints ORDER BY tenant, seq", func(r rowScanner) (store.Row, error) {
			c, err := scanCheckpoint(r)
			return store.Row{AuditCheckpoint: &c}, err
		}},
		{"windows", `SELECT tenant, cluster_id, resolution, start_unix, end_unix, partial, blob, updated_at
			FROM windows ORDER BY tenant, cluster_id, resolution, start_unix`, func(r rowScanner) (store.Row, error) {
			var w store.Window
			var start int64
			var end, updated sql.NullInt64
			err := r.Scan(&w.Tenant, &w.ClusterID, &w.Resolution, &start, &end, &w.Partial, &w.Blob, &updated)
			w.Start, w.End, w.UpdatedAt = time.Unix(0, start).UTC(), fromNanos(end), fromNanos(updated)
			return store.Row{Window: &w}, err
		}},
	}
	for _, p := range parts {
		if err := queryEach(ctx, tx, "dump "+p.name, p.scan, fn, p.query); err != nil {
			return err
		}
	}
	return nil
}

// Load inserts rows into an empty store in one transaction.
func (s *Store) Load(ctx context.Context, next func() (store.Row, error)) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM meta) + (SELECT count(*) FROM keys)
			+ (SELECT count(*) FROM clusters) + (SELECT count(*) FROM windows)
			+ (SELECT count(*) FROM principals) + (SELECT count(*) FROM tokens)
			+ (SELECT count(*) FROM sessions) + (SELECT count(*) FROM access_requests)
			+ (SELECT count(*) FROM audit) + (SELECT count(*) FROM audit_checkpoints)
			+ (SELECT count(*) FROM agents) + (SELECT count(*) FROM tenants)`).Scan(&n); err != nil {
			return fmt.Errorf("store: load: %w", classify(err))
		}
		if n != 0 {
			return fmt.Errorf("store: load: %s already holds %d rows; restore only into an empty database: %w", s.path, n, store.ErrConflict)
		}
		for i := 0; ; i++ {
			row, err := next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := loadRow(ctx, tx, row); err != nil {
				return fmt.Errorf("store: load: row %d: %w", i, err)
			}
		}
	})
}

func loadRow(ctx context.Context, tx *sql.Tx, row store.Row) error {
	var err error
	switch {
	case row.Meta != nil:
		_, err = tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?)", row.Meta.Key, blobArg(row.Meta.Value))
	case row.Key != nil:
		k := row.Key
		if k.Uses > math.MaxInt64 {
			return fmt.Errorf("key %s/%d: uses out of range", k.Tenant, k.Version)
		}
		var created any
		if created, err = timeArg(k.CreatedAt); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO keys (tenant, version, kek_id, wrapped, created_at, state, uses) VALUES (?, ?, ?, ?, ?, ?, ?)",
			k.Tenant, k.Version, k.KEKID, blobArg(k.Wrapped), created, k.State, int64(k.Uses))
	case row.Cluster != nil:
		c := row.Cluster
		var created any
		if created, err = timeArg(c.CreatedAt); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO clusters (tenant, "+clusterCols+") VALUES (?, ?, ?, ?, ?)",
			c.Tenant, c.ID, blobArg(c.NameIndex), blobArg(c.Sealed), created)
	case row.Principal != nil:
		p := row.Principal
		var times []any
		if times, err = timeArgs(p.CreatedAt, p.UpdatedAt, p.LastSeenAt); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO principals ("+principalCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			p.ID, p.Tenant, p.Kind, blobArg(p.NameIndex), p.State, p.Role, blobArg(p.Sealed), times[0], times[1], p.Version,
			optBlob(p.EmailIndex), optBlob(p.SubjectIndex), times[2])
	case row.Token != nil:
		t := row.Token
		var times []any
		if times, err = timeArgs(t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.LastUsedAt); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO tokens ("+tokenCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			t.ID, t.Tenant, t.PrincipalID, blobArg(t.Hash), blobArg(t.Sealed), t.Role, times[0], times[1], times[2], times[3])
	case row.Session != nil:
		x := row.Session
		var times []any
		if times, err = timeArgs(x.CreatedAt, x.LastSeenAt, x.ExpiresAt, x.RevokedAt); err != nil {
			return err
		}
		if times[2] == nil {
			return errors.New("session without an expiry")
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO sessions ("+sessionCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			x.ID, x.Tenant, x.PrincipalID, blobArg(x.Hash), x.Stage, blobArg(x.Sealed), times[0], times[1], times[2], times[3])
	case row.AccessRequest != nil:
		a := row.AccessRequest
		var times []any
		if times, err = timeArgs(a.CreatedAt, a.DecidedAt); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO access_requests ("+requestCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			a.ID, a.Tenant, a.PrincipalID, a.Role, blobArg(a.Sealed), a.State, times[0], times[1], a.DecidedBy)
	case row.Agent != nil:
		var args []any
		if args, err = agentArgs(*row.Agent); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO agents ("+agentCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", args...)
	case row.Tenant != nil:
		t := row.Tenant
		var created any
		if created, err = timeArg(t.CreatedAt); err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, "INSERT INTO tenants (id, state, created_at) VALUES (?, ?, ?)", t.ID, t.State, created); err != nil {
			return conflictOr(err)
		}
		for _, h := range t.Hosts {
			if _, err = tx.ExecContext(ctx, "INSERT INTO tenant_hosts (host, tenant) VALUES (?, ?)", h, t.ID); err != nil {
				break
			}
		}
	case row.Audit != nil:
		a := row.Audit
		if err := checkAuditRecord(*a); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO audit ("+auditCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			a.Tenant, int64(a.Seq), a.Time.UnixNano(), a.Action, a.Outcome, a.ActorID, blobArg(a.ActorIndex), a.Hash, a.Sealed)
	case row.AuditCheckpoint != nil:
		c := row.AuditCheckpoint
		if c.Seq == 0 || c.Seq > math.MaxInt64 || !storable(c.Time) {
			return fmt.Errorf("audit checkpoint %d out of range", c.Seq)
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO audit_checkpoints ("+checkpointCols+") VALUES (?, ?, ?, ?, ?, ?)",
			c.Tenant, int64(c.Seq), blobArg(c.Hash), c.Time.UnixNano(), c.KeyID, blobArg(c.Signature))
	case row.Window != nil:
		w := row.Window
		var times []any
		if times, err = timeArgs(w.Start, w.End, w.UpdatedAt); err != nil {
			return err
		}
		if times[0] == nil {
			return errors.New("window without a start")
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO windows (tenant, cluster_id, resolution, start_unix, end_unix, partial, blob, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, w.Tenant, w.ClusterID, w.Resolution, times[0], times[1], w.Partial, blobArg(w.Blob), times[2])
	default:
		return errors.New("empty row")
	}
	if err != nil {
		return conflictOr(err)
	}
	return nil
}
