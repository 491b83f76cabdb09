package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/costwarden/costwarden/internal/store"
)

// pgQuerier runs queries: the pool or a transaction.
type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// queryAll runs query and scans every row (pgx.CollectRows); what names the
// operation in errors ("listing sessions"). No rows is a nil slice.
func queryAll[T any](ctx context.Context, q pgQuerier, what string, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, mapErr(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, mapErr(err))
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// queryEach runs query, scans each row and hands it to fn; an error from fn
// stops the scan and is returned as it is. what names the operation in errors
// ("scanning audit records").
func queryEach[T any](ctx context.Context, q pgQuerier, what string, scan func(pgx.Row) (T, error), fn func(T) error, query string, args ...any) error {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, mapErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return fmt.Errorf("store: %s: %w", what, mapErr(err))
		}
		if err := fn(x); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", what, mapErr(err))
	}
	return nil
}

// scanString scans a one-column row of text.
func scanString(r pgx.Row) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}

// queryOne runs query and scans its row; no row is store.ErrNotFound.
func queryOne[T any](ctx context.Context, q pgQuerier, what string, scan func(pgx.Row) (T, error), query string, args ...any) (T, error) {
	x, err := scan(q.QueryRow(ctx, query, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return x, fmt.Errorf("store: %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return x, fmt.Errorf("store: %s: %w", what, mapErr(err))
	}
	return x, nil
}
