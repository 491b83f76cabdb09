package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/costwarden/costwarden/internal/store"
)

const agentCols = "id, tenant, cluster_id, state, generation, token_hash, token_expires_at, token_used_at, cert_serial, cert_not_after, created_at, revoked_at, last_seen_at, clock_skew_ns"

func scanAgent(row pgx.Row) (store.Agent, error) {
	var a store.Agent
	var expires, used, notAfter, created, revoked, seen *int64
	var skew int64
	if err := row.Scan(&a.ID, &a.Tenant, &a.ClusterID, &a.State, &a.Generation, &a.TokenHash, &expires, &used,
		&a.CertSerial, &notAfter, &created, &revoked, &seen, &skew); err != nil {
		return store.Agent{}, err
	}
	a.TokenExpiresAt, a.TokenUsedAt, a.CertNotAfter = fromNanos(expires), fromNanos(used), fromNanos(notAfter)
	a.CreatedAt, a.RevokedAt, a.LastSeenAt = fromNanos(created), fromNanos(revoked), fromNanos(seen)
	a.ClockSkew = time.Duration(skew)
	return a, nil
}

func agentArgs(a store.Agent) ([]any, error) {
	ts, err := timeArgs(a.TokenExpiresAt, a.TokenUsedAt, a.CertNotAfter, a.CreatedAt, a.RevokedAt, a.LastSeenAt)
	if err != nil {
		return nil, err
	}
	return []any{a.ID, a.Tenant, a.ClusterID, a.State, a.Generation, optBlob(a.TokenHash), ts[0], ts[1],
		a.CertSerial, ts[2], ts[3], ts[4], ts[5], int64(a.ClockSkew)}, nil
}

// InsertAgent stores a new enrolment.
func (s *Store) InsertAgent(ctx context.Context, a store.Agent) error {
	if a.ID == "" || a.Tenant == "" || a.ClusterID == "" || a.State != store.AgentActive {
		return errors.New("store: inserting agent: id, tenant, cluster and state active are required")
	}
	a.CreatedAt = s.nowIfZero(a.CreatedAt)
	args, err := agentArgs(a)
	if err != nil {
		return fmt.Errorf("store: inserting agent %q: %w", a.ID, err)
	}
	_, err = s.pool.Exec(ctx, "INSERT INTO agents ("+agentCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)", args...)
	return insertErr(err, "agent", a.ID, "cluster", a.ClusterID)
}

type rowQuerier interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

func getAgent(ctx context.Context, q rowQuerier, tenant, id string) (store.Agent, error) {
	a, err := scanAgent(q.QueryRow(ctx, "SELECT "+agentCols+" FROM agents WHERE tenant = $1 AND id = $2", tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Agent{}, fmt.Errorf("store: agent %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Agent{}, fmt.Errorf("store: agent %q: %w", id, mapErr(err))
	}
	return a, nil
}

// GetAgent returns the enrolment, or store.ErrNotFound.
func (s *Store) GetAgent(ctx context.Context, tenant, id string) (store.Agent, error) {
	return getAgent(ctx, s.pool, tenant, id)
}

// ListAgents lists the tenant's enrolments, oldest first.
func (s *Store) ListAgents(ctx context.Context, tenant string) ([]store.Agent, error) {
	return queryAll(ctx, s.pool, "listing agents", scanAgent, "SELECT "+agentCols+" FROM agents WHERE tenant = $1 ORDER BY created_at, id", tenant)
}

// ClaimJoinToken uses the join token once (see store.Agents).
func (s *Store) ClaimJoinToken(ctx context.Context, tenant, id string, hash []byte, at time.Time) (store.Agent, error) {
	atArg, err := timeArg(at)
	if err != nil || at.IsZero() {
		return store.Agent{}, fmt.Errorf("store: claiming the join token of %q: bad time", id)
	}
	a, err := scanAgent(s.pool.QueryRow(ctx, `UPDATE agents SET token_used_at = $1, generation = generation + 1
		WHERE tenant = $2 AND id = $3 AND state = 'active' AND token_hash = $4 AND token_used_at IS NULL AND token_expires_at > $1
		RETURNING `+agentCols, atArg, tenant, id, blobArg(hash)))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.GetAgent(ctx, tenant, id); err != nil {
			return store.Agent{}, err
		}
		return store.Agent{}, fmt.Errorf("store: claiming the join token of %q: %w", id, store.ErrConflict)
	}
	if err != nil {
		return store.Agent{}, fmt.Errorf("store: claiming the join token of %q: %w", id, mapErr(err))
	}
	return a, nil
}

// NewJoinToken gives an active enrolment a new, unused join token.
func (s *Store) NewJoinToken(ctx context.Context, tenant, id string, hash []byte, expiresAt time.Time) (store.Agent, error) {
	exp, err := timeArg(expiresAt)
	if err != nil || expiresAt.IsZero() || len(hash) == 0 {
		return store.Agent{}, fmt.Errorf("store: new join token of %q: hash and expiry are required", id)
	}
	a, err := scanAgent(s.pool.QueryRow(ctx, `UPDATE agents SET token_hash = $1, token_expires_at = $2, token_used_at = NULL
		WHERE tenant = $3 AND id = $4 AND state = 'active' RETURNING `+agentCols, hash, exp, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.GetAgent(ctx, tenant, id); err != nil {
			return store.Agent{}, err
		}
		return store.Agent{}, fmt.Errorf("store: new join token of %q: enrolment revoked: %w", id, store.ErrConflict)
	}
	if err != nil {
		return store.Agent{}, fmt.Errorf("store: new join token of %q: %w", id, mapErr(err))
	}
	return a, nil
}

// SetAgentCertificate records an issued certificate.
func (s *Store) SetAgentCertificate(ctx context.Context, tenant, id string, gen int64, serial string, notAfter time.Time) error {
	na, err := timeArg(notAfter)
	if err != nil {
		return fmt.Errorf("store: agent certificate of %q: %w", id, err)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE agents SET cert_serial = $1, cert_not_after = $2 WHERE tenant = $3 AND id = $4 AND state = 'active' AND generation = $5",
		serial, na, tenant, id, gen)
	if err != nil {
		return fmt.Errorf("store: agent certificate of %q: %w", id, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
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
	tag, err := s.pool.Exec(ctx, "UPDATE agents SET state = 'revoked', revoked_at = COALESCE(revoked_at, $1) WHERE tenant = $2 AND id = $3", atArg, tenant, id)
	if err != nil {
		return fmt.Errorf("store: revoking agent %q: %w", id, mapErr(err))
	}
	return notFoundIfZero(tag, "revoking agent %q", id)
}

// TouchAgent records a request of the agent.
func (s *Store) TouchAgent(ctx context.Context, tenant, id string, at time.Time, skew time.Duration) error {
	atArg, err := timeArg(at)
	if err != nil || at.IsZero() {
		return fmt.Errorf("store: touching agent %q: bad time", id)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE agents SET last_seen_at = GREATEST(COALESCE(last_seen_at, 0), $1), clock_skew_ns = $2 WHERE tenant = $3 AND id = $4`,
		atArg, int64(skew), tenant, id)
	if err != nil {
		return fmt.Errorf("store: touching agent %q: %w", id, mapErr(err))
	}
	return notFoundIfZero(tag, "touching agent %q", id)
}

// PutTenant inserts the tenant or replaces its hosts and state.
func (s *Store) PutTenant(ctx context.Context, t store.TenantRecord) error {
	if t.ID == "" || t.State == "" {
		return errors.New("store: putting tenant: id and state are required")
	}
	created, err := timeArg(s.nowIfZero(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: putting tenant %q: %w", t.ID, err)
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (id, state, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET state = excluded.state`, t.ID, t.State, created); err != nil {
			return mapErr(err)
		}
		if _, err := tx.Exec(ctx, "DELETE FROM tenant_hosts WHERE tenant = $1", t.ID); err != nil {
			return mapErr(err)
		}
		for _, h := range t.Hosts {
			if _, err := tx.Exec(ctx, "INSERT INTO tenant_hosts (host, tenant) VALUES ($1, $2)", strings.ToLower(h), t.ID); err != nil {
				return mapErr(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: putting tenant %q: %w", t.ID, err)
	}
	return nil
}

func (s *Store) tenantRecord(ctx context.Context, where string, arg any) (store.TenantRecord, error) {
	var t store.TenantRecord
	var created *int64
	err := s.pool.QueryRow(ctx, `SELECT t.id, t.state, t.created_at, COALESCE((SELECT array_agg(host ORDER BY host) FROM tenant_hosts h WHERE h.tenant = t.id), '{}')
		FROM tenants t WHERE `+where, arg).Scan(&t.ID, &t.State, &created, &t.Hosts)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.TenantRecord{}, fmt.Errorf("store: tenant: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.TenantRecord{}, fmt.Errorf("store: tenant: %w", mapErr(err))
	}
	t.CreatedAt = fromNanos(created)
	if len(t.Hosts) == 0 {
		t.Hosts = nil
	}
	return t, nil
}

// GetTenant returns the tenant, or store.ErrNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (store.TenantRecord, error) {
	return s.tenantRecord(ctx, "t.id = $1", id)
}

// TenantByHost returns the tenant a host name belongs to.
func (s *Store) TenantByHost(ctx context.Context, host string) (store.TenantRecord, error) {
	return s.tenantRecord(ctx, "t.id = (SELECT tenant FROM tenant_hosts WHERE host = $1)", strings.ToLower(host))
}

// ListTenantRecords lists every registered tenant.
func (s *Store) ListTenantRecords(ctx context.Context) ([]store.TenantRecord, error) {
	return queryAll(ctx, s.pool, "listing tenants", func(r pgx.Row) (store.TenantRecord, error) {
		var t store.TenantRecord
		var created *int64
		err := r.Scan(&t.ID, &t.State, &created, &t.Hosts)
		t.CreatedAt = fromNanos(created)
		if len(t.Hosts) == 0 {
			t.Hosts = nil
		}
		return t, err
	}, `SELECT t.id, t.state, t.created_at, COALESCE((SELECT array_agg(host ORDER BY host) FROM tenant_hosts h WHERE h.tenant = t.id), '{}')
		FROM tenants t ORDER BY t.id`)
}

var (
	_ store.Agents         = (*Store)(nil)
	_ store.TenantRegistry = (*Store)(nil)
)

// TouchTokenOf is TouchToken within one tenant.
func (s *Store) TouchTokenOf(ctx context.Context, tenant, id string, at time.Time) error {
	return s.touch(ctx, "token", "tokens", "last_used_at", tenant, id, at)
}
