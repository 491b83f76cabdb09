package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/store"
)

// TokenRequest describes an API token to issue.
type TokenRequest struct {
	Name  string        // a label for the owner's token list
	Role  rbac.Role     // "" = the owner's role
	Scope rbac.Scope    // must be within the owner's scope
	TTL   time.Duration // 0 = Policy.TokenTTL; at most Policy.MaxTokenTTL
}

// tokenMeta is the sealed part of a token.
type tokenMeta struct {
	Name  string     `json:"name,omitempty"`
	Owner string     `json:"owner"`
	Scope rbac.Scope `json:"scope"`
}

// TokenInfo describes a token without its secret.
type TokenInfo struct {
	ID          string
	PrincipalID string
	Name        string
	Role        rbac.Role
	Scope       rbac.Scope
	CreatedAt   time.Time
	ExpiresAt   time.Time
	RevokedAt   time.Time
	LastUsedAt  time.Time
}

// CreateToken issues an API token for the principal ownerID. Its role and scope
// may not be wider than the owner's (they are also intersected with the owner's
// current ones at every request). The secret is returned once and never stored.
func (s *Service) CreateToken(ctx context.Context, ownerID string, req TokenRequest) (string, TokenInfo, error) {
	owner, err := s.load(ctx, ownerID)
	if err != nil {
		return "", TokenInfo{}, err
	}
	if owner.sp.State != StateActive {
		return "", TokenInfo{}, fmt.Errorf("%w: %q is %s", ErrInvalid, owner.rec.Name, owner.sp.State)
	}
	ownerRole := rbac.Role(owner.sp.Role)
	if ownerRole == "" {
		return "", TokenInfo{}, fmt.Errorf("%w: an account without a role cannot have API tokens", ErrForbidden)
	}
	if req.Role == "" {
		req.Role = ownerRole
	}
	if _, err := rbac.ParseRole(string(req.Role)); err != nil {
		return "", TokenInfo{}, fmt.Errorf("%w: role: %v", ErrInvalid, err)
	}
	if !rbac.RoleWithin(req.Role, ownerRole) {
		return "", TokenInfo{}, fmt.Errorf("%w: role: a token cannot have role %s when its owner is %s", ErrForbidden, req.Role, ownerRole)
	}
	if req.Scope.IsZero() && ownerRole != rbac.Admin {
		req.Scope = owner.rec.Scope // a token without a scope gets its owner's
	}
	if err := req.Scope.Validate(); err != nil {
		return "", TokenInfo{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if ownerRole != rbac.Admin && !req.Scope.Within(owner.rec.Scope) {
		return "", TokenInfo{}, fmt.Errorf("%w: scope: a token cannot see more than its owner (%s)", ErrForbidden, owner.rec.Scope)
	}
	return s.issueToken(ctx, owner, TokenPrefix, req.Role, req)
}

// CreateSCIMToken issues a token for SCIM 2.0 provisioning, owned by an admin.
// It is valid only on the SCIM endpoints, and only while its owner may manage
// users.
func (s *Service) CreateSCIMToken(ctx context.Context, ownerID string, ttl time.Duration) (string, TokenInfo, error) {
	owner, err := s.load(ctx, ownerID)
	if err != nil {
		return "", TokenInfo{}, err
	}
	if owner.sp.State != StateActive || !rbac.Grants(rbac.Role(owner.sp.Role), rbac.ManageUsers) {
		return "", TokenInfo{}, fmt.Errorf("%w: only an active admin can own a SCIM token", ErrForbidden)
	}
	return s.issueToken(ctx, owner, SCIMPrefix, rbac.Provisioner, TokenRequest{Name: "scim", TTL: ttl})
}

func (s *Service) issueToken(ctx context.Context, owner *loaded, prefix string, role rbac.Role, req TokenRequest) (string, TokenInfo, error) {
	ttl := req.TTL
	if ttl == 0 {
		ttl = s.Policy.TokenTTL
	}
	if ttl <= 0 || ttl > s.Policy.MaxTokenTTL {
		return "", TokenInfo{}, fmt.Errorf("%w: ttl must lie in (0, %s], got %s", ErrInvalid, s.Policy.MaxTokenTTL, ttl)
	}
	if len(req.Name) > 128 || !utf8.ValidString(req.Name) || strings.ContainsFunc(req.Name, func(r rune) bool { return r < 0x20 }) {
		return "", TokenInfo{}, fmt.Errorf("%w: name: at most 128 printable characters", ErrInvalid)
	}
	secret, err := newSecret(prefix)
	if err != nil {
		return "", TokenInfo{}, err
	}
	id, err := randomID("t_")
	if err != nil {
		return "", TokenInfo{}, err
	}
	meta, _ := json.Marshal(tokenMeta{Name: req.Name, Owner: owner.rec.Name, Scope: req.Scope})
	sealed, err := s.sealer.Seal(ctx, s.ad("token", id), meta)
	if err != nil {
		return "", TokenInfo{}, err
	}
	now := s.now().UTC()
	tok := store.Token{ID: id, Tenant: s.tenant, PrincipalID: owner.sp.ID, Hash: HashToken(secret), Sealed: sealed,
		Role: string(role), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.st.InsertToken(ctx, tok); err != nil {
		return "", TokenInfo{}, err
	}
	return secret, TokenInfo{ID: id, PrincipalID: owner.sp.ID, Name: req.Name, Role: role, Scope: req.Scope, CreatedAt: now, ExpiresAt: tok.ExpiresAt}, nil
}

// Authenticate resolves an API or SCIM token to its principal. Every refusal is
// ErrUnauthenticated (wrapped with the reason, for the log only).
func (s *Service) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if !wellFormed(secret, TokenPrefix) && !wellFormed(secret, SCIMPrefix) {
		return nil, fmt.Errorf("%w: malformed token", ErrUnauthenticated)
	}
	tok, err := s.st.GetTokenByHash(ctx, HashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case tok.Tenant != s.tenant:
		return nil, fmt.Errorf("%w: token of another tenant", ErrUnauthenticated)
	case !tok.RevokedAt.IsZero():
		return nil, fmt.Errorf("%w: token %s revoked", ErrUnauthenticated, tok.ID)
	case !tok.ExpiresAt.IsZero() && !now.Before(tok.ExpiresAt):
		return nil, fmt.Errorf("%w: token %s expired", ErrUnauthenticated, tok.ID)
	case (tok.Role == string(rbac.Provisioner)) != strings.HasPrefix(secret, SCIMPrefix):
		return nil, fmt.Errorf("%w: token %s has the wrong prefix for its kind", ErrUnauthenticated, tok.ID)
	}
	sp, err := s.st.GetPrincipal(ctx, s.tenant, tok.PrincipalID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: token %s has no principal", ErrUnauthenticated, tok.ID)
	}
	if err != nil {
		return nil, err
	}
	if sp.State != StateActive {
		return nil, fmt.Errorf("%w: principal %s is %s", ErrUnauthenticated, sp.ID, sp.State)
	}
	l, err := s.openRecord(ctx, sp)
	if err != nil {
		return nil, err
	}
	meta, err := s.tokenMeta(ctx, tok)
	if err != nil {
		return nil, err
	}
	p := l.principal()
	p.TokenID, p.TokenRole, p.TokenScope = tok.ID, rbac.Role(tok.Role), meta.Scope
	if p.TokenRole == rbac.Provisioner && !rbac.Grants(p.Role, rbac.ManageUsers) {
		return nil, fmt.Errorf("%w: SCIM token %s: its owner may no longer manage users", ErrUnauthenticated, tok.ID)
	}
	s.seen(ctx, sp, now)
	if tok.LastUsedAt.IsZero() || now.Sub(tok.LastUsedAt) >= time.Minute {
		if err := s.st.TouchToken(ctx, tok.ID, now.UTC()); err != nil {
			s.log.Warn("recording token use", "token", tok.ID, "error", err)
		}
	}
	return p, nil
}

// seen records a successful authentication (for inactivity), at most once a
// minute per principal.
func (s *Service) seen(ctx context.Context, sp store.Principal, now time.Time) {
	if !sp.LastSeenAt.IsZero() && now.Sub(sp.LastSeenAt) < time.Minute {
		return
	}
	if err := s.st.TouchPrincipal(ctx, s.tenant, sp.ID, now.UTC()); err != nil {
		s.log.Warn("recording last seen", "principal", sp.ID, "error", err)
	}
}

func (s *Service) tokenMeta(ctx context.Context, tok store.Token) (tokenMeta, error) {
	var meta tokenMeta
	plain, err := s.sealer.Open(ctx, s.ad("token", tok.ID), tok.Sealed)
	if err != nil {
		return meta, fmt.Errorf("token %s: %w", tok.ID, err)
	}
	if err := json.Unmarshal(plain, &meta); err != nil {
		return meta, fmt.Errorf("token %s: decoding: %w", tok.ID, err)
	}
	return meta, nil
}

// ListTokens lists a principal's tokens (every token of the tenant when
// principalID is empty), without secrets.
func (s *Service) ListTokens(ctx context.Context, principalID string) ([]TokenInfo, error) {
	toks, err := s.st.ListTokens(ctx, s.tenant, principalID)
	if err != nil {
		return nil, err
	}
	out := make([]TokenInfo, 0, len(toks))
	for _, t := range toks {
		meta, err := s.tokenMeta(ctx, t)
		if err != nil {
			return nil, err
		}
		out = append(out, TokenInfo{ID: t.ID, PrincipalID: t.PrincipalID, Name: meta.Name, Role: rbac.Role(t.Role), Scope: meta.Scope,
			CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt, LastUsedAt: t.LastUsedAt})
	}
	return out, nil
}

// RevokeToken revokes token id. With a principalID, the token must belong to
// that principal (ErrNotFound otherwise: no hint that it exists).
func (s *Service) RevokeToken(ctx context.Context, principalID, id string) error {
	if principalID != "" {
		toks, err := s.st.ListTokens(ctx, s.tenant, principalID)
		if err != nil {
			return err
		}
		found := false
		for _, t := range toks {
			found = found || t.ID == id
		}
		if !found {
			return fmt.Errorf("token: %w", ErrNotFound)
		}
	}
	err := s.st.RevokeToken(ctx, s.tenant, id, s.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("token: %w", ErrNotFound)
	}
	return err
}
