package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrOtherTenant: a tenant-bound store was asked for, or given, a row of another
// tenant. It is a programming error, refused before the backend is reached.
var ErrOtherTenant = errors.New("refused: the row belongs to another tenant than the one this store is bound to")

// ErrGlobal: a tenant-bound store was asked for an operation over every tenant.
var ErrGlobal = errors.New("refused: an operation over every tenant on a tenant-bound store")

// TenantTokens is a backend's tenant-scoped form of TouchToken (which takes no
// tenant), used by the tenant-bound store.
type TenantTokens interface {
	// TouchTokenOf moves LastUsedAt of the tenant's token forward;
	// ErrNotFound when the tenant has no such token.
	TouchTokenOf(ctx context.Context, tenant, id string, at time.Time) error
}

// TenantData is every tenant-scoped part of the contract: what one tenant's
// services (accounts, cost data, agents) use.
type TenantData interface {
	Clusters
	Windows
	WindowFeed
	Principals
	Tokens
	Sessions
	Lockouts
	AccessRequests
	Agents
}

// Bound is a store bound to one tenant: every call naming a tenant must name
// it, every row written must carry it, and lookups that are not keyed by tenant
// (a token or session by its hash) return another tenant's row as not found.
// Operations over every tenant (purges) are refused. Hosted mode gives each
// tenant's services only their Bound store, so no code path of one tenant can
// read or write another's rows.
type Bound struct {
	s      boundBackend
	tenant string
}

type boundBackend interface {
	TenantData
	TenantTokens
	Audit
	Meta
}

var _ TenantData = (*Bound)(nil)

// ForTenant binds s to tenant.
func ForTenant(s Store, tenant string) *Bound {
	if tenant == "" {
		panic("store: ForTenant with an empty tenant")
	}
	return &Bound{s: s, tenant: tenant}
}

// Tenant is the tenant the store is bound to.
func (b *Bound) Tenant() string { return b.tenant }

func (b *Bound) check(tenant string) error {
	if tenant != b.tenant {
		return fmt.Errorf("%w (bound to %q, asked for %q)", ErrOtherTenant, b.tenant, tenant)
	}
	return nil
}

// EnsureCluster implements Clusters.
func (b *Bound) EnsureCluster(ctx context.Context, c Cluster) (Cluster, error) {
	if err := b.check(c.Tenant); err != nil {
		return Cluster{}, err
	}
	return b.s.EnsureCluster(ctx, c)
}

// ListClusters implements Clusters.
func (b *Bound) ListClusters(ctx context.Context, tenant string) ([]Cluster, error) {
	if err := b.check(tenant); err != nil {
		return nil, err
	}
	return b.s.ListClusters(ctx, tenant)
}

// PutWindow implements Windows.
func (b *Bound) PutWindow(ctx context.Context, w Window) error {
	if err := b.check(w.Tenant); err != nil {
		return err
	}
	return b.s.PutWindow(ctx, w)
}

// GetWindow implements Windows.
func (b *Bound) GetWindow(ctx context.Context, k WindowKey) (Window, error) {
	if err := b.check(k.Tenant); err != nil {
		return Window{}, err
	}
	return b.s.GetWindow(ctx, k)
}

// ScanWindows implements Windows.
func (b *Bound) ScanWindows(ctx context.Context, r WindowRange, fn func(Window) error) error {
	if err := b.check(r.Tenant); err != nil {
		return err
	}
	return b.s.ScanWindows(ctx, r, fn)
}

// WindowStarts implements Windows.
func (b *Bound) WindowStarts(ctx context.Context, r WindowRange) ([]WindowInfo, error) {
	if err := b.check(r.Tenant); err != nil {
		return nil, err
	}
	return b.s.WindowStarts(ctx, r)
}

// DeleteWindows implements Windows.
func (b *Bound) DeleteWindows(ctx context.Context, r WindowRange) (int, error) {
	if err := b.check(r.Tenant); err != nil {
		return 0, err
	}
	return b.s.DeleteWindows(ctx, r)
}

// WindowsSince implements WindowFeed.
func (b *Bound) WindowsSince(ctx context.Context, tenant string, after int64) (WindowChanges, error) {
	if err := b.check(tenant); err != nil {
		return WindowChanges{}, err
	}
	return b.s.WindowsSince(ctx, tenant, after)
}

// InsertPrincipal implements Principals.
func (b *Bound) InsertPrincipal(ctx context.Context, p Principal) error {
	if err := b.check(p.Tenant); err != nil {
		return err
	}
	return b.s.InsertPrincipal(ctx, p)
}

// GetPrincipal implements Principals.
func (b *Bound) GetPrincipal(ctx context.Context, tenant, id string) (Principal, error) {
	if err := b.check(tenant); err != nil {
		return Principal{}, err
	}
	return b.s.GetPrincipal(ctx, tenant, id)
}

// GetPrincipalByName implements Principals.
func (b *Bound) GetPrincipalByName(ctx context.Context, tenant string, nameIndex []byte) (Principal, error) {
	if err := b.check(tenant); err != nil {
		return Principal{}, err
	}
	return b.s.GetPrincipalByName(ctx, tenant, nameIndex)
}

// GetPrincipalByEmail implements Principals.
func (b *Bound) GetPrincipalByEmail(ctx context.Context, tenant string, emailIndex []byte) (Principal, error) {
	if err := b.check(tenant); err != nil {
		return Principal{}, err
	}
	return b.s.GetPrincipalByEmail(ctx, tenant, emailIndex)
}

// GetPrincipalBySubject implements Principals.
func (b *Bound) GetPrincipalBySubject(ctx context.Context, tenant string, subjectIndex []byte) (Principal, error) {
	if err := b.check(tenant); err != nil {
		return Principal{}, err
	}
	return b.s.GetPrincipalBySubject(ctx, tenant, subjectIndex)
}

// ListPrincipals implements Principals.
func (b *Bound) ListPrincipals(ctx context.Context, tenant string) ([]Principal, error) {
	if err := b.check(tenant); err != nil {
		return nil, err
	}
	return b.s.ListPrincipals(ctx, tenant)
}

// UpdatePrincipal implements Principals.
func (b *Bound) UpdatePrincipal(ctx context.Context, p Principal) (Principal, error) {
	if err := b.check(p.Tenant); err != nil {
		return Principal{}, err
	}
	return b.s.UpdatePrincipal(ctx, p)
}

// TouchPrincipal implements Principals.
func (b *Bound) TouchPrincipal(ctx context.Context, tenant, id string, at time.Time) error {
	if err := b.check(tenant); err != nil {
		return err
	}
	return b.s.TouchPrincipal(ctx, tenant, id, at)
}

// DeletePrincipal implements Principals.
func (b *Bound) DeletePrincipal(ctx context.Context, tenant, id string) error {
	if err := b.check(tenant); err != nil {
		return err
	}
	return b.s.DeletePrincipal(ctx, tenant, id)
}

// InsertToken implements Tokens.
func (b *Bound) InsertToken(ctx context.Context, t Token) error {
	if err := b.check(t.Tenant); err != nil {
		return err
	}
	return b.s.InsertToken(ctx, t)
}

// GetTokenByHash implements Tokens: another tenant's token is not found.
func (b *Bound) GetTokenByHash(ctx context.Context, hash []byte) (Token, error) {
	t, err := b.s.GetTokenByHash(ctx, hash)
	if err != nil {
		return Token{}, err
	}
	if t.Tenant != b.tenant {
		return Token{}, fmt.Errorf("store: token by hash: %w", ErrNotFound)
	}
	return t, nil
}

// ListTokens implements Tokens.
func (b *Bound) ListTokens(ctx context.Context, tenant, principalID string) ([]Token, error) {
	if err := b.check(tenant); err != nil {
		return nil, err
	}
	return b.s.ListTokens(ctx, tenant, principalID)
}

// RevokeToken implements Tokens.
func (b *Bound) RevokeToken(ctx context.Context, tenant, id string, at time.Time) error {
	if err := b.check(tenant); err != nil {
		return err
	}
	return b.s.RevokeToken(ctx, tenant, id, at)
}

// RevokePrincipalTokens implements Tokens.
func (b *Bound) RevokePrincipalTokens(ctx context.Context, tenant, principalID string, at time.Time) (int, error) {
	if err := b.check(tenant); err != nil {
		return 0, err
	}
	return b.s.RevokePrincipalTokens(ctx, tenant, principalID, at)
}

// TouchToken implements Tokens, within the bound tenant only.
func (b *Bound) TouchToken(ctx context.Context, id string, at time.Time) error {
	return b.s.TouchTokenOf(ctx, b.tenant, id, at)
}

// InsertSession implements Sessions.
func (b *Bound) InsertSession(ctx context.Context, s Session) error {
	if err := b.check(s.Tenant); err != nil {
		return err
	}
	return b.s.InsertSession(ctx, s)
}

// GetSessionByHash implements Sessions: another tenant's session is not found.
func (b *Bound) GetSessionByHash(ctx context.Context, hash []byte) (Session, error) {
	s, err := b.s.GetSessionByHash(ctx, hash)
	if err != nil {
		return Session{}, err
	}
	if s.Tenant != b.tenant {
		return Session{}, fmt.Errorf("store: session by hash: %w", ErrNotFound)
	}
	return s, nil
}

// ListSessions implements Sessions.
func (b *Bound) ListSessions(ctx context.Context, tenant, principalID string) ([]Session, error) {
	if err := b.check(tenant); err != nil {
		return nil, err
	}
	return b.s.ListSessions(ctx, tenant, principalID)
}

// TouchSession implements Sessions.
func (b *Bound) TouchSession(ctx context.Context, tenant, id string, at time.Time) error {
	if err := b.check(tenant); err != nil {
		return err
	}
	return b.s.TouchSession(ctx, tenant, id, at)
}

// RevokeSession implements Sessions.
func (b *Bound) RevokeSession(ctx context.Context, tenant, id string, at time.Time) error {
	if err := b.check(tenant); err != nil {
		return err
	}
	return b.s.RevokeSession(ctx, tenant, id, at)
}

// RevokePrincipalSessions implements Sessions.
func (b *Bound) RevokePrincipalSessions(ctx context.Context, tenant, principalID string, at time.Time) (int, error) {
	if err := b.check(tenant); err != nil {
		return 0, err
	}
	return b.s.RevokePrincipalSessions(ctx, tenant, principalID, at)
}

// PurgeSessions is refused: it spans every tenant.
func (b *Bound) PurgeSessions(context.Context, time.Time) (int, error) {
	return 0, fmt.Errorf("store: purging sessions: %w", ErrGlobal)
}

// AddFailure implements Lockouts.
func (b *Bound) AddFailure(ctx context.Context, tenant string, key []byte, at, since time.Time) (Lockout, error) {
	if err := b.check(tenant); err != nil {
		return Lockout{}, err
	}
	return b.s.AddFailure(ctx, tenant, key, at, since)
}

// LockUntil implements Lockouts.
func (b *Bound) LockUntil(ctx context.Context, tenant string, key []byte, until time.Time) error {
	if err := b.check(tenant); err != nil {
		return err
	}
	return b.s.LockUntil(ctx, tenant, key, until)
}

// GetLockout implements Lockouts.
func (b *Bound) GetLockout(ctx context.Context, tenant string, key []byte) (Lockout, error) {
	if err := b.check(tenant); err != nil {
		return Lockout{}, err
	}
	return b.s.GetLockout(ctx, tenant, key)
}

// ClearLockout implements Lockouts.
func (b *Bound) ClearLockout(ctx context.Context, tenant string, key []byte) error {
	if err := b.check(tenant); err != nil {
		return err
	}
	return b.s.ClearLockout(ctx, tenant, key)
}

// PurgeLockouts is refused: it spans every tenant.
func (b *Bound) PurgeLockouts(context.Context, time.Time) (int, error) {
	return 0, fmt.Errorf("store: purging lockouts: %w", ErrGlobal)
}

// InsertAccessRequest implements AccessRequests.
func (b *Bound) InsertAccessRequest(ctx context.Context, r AccessRequest) error {
	if err := b.check(r.Tenant); err != nil {
		return err
	}
	return b.s.InsertAccessRequest(ctx, r)
}

// GetAccessRequest implements AccessRequests.
func (b *Bound) GetAccessRequest(ctx context.Context, tenant, id string) (AccessRequest, error) {
	if err := b.check(tenant); err != nil {
		return AccessRequest{}, err
	}
	return b.s.GetAccessRequest(ctx, tenant, id)
}

// ListAccessRequests implements AccessRequests.
func (b *Bound) ListAccessRequests(ctx context.Context, tenant, state string) ([]AccessRequest, error) {
	if err := b.check(tenant); err != nil {
		return nil, err
	}
	return b.s.ListAccessRequests(ctx, tenant, state)
}

// DecideAccessRequest implements AccessRequests.
func (b *Bound) DecideAccessRequest(ctx context.Context, tenant, id, state, by string, at time.Time) (AccessRequest, error) {
	if err := b.check(tenant); err != nil {
		return AccessRequest{}, err
	}
	return b.s.DecideAccessRequest(ctx, tenant, id, state, by, at)
}

// InsertAgent implements Agents.
func (b *Bound) InsertAgent(ctx context.Context, a Agent) error {
	if err := b.check(a.Tenant); err != nil {
		return err
	}
	return b.s.InsertAgent(ctx, a)
}

// GetAgent implements Agents.
func (b *Bound) GetAgent(ctx context.Context, tenant, id string) (Agent, error) {
	if err := b.check(tenant); err != nil {
		return Agent{}, err
	}
	return b.s.GetAgent(ctx, tenant, id)
}

// ListAgents implements Agents.
func (b *Bound) ListAgents(ctx context.Context, tenant string) ([]Agent, error) {
	if err := b.check(tenant); err != nil {
		return nil, err
	}
	return b.s.ListAgents(ctx, tenant)
}

// ClaimJoinToken implements Agents.
func (b *Bound) ClaimJoinToken(ctx context.Context, tenant, id string, hash []byte, at time.Time) (Agent, error) {
	if err := b.check(tenant); err != nil {
		return Agent{}, err
	}
	return b.s.ClaimJoinToken(ctx, tenant, id, hash, at)
}

// NewJoinToken implements Agents.
func (b *Bound) NewJoinToken(ctx context.Context, tenant, id string, hash []byte, expiresAt time.Time) (Agent, error) {
	if err := b.check(tenant); err != nil {
		return Agent{}, err
	}
	return b.s.NewJoinToken(ctx, tenant, id, hash, expiresAt)
}

// SetAgentCertificate implements Agents.
func (b *Bound) SetAgentCertificate(ctx context.Context, tenant, id string, gen int64, serial string, notAfter time.Time) error {
	if err := b.check(tenant); err != nil {
		return err
	}
	return b.s.SetAgentCertificate(ctx, tenant, id, gen, serial, notAfter)
}

// RevokeAgent implements Agents.
func (b *Bound) RevokeAgent(ctx context.Context, tenant, id string, at time.Time) error {
	if err := b.check(tenant); err != nil {
		return err
	}
	return b.s.RevokeAgent(ctx, tenant, id, at)
}

// TouchAgent implements Agents.
func (b *Bound) TouchAgent(ctx context.Context, tenant, id string, at time.Time, skew time.Duration) error {
	if err := b.check(tenant); err != nil {
		return err
	}
	return b.s.TouchAgent(ctx, tenant, id, at, skew)
}

// The audit trail of the bound tenant (issue 7): records, checkpoints, and the
// tenant's own metadata (its checkpoint signing key, keyed ".../<tenant>").

var _ Audit = (*Bound)(nil)
var _ Meta = (*Bound)(nil)

func (b *Bound) AppendAudit(ctx context.Context, r AuditRecord) error {
	if err := b.check(r.Tenant); err != nil {
		return err
	}
	return b.s.AppendAudit(ctx, r)
}

func (b *Bound) AuditHead(ctx context.Context, tenant string) (AuditRecord, error) {
	if err := b.check(tenant); err != nil {
		return AuditRecord{}, err
	}
	return b.s.AuditHead(ctx, tenant)
}

func (b *Bound) ScanAudit(ctx context.Context, f AuditFilter, fn func(AuditRecord) error) error {
	if err := b.check(f.Tenant); err != nil {
		return err
	}
	return b.s.ScanAudit(ctx, f, fn)
}

func (b *Bound) ProbeAudit(ctx context.Context, tenant string) error {
	if err := b.check(tenant); err != nil {
		return err
	}
	return b.s.ProbeAudit(ctx, tenant)
}

func (b *Bound) InsertAuditCheckpoint(ctx context.Context, c AuditCheckpoint) error {
	if err := b.check(c.Tenant); err != nil {
		return err
	}
	return b.s.InsertAuditCheckpoint(ctx, c)
}

func (b *Bound) ListAuditCheckpoints(ctx context.Context, tenant string) ([]AuditCheckpoint, error) {
	if err := b.check(tenant); err != nil {
		return nil, err
	}
	return b.s.ListAuditCheckpoints(ctx, tenant)
}

// metaKey refuses metadata keys that are not the bound tenant's own (those
// ending in "/<tenant>"): install-wide metadata is not a tenant's to touch.
func (b *Bound) metaKey(key string) error {
	if !strings.HasSuffix(key, "/"+b.tenant) {
		return fmt.Errorf("metadata %q: %w", key, ErrOtherTenant)
	}
	return nil
}

func (b *Bound) GetMeta(ctx context.Context, key string) ([]byte, error) {
	if err := b.metaKey(key); err != nil {
		return nil, err
	}
	return b.s.GetMeta(ctx, key)
}

func (b *Bound) PutMeta(ctx context.Context, key string, value []byte) error {
	if err := b.metaKey(key); err != nil {
		return err
	}
	return b.s.PutMeta(ctx, key, value)
}

func (b *Bound) PutMetaIfAbsent(ctx context.Context, key string, value []byte) (bool, error) {
	if err := b.metaKey(key); err != nil {
		return false, err
	}
	return b.s.PutMetaIfAbsent(ctx, key, value)
}
