package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/costwarden/costwarden/internal/store"
)

// Sessions, login lockouts and access requests (identity and access, issue 5):
// the same contract and semantics as the SQLite store.

const sessionCols = "id, tenant, principal_id, hash, stage, sealed, created_at, last_seen_at, expires_at, revoked_at"

func scanSession(row pgx.Row) (store.Session, error) {
	var x store.Session
	var created, seen, expires, revoked *int64
	if err := row.Scan(&x.ID, &x.Tenant, &x.PrincipalID, &x.Hash, &x.Stage, &x.Sealed, &created, &seen, &expires, &revoked); err != nil {
		return store.Session{}, err
	}
	x.CreatedAt, x.LastSeenAt, x.ExpiresAt, x.RevokedAt = fromNanos(created), fromNanos(seen), fromNanos(expires), fromNanos(revoked)
	return x, nil
}

// InsertSession stores x. A zero CreatedAt or LastSeenAt is set to now.
func (s *Store) InsertSession(ctx context.Context, x store.Session) error {
	if x.ID == "" || x.Tenant == "" || x.PrincipalID == "" || len(x.Hash) == 0 || x.ExpiresAt.IsZero() {
		return errors.New("store: inserting session: id, tenant, principal, hash and expiry are required")
	}
	switch x.Stage {
	case store.SessionActive, store.SessionMFA, store.SessionSetup:
	default:
		return fmt.Errorf("store: inserting session %q: unknown stage %q", x.ID, x.Stage)
	}
	created := s.nowIfZero(x.CreatedAt)
	seen := x.LastSeenAt
	if seen.IsZero() {
		seen = created
	}
	ts, err := timeArgs(created, seen, x.ExpiresAt, x.RevokedAt)
	if err != nil {
		return fmt.Errorf("store: inserting session %q: %w", x.ID, err)
	}
	_, err = s.pool.Exec(ctx, "INSERT INTO sessions ("+sessionCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		x.ID, x.Tenant, x.PrincipalID, x.Hash, x.Stage, blobArg(x.Sealed), ts[0], ts[1], ts[2], ts[3])
	return insertErr(err, "session", x.ID, "principal", x.PrincipalID)
}

// GetSessionByHash returns the session whose secret hashes to hash.
func (s *Store) GetSessionByHash(ctx context.Context, hash []byte) (store.Session, error) {
	return queryOne(ctx, s.pool, "session by hash", scanSession, "SELECT "+sessionCols+" FROM sessions WHERE hash = $1", blobArg(hash))
}

// ListSessions lists sessions ordered by creation time and ID.
func (s *Store) ListSessions(ctx context.Context, tenant, principalID string) ([]store.Session, error) {
	q := "SELECT " + sessionCols + " FROM sessions WHERE tenant = $1"
	args := []any{tenant}
	if principalID != "" {
		q += " AND principal_id = $2"
		args = append(args, principalID)
	}
	return queryAll(ctx, s.pool, "listing sessions", scanSession, q+" ORDER BY created_at NULLS FIRST, id", args...)
}

// TouchSession moves LastSeenAt forward.
func (s *Store) TouchSession(ctx context.Context, tenant, id string, at time.Time) error {
	return s.touch(ctx, "session", "sessions", "last_seen_at", tenant, id, at)
}

// RevokeSession marks the session revoked, keeping an earlier revocation time.
func (s *Store) RevokeSession(ctx context.Context, tenant, id string, at time.Time) error {
	return s.revoke(ctx, "session", "sessions", tenant, id, at)
}

// RevokePrincipalSessions revokes the principal's unrevoked sessions.
func (s *Store) RevokePrincipalSessions(ctx context.Context, tenant, principalID string, at time.Time) (int, error) {
	return s.revokeAll(ctx, "sessions", tenant, principalID, at)
}

// PurgeSessions deletes expired or revoked sessions older than before.
func (s *Store) PurgeSessions(ctx context.Context, before time.Time) (int, error) {
	b := bound(before)
	tag, err := s.pool.Exec(ctx, "DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1", b)
	if err != nil {
		return 0, fmt.Errorf("store: purging sessions: %w", mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}

const lockoutCols = "tenant, key, failures, first_failure_at, last_failure_at, locked_until"

func scanLockout(row pgx.Row) (store.Lockout, error) {
	var l store.Lockout
	var failures int64
	var first, last, until *int64
	if err := row.Scan(&l.Tenant, &l.Key, &failures, &first, &last, &until); err != nil {
		return store.Lockout{}, err
	}
	l.Failures = int(failures)
	l.FirstFailureAt, l.LastFailureAt, l.LockedUntil = fromNanos(first), fromNanos(last), fromNanos(until)
	return l, nil
}

func checkLockoutKey(tenant string, key []byte) error {
	if tenant == "" || len(key) == 0 {
		return errors.New("store: lockout: tenant and key are required")
	}
	return nil
}

// AddFailure counts one failure in a single statement (an atomic upsert), so
// concurrent failures on any replica are never lost.
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
	l, err := scanLockout(s.pool.QueryRow(ctx, `INSERT INTO lockouts AS l (`+lockoutCols+`) VALUES ($1, $2, 1, $3, $3, NULL)
		ON CONFLICT (tenant, key) DO UPDATE SET
			failures = CASE WHEN l.first_failure_at IS NULL OR l.first_failure_at < $4 THEN 1 ELSE l.failures + 1 END,
			first_failure_at = CASE WHEN l.first_failure_at IS NULL OR l.first_failure_at < $4 THEN $3 ELSE l.first_failure_at END,
			last_failure_at = GREATEST(COALESCE(l.last_failure_at, $3), $3)
		RETURNING `+lockoutCols, tenant, key, atArg, bound(since)))
	if err != nil {
		return store.Lockout{}, fmt.Errorf("store: lockout: %w", mapErr(err))
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
	_, err = s.pool.Exec(ctx, `INSERT INTO lockouts AS l (`+lockoutCols+`) VALUES ($1, $2, 0, NULL, NULL, $3)
		ON CONFLICT (tenant, key) DO UPDATE SET locked_until = GREATEST(COALESCE(l.locked_until, $3), $3)`, tenant, key, u)
	if err != nil {
		return fmt.Errorf("store: lockout: %w", mapErr(err))
	}
	return nil
}

// GetLockout returns the record for key, or store.ErrNotFound.
func (s *Store) GetLockout(ctx context.Context, tenant string, key []byte) (store.Lockout, error) {
	return queryOne(ctx, s.pool, "lockout", scanLockout, "SELECT "+lockoutCols+" FROM lockouts WHERE tenant = $1 AND key = $2", tenant, blobArg(key))
}

// ClearLockout deletes the record for key.
func (s *Store) ClearLockout(ctx context.Context, tenant string, key []byte) error {
	if _, err := s.pool.Exec(ctx, "DELETE FROM lockouts WHERE tenant = $1 AND key = $2", tenant, blobArg(key)); err != nil {
		return fmt.Errorf("store: clearing lockout: %w", mapErr(err))
	}
	return nil
}

// PurgeLockouts deletes records whose last failure and lock both ended before before.
func (s *Store) PurgeLockouts(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, "DELETE FROM lockouts WHERE COALESCE(last_failure_at, $1) < $2 AND COALESCE(locked_until, $1) < $2", int64(math.MinInt64), bound(before))
	if err != nil {
		return 0, fmt.Errorf("store: purging lockouts: %w", mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}

const requestCols = "id, tenant, principal_id, role, sealed, state, created_at, decided_at, decided_by"

func scanRequest(row pgx.Row) (store.AccessRequest, error) {
	var r store.AccessRequest
	var created, decided *int64
	if err := row.Scan(&r.ID, &r.Tenant, &r.PrincipalID, &r.Role, &r.Sealed, &r.State, &created, &decided, &r.DecidedBy); err != nil {
		return store.AccessRequest{}, err
	}
	r.CreatedAt, r.DecidedAt = fromNanos(created), fromNanos(decided)
	return r, nil
}

// InsertAccessRequest stores a pending request. A zero CreatedAt is set to now.
func (s *Store) InsertAccessRequest(ctx context.Context, r store.AccessRequest) error {
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
	_, err = s.pool.Exec(ctx, "INSERT INTO access_requests ("+requestCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, '')",
		r.ID, r.Tenant, r.PrincipalID, r.Role, blobArg(r.Sealed), r.State, created)
	return insertErr(err, "access request", r.ID, "principal", r.PrincipalID)
}

// GetAccessRequest returns the tenant's request id, or store.ErrNotFound.
func (s *Store) GetAccessRequest(ctx context.Context, tenant, id string) (store.AccessRequest, error) {
	r, err := scanRequest(s.pool.QueryRow(ctx, "SELECT "+requestCols+" FROM access_requests WHERE tenant = $1 AND id = $2", tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.AccessRequest{}, fmt.Errorf("store: access request %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.AccessRequest{}, fmt.Errorf("store: access request %q: %w", id, mapErr(err))
	}
	return r, nil
}

// ListAccessRequests lists requests in state (all when empty), oldest first.
func (s *Store) ListAccessRequests(ctx context.Context, tenant, state string) ([]store.AccessRequest, error) {
	q := "SELECT " + requestCols + " FROM access_requests WHERE tenant = $1"
	args := []any{tenant}
	if state != "" {
		q += " AND state = $2"
		args = append(args, state)
	}
	return queryAll(ctx, s.pool, "listing access requests", scanRequest, q+" ORDER BY created_at NULLS FIRST, id", args...)
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
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanRequest(tx.QueryRow(ctx, `UPDATE access_requests SET state = $1, decided_at = $2, decided_by = $3
			WHERE tenant = $4 AND id = $5 AND state = 'pending' RETURNING `+requestCols, state, atArg, by, tenant, id))
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return mapErr(err)
		}
		var cur string
		err = tx.QueryRow(ctx, "SELECT state FROM access_requests WHERE tenant = $1 AND id = $2", tenant, id).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return mapErr(err)
		}
		return fmt.Errorf("%w: the request is already %s", store.ErrConflict, cur)
	})
	if err != nil {
		return store.AccessRequest{}, fmt.Errorf("store: deciding access request %q: %w", id, err)
	}
	return out, nil
}
