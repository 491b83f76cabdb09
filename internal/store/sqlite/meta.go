package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/costwarden/costwarden/internal/store"
)

// GetMeta returns the value stored under key, or an error wrapping store.ErrNotFound.
func (s *Store) GetMeta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: meta %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: meta %q: %w", key, classify(err))
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// PutMeta stores value under key, replacing any previous value.
func (s *Store) PutMeta(ctx context.Context, key string, value []byte) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, blobArg(value))
	if err != nil {
		return fmt.Errorf("store: putting meta %q: %w", key, classify(err))
	}
	return nil
}

// PutMetaIfAbsent stores value under key unless key exists; it reports whether it
// stored. Of several processes racing, exactly one stores.
func (s *Store) PutMetaIfAbsent(ctx context.Context, key string, value []byte) (bool, error) {
	db, err := s.writer()
	if err != nil {
		return false, err
	}
	res, err := db.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", key, blobArg(value))
	if err != nil {
		return false, fmt.Errorf("store: putting meta %q: %w", key, classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: putting meta %q: %w", key, err)
	}
	return n == 1, nil
}
