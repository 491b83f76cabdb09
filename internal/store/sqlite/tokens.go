package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

const tokenCols = "id, tenant, principal_id, hash, sealed, role, created_at, expires_at, revoked_at, last_used_at" // #nosec G101 -- column names

func scanToken(sc rowScanner) (store.Token, error) {
	var t store.Token
	var created, expires, revoked, used sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Tenant, &t.PrincipalID, &t.Hash, &t.Sealed, &t.Role, &created, &expires, &revoked, &used); err != nil {
		return store.Token{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.LastUsedAt = fromNanos(created), fromNanos(expires), fromNanos(revoked), fromNanos(used)
	return t, nil
}

// InsertToken stores t. An existing ID or Hash is store.ErrConflict; a principal
// that does not exist in t's tenant is store.ErrNotFound. A zero CreatedAt is set
// to now.
func (s *Store) InsertToken(ctx context.Context, t store.Token) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	if t.ID == "" || t.Tenant == "" || t.PrincipalID == "" || len(t.Hash) == 0 {
		return errors.New("store: inserting token: id, tenant, principal and hash are required")
	}
	times, err := timeArgs(s.nowIfZero(t.CreatedAt), t.ExpiresAt, t.RevokedAt, t.LastUsedAt)
	if err != nil {
		return fmt.Errorf("store: inserting token %q: %w", t.ID, err)
	}
	_, err = db.ExecContext(ctx, "INSERT INTO tokens ("+tokenCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		t.ID, t.Tenant, t.PrincipalID, t.Hash, blobArg(t.Sealed), t.Role, times[0], times[1], times[2], times[3])
	return insertErr(err, "token", t.ID, "principal", t.PrincipalID)
}

// GetTokenByHash returns the token whose secret hashes to hash, or store.ErrNotFound.
func (s *Store) GetTokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	return queryOne(ctx, s.r, "token by hash", scanToken, "SELECT "+tokenCols+" FROM tokens WHERE hash = ?", blobArg(hash))
}

// ListTokens returns the tokens of a principal of tenant, or every token of the
// tenant when principalID is empty, ordered by creation time and ID.
func (s *Store) ListTokens(ctx context.Context, tenant, principalID string) ([]store.Token, error) {
	query := "SELECT " + tokenCols + " FROM tokens WHERE tenant = ?"
	args := []any{tenant}
	if principalID != "" {
		query += " AND principal_id = ?"
		args = append(args, principalID)
	}
	return queryAll(ctx, s.r, "listing tokens", scanToken, query+" ORDER BY created_at, id", args...)
}

// RevokeToken marks the token revoked at at. Revoking a revoked token keeps the
// first revocation time; a missing token is store.ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, tenant, id string, at time.Time) error {
	return s.revoke(ctx, "token", "tokens", tenant, id, at)
}

// RevokePrincipalTokens revokes the principal's unrevoked tokens at at and
// reports how many it revoked.
func (s *Store) RevokePrincipalTokens(ctx context.Context, tenant, principalID string, at time.Time) (int, error) {
	return s.revokeAll(ctx, "tokens", tenant, principalID, at)
}

// revoke marks one credential row (a token or session) revoked at at, keeping
// the first revocation time; a missing row is store.ErrNotFound.
func (s *Store) revoke(ctx context.Context, what, table, tenant, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("store: revoking %s %q: zero revocation time", what, id)
	}
	atArg, err := timeArg(at)
	if err != nil {
		return fmt.Errorf("store: revoking %s %q: %w", what, id, err)
	}
	db, err := s.writer()
	if err != nil {
		return err
	}
	res, err := db.ExecContext(ctx, "UPDATE "+table+" SET revoked_at = COALESCE(revoked_at, ?) WHERE tenant = ? AND id = ?", atArg, tenant, id)
	if err != nil {
		return fmt.Errorf("store: revoking %s %q: %w", what, id, classify(err))
	}
	return requireOne(res, "revoking "+what+" %q", id)
}

// revokeAll revokes a principal's unrevoked rows of table at at and reports
// how many it revoked.
func (s *Store) revokeAll(ctx context.Context, table, tenant, principalID string, at time.Time) (int, error) {
	if at.IsZero() {
		return 0, fmt.Errorf("store: revoking %s of %q: zero revocation time", table, principalID)
	}
	atArg, err := timeArg(at)
	if err != nil {
		return 0, fmt.Errorf("store: revoking %s of %q: %w", table, principalID, err)
	}
	db, err := s.writer()
	if err != nil {
		return 0, err
	}
	res, err := db.ExecContext(ctx, "UPDATE "+table+" SET revoked_at = ? WHERE tenant = ? AND principal_id = ? AND revoked_at IS NULL", atArg, tenant, principalID)
	if err != nil {
		return 0, fmt.Errorf("store: revoking %s of %q: %w", table, principalID, classify(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: revoking %s of %q: %w", table, principalID, err)
	}
	return int(n), nil
}

// TouchToken records a use of the token at at. The stored time only moves
// forward, so replicas touching out of order keep the latest use.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	return s.touch(ctx, "token", "tokens", "last_used_at", "", id, at)
}

// touch moves a row's time column forward to at (never back, so replicas
// touching out of order keep the latest); tenant "" matches any tenant.
func (s *Store) touch(ctx context.Context, what, table, column, tenant, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("store: touching %s %q: zero time", what, id)
	}
	atArg, err := timeArg(at)
	if err != nil {
		return fmt.Errorf("store: touching %s %q: %w", what, id, err)
	}
	db, err := s.writer()
	if err != nil {
		return err
	}
	q := `UPDATE ` + table + ` SET ` + column + ` = max(COALESCE(` + column + `, ?1), ?1) WHERE id = ?2`
	args := []any{atArg, id}
	if tenant != "" {
		q += ` AND tenant = ?3`
		args = append(args, tenant)
	}
	res, err := db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: touching %s %q: %w", what, id, classify(err))
	}
	return requireOne(res, "touching "+what+" %q", id)
}
