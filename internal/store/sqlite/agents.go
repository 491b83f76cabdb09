package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

const agentCols = "id, tenant, cluster_id, state, generation, token_hash, token_expires_at, token_used_at, cert_serial, cert_not_after, created_at, revoked_at, last_seen_at, clock_skew_ns"

func scanAgent(sc rowScanner) (store.Agent, error) {
	var a store.Agent
	var expires, used, notAfter, created, revoked, seen sql.NullInt64
	var skew int64
	if err := sc.Scan(&a.ID, &a.Tenant, &a.ClusterID, &a.State, &a.Generation, &a.TokenHash, &expires, &used,
		&a.CertSerial, &notAfter, &created, &revoked, &seen, &skew); err != nil {
		return store.Agent{}, err
	}
	a.TokenExpiresAt, a.TokenUsedAt, a.CertNotAfter = fromNanos(expires), fromNanos(used), fromNanos(notAfter)
	a.CreatedAt, a.RevokedAt, a.LastSeenAt = fromNanos(created), fromNanos(revoked), fromNanos(seen)
	a.ClockSkew = time.Duration(skew)
	return a, nil
}

func agentArgs(a store.Agent) ([]any, error) {
	times, err := timeArgs(a.TokenExpiresAt, a.TokenUsedAt, a.CertNotAfter, a.CreatedAt, a.RevokedAt, a.LastSeenAt)
	if err != nil {
		return nil, err
	}
	return []any{a.ID, a.Tenant, a.ClusterID, a.State, a.Generation, optBlob(a.TokenHash), times[0], times[1],
		a.CertSerial, times[2], times[3], times[4], times[5], int64(a.ClockSkew)}, nil
}

// InsertAgent stores a new enrolment.
func (s *Store) InsertAgent(ctx context.Context, a store.Agent) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	if a.ID == "" || a.Tenant == "" || a.ClusterID == "" || a.State != store.AgentActive {
		return errors.New("store: inserting agent: id, tenant, cluster and state active are required")
	}
	a.CreatedAt = s.nowIfZero(a.CreatedAt)
	args, err := agentArgs(a)
	if err != nil {
		return fmt.Errorf("store: inserting agent %q: %w", a.ID, err)
	}
	_, err = db.ExecContext(ctx, "INSERT INTO agents ("+agentCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", args...)
	return insertErr(err, "agent", a.ID, "cluster", a.ClusterID)
}

func (s *Store) getAgent(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, tenant, id string) (store.Agent, error) {
	a, err := scanAgent(q.QueryRowContext(ctx, "SELECT "+agentCols+" FROM agents WHERE tenant = ? AND id = ?", tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Agent{}, fmt.Errorf("store: agent %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Agent{}, fmt.Errorf("store: agent %q: %w", id, classify(err))
	}
	return a, nil
}

// GetAgent returns the enrolment, or store.ErrNotFound.
func (s *Store) GetAgent(ctx context.Context, tenant, id string) (store.Agent, error) {
	return s.getAgent(ctx, s.r, tenant, id)
}

// ListAgents lists the tenant's enrolments, oldest first.
func (s *Store) ListAgents(ctx context.Context, tenant string) ([]store.Agent, error) {
	return queryAll(ctx, s.r, "listing agents", scanAgent, "SELECT "+agentCols+" FROM agents WHERE tenant = ? ORDER BY created_at, id", tenant)
}

// ClaimJoinToken uses the join token once (see store.Agents).
func (s *Store) ClaimJoinToken(ctx context.Context, tenant, id string, hash []byte, at time.Time) (store.Agent, error) {
	atArg, err := timeArg(at)
	if err != nil || at.IsZero() {
		return store.Agent{}, fmt.Errorf("store: claiming the join token of %q: bad time", id)
	}
	var out store.Agent
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE agents SET token_used_at = ?, generation = generation + 1
			WHERE tenant = ? AND id = ? AND state = 'active' AND token_hash = ? AND token_used_at IS NULL AND token_expires_at > ?`,
			atArg, tenant, id, blobArg(hash), atArg)
		if err != nil {
			return classify(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		a, err := s.getAgent(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("store: claiming the join token of %q: %w", id, store.ErrConflict)
		}
		out = a
		return nil
	})
	return out, err
}

// NewJoinToken gives an active enrolment a new, unused join token.
func (s *Store) NewJoinToken(ctx context.Context, tenant, id string, hash []byte, expiresAt time.Time) (store.Agent, error) {
	exp, err := timeArg(expiresAt)
	if err != nil || expiresAt.IsZero() || len(hash) == 0 {
		return store.Agent{}, fmt.Errorf("store: new join token of %q: hash and expiry are required", id)
	}
	var out store.Agent
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		a, err := s.getAgent(ctx, tx, tenant, id)
		if err != nil {
			return err
		}
		if a.State != store.AgentActive {
			return fmt.Errorf("store: new join token of %q: enrolment is %s: %w", id, a.State, store.ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE agents SET token_hash = ?, token_expires_at = ?, token_used_at = NULL WHERE tenant = ? AND id = ?",
			hash, exp, tenant, id); err != nil {
			return conflictOr(err)
		}
		out, err = s.getAgent(ctx, tx, tenant, id)
		return err
	})
	if err != nil {
		return store.Agent{}, fmt.Errorf("store: new join token of %q: %w", id, err)
	}
	return out, nil
}

// SetAgentCertificate records an issued certificate.
func (s *Store) SetAgentCertificate(ctx context.Context, tenant, id string, gen int64, serial string, notAfter time.Time) error {
	na, err := timeArg(notAfter)
	if err != nil {
		return fmt.Errorf("store: agent certificate of %q: %w", id, err)
	}
	db, err := s.writer()
	if err != nil {
		return err
	}
	res, err := db.ExecContext(ctx, "UPDATE agents SET cert_serial = ?, cert_not_after = ? WHERE tenant = ? AND id = ? AND state = 'active' AND generation = ?",
		serial, na, tenant, id, gen)
	if err != nil {
		return fmt.Errorf("store: agent certificate of %q: %w", id, classify(err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("store: agent certificate of %q: revoked or re-enrolled meanwhile: %w", id, store.ErrConflict)
	}
	return nil
}

// RevokeAgent revokes the enrolment; the first revocation time is kept.
func (s *Store) RevokeAgent(ctx context.Context, tenant, id string, at time.Time) error {
	atArg, err := timeArg(at)
	if err != nil || at.IsZero() {
		return fmt.Errorf("store: revoking agent %q: bad time", id)
	}
	db, err := s.writer()
	if err != nil {
		return err
	}
	res, err := db.ExecContext(ctx, "UPDATE agents SET state = 'revoked', revoked_at = COALESCE(revoked_at, ?) WHERE tenant = ? AND id = ?", atArg, tenant, id)
	if err != nil {
		return fmt.Errorf("store: revoking agent %q: %w", id, classify(err))
	}
	return requireOne(res, "revoking agent %q", id)
}

// TouchAgent records a request of the agent.
func (s *Store) TouchAgent(ctx context.Context, tenant, id string, at time.Time, skew time.Duration) error {
	atArg, err := timeArg(at)
	if err != nil || at.IsZero() {
		return fmt.Errorf("store: touching agent %q: bad time", id)
	}
	db, err := s.writer()
	if err != nil {
		return err
	}
	res, err := db.ExecContext(ctx, `UPDATE agents SET last_seen_at = MAX(COALESCE(last_seen_at, 0), ?), clock_skew_ns = ? WHERE tenant = ? AND id = ?`,
		atArg, int64(skew), tenant, id)
	if err != nil {
		return fmt.Errorf("store: touching agent %q: %w", id, classify(err))
	}
	return requireOne(res, "touching agent %q", id)
}

var _ store.Agents = (*Store)(nil)

// TouchTokenOf is TouchToken within one tenant.
func (s *Store) TouchTokenOf(ctx context.Context, tenant, id string, at time.Time) error {
	return s.touch(ctx, "token", "tokens", "last_used_at", tenant, id, at)
}
