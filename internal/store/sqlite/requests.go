package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

const requestCols = "id, tenant, principal_id, role, sealed, state, created_at, decided_at, decided_by"

func scanRequest(sc rowScanner) (store.AccessRequest, error) {
	var r store.AccessRequest
	var created, decided sql.NullInt64
	if err := sc.Scan(&r.ID, &r.Tenant, &r.PrincipalID, &r.Role, &r.Sealed, &r.State, &created, &decided, &r.DecidedBy); err != nil {
		return store.AccessRequest{}, err
	}
	r.CreatedAt, r.DecidedAt = fromNanos(created), fromNanos(decided)
	return r, nil
}

// InsertAccessRequest stores a pending request. A zero CreatedAt is set to now.
func (s *Store) InsertAccessRequest(ctx context.Context, r store.AccessRequest) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	if r.ID == "" || r.Tenant == "" || r.PrincipalID == "" {
		return errors.New("store: inserting access request: id, tenant and principal are required")
	}
	if r.State != store.RequestPending || !r.DecidedAt.IsZero() || r.DecidedBy != "" {
		return fmt.Errorf("store: inserting access request %q: a new request must be pending and undecided", r.ID)
	}
	created, err := timeArg(s.nowIfZero(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: inserting access request %q: %w", r.ID, err)
	}
	_, err = db.ExecContext(ctx, "INSERT INTO access_requests ("+requestCols+") VALUES (?, ?, ?, ?, ?, ?, ?, NULL, '')",
		r.ID, r.Tenant, r.PrincipalID, r.Role, blobArg(r.Sealed), r.State, created)
	return insertErr(err, "access request", r.ID, "principal", r.PrincipalID)
}

// GetAccessRequest returns the tenant's request id, or store.ErrNotFound.
func (s *Store) GetAccessRequest(ctx context.Context, tenant, id string) (store.AccessRequest, error) {
	row := s.r.QueryRowContext(ctx, "SELECT "+requestCols+" FROM access_requests WHERE tenant = ? AND id = ?", tenant, id)
	r, err := scanRequest(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.AccessRequest{}, fmt.Errorf("store: access request %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.AccessRequest{}, fmt.Errorf("store: access request %q: %w", id, classify(err))
	}
	return r, nil
}

// ListAccessRequests lists requests in state (all when empty), oldest first.
func (s *Store) ListAccessRequests(ctx context.Context, tenant, state string) ([]store.AccessRequest, error) {
	query := "SELECT " + requestCols + " FROM access_requests WHERE tenant = ?"
	args := []any{tenant}
	if state != "" {
		query += " AND state = ?"
		args = append(args, state)
	}
	return queryAll(ctx, s.r, "listing access requests", scanRequest, query+" ORDER BY created_at, id", args...)
}

// DecideAccessRequest decides a pending request exactly once.
func (s *Store) DecideAccessRequest(ctx context.Context, tenant, id, state, by string, at time.Time) (store.AccessRequest, error) {
	if state != store.RequestApproved && state != store.RequestRejected {
		return store.AccessRequest{}, fmt.Errorf("store: deciding access request %q: state must be approved or rejected, got %q", id, state)
	}
	if by == "" || at.IsZero() {
		return store.AccessRequest{}, fmt.Errorf("store: deciding access request %q: who and when are required", id)
	}
	atArg, err := timeArg(at)
	if err != nil {
		return store.AccessRequest{}, fmt.Errorf("store: deciding access request %q: %w", id, err)
	}
	var out store.AccessRequest
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `UPDATE access_requests SET state = ?, decided_at = ?, decided_by = ?
			WHERE tenant = ? AND id = ? AND state = 'pending' RETURNING `+requestCols, state, atArg, by, tenant, id)
		var err error
		out, err = scanRequest(row)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return classify(err)
		}
		var cur string
		err = tx.QueryRowContext(ctx, "SELECT state FROM access_requests WHERE tenant = ? AND id = ?", tenant, id).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return classify(err)
		}
		return fmt.Errorf("%w: the request is already %s", store.ErrConflict, cur)
	})
	if err != nil {
		return store.AccessRequest{}, fmt.Errorf("store: deciding access request %q: %w", id, err)
	}
	return out, nil
}
