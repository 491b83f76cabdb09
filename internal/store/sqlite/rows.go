package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/costwarden/costwarden/internal/store"
)

// rowScanner is what the scan functions read: a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(...any) error }

// rowQuerier runs queries: the read pool, the writer or a transaction.
type rowQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queryEach runs query, scans each row and hands it to fn; an error from fn
// stops the scan and is returned as it is. what names the operation in errors
// ("scanning audit records").
func queryEach[T any](ctx context.Context, q rowQuerier, what string, scan func(rowScanner) (T, error), fn func(T) error, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return fmt.Errorf("store: %s: %w", what, classify(err))
		}
		if err := fn(x); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", what, classify(err))
	}
	return nil
}

// queryAll runs query and scans every row; what names the operation in errors
// ("listing sessions").
func queryAll[T any](ctx context.Context, q rowQuerier, what string, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := queryEach(ctx, q, what, scan, func(x T) error { out = append(out, x); return nil }, query, args...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// queryOne runs query and scans its row; no row is store.ErrNotFound.
func queryOne[T any](ctx context.Context, q rowQuerier, what string, scan func(rowScanner) (T, error), query string, args ...any) (T, error) {
	x, err := scan(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return x, fmt.Errorf("store: %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return x, fmt.Errorf("store: %s: %w", what, classify(err))
	}
	return x, nil
}

// scanString scans a one-column row of text.
func scanString(sc rowScanner) (string, error) {
	var s string
	err := sc.Scan(&s)
	return s, err
}
