package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

const sessionCols = "id, tenant, principal_id, hash, stage, sealed, created_at, last_seen_at, expires_at, revoked_at"

func scanSession(sc rowScanner) (store.Session, error) {
	var x store.Session
	var created, seen, expires, revoked sql.NullInt64
	if err := sc.Scan(&x.ID, &x.Tenant, &x.PrincipalID, &x.Hash, &x.Stage, &x.Sealed, &created, &seen, &expires, &revoked); err != nil {
		return store.Session{}, err
	}
	x.CreatedAt, x.LastSeenAt, x.ExpiresAt, x.RevokedAt = fromNanos(created), fromNanos(seen), fromNanos(expires), fromNanos(revoked)
	return x, nil
}

// InsertSession stores x. A zero CreatedAt or LastSeenAt is set to now.
func (s *Store) InsertSession(ctx context.Context, x store.Session) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
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
	times, err := timeArgs(created, seen, x.ExpiresAt, x.RevokedAt)
	if err != nil {
		return fmt.Errorf("store: inserting session %q: %w", x.ID, err)
	}
	_, err = db.ExecContext(ctx, "INSERT INTO sessions ("+sessionCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		x.ID, x.Tenant, x.PrincipalID, x.Hash, x.Stage, blobArg(x.Sealed), times[0], times[1], times[2], times[3])
	return insertErr(err, "session", x.ID, "principal", x.PrincipalID)
}

// GetSessionByHash returns the session whose secret hashes to hash.
func (s *Store) GetSessionByHash(ctx context.Context, hash []byte) (store.Session, error) {
	return queryOne(ctx, s.r, "session by hash", scanSession, "SELECT "+sessionCols+" FROM sessions WHERE hash = ?", blobArg(hash))
}

// ListSessions lists sessions ordered by creation time and ID.
func (s *Store) ListSessions(ctx context.Context, tenant, principalID string) ([]store.Session, error) {
	query := "SELECT " + sessionCols + " FROM sessions WHERE tenant = ?"
	args := []any{tenant}
	if principalID != "" {
		query += " AND principal_id = ?"
		args = append(args, principalID)
	}
	return queryAll(ctx, s.r, "listing sessions", scanSession, query+" ORDER BY created_at, id", args...)
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
	db, err := s.writer()
	if err != nil {
		return 0, err
	}
	b := bound(before)
	res, err := db.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at < ? OR revoked_at < ?", b, b)
	if err != nil {
		return 0, fmt.Errorf("store: purging sessions: %w", classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: purging sessions: %w", err)
	}
	return int(n), nil
}
