package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/costwarden/costwarden/internal/store"
)

const principalCols = "id, tenant, kind, name_index, state, role, sealed, created_at, updated_at, version, email_index, subject_index, last_seen_at"

func scanPrincipal(row pgx.Row) (store.Principal, error) {
	var p store.Principal
	var created, updated, seen *int64
	if err := row.Scan(&p.ID, &p.Tenant, &p.Kind, &p.NameIndex, &p.State, &p.Role, &p.Sealed, &created, &updated, &p.Version, &p.EmailIndex, &p.SubjectIndex, &seen); err != nil {
		return store.Principal{}, err
	}
	p.CreatedAt, p.UpdatedAt, p.LastSeenAt = fromNanos(created), fromNanos(updated), fromNanos(seen)
	if len(p.EmailIndex) == 0 {
		p.EmailIndex = nil
	}
	if len(p.SubjectIndex) == 0 {
		p.SubjectIndex = nil
	}
	return p, nil
}

// optBlob stores an empty optional index as NULL, which the partial unique
// indexes skip.
func optBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// InsertPrincipal stores p; an existing ID or (Tenant, NameIndex) is ErrConflict.
func (s *Store) InsertPrincipal(ctx context.Context, p store.Principal) error {
	if p.Tenant == "" || p.ID == "" || len(p.NameIndex) == 0 {
		return errors.New("store: inserting principal: tenant, id and name index are required")
	}
	now := s.now()
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = now
	}
	times, err := timeArgs(p.CreatedAt, p.UpdatedAt, p.LastSeenAt)
	if err != nil {
		return fmt.Errorf("store: inserting principal %q: %w", p.ID, err)
	}
	_, err = s.pool.Exec(ctx, "INSERT INTO principals ("+principalCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
		p.ID, p.Tenant, p.Kind, p.NameIndex, p.State, p.Role, blobArg(p.Sealed), times[0], times[1], p.Version,
		optBlob(p.EmailIndex), optBlob(p.SubjectIndex), times[2])
	if err != nil {
		return fmt.Errorf("store: inserting principal %q: %w", p.ID, mapErr(err))
	}
	return nil
}

// GetPrincipal returns the tenant's principal id, or store.ErrNotFound.
func (s *Store) GetPrincipal(ctx context.Context, tenant, id string) (store.Principal, error) {
	p, err := scanPrincipal(s.pool.QueryRow(ctx, "SELECT "+principalCols+" FROM principals WHERE tenant = $1 AND id = $2", tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Principal{}, fmt.Errorf("store: principal %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Principal{}, fmt.Errorf("store: principal %q: %w", id, mapErr(err))
	}
	return p, nil
}

// GetPrincipalByName returns the tenant's principal with nameIndex.
func (s *Store) GetPrincipalByName(ctx context.Context, tenant string, nameIndex []byte) (store.Principal, error) {
	return queryOne(ctx, s.pool, "principal by name", scanPrincipal, "SELECT "+principalCols+" FROM principals WHERE tenant = $1 AND name_index = $2", tenant, blobArg(nameIndex))
}

// ListPrincipals returns the tenant's principals ordered by ID.
func (s *Store) ListPrincipals(ctx context.Context, tenant string) ([]store.Principal, error) {
	return queryAll(ctx, s.pool, "listing principals", scanPrincipal, "SELECT "+principalCols+" FROM principals WHERE tenant = $1 ORDER BY id", tenant)
}

// UpdatePrincipal writes p if the stored Version equals p.Version, bumping it.
func (s *Store) UpdatePrincipal(ctx context.Context, p store.Principal) (store.Principal, error) {
	if len(p.NameIndex) == 0 {
		return store.Principal{}, fmt.Errorf("store: updating principal %q: name index is required", p.ID)
	}
	updated, err := timeArg(s.nowIfZero(p.UpdatedAt))
	if err != nil {
		return store.Principal{}, fmt.Errorf("store: updating principal %q: %w", p.ID, err)
	}
	var out store.Principal
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanPrincipal(tx.QueryRow(ctx, `UPDATE principals
			SET kind = $1, name_index = $2, state = $3, role = $4, sealed = $5, updated_at = $6, version = version + 1,
				email_index = $10, subject_index = $11
			WHERE tenant = $7 AND id = $8 AND version = $9 RETURNING `+principalCols,
			p.Kind, p.NameIndex, p.State, p.Role, blobArg(p.Sealed), updated, p.Tenant, p.ID, p.Version, optBlob(p.EmailIndex), optBlob(p.SubjectIndex)))
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return mapErr(err)
		}
		var stored int64
		err = tx.QueryRow(ctx, "SELECT version FROM principals WHERE tenant = $1 AND id = $2", p.Tenant, p.ID).Scan(&stored)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return mapErr(err)
		}
		return fmt.Errorf("%w: stored version is %d, update was based on %d", store.ErrConflict, stored, p.Version)
	})
	if err != nil {
		return store.Principal{}, fmt.Errorf("store: updating principal %q: %w", p.ID, err)
	}
	return out, nil
}

// GetPrincipalByEmail returns the tenant's principal with emailIndex.
func (s *Store) GetPrincipalByEmail(ctx context.Context, tenant string, emailIndex []byte) (store.Principal, error) {
	return s.principalByIndex(ctx, tenant, "email_index", emailIndex)
}

// GetPrincipalBySubject returns the tenant's principal with subjectIndex.
func (s *Store) GetPrincipalBySubject(ctx context.Context, tenant string, subjectIndex []byte) (store.Principal, error) {
	return s.principalByIndex(ctx, tenant, "subject_index", subjectIndex)
}

// principalByIndex looks a principal up by an optional index column (a constant).
func (s *Store) principalByIndex(ctx context.Context, tenant, col string, index []byte) (store.Principal, error) {
	if len(index) == 0 {
		return store.Principal{}, fmt.Errorf("store: principal by %s: empty index: %w", col, store.ErrNotFound)
	}
	p, err := scanPrincipal(s.pool.QueryRow(ctx, "SELECT "+principalCols+" FROM principals WHERE tenant = $1 AND "+col+" = $2", tenant, index))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Principal{}, fmt.Errorf("store: principal by %s: %w", col, store.ErrNotFound)
	}
	if err != nil {
		return store.Principal{}, fmt.Errorf("store: principal by %s: %w", col, mapErr(err))
	}
	return p, nil
}

// TouchPrincipal moves LastSeenAt forward; the version is unchanged.
func (s *Store) TouchPrincipal(ctx context.Context, tenant, id string, at time.Time) error {
	return s.touch(ctx, "principal", "principals", "last_seen_at", tenant, id, at)
}

// DeletePrincipal deletes the principal and, by foreign key, its tokens,
// sessions and access requests.
func (s *Store) DeletePrincipal(ctx context.Context, tenant, id string) error {
	tag, err := s.pool.Exec(ctx, "DELETE FROM principals WHERE tenant = $1 AND id = $2", tenant, id)
	if err != nil {
		return fmt.Errorf("store: deleting principal %q: %w", id, mapErr(err))
	}
	return notFoundIfZero(tag, "deleting principal %q", id)
}

const tokenCols = "id, tenant, principal_id, hash, sealed, role, created_at, expires_at, revoked_at, last_used_at" // #nosec G101 -- column names

func scanToken(row pgx.Row) (store.Token, error) {
	var t store.Token
	var created, expires, revoked, used *int64
	if err := row.Scan(&t.ID, &t.Tenant, &t.PrincipalID, &t.Hash, &t.Sealed, &t.Role, &created, &expires, &revoked, &used); err != nil {
		return store.Token{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.LastUsedAt = fromNanos(created), fromNanos(expires), fromNanos(revoked), fromNanos(used)
	return t, nil
}

// InsertToken stores t (ErrNotFound for an unknown principal, ErrConflict for a
// duplicate ID or hash).
func (s *Store) InsertToken(ctx context.Context, t store.Token) error {
	if t.ID == "" || t.Tenant == "" || t.PrincipalID == "" || len(t.Hash) == 0 {
		return errors.New("store: inserting token: id, tenant, principal and hash are required")
	}
	times, err := timeArgs(s.nowIfZero(t.CreatedAt), t.ExpiresAt, t.RevokedAt, t.LastUsedAt)
	if err != nil {
		return fmt.Errorf("store: inserting token %q: %w", t.ID, err)
	}
	_, err = s.pool.Exec(ctx, "INSERT INTO tokens ("+tokenCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
		t.ID, t.Tenant, t.PrincipalID, t.Hash, blobArg(t.Sealed), t.Role, times[0], times[1], times[2], times[3])
	return insertErr(err, "token", t.ID, "principal", t.PrincipalID)
}

// GetTokenByHash returns the token whose secret hashes to hash.
func (s *Store) GetTokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	return queryOne(ctx, s.pool, "token by hash", scanToken, "SELECT "+tokenCols+" FROM tokens WHERE hash = $1", blobArg(hash))
}

// ListTokens lists a principal's tokens (all of the tenant's when empty).
func (s *Store) ListTokens(ctx context.Context, tenant, principalID string) ([]store.Token, error) {
	q := "SELECT " + tokenCols + " FROM tokens WHERE tenant = $1"
	args := []any{tenant}
	if principalID != "" {
		q += " AND principal_id = $2"
		args = append(args, principalID)
	}
	return queryAll(ctx, s.pool, "listing tokens", scanToken, q+" ORDER BY created_at NULLS FIRST, id", args...)
}

// RevokeToken revokes a token, keeping the first revocation time.
func (s *Store) RevokeToken(ctx context.Context, tenant, id string, at time.Time) error {
	return s.revoke(ctx, "token", "tokens", tenant, id, at)
}

// RevokePrincipalTokens revokes the principal's unrevoked tokens.
func (s *Store) RevokePrincipalTokens(ctx context.Context, tenant, principalID string, at time.Time) (int, error) {
	return s.revokeAll(ctx, "tokens", tenant, principalID, at)
}

// revoke marks one credential row (a token or session) revoked at at, keeping
// the first revocation time; a missing row is store.ErrNotFound.
func (s *Store) revoke(ctx context.Context, what, table, tenant, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("store: revoking %s %q: zero revocation time", what, id)
	}
	a, err := timeArg(at)
	if err != nil {
		return fmt.Errorf("store: revoking %s %q: %w", what, id, err)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE "+table+" SET revoked_at = COALESCE(revoked_at, $1) WHERE tenant = $2 AND id = $3", a, tenant, id)
	if err != nil {
		return fmt.Errorf("store: revoking %s %q: %w", what, id, mapErr(err))
	}
	return notFoundIfZero(tag, "revoking "+what+" %q", id)
}

// revokeAll revokes a principal's unrevoked rows of table at at and reports
// how many it revoked.
func (s *Store) revokeAll(ctx context.Context, table, tenant, principalID string, at time.Time) (int, error) {
	if at.IsZero() {
		return 0, fmt.Errorf("store: revoking %s of %q: zero revocation time", table, principalID)
	}
	a, err := timeArg(at)
	if err != nil {
		return 0, fmt.Errorf("store: revoking %s of %q: %w", table, principalID, err)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE "+table+" SET revoked_at = $1 WHERE tenant = $2 AND principal_id = $3 AND revoked_at IS NULL", a, tenant, principalID)
	if err != nil {
		return 0, fmt.Errorf("store: revoking %s of %q: %w", table, principalID, mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}

// TouchToken moves LastUsedAt forward, never back.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	return s.touch(ctx, "token", "tokens", "last_used_at", "", id, at)
}

// touch moves a row's time column forward to at (never back, so replicas
// touching out of order keep the latest); tenant "" matches any tenant.
func (s *Store) touch(ctx context.Context, what, table, column, tenant, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("store: touching %s %q: zero time", what, id)
	}
	a, err := timeArg(at)
	if err != nil {
		return fmt.Errorf("store: touching %s %q: %w", what, id, err)
	}
	q := "UPDATE " + table + " SET " + column + " = GREATEST(COALESCE(" + column + ", $1), $1) WHERE id = $2"
	args := []any{a, id}
	if tenant != "" {
		q += " AND tenant = $3"
		args = append(args, tenant)
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("store: touching %s %q: %w", what, id, mapErr(err))
	}
	return notFoundIfZero(tag, "touching "+what+" %q", id)
}
