package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/costwarden/costwarden/internal/store"
)

// ListTenants returns every tenant with keys or rows, sorted.
func (s *Store) ListTenants(ctx context.Context) ([]string, error) {
	return queryAll(ctx, s.pool, "listing tenants", scanString, `SELECT tenant FROM keys UNION SELECT tenant FROM clusters
		UNION SELECT tenant FROM windows UNION SELECT tenant FROM principals
		UNION SELECT tenant FROM tokens UNION SELECT tenant FROM sessions
		UNION SELECT tenant FROM lockouts UNION SELECT tenant FROM access_requests
		UNION SELECT tenant FROM agents UNION SELECT id FROM tenants
		UNION SELECT tenant FROM audit UNION SELECT tenant FROM audit_checkpoints ORDER BY 1`)
}

var tenantTables = []string{"sessions", "access_requests", "lockouts", "tokens", "principals", "agents", "windows", "clusters", "audit", "audit_checkpoints"}

// DeleteTenantData deletes every row of tenant but its keys, in one transaction.
func (s *Store) DeleteTenantData(ctx context.Context, tenant string) (int, error) {
	if tenant == "" {
		return 0, errors.New("store: deleting tenant data: empty tenant")
	}
	total := 0
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		for _, t := range tenantTables {
			tag, err := tx.Exec(ctx, "DELETE FROM "+t+" WHERE tenant = $1", tenant)
			if err != nil {
				return fmt.Errorf("%s: %w", t, mapErr(err))
			}
			total += int(tag.RowsAffected())
		}
		// The registry entry (its hosts go with it); the window counters stay,
		// with the deletion counted, so other replicas drop their caches.
		tag, err := tx.Exec(ctx, "DELETE FROM tenants WHERE id = $1", tenant)
		if err != nil {
			return fmt.Errorf("tenants: %w", mapErr(err))
		}
		total += int(tag.RowsAffected())
		return countDeletion(ctx, tx, tenant)
	})
	if err != nil {
		return 0, fmt.Errorf("store: deleting data of tenant %q: %w", tenant, err)
	}
	return total, nil
}

// Reclaim vacuums every table: dead row versions of deleted rows are removed
// from the pages and their space reused.
func (s *Store) Reclaim(ctx context.Context) error {
	if _, err := s.pool.Exec(ctx, "VACUUM meta, keys, clusters, windows, principals, tokens, sessions, lockouts, access_requests, audit, audit_checkpoints, agents, tenants, tenant_hosts"); err != nil {
		return fmt.Errorf("store: reclaim: vacuum: %w", mapErr(err))
	}
	return nil
}

var sealedCol = map[string]string{store.TableClusters: "sealed", store.TablePrincipals: "sealed", store.TableTokens: "sealed",
	store.TableSessions: "sealed", store.TableAccessRequests: "sealed"}

// ScanSealed returns up to limit sealed rows of table for tenant after cursor.
func (s *Store) ScanSealed(ctx context.Context, table, tenant, cursor string, limit int) ([]store.SealedRow, string, error) {
	if limit <= 0 {
		limit = 100
	}
	switch table {
	case store.TableWindows:
		cluster, res, start, err := store.ParseWindowCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		out, err := queryAll(ctx, s.pool, "scanning sealed windows", func(sc pgx.Row) (store.SealedRow, error) {
			r := store.SealedRow{Table: table, Tenant: tenant}
			var res int16
			var st int64
			err := sc.Scan(&r.Window.ClusterID, &res, &st, &r.Blob)
			r.Window.Tenant, r.Window.Resolution, r.Window.Start = tenant, uint8(res), time.Unix(0, st).UTC()
			return r, err
		}, `SELECT cluster_id, resolution, start_unix, blob FROM windows
			WHERE tenant = $1 AND (cluster_id, resolution, start_unix) > ($2, $3, $4)
			ORDER BY cluster_id, resolution, start_unix LIMIT $5`, tenant, cluster, res, start, limit)
		if err != nil || len(out) == 0 {
			return nil, "", err
		}
		return out, store.WindowCursor(out[len(out)-1].Window), nil
	case store.TableAudit:
		return s.scanSealedAudit(ctx, tenant, cursor, limit)
	}
	col, ok := sealedCol[table]
	if !ok {
		return nil, "", fmt.Errorf("store: no sealed table %q", table)
	}
	out, err := queryAll(ctx, s.pool, "scanning sealed "+table, func(sc pgx.Row) (store.SealedRow, error) {
		r := store.SealedRow{Table: table, Tenant: tenant}
		err := sc.Scan(&r.ID, &r.Blob)
		return r, err
	}, "SELECT id, "+col+" FROM "+table+" WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3", tenant, cursor, limit)
	if err != nil || len(out) == 0 {
		return nil, "", err
	}
	return out, out[len(out)-1].ID, nil
}

// ReplaceSealed swaps row's blob for blob if the stored one still equals row.Blob.
func (s *Store) ReplaceSealed(ctx context.Context, row store.SealedRow, blob []byte) (bool, error) {
	var q string
	var args []any
	if row.Table == store.TableWindows {
		k := row.Window
		if !storable(k.Start) {
			return false, nil
		}
		q = "UPDATE windows SET blob = $1 WHERE tenant = $2 AND cluster_id = $3 AND resolution = $4 AND start_unix = $5 AND blob = $6"
		args = []any{blobArg(blob), row.Tenant, k.ClusterID, int16(k.Resolution), k.Start.UnixNano(), blobArg(row.Blob)}
	} else if row.Table == store.TableAudit {
		seq, err := strconv.ParseInt(row.ID, 10, 64)
		if err != nil {
			return false, fmt.Errorf("store: bad audit row id %q", row.ID)
		}
		q = "UPDATE audit SET sealed = $1 WHERE tenant = $2 AND seq = $3 AND sealed = $4"
		args = []any{blobArg(blob), row.Tenant, seq, blobArg(row.Blob)}
	} else {
		col, ok := sealedCol[row.Table]
		if !ok {
			return false, fmt.Errorf("store: no sealed table %q", row.Table)
		}
		q = "UPDATE " + row.Table + " SET " + col + " = $1 WHERE tenant = $2 AND id = $3 AND " + col + " = $4"
		args = []any{blobArg(blob), row.Tenant, row.ID, blobArg(row.Blob)}
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("store: replacing a sealed %s row: %w", row.Table, mapErr(err))
	}
	return tag.RowsAffected() == 1, nil
}

// Dump calls fn with every row from one REPEATABLE READ snapshot; writers of
// every replica continue meanwhile.
func (s *Store) Dump(ctx context.Context, fn func(store.Row) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("store: dump: %w", mapErr(err))
	}
	defer tx.Rollback(ctx)
	parts := []struct {
		name, query string
		scan        func(pgx.Row) (store.Row, error)
	}{
		{"meta", "SELECT key, value FROM meta ORDER BY key", func(r pgx.Row) (store.Row, error) {
			var m store.MetaRow
			err := r.Scan(&m.Key, &m.Value)
			if m.Value == nil {
				m.Value = []byte{}
			}
			return store.Row{Meta: &m}, err
		}},
		{"keys", "SELECT tenant, version, kek_id, wrapped, created_at, state, uses FROM keys ORDER BY tenant, version", func(r pgx.Row) (store.Row, error) {
			var k store.WrappedKey
			var version, uses int64
			var created *int64
			err := r.Scan(&k.Tenant, &version, &k.KEKID, &k.Wrapped, &created, &k.State, &uses)
			k.Version, k.CreatedAt, k.Uses = uint32(version), fromNanos(created), uint64(uses)
			return store.Row{Key: &k}, err
		}},
		{"clusters", "SELECT tenant, " + clusterCols + " FROM clusters ORDER BY tenant, id", func(r pgx.Row) (store.Row, error) {
			var c store.Cluster
			var created *int64
			err := r.Scan(&c.Tenant, &c.ID, &c.NameIndex, &c.Sealed, &created)
			c.CreatedAt = fromNanos(created)
			return store.Row{Cluster: &c}, err
		}},
		{"principals", "SELECT " + principalCols + " FROM principals ORDER BY tenant, id", func(r pgx.Row) (store.Row, error) {
			p, err := scanPrincipal(r)
			return store.Row{Principal: &p}, err
		}},
		{"tokens", "SELECT " + tokenCols + " FROM tokens ORDER BY tenant, id", func(r pgx.Row) (store.Row, error) {
			t, err := scanToken(r)
			return store.Row{Token: &t}, err
		}},
		{"sessions", "SELECT " + sessionCols + " FROM sessions ORDER BY tenant, id", func(r pgx.Row) (store.Row, error) {
			x, err := scanSession(r)
			return store.Row{Session: &x}, err
		}},
		{"access_requests", "SELECT " + requestCols + " FROM access_requests ORDER BY tenant, id", func(r pgx.Row) (store.Row, error) {
			a, err := scanRequest(r)
			return store.Row{AccessRequest: &a}, err
		}},
		{"agents", "SELECT " + agentCols + " FROM agents ORDER BY tenant, id", func(r pgx.Row) (store.Row, error) {
			a, err := scanAgent(r)
			return store.Row{Agent: &a}, err
		}},
		{"tenants", `SELECT t.id, t.state, t.created_at, COALESCE((SELECT array_agg(host ORDER BY host) FROM tenant_hosts h WHERE h.tenant = t.id), '{}')
			FROM tenants t ORDER BY t.id`, func(r pgx.Row) (store.Row, error) {
			var t store.TenantRecord
			var created *int64
			err := r.Scan(&t.ID, &t.State, &created, &t.Hosts)
			t.CreatedAt = fromNanos(created)
			if len(t.Hosts) == 0 {
				t.Hosts = nil
			}
			return store.Row{Tenant: &t}, err
		}},
		{"audit", "SELECT " + auditCols + " FROM audit ORDER BY tenant, seq", func(r pgx.Row) (store.Row, error) {
			a, err := scanAudit(r)
			return store.Row{Audit: &a}, err
		}},
		{"audit_checkpoints", "SELECT " + checkpointCols + " FROM audit_checkpoints ORDER BY tenant, seq", func(r pgx.Row) (store.Row, error) {
			c, err := scanCheckpoint(r)
			return store.Row{AuditCheckpoint: &c}, err
		}},
		{"windows", `SELECT tenant, cluster_id, resolution, start_unix, end_unix, partial, blob, updated_at
			FROM windows ORDER BY tenant, cluster_id, resolution, start_unix`, func(r pgx.Row) (store.Row, error) {
			var w store.Window
			var res int16
			var start int64
			var end, updated *int64
			err := r.Scan(&w.Tenant, &w.ClusterID, &res, &start, &end, &w.Partial, &w.Blob, &updated)
			w.Resolution, w.Start, w.End, w.UpdatedAt = uint8(res), time.Unix(0, start).UTC(), fromNanos(end), fromNanos(updated)
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

// Load inserts rows into an empty database in one transaction.
func (s *Store) Load(ctx context.Context, next func() (store.Row, error)) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		// Lock out concurrent writers of other replicas while checking emptiness.
		if _, err := tx.Exec(ctx, "LOCK TABLE meta, keys, clusters, windows, principals, tokens, sessions, access_requests, audit, audit_checkpoints, agents, tenants IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("store: load: %w", mapErr(err))
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM meta) + (SELECT count(*) FROM keys)
			+ (SELECT count(*) FROM clusters) + (SELECT count(*) FROM windows)
			+ (SELECT count(*) FROM principals) + (SELECT count(*) FROM tokens)
			+ (SELECT count(*) FROM sessions) + (SELECT count(*) FROM access_requests)
			+ (SELECT count(*) FROM audit) + (SELECT count(*) FROM audit_checkpoints)
			+ (SELECT count(*) FROM agents) + (SELECT count(*) FROM tenants)`).Scan(&n); err != nil {
			return fmt.Errorf("store: load: %w", mapErr(err))
		}
		if n != 0 {
			return fmt.Errorf("store: load: %s already holds %d rows; restore only into an empty database: %w", s.name, n, store.ErrConflict)
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

func loadRow(ctx context.Context, tx pgx.Tx, row store.Row) error {
	var err error
	switch {
	case row.Meta != nil:
		_, err = tx.Exec(ctx, "INSERT INTO meta (key, value) VALUES ($1, $2)", row.Meta.Key, blobArg(row.Meta.Value))
	case row.Key != nil:
		k := row.Key
		if k.Uses > math.MaxInt64 {
			return fmt.Errorf("key %s/%d: uses out of range", k.Tenant, k.Version)
		}
		var created any
		if created, err = timeArg(k.CreatedAt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO keys (tenant, version, kek_id, wrapped, created_at, state, uses) VALUES ($1, $2, $3, $4, $5, $6, $7)",
			k.Tenant, int64(k.Version), k.KEKID, blobArg(k.Wrapped), created, k.State, int64(k.Uses))
	case row.Cluster != nil:
		c := row.Cluster
		var created any
		if created, err = timeArg(c.CreatedAt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO clusters (tenant, "+clusterCols+") VALUES ($1, $2, $3, $4, $5)", c.Tenant, c.ID, blobArg(c.NameIndex), blobArg(c.Sealed), created)
	case row.Principal != nil:
		p := row.Principal
		var ts []any
		if ts, err = timeArgs(p.CreatedAt, p.UpdatedAt, p.LastSeenAt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO principals ("+principalCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
			p.ID, p.Tenant, p.Kind, blobArg(p.NameIndex), p.State, p.Role, blobArg(p.Sealed), ts[0], ts[1], p.Version,
			optBlob(p.EmailIndex), optBlob(p.SubjectIndex), ts[2])
	case row.Token != nil:
		t := row.Token
		var ts []any
		if ts, err = timeArgs(t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.LastUsedAt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO tokens ("+tokenCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			t.ID, t.Tenant, t.PrincipalID, blobArg(t.Hash), blobArg(t.Sealed), t.Role, ts[0], ts[1], ts[2], ts[3])
	case row.Session != nil:
		x := row.Session
		var ts []any
		if ts, err = timeArgs(x.CreatedAt, x.LastSeenAt, x.ExpiresAt, x.RevokedAt); err != nil {
			return err
		}
		if ts[2] == nil {
			return errors.New("session without an expiry")
		}
		_, err = tx.Exec(ctx, "INSERT INTO sessions ("+sessionCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
			x.ID, x.Tenant, x.PrincipalID, blobArg(x.Hash), x.Stage, blobArg(x.Sealed), ts[0], ts[1], ts[2], ts[3])
	case row.AccessRequest != nil:
		a := row.AccessRequest
		var ts []any
		if ts, err = timeArgs(a.CreatedAt, a.DecidedAt); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO access_requests ("+requestCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			a.ID, a.Tenant, a.PrincipalID, a.Role, blobArg(a.Sealed), a.State, ts[0], ts[1], a.DecidedBy)
	case row.Agent != nil:
		var args []any
		if args, err = agentArgs(*row.Agent); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO agents ("+agentCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)", args...)
	case row.Tenant != nil:
		t := row.Tenant
		var created any
		if created, err = timeArg(t.CreatedAt); err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, "INSERT INTO tenants (id, state, created_at) VALUES ($1, $2, $3)", t.ID, t.State, created); err != nil {
			return mapErr(err)
		}
		for _, h := range t.Hosts {
			if _, err = tx.Exec(ctx, "INSERT INTO tenant_hosts (host, tenant) VALUES ($1, $2)", h, t.ID); err != nil {
				break
			}
		}
	case row.Audit != nil:
		a := row.Audit
		if err := checkAuditRecord(*a); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO audit ("+auditCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			a.Tenant, int64(a.Seq), a.Time.UnixNano(), a.Action, a.Outcome, a.ActorID, blobArg(a.ActorIndex), a.Hash, a.Sealed)
	case row.AuditCheckpoint != nil:
		c := row.AuditCheckpoint
		if c.Seq == 0 || c.Seq > math.MaxInt64 || !storable(c.Time) {
			return fmt.Errorf("audit checkpoint %d out of range", c.Seq)
		}
		_, err = tx.Exec(ctx, "INSERT INTO audit_checkpoints ("+checkpointCols+") VALUES ($1, $2, $3, $4, $5, $6)",
			c.Tenant, int64(c.Seq), blobArg(c.Hash), c.Time.UnixNano(), c.KeyID, blobArg(c.Signature))
	case row.Window != nil:
		w := row.Window
		var ts []any
		if ts, err = timeArgs(w.Start, w.End, w.UpdatedAt); err != nil {
			return err
		}
		if ts[0] == nil {
			return errors.New("window without a start")
		}
		_, err = tx.Exec(ctx, `INSERT INTO windows (tenant, cluster_id, resolution, start_unix, end_unix, partial, blob, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, w.Tenant, w.ClusterID, int16(w.Resolution), ts[0], ts[1], w.Partial, blobArg(w.Blob), ts[2])
	default:
		return errors.New("empty row")
	}
	return mapErr(err)
}
