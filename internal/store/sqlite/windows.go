package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// PutWindow inserts w or replaces the stored window with the same key.
func (s *Store) PutWindow(ctx context.Context, w store.Window) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	if w.Tenant == "" || w.ClusterID == "" || w.Start.IsZero() {
		return errors.New("store: putting window: tenant, cluster and start are required")
	}
	times, err := timeArgs(w.Start, w.End, s.nowIfZero(w.UpdatedAt))
	if err != nil {
		return fmt.Errorf("store: putting window: %w", err)
	}
	_, err = db.ExecContext(ctx, `INSERT INTO windows (tenant, cluster_id, resolution, start_unix, end_unix, partial, blob, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, cluster_id, resolution, start_unix) DO UPDATE SET
			end_unix = excluded.end_unix, partial = excluded.partial,
			blob = excluded.blob, updated_at = excluded.updated_at`,
		w.Tenant, w.ClusterID, w.Resolution, times[0], times[1], w.Partial, blobArg(w.Blob), times[2])
	if err != nil {
		return fmt.Errorf("store: putting window: %w", classify(err))
	}
	return nil
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
	rows, err := s.r.QueryContext(ctx, `SELECT cluster_id, start_unix, end_unix, partial, blob, updated_at
		FROM windows WHERE `+where+` ORDER BY start_unix, cluster_id`, args...)
	if err != nil {
		return fmt.Errorf("store: scanning windows: %w", classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		w := store.Window{WindowKey: store.WindowKey{Tenant: r.Tenant, Resolution: r.Resolution}}
		var start int64
		var end, updated sql.NullInt64
		if err := rows.Scan(&w.ClusterID, &start, &end, &w.Partial, &w.Blob, &updated); err != nil {
			return fmt.Errorf("store: scanning windows: %w", classify(err))
		}
		w.Start = time.Unix(0, start).UTC()
		w.End, w.UpdatedAt = fromNanos(end), fromNanos(updated)
		if err := fn(w); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: scanning windows: %w", classify(err))
	}
	return nil
}

// WindowStarts lists the windows in r without their blobs, ordered like ScanWindows.
func (s *Store) WindowStarts(ctx context.Context, r store.WindowRange) ([]store.WindowInfo, error) {
	where, args := rangeWhere(r)
	rows, err := s.r.QueryContext(ctx, `SELECT cluster_id, start_unix, end_unix, partial, updated_at
		FROM windows WHERE `+where+` ORDER BY start_unix, cluster_id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: listing windows: %w", classify(err))
	}
	defer rows.Close()
	var out []store.WindowInfo
	for rows.Next() {
		w := store.WindowInfo{WindowKey: store.WindowKey{Tenant: r.Tenant, Resolution: r.Resolution}}
		var start int64
		var end, updated sql.NullInt64
		if err := rows.Scan(&w.ClusterID, &start, &end, &w.Partial, &updated); err != nil {
			return nil, fmt.Errorf("store: listing windows: %w", classify(err))
		}
		w.Start = time.Unix(0, start).UTC()
		w.End, w.UpdatedAt = fromNanos(end), fromNanos(updated)
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: listing windows: %w", classify(err))
	}
	return out, nil
}

// DeleteWindows deletes the windows in r and reports how many.
func (s *Store) DeleteWindows(ctx context.Context, r store.WindowRange) (int, error) {
	db, err := s.writer()
	if err != nil {
		return 0, err
	}
	where, args := rangeWhere(r)
	res, err := db.ExecContext(ctx, "DELETE FROM windows WHERE "+where, args...)
	if err != nil {
		return 0, fmt.Errorf("store: deleting windows: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: deleting windows: %w", err)
	}
	return int(n), nil
}
