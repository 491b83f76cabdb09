package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// PutWindow inserts w or replaces the stored window with the same key, giving it
// the tenant's next window version in the same transaction.
func (s *Store) PutWindow(ctx context.Context, w store.Window) error {
	if w.Tenant == "" || w.ClusterID == "" || w.Start.IsZero() {
		return errors.New("store: putting window: tenant, cluster and start are required")
	}
	times, err := timeArgs(w.Start, w.End, s.nowIfZero(w.UpdatedAt))
	if err != nil {
		return fmt.Errorf("store: putting window: %w", err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var version int64
		if err := tx.QueryRowContext(ctx, `INSERT INTO window_versions (tenant, version, deletes) VALUES (?, 1, 0)
			ON CONFLICT (tenant) DO UPDATE SET version = version + 1 RETURNING version`, w.Tenant).Scan(&version); err != nil {
			return classify(err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO windows (tenant, cluster_id, resolution, start_unix, end_unix, partial, blob, updated_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (tenant, cluster_id, resolution, start_unix) DO UPDATE SET
				end_unix = excluded.end_unix, partial = excluded.partial,
				blob = excluded.blob, updated_at = excluded.updated_at, version = excluded.version`,
			w.Tenant, w.ClusterID, w.Resolution, times[0], times[1], w.Partial, blobArg(w.Blob), times[2], version)
		return classify(err)
	})
	if err != nil {
		return fmt.Errorf("store: putting window: %w", err)
	}
	return nil
}

// WindowsSince returns the windows of tenant stored with a version above after.
func (s *Store) WindowsSince(ctx context.Context, tenant string, after int64) (store.WindowChanges, error) {
	// One read transaction: the counters and the rows come from one snapshot.
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return store.WindowChanges{}, fmt.Errorf("store: window changes: %w", classify(err))
	}
	defer tx.Rollback()
	var ch store.WindowChanges
	err = tx.QueryRowContext(ctx, "SELECT version, deletes FROM window_versions WHERE tenant = ?", tenant).Scan(&ch.Version, &ch.Deletes)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.WindowChanges{}, fmt.Errorf("store: window changes: %w", classify(err))
	}
	if after < 0 || after >= ch.Version {
		return ch, nil
	}
	ch.Windows, err = queryAll(ctx, tx, "window changes", func(r rowScanner) (store.WindowInfo, error) {
		w := store.WindowInfo{WindowKey: store.WindowKey{Tenant: tenant}}
		var start int64
		var end, updated sql.NullInt64
		err := r.Scan(&w.Resolution, &w.ClusterID, &start, &end, &w.Partial, &updated, &w.Version)
		w.Start = time.Unix(0, start).UTC()
		w.End, w.UpdatedAt = fromNanos(end), fromNanos(updated)
		return w, err
	}, `SELECT resolution, cluster_id, start_unix, end_unix, partial, updated_at, version
		FROM windows INDEXED BY windows_by_version WHERE tenant = ? AND version > ? ORDER BY version`, tenant, after)
	if err != nil {
		return store.WindowChanges{}, err
	}
	return ch, nil
}

// GetWindow returns one window, or an error wrapping store.ErrNotFound.
func (s *Store) GetWindow(ctx context.Context, k store.WindowKey) (store.Window, error) {
	notFound := fmt.Errorf("store: window %s/%d at %s: %w", k.ClusterID, k.Resolution, k.Start.UTC().Format(time.RFC3339), store.ErrNotFound)
	if k.Start.IsZero() || !storable(k.Start) {
		return store.Window{}, notFound
	}
	start := k.Start.UnixNano()
	w := store.Window{WindowKey: store.WindowKey{Tenant: k.Tenant, ClusterID: k.ClusterID, Resolution: k.Resolution, Start: time.Unix(0, start).UTC()}}
	var end, updated sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT end_unix, partial, blob, updated_at FROM windows
		WHERE tenant = ? AND cluster_id = ? AND resolution = ? AND start_unix = ?`,
		k.Tenant, k.ClusterID, k.Resolution, start).Scan(&end, &w.Partial, &w.Blob, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Window{}, notFound
	}
	if err != nil {
		return store.Window{}, fmt.Errorf("store: getting window: %w", classify(err))
	}
	w.End, w.UpdatedAt = fromNanos(end), fromNanos(updated)
	return w, nil
}

// rangeWhere is the WHERE clause and arguments selecting r.
func rangeWhere(r store.WindowRange) (string, []any) {
	where := "tenant = ? AND resolution = ? AND start_unix >= ? AND start_unix < ?"
	args := []any{r.Tenant, r.Resolution, bound(r.From), bound(r.To)}
	if r.ClusterID != "" {
		where += " AND cluster_id = ?"
		args = append(args, r.ClusterID)
	}
	return where, args
}

// ScanWindows streams the windows in r to fn, ordered by (Start, ClusterID), one
// row at a time; it returns fn's first error as is.
func (s *Store) ScanWindows(ctx context.Context, r store.WindowRange, fn func(store.Window) error) error {
	where, args := rangeWhere(r)
	return queryEach(ctx, s.r, "scanning windows", func(row rowScanner) (store.Window, error) {
		w := store.Window{WindowKey: store.WindowKey{Tenant: r.Tenant, Resolution: r.Resolution}}
		var start int64
		var end, updated sql.NullInt64
		err := row.Scan(&w.ClusterID, &start, &end, &w.Partial, &w.Blob, &updated)
		w.Start = time.Unix(0, start).UTC()
		w.End, w.UpdatedAt = fromNanos(end), fromNanos(updated)
		return w, err
	}, fn, `SELECT cluster_id, start_unix, end_unix, partial, blob, updated_at
		FROM windows WHERE `+where+` ORDER BY start_unix, cluster_id`, args...)
}

// WindowStarts lists the windows in r without their blobs, ordered like ScanWindows.
func (s *Store) WindowStarts(ctx context.Context, r store.WindowRange) ([]store.WindowInfo, error) {
	where, args := rangeWhere(r)
	return queryAll(ctx, s.r, "listing windows", func(row rowScanner) (store.WindowInfo, error) {
		w := store.WindowInfo{WindowKey: store.WindowKey{Tenant: r.Tenant, Resolution: r.Resolution}}
		var start int64
		var end, updated sql.NullInt64
		err := row.Scan(&w.ClusterID, &start, &end, &w.Partial, &updated, &w.Version)
		w.Start = time.Unix(0, start).UTC()
		w.End, w.UpdatedAt = fromNanos(end), fromNanos(updated)
		return w, err
	}, `SELECT cluster_id, start_unix, end_unix, partial, updated_at, version
		FROM windows WHERE `+where+` ORDER BY start_unix, cluster_id`, args...)
}

// DeleteWindows deletes the windows in r, counting the deletion in the tenant's
// window counters, and reports how many.
func (s *Store) DeleteWindows(ctx context.Context, r store.WindowRange) (int, error) {
	where, args := rangeWhere(r)
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM windows WHERE "+where, args...)
		if err != nil {
			return classify(err)
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		return countDeletion(ctx, tx, r.Tenant)
	})
	if err != nil {
		return 0, fmt.Errorf("store: deleting windows: %w", err)
	}
	return int(n), nil
}

// countDeletion increments the tenant's deletion counter.
func countDeletion(ctx context.Context, tx *sql.Tx, tenant string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO window_versions (tenant, version, deletes) VALUES (?, 0, 1)
		ON CONFLICT (tenant) DO UPDATE SET deletes = deletes + 1`, tenant)
	return classify(err)
}
