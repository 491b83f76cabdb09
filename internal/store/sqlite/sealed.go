package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// sealedCol names the sealed column of each table with an id key.
var sealedCol = map[string]string{
	store.TableClusters:   "sealed",
	store.TablePrincipals: "sealed",
	store.TableTokens:     "sealed",
	// Added with identity and access (issue 5).
	store.TableSessions:       "sealed",
	store.TableAccessRequests: "sealed",
}

// windowCursor encodes a window key as "resolution/startNanos/clusterID".
func windowCursor(k store.WindowKey) string {
	return fmt.Sprintf("%d/%d/%s", k.Resolution, k.Start.UnixNano(), k.ClusterID)
}

// parseWindowCursor reverses windowCursor.
func parseWindowCursor(c string) (cluster string, res int, start int64, err error) {
	parts := strings.SplitN(c, "/", 3)
	if len(parts) != 3 {
		return "", 0, 0, fmt.Errorf("store: bad window cursor %q", c)
	}
	if res, err = strconv.Atoi(parts[0]); err != nil {
		return "", 0, 0, fmt.Errorf("store: bad window cursor %q", c)
	}
	if start, err = strconv.ParseInt(parts[1], 10, 64); err != nil {
		return "", 0, 0, fmt.Errorf("store: bad window cursor %q", c)
	}
	return parts[2], res, start, nil
}

// ScanSealed returns up to limit sealed rows of table for tenant after cursor.
func (s *Store) ScanSealed(ctx context.Context, table, tenant, cursor string, limit int) ([]store.SealedRow, string, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []store.SealedRow
	if table == store.TableWindows {
		cluster, res, start := "", -1, int64(0)
		if cursor != "" {
			var err error
			if cluster, res, start, err = parseWindowCursor(cursor); err != nil {
				return nil, "", err
			}
		}
		rows, err := s.r.QueryContext(ctx, `SELECT cluster_id, resolution, start_unix, blob FROM windows
			WHERE tenant = ? AND (cluster_id, resolution, start_unix) > (?, ?, ?)
			ORDER BY cluster_id, resolution, start_unix LIMIT ?`, tenant, cluster, res, start, limit)
		if err != nil {
			return nil, "", fmt.Errorf("store: scanning sealed windows: %w", classify(err))
		}
		defer rows.Close()
		for rows.Next() {
			r := store.SealedRow{Table: table, Tenant: tenant}
			var startNanos int64
			if err := rows.Scan(&r.Window.ClusterID, &r.Window.Resolution, &startNanos, &r.Blob); err != nil {
				return nil, "", fmt.Errorf("store: scanning sealed windows: %w", classify(err))
			}
			r.Window.Tenant, r.Window.Start = tenant, time.Unix(0, startNanos).UTC()
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return nil, "", fmt.Errorf("store: scanning sealed windows: %w", classify(err))
		}
		if len(out) == 0 {
			return nil, "", nil
		}
		return out, windowCursor(out[len(out)-1].Window), nil
	}
	if table == store.TableAudit {
		return s.scanSealedAudit(ctx, tenant, cursor, limit)
	}
	col, ok := sealedCol[table]
	if !ok {
		return nil, "", fmt.Errorf("store: no sealed table %q", table)
	}
	rows, err := s.r.QueryContext(ctx, "SELECT id, "+col+" FROM "+table+" WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?", tenant, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("store: scanning sealed %s: %w", table, classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		r := store.SealedRow{Table: table, Tenant: tenant}
		if err := rows.Scan(&r.ID, &r.Blob); err != nil {
			return nil, "", fmt.Errorf("store: scanning sealed %s: %w", table, classify(err))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: scanning sealed %s: %w", table, classify(err))
	}
	if len(out) == 0 {
		return nil, "", nil
	}
	return out, out[len(out)-1].ID, nil
}

// ReplaceSealed swaps row's blob for blob if the stored one still equals row.Blob.
func (s *Store) ReplaceSealed(ctx context.Context, row store.SealedRow, blob []byte) (bool, error) {
	db, err := s.writer()
	if err != nil {
		return false, err
	}
	var res sql.Result
	if row.Table == store.TableWindows {
		k := row.Window
		if !storable(k.Start) {
			return false, nil
		}
		res, err = db.ExecContext(ctx, `UPDATE windows SET blob = ? WHERE tenant = ? AND cluster_id = ?
			AND resolution = ? AND start_unix = ? AND blob = ?`,
			blobArg(blob), row.Tenant, k.ClusterID, k.Resolution, k.Start.UnixNano(), blobArg(row.Blob))
	} else if row.Table == store.TableAudit {
		seq, perr := strconv.ParseInt(row.ID, 10, 64)
		if perr != nil {
			return false, fmt.Errorf("store: bad audit row id %q", row.ID)
		}
		res, err = db.ExecContext(ctx, "UPDATE audit SET sealed = ? WHERE tenant = ? AND seq = ? AND sealed = ?",
			blobArg(blob), row.Tenant, seq, blobArg(row.Blob))
	} else {
		col, ok := sealedCol[row.Table]
		if !ok {
			return false, fmt.Errorf("store: no sealed table %q", row.Table)
		}
		res, err = db.ExecContext(ctx, "UPDATE "+row.Table+" SET "+col+" = ? WHERE tenant = ? AND id = ? AND "+col+" = ?",
			blobArg(blob), row.Tenant, row.ID, blobArg(row.Blob))
	}
	if err != nil {
		return false, fmt.Errorf("store: replacing a sealed %s row: %w", row.Table, classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: replacing a sealed %s row: %w", row.Table, err)
	}
	return n == 1, nil
}

// scanSealedAudit pages through a tenant's audit records by sequence number;
// the cursor is the last number returned, in decimal.
func (s *Store) scanSealedAudit(ctx context.Context, tenant, cursor string, limit int) ([]store.SealedRow, string, error) {
	after := int64(0)
	if cursor != "" {
		var err error
		if after, err = strconv.ParseInt(cursor, 10, 64); err != nil {
			return nil, "", fmt.Errorf("store: bad audit cursor %q", cursor)
		}
	}
	rows, err := s.r.QueryContext(ctx, "SELECT seq, sealed FROM audit WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?", tenant, after, limit)
	if err != nil {
		return nil, "", fmt.Errorf("store: scanning sealed audit: %w", classify(err))
	}
	defer rows.Close()
	var out []store.SealedRow
	for rows.Next() {
		var seq int64
		r := store.SealedRow{Table: store.TableAudit, Tenant: tenant}
		if err := rows.Scan(&seq, &r.Blob); err != nil {
			return nil, "", fmt.Errorf("store: scanning sealed audit: %w", classify(err))
		}
		r.ID = strconv.FormatInt(seq, 10)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: scanning sealed audit: %w", classify(err))
	}
	if len(out) == 0 {
		return nil, "", nil
	}
	return out, out[len(out)-1].ID, nil
}
