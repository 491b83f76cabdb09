package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

const principalCols = "id, tenant, kind, name_index, state, role, sealed, created_at, updated_at, version, email_index, subject_index, last_seen_at"

func scanPrincipal(sc rowScanner) (store.Principal, error) {
	var p store.Principal
	var created, updated, seen sql.NullInt64
	if err := sc.Scan(&p.ID, &p.Tenant, &p.Kind, &p.NameIndex, &p.State, &p.Role, &p.Sealed, &created, &updated, &p.Version, &p.EmailIndex, &p.SubjectIndex, &seen); err != nil {
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

// InsertPrincipal stores p as given (Version included); an existing ID or
// (Tenant, NameIndex) is store.ErrConflict. Zero CreatedAt and UpdatedAt are
// set to now.
func (s *Store) InsertPrincipal(ctx context.Context, p store.Principal) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
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
	_, err = db.ExecContext(ctx, "INSERT INTO principals ("+principalCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		p.ID, p.Tenant, p.Kind, p.NameIndex, p.State, p.Role, blobArg(p.Sealed), times[0], times[1], p.Version,
		optBlob(p.EmailIndex), optBlob(p.SubjectIndex), times[2])
	if err != nil {
		return fmt.Errorf("store: inserting principal %q: %w", p.ID, conflictOr(err))
	}
	return nil
}

// GetPrincipal returns the tenant's principal id, or store.ErrNotFound.
func (s *Store) GetPrincipal(ctx context.Context, tenant, id string) (store.Principal, error) {
	row := s.r.QueryRowContext(ctx, "SELECT "+principalCols+" FROM principals WHERE tenant = ? AND id = ?", tenant, id)
	p, err := scanPrincipal(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Principal{}, fmt.Errorf("store: principal %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Principal{}, fmt.Errorf("store: principal %q: %w", id, classify(err))
	}
	return p, nil
}

// GetPrincipalByName returns the tenant's principal with nameIndex, or
// store.ErrNotFound.
func (s *Store) GetPrincipalByName(ctx context.Context, tenant string, nameIndex []byte) (store.Principal, error) {
	return queryOne(ctx, s.r, "principal by name", scanPrincipal, "SELECT "+principalCols+" FROM principals WHERE tenant = ? AND name_index = ?", tenant, blobArg(nameIndex))
}

// GetPrincipalByEmail returns the tenant's principal with emailIndex, or
// store.ErrNotFound.
func (s *Store) GetPrincipalByEmail(ctx context.Context, tenant string, emailIndex []byte) (store.Principal, error) {
	return s.principalByIndex(ctx, tenant, "email_index", emailIndex)
}

// GetPrincipalBySubject returns the tenant's principal with subjectIndex, or
// store.ErrNotFound.
func (s *Store) GetPrincipalBySubject(ctx context.Context, tenant string, subjectIndex []byte) (store.Principal, error) {
	return s.principalByIndex(ctx, tenant, "subject_index", subjectIndex)
}

// principalByIndex looks a principal up by an optional index column (a constant).
func (s *Store) principalByIndex(ctx context.Context, tenant, col string, index []byte) (store.Principal, error) {
	if len(index) == 0 {
		return store.Principal{}, fmt.Errorf("store: principal by %s: empty index: %w", col, store.ErrNotFound)
	}
	row := s.r.QueryRowContext(ctx, "SELECT "+principalCols+" FROM principals WHERE tenant = ? AND "+col+" = ?", tenant, index)
	p, err := scanPrincipal(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Principal{}, fmt.Errorf("store: principal by %s: %w", col, store.ErrNotFound)
	}
	if err != nil {
		return store.Principal{}, fmt.Errorf("store: principal by %s: %w", col, classify(err))
	}
	return p, nil
}

// ListPrincipals returns the tenant's principals ordered by ID.
func (s *Store) ListPrincipals(ctx context.Context, tenant string) ([]store.Principal, error) {
	return queryAll(ctx, s.r, "listing principals", scanPrincipal, "SELECT "+principalCols+" FROM principals WHERE tenant = ? ORDER BY id", tenant)
}

// UpdatePrincipal writes Kind, NameIndex, EmailIndex, SubjectIndex, State, Role,
// Sealed and UpdatedAt (now when zero) if the stored Version equals p.Version, increments the Version and
// returns the stored principal. A stale Version, or a NameIndex another
// principal of the tenant has, is store.ErrConflict; a missing one
// store.ErrNotFound. CreatedAt is never changed.
func (s *Store) UpdatePrincipal(ctx context.Context, p store.Principal) (store.Principal, error) {
	if len(p.NameIndex) == 0 {
		return store.Principal{}, fmt.Errorf("store: updating principal %q: name index is required", p.ID)
	}
	updated, err := timeArg(s.nowIfZero(p.UpdatedAt))
	if err != nil {
		return store.Principal{}, fmt.Errorf("store: updating principal %q: %w", p.ID, err)
	}
	var out store.Principal
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, `UPDATE principals
			SET kind = ?, name_index = ?, email_index = ?, subject_index = ?, state = ?, role = ?, sealed = ?, updated_at = ?, version = version + 1
			WHERE tenant = ? AND id = ? AND version = ?
			RETURNING `+principalCols,
			p.Kind, p.NameIndex, optBlob(p.EmailIndex), optBlob(p.SubjectIndex), p.State, p.Role, blobArg(p.Sealed), updated, p.Tenant, p.ID, p.Version)
		var err error
		out, err = scanPrincipal(row)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return conflictOr(err)
		}
		var stored int64
		err = tx.QueryRowContext(ctx, "SELECT version FROM principals WHERE tenant = ? AND id = ?", p.Tenant, p.ID).Scan(&stored)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return classify(err)
		}
		return fmt.Errorf("%w: stored version is %d, update was based on %d", store.ErrConflict, stored, p.Version)
	})
	if err != nil {
		return store.Principal{}, fmt.Errorf("store: updating principal %q: %w", p.ID, err)
	}
	return out, nil
}

// TouchPrincipal moves LastSeenAt forward to at; the version is unchanged.
func (s *Store) TouchPrincipal(ctx context.Context, tenant, id string, at time.Time) error {
	return s.touch(ctx, "principal", "principals", "last_seen_at", tenant, id, at)
}

// DeletePrincipal deletes the principal and, by foreign key, its tokens,
// sessions and access requests.
func (s *Store) DeletePrincipal(ctx context.Context, tenant, id string) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	res, err := db.ExecContext(ctx, "DELETE FROM principals WHERE tenant = ? AND id = ?", tenant, id)
	if err != nil {
		return fmt.Errorf("store: deleting principal %q: %w", id, classify(err))
	}
	return requireOne(res, "deleting principal %q", id)
}
