package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"

	"github.com/costwarden/costwarden/internal/store"
)

// ListKeys returns every key version of tenant, ordered by version.
func (s *Store) ListKeys(ctx context.Context, tenant string) ([]store.WrappedKey, error) {
	return queryAll(ctx, s.r, "listing keys", func(r rowScanner) (store.WrappedKey, error) {
		k := store.WrappedKey{Tenant: tenant}
		var created sql.NullInt64
		var uses int64
		err := r.Scan(&k.Version, &k.KEKID, &k.Wrapped, &created, &k.State, &uses)
		k.CreatedAt, k.Uses = fromNanos(created), uint64(uses)
		return k, err
	}, `SELECT version, kek_id, wrapped, created_at, state, uses
		FROM keys WHERE tenant = ? ORDER BY version`, tenant)
}

// InsertKey adds a key version; an existing (tenant, version) is store.ErrConflict.
func (s *Store) InsertKey(ctx context.Context, k store.WrappedKey) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	if k.Uses > math.MaxInt64 {
		return fmt.Errorf("store: inserting key %d: uses %d out of range", k.Version, k.Uses)
	}
	created, err := timeArg(k.CreatedAt)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO keys (tenant, version, kek_id, wrapped, created_at, state, uses)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, k.Tenant, k.Version, k.KEKID, blobArg(k.Wrapped), created, k.State, int64(k.Uses))
	if err != nil {
		return fmt.Errorf("store: inserting key version %d: %w", k.Version, conflictOr(err))
	}
	return nil
}

// AddKeyUses adds n to the stored use count of a version in one statement, so
// increments of several processes all count (store.ErrNotFound if absent).
func (s *Store) AddKeyUses(ctx context.Context, tenant string, version uint32, n uint64) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	if n > math.MaxInt64 {
		return fmt.Errorf("store: adding %d uses to key version %d: out of range", n, version)
	}
	res, err := db.ExecContext(ctx, "UPDATE keys SET uses = uses + ? WHERE tenant = ? AND version = ?", int64(n), tenant, version)
	if err != nil {
		return fmt.Errorf("store: adding uses to key version %d: %w", version, classify(err))
	}
	return requireOne(res, "key version %d", version)
}

// SetKeyState moves a version from state from to state to; a version in another
// state is store.ErrConflict, a missing one store.ErrNotFound.
func (s *Store) SetKeyState(ctx context.Context, tenant string, version uint32, from, to string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, "SELECT state FROM keys WHERE tenant = ? AND version = ?", tenant, version).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: key version %d: %w", version, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: key version %d: %w", version, classify(err))
		}
		if state != from {
			return fmt.Errorf("store: key version %d is %s, not %s: %w", version, state, from, store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE keys SET state = ? WHERE tenant = ? AND version = ?", to, tenant, version); err != nil {
			return fmt.Errorf("store: key version %d: %w", version, classify(err))
		}
		return nil
	})
}

// RewrapKey replaces the KEK id and wrapped bytes of a version whose stored
// wrapped bytes still equal oldWrapped (store.ErrConflict otherwise).
func (s *Store) RewrapKey(ctx context.Context, tenant string, version uint32, oldWrapped []byte, kekID string, wrapped []byte) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var cur []byte
		err := tx.QueryRowContext(ctx, "SELECT wrapped FROM keys WHERE tenant = ? AND version = ?", tenant, version).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: key version %d: %w", version, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: key version %d: %w", version, classify(err))
		}
		if !bytes.Equal(cur, oldWrapped) {
			return fmt.Errorf("store: key version %d was rewrapped meanwhile: %w", version, store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE keys SET kek_id = ?, wrapped = ? WHERE tenant = ? AND version = ?", kekID, blobArg(wrapped), tenant, version); err != nil {
			return fmt.Errorf("store: key version %d: %w", version, classify(err))
		}
		return nil
	})
}

// DeleteKeys deletes every key version of tenant (crypto-shredding). Deleted rows
// are overwritten in their pages (secure_delete); the WAL, which still holds
// earlier copies of the rows, is then checkpointed and truncated if no reader
// holds it for more than a moment.
func (s *Store) DeleteKeys(ctx context.Context, tenant string) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	// Pin the one write connection: the busy timeout is changed around the
	// checkpoint and must not leak to other statements.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: deleting keys: %w", classify(err))
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "DELETE FROM keys WHERE tenant = ?", tenant); err != nil {
		return fmt.Errorf("store: deleting keys: %w", classify(err))
	}
	// Best effort, as a reader in another process may hold the WAL: wait briefly,
	// not the full busy timeout. A checkpoint that cannot finish reports it in
	// its result row; the WAL is then reused and overwritten later.
	if _, err := conn.ExecContext(ctx, "PRAGMA busy_timeout = 250"); err != nil {
		return fmt.Errorf("store: deleting keys: %w", classify(err))
	}
	var busy, logFrames, checkpointed int
	cerr := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &checkpointed)
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA busy_timeout = %d", busyTimeout.Milliseconds())); err != nil {
		conn.Raw(func(any) error { return driver.ErrBadConn }) // discard the connection
		return fmt.Errorf("store: deleting keys: restoring busy timeout: %w", classify(err))
	}
	if cerr != nil && !isBusy(cerr) {
		return fmt.Errorf("store: deleting keys: checkpoint: %w", classify(cerr))
	}
	return nil
}

// requireOne turns "no row affected" into store.ErrNotFound.
func requireOne(res sql.Result, what string, args ...any) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: "+what+": %w", append(args, err)...)
	}
	if n == 0 {
		return fmt.Errorf("store: "+what+": %w", append(args, store.ErrNotFound)...)
	}
	return nil
}
