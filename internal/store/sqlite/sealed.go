package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
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
		out, err := queryAll(ctx, s.r, "scanning sealed windows", func(sc rowScanner) (store.SealedRow, error) {
			r := store.SealedRow{Table: table, Tenant: tenant}
			var startNanos int64
			err := sc.Scan(&r.Window.ClusterID, &r.Window.Resolution, &startNanos, &r.Blob)
			r.Window.Tenant, r.Window.Start = tenant, time.Unix(0, startNanos).UTC()
			return r, err
		}, `SELECT cluster_id, resolution, start_unix, blob FROM windows
			WHERE tenant = ? AND (cluster_id, resolution, start_unix) > (?, ?, ?)
			ORDER BY cluster_id, resolution, start_unix LIMIT ?`, tenant, cluster, res, start, limit)
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
	out, err := queryAll(ctx, s.r, "scanning sealed "+table, func(sc rowScanner) (store.SealedRow, error) {
		r := store.SealedRow{Table: table, Tenant: tenant}
		err := sc.Scan(&r.ID, &r.Blob)
		return r, err
	}, "SELECT id, "+col+" FROM "+table+" WHERE tenant = ? AND id > ? ORDER BY id LIMIT ?", tenant, cursor, limit)
	if err != nil || len(out) == 0 {
		return nil, "", err
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
	after, err := store.ParseAuditCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	out, err := queryAll(ctx, s.r, "scanning sealed audit", func(sc rowScanner) (store.SealedRow, error) {
		var seq int64
		r := store.SealedRow{Table: store.TableAudit, Tenant: tenant}
		err := sc.Scan(&seq, &r.Blob)
		r.ID = strconv.FormatInt(seq, 10)
		return r, err
	}, "SELECT seq, sealed FROM audit WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?", tenant, after, limit)
	if err != nil || len(out) == 0 {
		return nil, "", err
	}
	return out, out[len(out)-1].ID, nil
}
