package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/costwarden/costwarden/internal/store"
)

// --- meta

// GetMeta returns the value under key, or store.ErrNotFound.
func (s *Store) GetMeta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, "SELECT value FROM meta WHERE key = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: meta %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: meta %q: %w", key, mapErr(err))
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// PutMeta stores value under key (upsert).
func (s *Store) PutMeta(ctx context.Context, key string, value []byte) error {
	_, err := s.pool.Exec(ctx, "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, blobArg(value))
	if err != nil {
		return fmt.Errorf("store: putting meta %q: %w", key, mapErr(err))
	}
	return nil
}

// PutMetaIfAbsent stores value unless key exists; of racing callers (in any
// replica) exactly one stores.
func (s *Store) PutMetaIfAbsent(ctx context.Context, key string, value []byte) (bool, error) {
	tag, err := s.pool.Exec(ctx, "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", key, blobArg(value))
	if err != nil {
		return false, fmt.Errorf("store: putting meta %q: %w", key, mapErr(err))
	}
	return tag.RowsAffected() == 1, nil
}

// --- keys

// ListKeys returns the tenant's key versions ordered by version.
func (s *Store) ListKeys(ctx context.Context, tenant string) ([]store.WrappedKey, error) {
	return queryAll(ctx, s.pool, "listing keys", func(r pgx.Row) (store.WrappedKey, error) {
		k := store.WrappedKey{Tenant: tenant}
		var version, uses int64
		var created *int64
		err := r.Scan(&version, &k.KEKID, &k.Wrapped, &created, &k.State, &uses)
		k.Version, k.CreatedAt, k.Uses = uint32(version), fromNanos(created), uint64(uses)
		return k, err
	}, "SELECT version, kek_id, wrapped, created_at, state, uses FROM keys WHERE tenant = $1 ORDER BY version", tenant)
}

// InsertKey adds a key version; an existing one is store.ErrConflict.
func (s *Store) InsertKey(ctx context.Context, k store.WrappedKey) error {
	if k.Uses > math.MaxInt64 {
		return fmt.Errorf("store: inserting key %d: uses out of range", k.Version)
	}
	created, err := timeArg(k.CreatedAt)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, "INSERT INTO keys (tenant, version, kek_id, wrapped, created_at, state, uses) VALUES ($1, $2, $3, $4, $5, $6, $7)",
		k.Tenant, int64(k.Version), k.KEKID, blobArg(k.Wrapped), created, k.State, int64(k.Uses))
	if err != nil {
		return fmt.Errorf("store: inserting key version %d: %w", k.Version, mapErr(err))
	}
	return nil
}

// AddKeyUses adds n to a version's use count in one statement.
func (s *Store) AddKeyUses(ctx context.Context, tenant string, version uint32, n uint64) error {
	if n > math.MaxInt64 {
		return fmt.Errorf("store: adding %d uses: out of range", n)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE keys SET uses = uses + $1 WHERE tenant = $2 AND version = $3", int64(n), tenant, int64(version))
	if err != nil {
		return fmt.Errorf("store: adding uses to key version %d: %w", version, mapErr(err))
	}
	return notFoundIfZero(tag, "key version %d", version)
}

// SetKeyState changes a version's state only from the expected one; the row
// is locked, so of racing callers exactly one succeeds.
func (s *Store) SetKeyState(ctx context.Context, tenant string, version uint32, from, to string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, "SELECT state FROM keys WHERE tenant = $1 AND version = $2 FOR UPDATE", tenant, int64(version)).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: key version %d: %w", version, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: key version %d: %w", version, mapErr(err))
		}
		if state != from {
			return fmt.Errorf("store: key version %d is %s, not %s: %w", version, state, from, store.ErrConflict)
		}
		_, err = tx.Exec(ctx, "UPDATE keys SET state = $1 WHERE tenant = $2 AND version = $3", to, tenant, int64(version))
		return mapErr(err)
	})
}

// RewrapKey replaces the wrapped key if it still equals oldWrapped.
func (s *Store) RewrapKey(ctx context.Context, tenant string, version uint32, oldWrapped []byte, kekID string, wrapped []byte) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var cur []byte
		err := tx.QueryRow(ctx, "SELECT wrapped FROM keys WHERE tenant = $1 AND version = $2 FOR UPDATE", tenant, int64(version)).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("store: key version %d: %w", version, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: key version %d: %w", version, mapErr(err))
		}
		if !bytes.Equal(cur, oldWrapped) {
			return fmt.Errorf("store: key version %d was rewrapped meanwhile: %w", version, store.ErrConflict)
		}
		_, err = tx.Exec(ctx, "UPDATE keys SET kek_id = $1, wrapped = $2 WHERE tenant = $3 AND version = $4", kekID, blobArg(wrapped), tenant, int64(version))
		return mapErr(err)
	})
}

// DeleteKeys deletes every key version of tenant.
func (s *Store) DeleteKeys(ctx context.Context, tenant string) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM keys WHERE tenant = $1", tenant); err != nil {
		return fmt.Errorf("store: deleting keys: %w", mapErr(err))
	}
	// Dead tuples still hold the wrapped keys until vacuumed.
	if _, err := s.pool.Exec(ctx, "VACUUM keys"); err != nil {
		return fmt.Errorf("store: deleting keys: vacuum: %w", mapErr(err))
	}
	return nil
}

// --- clusters

const clusterCols = "id, name_index, sealed, created_at"

func scanCluster(tenant string, row pgx.Row) (store.Cluster, error) {
	c := store.Cluster{Tenant: tenant}
	var created *int64
	if err := row.Scan(&c.ID, &c.NameIndex, &c.Sealed, &created); err != nil {
		return store.Cluster{}, err
	}
	c.CreatedAt = fromNanos(created)
	return c, nil
}

// EnsureCluster returns the cluster with c's name index, inserting c if none.
func (s *Store) EnsureCluster(ctx context.Context, c store.Cluster) (store.Cluster, error) {
	if c.Tenant == "" || c.ID == "" || len(c.NameIndex) == 0 {
		return store.Cluster{}, errors.New("store: ensuring cluster: tenant, id and name index are required")
	}
	c.CreatedAt = s.nowIfZero(c.CreatedAt)
	created, err := timeArg(c.CreatedAt)
	if err != nil {
		return store.Cluster{}, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		existing, err := scanCluster(c.Tenant, s.pool.QueryRow(ctx, "SELECT "+clusterCols+" FROM clusters WHERE tenant = $1 AND name_index = $2", c.Tenant, c.NameIndex))
		if err == nil {
			return existing, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return store.Cluster{}, fmt.Errorf("store: ensuring cluster %q: %w", c.ID, mapErr(err))
		}
		tag, err := s.pool.Exec(ctx, "INSERT INTO clusters (tenant, "+clusterCols+") VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, name_index) DO NOTHING",
			c.Tenant, c.ID, c.NameIndex, blobArg(c.Sealed), created)
		if err != nil {
			return store.Cluster{}, fmt.Errorf("store: ensuring cluster %q: %w", c.ID, mapErr(err))
		}
		if tag.RowsAffected() == 1 {
			out := c
			out.CreatedAt = normTime(c.CreatedAt)
			out.Sealed = blobArg(c.Sealed)
			return out, nil
		}
		// Another replica registered the name meanwhile: read theirs.
	}
	return store.Cluster{}, fmt.Errorf("store: ensuring cluster %q: %w", c.ID, store.ErrConflict)
}

// ListClusters returns the tenant's clusters ordered by ID.
func (s *Store) ListClusters(ctx context.Context, tenant string) ([]store.Cluster, error) {
	scan := func(r pgx.Row) (store.Cluster, error) { return scanCluster(tenant, r) }
	return queryAll(ctx, s.pool, "listing clusters", scan, "SELECT "+clusterCols+" FROM clusters WHERE tenant = $1 ORDER BY id", tenant)
}

// --- windows

// PutWindow upserts w on its unique key: replicas writing the same window
// leave one row, the last write's.
func (s *Store) PutWindow(ctx context.Context, w store.Window) error {
	if w.Tenant == "" || w.ClusterID == "" || w.Start.IsZero() {
		return errors.New("store: putting window: tenant, cluster and start are required")
	}
	times, err := timeArgs(w.Start, w.End, s.nowIfZero(w.UpdatedAt))
	if err != nil {
		return fmt.Errorf("store: putting window: %w", err)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// The counter row's lock, held to the commit, orders the tenant's writers:
		// versions become visible in the order they were taken.
		var version int64
		if err := tx.QueryRow(ctx, `INSERT INTO window_versions (tenant, version, deletes) VALUES ($1, 1, 0)
			ON CONFLICT (tenant) DO UPDATE SET version = window_versions.version + 1 RETURNING version`, w.Tenant).Scan(&version); err != nil {
			return mapErr(err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO windows (tenant, cluster_id, resolution, start_unix, end_unix, partial, blob, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (tenant, cluster_id, resolution, start_unix) DO UPDATE SET
				end_unix = excluded.end_unix, partial = excluded.partial, blob = excluded.blob, updated_at = excluded.updated_at,
				version = excluded.version`,
			w.Tenant, w.ClusterID, int16(w.Resolution), times[0], times[1], w.Partial, blobArg(w.Blob), times[2], version)
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("store: putting window: %w", err)
	}
	return nil
}

// WindowsSince returns the windows of tenant stored with a version above after,
// counters and rows read from one snapshot.
func (s *Store) WindowsSince(ctx context.Context, tenant string, after int64) (store.WindowChanges, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return store.WindowChanges{}, fmt.Errorf("store: window changes: %w", mapErr(err))
	}
	defer tx.Rollback(ctx)
	var ch store.WindowChanges
	err = tx.QueryRow(ctx, "SELECT version, deletes FROM window_versions WHERE tenant = $1", tenant).Scan(&ch.Version, &ch.Deletes)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return store.WindowChanges{}, fmt.Errorf("store: window changes: %w", mapErr(err))
	}
	if after < 0 || after >= ch.Version {
		return ch, nil
	}
	ch.Windows, err = queryAll(ctx, tx, "window changes", func(r pgx.Row) (store.WindowInfo, error) {
		w := store.WindowInfo{WindowKey: store.WindowKey{Tenant: tenant}}
		var res int16
		var start int64
		var end, updated *int64
		err := r.Scan(&res, &w.ClusterID, &start, &end, &w.Partial, &updated, &w.Version)
		w.Resolution = uint8(res)
		w.Start, w.End, w.UpdatedAt = time.Unix(0, start).UTC(), fromNanos(end), fromNanos(updated)
		return w, err
	}, `SELECT resolution, cluster_id, start_unix, end_unix, partial, updated_at, version
		FROM windows WHERE tenant = $1 AND version > $2 ORDER BY version`, tenant, after)
	if err != nil {
		return store.WindowChanges{}, err
	}
	return ch, nil
}

func (s *Store) GetWindow(ctx context.Context, k store.WindowKey) (store.Window, error) {
	notFound := fmt.Errorf("store: window %s/%d at %s: %w", k.ClusterID, k.Resolution, k.Start.UTC().Format(time.RFC3339), store.ErrNotFound)
	if k.Start.IsZero() || !storable(k.Start) {
		return store.Window{}, notFound
	}
	start := k.Start.UnixNano()
	w := store.Window{WindowKey: store.WindowKey{Tenant: k.Tenant, ClusterID: k.ClusterID, Resolution: k.Resolution, Start: time.Unix(0, start).UTC()}}
	var end, updated *int64
	err := s.pool.QueryRow(ctx, `SELECT end_unix, partial, blob, updated_at FROM windows
		WHERE tenant = $1 AND cluster_id = $2 AND resolution = $3 AND start_unix = $4`,
		k.Tenant, k.ClusterID, int16(k.Resolution), start).Scan(&end, &w.Partial, &w.Blob, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Window{}, notFound
	}
	if err != nil {
		return store.Window{}, fmt.Errorf("store: getting window: %w", mapErr(err))
	}
	w.End, w.UpdatedAt = fromNanos(end), fromNanos(updated)
	return w, nil
}

func rangeWhere(r store.WindowRange) (string, []any) {
	where := "tenant = $1 AND resolution = $2 AND start_unix >= $3 AND start_unix < $4"
	args := []any{r.Tenant, int16(r.Resolution), bound(r.From), bound(r.To)}
	if r.ClusterID != "" {
		where += " AND cluster_id = $5"
		args = append(args, r.ClusterID)
	}
	return where, args
}

// ScanWindows streams the windows in r, ordered by (Start, ClusterID). The rows
// are read fully before fn runs, so fn may use the store (a pooled connection
// is not held across callbacks).
func (s *Store) ScanWindows(ctx context.Context, r store.WindowRange, fn func(store.Window) error) error {
	where, args := rangeWhere(r)
	// Page through the range so a long scan holds neither a connection nor
	// the whole range in memory.
	const page = 256
	afterStart, afterCluster := int64(math.MinInt64), ""
	for {
		q := `SELECT cluster_id, start_unix, end_unix, partial, blob, updated_at FROM windows WHERE ` + where +
			fmt.Sprintf(" AND (start_unix, cluster_id) > ($%d, $%d) ORDER BY start_unix, cluster_id LIMIT %d", len(args)+1, len(args)+2, page)
		batch, err := queryAll(ctx, s.pool, "scanning windows", func(row pgx.Row) (store.Window, error) {
			w := store.Window{WindowKey: store.WindowKey{Tenant: r.Tenant, Resolution: r.Resolution}}
			var start int64
			var end, updated *int64
			err := row.Scan(&w.ClusterID, &start, &end, &w.Partial, &w.Blob, &updated)
			w.Start, w.End, w.UpdatedAt = time.Unix(0, start).UTC(), fromNanos(end), fromNanos(updated)
			return w, err
		}, q, append(args, afterStart, afterCluster)...)
		if err != nil {
			return err
		}
		for _, w := range batch {
			if err := fn(w); err != nil {
				return err
			}
		}
		if len(batch) < page {
			return nil
		}
		last := batch[len(batch)-1]
		afterStart, afterCluster = last.Start.UnixNano(), last.ClusterID
	}
}

// WindowStarts lists the windows in r without blobs.
func (s *Store) WindowStarts(ctx context.Context, r store.WindowRange) ([]store.WindowInfo, error) {
	where, args := rangeWhere(r)
	return queryAll(ctx, s.pool, "listing windows", func(row pgx.Row) (store.WindowInfo, error) {
		w := store.WindowInfo{WindowKey: store.WindowKey{Tenant: r.Tenant, Resolution: r.Resolution}}
		var start int64
		var end, updated *int64
		err := row.Scan(&w.ClusterID, &start, &end, &w.Partial, &updated, &w.Version)
		w.Start, w.End, w.UpdatedAt = time.Unix(0, start).UTC(), fromNanos(end), fromNanos(updated)
		return w, err
	}, `SELECT cluster_id, start_unix, end_unix, partial, updated_at, version FROM windows WHERE `+where+` ORDER BY start_unix, cluster_id`, args...)
}

// DeleteWindows deletes the windows in r and reports how many.
func (s *Store) DeleteWindows(ctx context.Context, r store.WindowRange) (int, error) {
	where, args := rangeWhere(r)
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM windows WHERE "+where, args...)
		if err != nil {
			return mapErr(err)
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		return countDeletion(ctx, tx, r.Tenant)
	})
	if err != nil {
		return 0, fmt.Errorf("store: deleting windows: %w", err)
	}
	return int(n), nil
}

// countDeletion increments the tenant's deletion counter.
func countDeletion(ctx context.Context, tx pgx.Tx, tenant string) error {
	_, err := tx.Exec(ctx, `INSERT INTO window_versions (tenant, version, deletes) VALUES ($1, 0, 1)
		ON CONFLICT (tenant) DO UPDATE SET deletes = window_versions.deletes + 1`, tenant)
	return mapErr(err)
}
