// Package auth knows who is calling: named principals (people and service accounts)
// and the credentials that prove them (API tokens now; passwords, TOTP, sessions and
// SSO as they are added). There are no default accounts: every principal is created
// by an administrator or the local CLI.
//
// Personal data (names, e-mails) is sealed before it reaches the store; usernames
// are found through a blind index. Token secrets are 256 random bits and only their
// SHA-256 is stored. The package authenticates; it must not decide permissions
// (internal/rbac does).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/store"
)

// Errors callers test with errors.Is.
var (
	// ErrUnauthenticated covers every reason a credential is refused, so that a
	// caller cannot tell an unknown token from a revoked or expired one.
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrExists          = errors.New("already exists")
	ErrNoSuchPrincipal = errors.New("no such principal")
	ErrInvalid         = errors.New("invalid input")
)

// Principal kinds and states.
const (
	KindUser    = "user"
	KindService = "service"

	StateActive   = "active"
	StateDisabled = "disabled"
	StatePending  = "pending"
)

// TokenPrefix marks costwarden tokens so secret scanners and people recognise them.
const TokenPrefix = "cwt_"

// Principal is an authenticated caller.
type Principal struct {
	Tenant  string
	ID      string
	Kind    string
	Name    string
	Role    rbac.Role
	State   string
	TokenID string // set when authenticated by an API token
}

// Sealer is what auth needs from internal/seal.
type Sealer interface {
	Seal(ctx context.Context, ad seal.AD, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, ad seal.AD, blob []byte) ([]byte, error)
	BlindIndex(ctx context.Context, tenant, kind, value string) ([]byte, error)
}

// Store is what auth needs from internal/store.
type Store interface {
	store.Principals
	store.Tokens
}

// Service manages principals and credentials of one tenant.
type Service struct {
	st     Store
	sealer Sealer
	tenant string
	now    func() time.Time
}

// New returns a Service. now is the clock (time.Now in production).
func New(st Store, sealer Sealer, tenant string, now func() time.Time) *Service {
	return &Service{st: st, sealer: sealer, tenant: tenant, now: now}
}

// record is the sealed part of a principal.
type record struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Owner string `json:"owner,omitempty"`
}

// ValidateUsername enforces 1-64 characters of lower-case letters, digits and . _ - @,
// starting with a letter or digit. Names are compared exactly (no case folding
// surprises: upper case is refused rather than folded).
func ValidateUsername(name string) error {
	if name == "" || len(name) > 64 || !utf8.ValidString(name) {
		return fmt.Errorf("%w: username must be 1-64 characters", ErrInvalid)
	}
	for i, r := range name {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (i > 0 && strings.ContainsRune("._-@", r))
		if !ok {
			return fmt.Errorf("%w: username may contain a-z, 0-9 and . _ - @ (not first), got %q", ErrInvalid, name)
		}
	}
	return nil
}

func randomID(prefix string) (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

func (s *Service) ad(kind, id string) seal.AD { return seal.AD{Tenant: s.tenant, Kind: kind, ID: id} }

// AddUser creates an active user with a role.
func (s *Service) AddUser(ctx context.Context, name string, role rbac.Role) (*Principal, error) {
	if err := ValidateUsername(name); err != nil {
		return nil, err
	}
	if _, err := rbac.ParseRole(string(role)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	idx, err := s.sealer.BlindIndex(ctx, s.tenant, "principal-name", name)
	if err != nil {
		return nil, err
	}
	id, err := randomID("u_")
	if err != nil {
		return nil, err
	}
	rec, _ := json.Marshal(record{Name: name})
	sealed, err := s.sealer.Seal(ctx, s.ad("principal", id), rec)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	p := store.Principal{Tenant: s.tenant, ID: id, Kind: KindUser, NameIndex: idx, State: StateActive, Role: string(role), Sealed: sealed, CreatedAt: now, UpdatedAt: now}
	if err := s.st.InsertPrincipal(ctx, p); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("user %q: %w", name, ErrExists)
		}
		return nil, err
	}
	return &Principal{Tenant: s.tenant, ID: id, Kind: KindUser, Name: name, Role: role, State: StateActive}, nil
}

// User finds a principal by username.
func (s *Service) User(ctx context.Context, name string) (*Principal, error) {
	if err := ValidateUsername(name); err != nil {
		return nil, err
	}
	idx, err := s.sealer.BlindIndex(ctx, s.tenant, "principal-name", name)
	if err != nil {
		return nil, err
	}
	p, err := s.st.GetPrincipalByName(ctx, s.tenant, idx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("user %q: %w", name, ErrNoSuchPrincipal)
	}
	if err != nil {
		return nil, err
	}
	return s.open(ctx, p)
}

func (s *Service) open(ctx context.Context, p store.Principal) (*Principal, error) {
	plain, err := s.sealer.Open(ctx, s.ad("principal", p.ID), p.Sealed)
	if err != nil {
		return nil, fmt.Errorf("principal %s: %w", p.ID, err)
	}
	var rec record
	if err := json.Unmarshal(plain, &rec); err != nil {
		return nil, fmt.Errorf("principal %s: decoding record: %w", p.ID, err)
	}
	return &Principal{Tenant: p.Tenant, ID: p.ID, Kind: p.Kind, Name: rec.Name, Role: rbac.Role(p.Role), State: p.State}, nil
}

// Users lists every principal of the tenant.
func (s *Service) Users(ctx context.Context) ([]*Principal, error) {
	ps, err := s.st.ListPrincipals(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	out := make([]*Principal, 0, len(ps))
	for _, p := range ps {
		op, err := s.open(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, op)
	}
	return out, nil
}

// HashToken is the stored form of a token secret.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateToken issues an API token for a user, valid for ttl (which must lie in
// (0, maxTTL]). The secret is returned once and never stored.
func (s *Service) CreateToken(ctx context.Context, username string, ttl, maxTTL time.Duration) (string, store.Token, error) {
	if ttl <= 0 || ttl > maxTTL {
		return "", store.Token{}, fmt.Errorf("%w: ttl must lie in (0, %s], got %s", ErrInvalid, maxTTL, ttl)
	}
	p, err := s.User(ctx, username)
	if err != nil {
		return "", store.Token{}, err
	}
	if p.State != StateActive {
		return "", store.Token{}, fmt.Errorf("%w: user %q is %s", ErrInvalid, username, p.State)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", store.Token{}, fmt.Errorf("token secret: %w", err)
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	id, err := randomID("t_")
	if err != nil {
		return "", store.Token{}, err
	}
	meta, _ := json.Marshal(map[string]string{"owner": username})
	sealed, err := s.sealer.Seal(ctx, s.ad("token", id), meta)
	if err != nil {
		return "", store.Token{}, err
	}
	now := s.now().UTC()
	tok := store.Token{ID: id, Tenant: s.tenant, PrincipalID: p.ID, Hash: HashToken(secret), Sealed: sealed,
		Role: string(p.Role), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.st.InsertToken(ctx, tok); err != nil {
		return "", store.Token{}, err
	}
	return secret, tok, nil
}

// Authenticate resolves a bearer token to its principal. Every refusal is
// ErrUnauthenticated (wrapped with the reason for the log only).
func (s *Service) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+43 {
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
	p, err := s.open(ctx, sp)
	if err != nil {
		return nil, err
	}
	// A token never carries more than its owner currently has.
	p.Role = rbac.Role(sp.Role)
	p.TokenID = tok.ID
	return p, nil
}
