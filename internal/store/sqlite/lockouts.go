package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

const lockoutCols = "tenant, key, failures, first_failure_at, last_failure_at, locked_until"

func scanLockout(sc rowScanner) (store.Lockout, error) {
	var l store.Lockout
	var first, last, until sql.NullInt64
	if err := sc.Scan(&l.Tenant, &l.Key, &l.Failures, &first, &last, &until); err != nil {
		return store.Lockout{}, err
	}
	l.FirstFailureAt, l.LastFailureAt, l.LockedUntil = fromNanos(first), fromNanos(last), fromNanos(until)
	return l, nil
}

func checkLockoutKey(tenant string, key []byte) error {
	if tenant == "" || len(key) == 0 {
		return errors.New("store: lockout: tenant and key are required")
	}
	return nil
}

// AddFailure counts one failure in a single statement, so concurrent failures
// (from this process or another) are never lost.
func (s *Store) AddFailure(ctx context.Context, tenant string, key []byte, at, since time.Time) (store.Lockout, error) {
	if err := checkLockoutKey(tenant, key); err != nil {
		return store.Lockout{}, err
	}
	if at.IsZero() {
		return store.Lockout{}, errors.New("store: lockout: zero failure time")
	}
	atArg, err := timeArg(at)
	if err != nil {
		return store.Lockout{}, fmt.Errorf("store: lockout: %w", err)
	}
	db, err := s.writer()
	if err != nil {
		return store.Lockout{}, err
	}
	row := db.QueryRowContext(ctx, `INSERT INTO lockouts (`+lockoutCols+`) VALUES (?1, ?2, 1, ?3, ?3, NULL)
		ON CONFLICT (tenant, key) DO UPDATE SET
			failures = CASE WHEN first_failure_at IS NULL OR first_failure_at < ?4 THEN 1 ELSE failures + 1 END,
			first_failure_at = CASE WHEN first_failure_at IS NULL OR first_failure_at < ?4 THEN ?3 ELSE first_failure_at END,
			last_failure_at = max(COALESCE(last_failure_at, ?3), ?3)
		RETURNING `+lockoutCols, tenant, key, atArg, bound(since))
	l, err := scanLockout(row)
	if err != nil {
		return store.Lockout{}, fmt.Errorf("store: lockout: %w", classify(err))
	}
	return l, nil
}

// LockUntil extends LockedUntil to until (never shortens it).
func (s *Store) LockUntil(ctx context.Context, tenant string, key []byte, until time.Time) error {
	if err := checkLockoutKey(tenant, key); err != nil {
		return err
	}
	if until.IsZero() {
		return errors.New("store: lockout: zero lock end")
	}
	u, err := timeArg(until)
	if err != nil {
		return fmt.Errorf("store: lockout: %w", err)
	}
	db, err := s.writer()
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO lockouts (`+lockoutCols+`) VALUES (?1, ?2, 0, NULL, NULL, ?3)
		ON CONFLICT (tenant, key) DO UPDATE SET locked_until = max(COALESCE(locked_until, ?3), ?3)`, tenant, key, u)
	if err != nil {
		return fmt.Errorf("store: lockout: %w", classify(err))
	}
	return nil
}

// GetLockout returns the record for key, or store.ErrNotFound.
func (s *Store) GetLockout(ctx context.Context, tenant string, key []byte) (store.Lockout, error) {
	return queryOne(ctx, s.r, "lockout", scanLockout, "SELECT "+lockoutCols+" FROM lockouts WHERE tenant = ? AND key = ?", tenant, blobArg(key))
}

// ClearLockout deletes the record for key.
func (s *Store) ClearLockout(ctx context.Context, tenant string, key []byte) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM lockouts WHERE tenant = ? AND key = ?", tenant, blobArg(key)); err != nil {
		return fmt.Errorf("store: clearing lockout: %w", classify(err))
	}
	return nil
}

// PurgeLockouts deletes records whose last failure and lock both ended before before.
func (s *Store) PurgeLockouts(ctx context.Context, before time.Time) (int, error) {
	db, err := s.writer()
	if err != nil {
		return 0, err
	}
	b := bound(before)
	res, err := db.ExecContext(ctx, "DELETE FROM lockouts WHERE COALESCE(last_failure_at, ?1) < ?2 AND COALESCE(locked_until, ?1) < ?2", int64(math.MinInt64), b)
	if err != nil {
		return 0, fmt.Errorf("store: purging lockouts: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: purging lockouts: %w", err)
	}
	return int(n), nil
}
