package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/costwarden/costwarden/internal/store"
)

// ListTenants returns every tenant with keys or rows, sorted.
func (s *Store) ListTenants(ctx context.Context) ([]string, error) {
	return queryAll(ctx, s.r, "listing tenants", scanString, `SELECT tenant FROM keys UNION SELECT tenant FROM clusters
		UNION SELECT tenant FROM windows UNION SELECT tenant FROM principals
		UNION SELECT tenant FROM tokens UNION SELECT tenant FROM sessions
		UNION SELECT tenant FROM lockouts UNION SELECT tenant FROM access_requests
		UNION SELECT tenant FROM agents UNION SELECT id FROM tenants
		UNION SELECT tenant FROM audit UNION SELECT tenant FROM audit_checkpoints ORDER BY 1`)
}

// tenantTables are the tables DeleteTenantData empties for a tenant, children
// before parents.
var tenantTables = []string{"sessions", "access_requests", "lockouts", "tokens", "principals", "agents", "windows", "clusters", "audit", "audit_checkpoints"}

// DeleteTenantData deletes every row of tenant but its keys, in one transaction.
func (s *Store) DeleteTenantData(ctx context.Context, tenant string) (int, error) {
	if tenant == "" {
		return 0, fmt.Errorf("store: deleting tenant data: empty tenant")
	}
	total := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, table := range tenantTables {
			res, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE tenant = ?", tenant)
			if err != nil {
				return fmt.Errorf("%s: %w", table, classify(err))
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += int(n)
		}
		// The registry entry (its hosts go with it); the window counters stay,
		// with the deletion counted, so other processes drop their caches.
		res, err := tx.ExecContext(ctx, "DELETE FROM tenants WHERE id = ?", tenant)
		if err != nil {
			return fmt.Errorf("tenants: %w", classify(err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		total += int(n)
		return countDeletion(ctx, tx, tenant)
	})
	if err != nil {
		return 0, fmt.Errorf("store: deleting data of tenant %q: %w", tenant, err)
	}
	return total, nil
}

// Reclaim erases deleted rows from the files: deleted content is already zeroed
// in the database pages (secure_delete), but the WAL still holds earlier page
// images, so it is checkpointed and truncated; when more than a quarter of the
// pages are free the file is rebuilt (VACUUM) and shrinks. It waits for readers
// of other processes up to the busy timeout.
func (s *Store) Reclaim(ctx context.Context) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: reclaim: %w", classify(err))
	}
	defer conn.Close()
	var pages, free int64
	if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return fmt.Errorf("store: reclaim: %w", classify(err))
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		return fmt.Errorf("store: reclaim: %w", classify(err))
	}
	if free > 0 && free*4 >= pages {
		if _, err := conn.ExecContext(ctx, "VACUUM"); err != nil {
			return fmt.Errorf("store: reclaim: vacuum: %w", classify(err))
		}
	}
	var busy, logFrames, checkpointed int
	if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &checkpointed); err != nil {
		return fmt.Errorf("store: reclaim: checkpoint: %w", classify(err))
	}
	if busy != 0 {
		return fmt.Errorf("store: reclaim: another process held the write-ahead log; its older page images are overwritten later: %w", errBusyCheckpoint)
	}
	return nil
}

// errBusyCheckpoint: a checkpoint could not complete because of readers.
var errBusyCheckpoint = errors.New("checkpoint incomplete")

var _ store.Tenants = (*Store)(nil)
