// Package auth knows who is calling: named principals (people and service
// accounts with an owner) and the credentials that prove them — passwords
// (argon2id), TOTP second factors with one-time recovery codes, browser sessions,
// API tokens, SCIM tokens and OpenID Connect identities (internal/auth/oidc) — and
// their lifecycle: disabling, deletion, inactivity, access requests, login
// throttling. There are no default accounts: every principal is created by an
// administrator, the local CLI, SCIM or a mapped SSO login.
//
// Personal data (names, e-mails, password hashes, TOTP seeds, recovery-code
// hashes, scopes) is sealed before it reaches the store; names, e-mails and
// external identities are found through blind indexes. Secrets of sessions and
// tokens are 256 random bits and only their SHA-256 is stored. Every check that
// depends on time uses the injected clock.
//
// The package authenticates; it must not decide permissions (internal/rbac does).
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
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/store"
)

// Errors callers test with errors.Is.
var (
	// ErrUnauthenticated covers every reason a credential is refused, so that a
	// caller cannot tell an unknown user or token from a wrong password, a
	// revoked or expired credential, or a disabled account.
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrExists          = errors.New("already exists")
	ErrNoSuchPrincipal = errors.New("no such principal")
	ErrInvalid         = errors.New("invalid input")
	// ErrNotFound: a session, token or access request that does not exist (or
	// that the caller may not see).
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the operation is not allowed for this principal (for example
	// a token wider than its owner).
	ErrForbidden = errors.New("not allowed")
)

// ThrottledError is returned while a login is throttled; RetryAfter says when to
// try again.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed attempts; try again in %s", e.RetryAfter.Round(time.Second))
}

// Unwrap makes a throttled login an unauthenticated one too.
func (e *ThrottledError) Unwrap() error { return ErrUnauthenticated }

// Principal kinds and states.
const (
	KindUser    = "user"
	KindService = "service"

	StateActive   = "active"
	StateDisabled = "disabled"
	StatePending  = "pending"
)

// Credential prefixes mark costwarden secrets so secret scanners and people
// recognise them.
const (
	TokenPrefix = "cwt_"     // API token
	SCIMPrefix  = "cwscim_"  // SCIM provisioning token
	SetupPrefix = "cwsetup_" // one-time setup code
)

// secretLen is the length of a base64url-encoded 256-bit secret.
const secretLen = 43

// Principal is an authenticated (or looked-up) caller.
type Principal struct {
	Tenant      string
	ID          string
	Kind        string
	Name        string
	Email       string
	DisplayName string
	Owner       string // service accounts: the owning user's ID
	Role        rbac.Role
	State       string
	Scope       rbac.Scope
	Source      string // "local", "oidc" or "scim"
	HasPassword bool
	MFA         bool // a TOTP second factor is enrolled
	// RecoveryCodes is how many unused recovery codes remain.
	RecoveryCodes int
	// Passkeys is how many WebAuthn credentials are registered.
	Passkeys   int
	CreatedAt  time.Time
	LastSeenAt time.Time

	// Set when authenticated by an API or SCIM token: the token's own role and
	// scope, which narrow the owner's current ones.
	TokenID    string
	TokenRole  rbac.Role
	TokenScope rbac.Scope
	// Set when authenticated by a browser session.
	SessionID string
}

// Roles are the roles a request is checked against: the principal's current role,
// and the token's when it came with one (a token may do only what both allow).
func (p *Principal) Roles() []rbac.Role {
	if p.TokenRole == rbac.Provisioner {
		return []rbac.Role{rbac.Provisioner}
	}
	if p.TokenID != "" {
		return []rbac.Role{p.Role, p.TokenRole}
	}
	return []rbac.Role{p.Role}
}

// Filter is the principal's effective cost scope: its own, intersected with its
// token's. Admins are unrestricted.
func (p *Principal) Filter() (*rbac.Filter, error) {
	own := p.Scope
	if p.Role == rbac.Admin {
		own = rbac.Scope{}
	}
	return rbac.NewFilter(own, p.TokenScope)
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
	store.Sessions
	store.Lockouts
	store.AccessRequests
}

// Policy holds the tunable rules (from configuration).
type Policy struct {
	TokenTTL        time.Duration // default API token lifetime
	MaxTokenTTL     time.Duration
	SessionIdle     time.Duration // idle timeout of a browser session
	SessionAbsolute time.Duration // absolute lifetime of a browser session
	MFATimeout      time.Duration // time allowed between password and second factor
	SetupTTL        time.Duration // lifetime of a one-time setup code
	// InactivityDisable disables accounts not seen for this long (0: never).
	InactivityDisable time.Duration
	// Lockout: more than AccountFailures failures for one account name, or
	// IPFailures from one source address, within Window lock it for LockFor.
	AccountFailures int
	IPFailures      int
	Window          time.Duration
	LockFor         time.Duration
	Argon2          Argon2Params
	Issuer          string // shown by authenticator apps
}

// DefaultPolicy is the policy of SECURITY_MODEL.md.
func DefaultPolicy() Policy {
	return Policy{
		TokenTTL: 90 * 24 * time.Hour, MaxTokenTTL: 365 * 24 * time.Hour,
		SessionIdle: 30 * time.Minute, SessionAbsolute: 12 * time.Hour,
		MFATimeout: 5 * time.Minute, SetupTTL: 24 * time.Hour,
		InactivityDisable: 90 * 24 * time.Hour,
		AccountFailures:   5, IPFailures: 50, Window: 15 * time.Minute, LockFor: 15 * time.Minute,
		Argon2: DefaultArgon2, Issuer: "costwarden",
	}
}

// Service manages principals and credentials of one tenant.
type Service struct {
	st     Store
	sealer Sealer
	tenant string
	now    func() time.Time
	log    *slog.Logger
	// Policy may be changed before the service is used.
	Policy Policy

	webauthn *webauthn.WebAuthn // nil: passkeys off

	fakeMu     sync.Mutex
	fakeHash   string // argon2id hash verified when there is no real one
	fakeParams Argon2Params
}

// New returns a Service with DefaultPolicy. now is the clock (time.Now in
// production).
func New(st Store, sealer Sealer, tenant string, now func() time.Time) *Service {
	return &Service{st: st, sealer: sealer, tenant: tenant, now: now, Policy: DefaultPolicy(), log: slog.New(slog.DiscardHandler)}
}

// SetLogger sets where the service logs security events (never secrets).
func (s *Service) SetLogger(l *slog.Logger) { s.log = l }

// Tenant is the service's tenant.
func (s *Service) Tenant() string { return s.tenant }

// record is the sealed part of a principal.
type record struct {
	Name           string     `json:"name"`
	Email          string     `json:"email,omitempty"`
	DisplayName    string     `json:"displayName,omitempty"`
	Owner          string     `json:"owner,omitempty"`
	Source         string     `json:"source,omitempty"`
	ExternalID     string     `json:"externalId,omitempty"`
	PasswordHash   string     `json:"passwordHash,omitempty"`
	TOTPSecret     []byte     `json:"totpSecret,omitempty"`
	TOTPPending    []byte     `json:"totpPending,omitempty"`
	TOTPLastStep   int64      `json:"totpLastStep,omitempty"`
	RecoveryHashes []string   `json:"recoveryHashes,omitempty"`
	Scope          rbac.Scope `json:"scope"`
	// Passkeys (WebAuthn): the user handle, the credentials, and a ceremony in
	// progress.
	WebAuthnID []byte    `json:"webauthnId,omitempty"`
	Passkeys   []passkey `json:"passkeys,omitempty"`
	Ceremony   *ceremony `json:"ceremony,omitempty"`
}

// ValidateUsername enforces 1-64 characters of lower-case letters, digits and . _ - @,
// starting with a letter or digit. Names are compared exactly (no case folding
// surprises: upper case is refused rather than folded).
func ValidateUsername(name string) error {
	if name == "" || len(name) > 64 || !utf8.ValidString(name) {
		return fmt.Errorf("%w: username: must be 1-64 characters", ErrInvalid)
	}
	for i, r := range name {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (i > 0 && strings.ContainsRune("._-@", r))
		if !ok {
			return fmt.Errorf("%w: username: may contain a-z, 0-9 and . _ - @ (not first), got %q", ErrInvalid, name)
		}
	}
	return nil
}

// ValidateEmail accepts a plain addr-spec of at most 254 characters: one '@', a
// non-empty local part and a domain with a dot, printable ASCII without spaces.
// It is compared lower-cased.
func ValidateEmail(email string) error {
	if email == "" {
		return nil
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || !strings.Contains(domain, ".") || strings.Contains(domain, "@") || len(email) > 254 ||
		strings.ContainsFunc(email, func(r rune) bool { return r <= ' ' || r > '~' || strings.ContainsRune("<>()[]\\,;:\"", r) }) {
		return fmt.Errorf("%w: email: not an e-mail address", ErrInvalid)
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

// newSecret returns prefix + 256 random bits, base64url-encoded.
func newSecret(prefix string) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("secret: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(raw), nil
}

// wellFormed checks a presented secret's shape before any lookup.
func wellFormed(secret, prefix string) bool {
	if !strings.HasPrefix(secret, prefix) || len(secret) != len(prefix)+secretLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(secret[len(prefix):])
	return err == nil
}

// HashToken is the stored form of a token or session secret.
func HashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func (s *Service) ad(kind, id string) seal.AD { return seal.AD{Tenant: s.tenant, Kind: kind, ID: id} }

func (s *Service) index(ctx context.Context, kind, value string) ([]byte, error) {
	return s.sealer.BlindIndex(ctx, s.tenant, kind, value)
}

func (s *Service) nameIndex(ctx context.Context, name string) ([]byte, error) {
	return s.index(ctx, "principal-name", name)
}

func (s *Service) emailIndex(ctx context.Context, email string) ([]byte, error) {
	if email == "" {
		return nil, nil
	}
	return s.index(ctx, "principal-email", strings.ToLower(email))
}

// loaded is a stored principal with its opened record.
type loaded struct {
	sp  store.Principal
	rec record
}

func (s *Service) openRecord(ctx context.Context, sp store.Principal) (*loaded, error) {
	plain, err := s.sealer.Open(ctx, s.ad("principal", sp.ID), sp.Sealed)
	if err != nil {
		return nil, fmt.Errorf("principal %s: %w", sp.ID, err)
	}
	var rec record
	if err := json.Unmarshal(plain, &rec); err != nil {
		return nil, fmt.Errorf("principal %s: decoding record: %w", sp.ID, err)
	}
	return &loaded{sp: sp, rec: rec}, nil
}

func (l *loaded) principal() *Principal {
	return &Principal{
		Tenant: l.sp.Tenant, ID: l.sp.ID, Kind: l.sp.Kind, Name: l.rec.Name, Email: l.rec.Email, DisplayName: l.rec.DisplayName,
		Owner: l.rec.Owner, Role: rbac.Role(l.sp.Role), State: l.sp.State, Scope: l.rec.Scope, Source: l.rec.Source,
		HasPassword: l.rec.PasswordHash != "", MFA: len(l.rec.TOTPSecret) > 0, RecoveryCodes: len(l.rec.RecoveryHashes), Passkeys: len(l.rec.Passkeys),
		CreatedAt: l.sp.CreatedAt, LastSeenAt: l.sp.LastSeenAt,
	}
}

func (s *Service) load(ctx context.Context, id string) (*loaded, error) {
	sp, err := s.st.GetPrincipal(ctx, s.tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("principal %s: %w", id, ErrNoSuchPrincipal)
	}
	if err != nil {
		return nil, err
	}
	return s.openRecord(ctx, sp)
}

func (s *Service) loadByName(ctx context.Context, name string) (*loaded, error) {
	if err := ValidateUsername(name); err != nil {
		return nil, err
	}
	idx, err := s.nameIndex(ctx, name)
	if err != nil {
		return nil, err
	}
	sp, err := s.st.GetPrincipalByName(ctx, s.tenant, idx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("user %q: %w", name, ErrNoSuchPrincipal)
	}
	if err != nil {
		return nil, err
	}
	return s.openRecord(ctx, sp)
}

// save seals l.rec into l.sp and writes it with the optimistic version check.
func (s *Service) save(ctx context.Context, l *loaded) error {
	b, err := json.Marshal(l.rec)
	if err != nil {
		return err
	}
	if l.sp.Sealed, err = s.sealer.Seal(ctx, s.ad("principal", l.sp.ID), b); err != nil {
		return err
	}
	if l.sp.NameIndex, err = s.nameIndex(ctx, l.rec.Name); err != nil {
		return err
	}
	if l.sp.EmailIndex, err = s.emailIndex(ctx, l.rec.Email); err != nil {
		return err
	}
	l.sp.UpdatedAt = s.now().UTC()
	sp, err := s.st.UpdatePrincipal(ctx, l.sp)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("principal %s: %w", l.sp.ID, ErrNoSuchPrincipal)
		}
		return err
	}
	l.sp = sp
	return nil
}

// update applies fn to the principal's current state and saves it, retrying
// when another writer changed it in between (fn must be repeatable).
func (s *Service) update(ctx context.Context, id string, fn func(*loaded) error) (*loaded, error) {
	for attempt := 0; ; attempt++ {
		l, err := s.load(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := fn(l); err != nil {
			return nil, err
		}
		err = s.save(ctx, l)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= 5 {
			if errors.Is(err, store.ErrConflict) {
				return nil, fmt.Errorf("%w: the account changed concurrently, try again", ErrExists)
			}
			return nil, err
		}
	}
}

// NewUser describes an account to create.
type NewUser struct {
	Name        string
	Email       string
	DisplayName string
	Role        rbac.Role // "" is a pending account without access
	Scope       rbac.Scope
	State       string // default active ("pending" when Role is empty)
	Source      string // default "local"
	ExternalID  string
	SubjectKey  string // external identity (OIDC issuer and subject), optional
}

func (s *Service) checkRoleScope(role rbac.Role, scope rbac.Scope) error {
	if role != "" {
		if _, err := rbac.ParseRole(string(role)); err != nil {
			return fmt.Errorf("%w: role: %v", ErrInvalid, err)
		}
	}
	if err := scope.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if role == rbac.Admin && !scope.IsZero() {
		return fmt.Errorf("%w: scope: an admin sees everything; give a scope to editors and viewers", ErrInvalid)
	}
	return nil
}

// AddUser creates a user. No password or second factor is set: the user sets
// both with a setup code (SetupCode), or signs in through SSO.
func (s *Service) AddUser(ctx context.Context, u NewUser) (*Principal, error) {
	if err := ValidateUsername(u.Name); err != nil {
		return nil, err
	}
	if err := ValidateEmail(u.Email); err != nil {
		return nil, err
	}
	if len(u.DisplayName) > 256 || !utf8.ValidString(u.DisplayName) {
		return nil, fmt.Errorf("%w: displayName: at most 256 characters of UTF-8", ErrInvalid)
	}
	if err := s.checkRoleScope(u.Role, u.Scope); err != nil {
		return nil, err
	}
	state := u.State
	switch {
	case state == "" && u.Role == "":
		state = StatePending
	case state == "":
		state = StateActive
	case state != StateActive && state != StateDisabled && state != StatePending:
		return nil, fmt.Errorf("%w: state must be active, disabled or pending", ErrInvalid)
	}
	if u.Source == "" {
		u.Source = "local"
	}
	rec := record{Name: u.Name, Email: u.Email, DisplayName: u.DisplayName, Source: u.Source, ExternalID: u.ExternalID, Scope: u.Scope}
	return s.insert(ctx, KindUser, "u_", rec, u.Role, state, u.SubjectKey)
}

func (s *Service) insert(ctx context.Context, kind, idPrefix string, rec record, role rbac.Role, state, subjectKey string) (*Principal, error) {
	id, err := randomID(idPrefix)
	if err != nil {
		return nil, err
	}
	nameIdx, err := s.nameIndex(ctx, rec.Name)
	if err != nil {
		return nil, err
	}
	emailIdx, err := s.emailIndex(ctx, rec.Email)
	if err != nil {
		return nil, err
	}
	var subIdx []byte
	if subjectKey != "" {
		if subIdx, err = s.index(ctx, "principal-subject", subjectKey); err != nil {
			return nil, err
		}
	}
	b, _ := json.Marshal(rec)
	sealed, err := s.sealer.Seal(ctx, s.ad("principal", id), b)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	sp := store.Principal{Tenant: s.tenant, ID: id, Kind: kind, NameIndex: nameIdx, EmailIndex: emailIdx, SubjectIndex: subIdx,
		State: state, Role: string(role), Sealed: sealed, CreatedAt: now, UpdatedAt: now}
	if err := s.st.InsertPrincipal(ctx, sp); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("%q (or its e-mail): %w", rec.Name, ErrExists)
		}
		return nil, err
	}
	l := &loaded{sp: sp, rec: rec}
	return l.principal(), nil
}

// AddServiceAccount creates a service account owned by the user ownerID. It
// authenticates with API tokens only, and is disabled with its owner.
func (s *Service) AddServiceAccount(ctx context.Context, name, ownerID string, role rbac.Role, scope rbac.Scope) (*Principal, error) {
	if err := ValidateUsername(name); err != nil {
		return nil, err
	}
	if role == "" {
		return nil, fmt.Errorf("%w: role: a service account needs a role", ErrInvalid)
	}
	if err := s.checkRoleScope(role, scope); err != nil {
		return nil, err
	}
	owner, err := s.load(ctx, ownerID)
	if err != nil {
		return nil, err
	}
	if owner.sp.Kind != KindUser || owner.sp.State != StateActive {
		return nil, fmt.Errorf("%w: owner: must be an active user", ErrInvalid)
	}
	return s.insert(ctx, KindService, "s_", record{Name: name, Owner: ownerID, Source: "local", Scope: scope}, role, StateActive, "")
}

// User finds a principal by username.
func (s *Service) User(ctx context.Context, name string) (*Principal, error) {
	l, err := s.loadByName(ctx, name)
	if err != nil {
		return nil, err
	}
	return l.principal(), nil
}

// Get finds a principal by ID.
func (s *Service) Get(ctx context.Context, id string) (*Principal, error) {
	l, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return l.principal(), nil
}

// Users lists every principal of the tenant.
func (s *Service) Users(ctx context.Context) ([]*Principal, error) {
	ps, err := s.st.ListPrincipals(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	out := make([]*Principal, 0, len(ps))
	for _, p := range ps {
		l, err := s.openRecord(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, l.principal())
	}
	return out, nil
}

// SetRole changes a principal's role and scope; it applies to the next request
// of every session and token of the principal.
func (s *Service) SetRole(ctx context.Context, id string, role rbac.Role, scope rbac.Scope) (*Principal, error) {
	if err := s.checkRoleScope(role, scope); err != nil {
		return nil, err
	}
	l, err := s.update(ctx, id, func(l *loaded) error {
		if l.sp.Kind == KindService && role == "" {
			return fmt.Errorf("%w: role: a service account needs a role", ErrInvalid)
		}
		l.sp.Role, l.rec.Scope = string(role), scope
		if l.sp.State == StatePending && role != "" {
			l.sp.State = StateActive
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l.principal(), nil
}

// Disable disables a principal and ends its sessions and tokens at once, and
// those of the service accounts it owns.
func (s *Service) Disable(ctx context.Context, id string) (*Principal, error) {
	l, err := s.update(ctx, id, func(l *loaded) error {
		l.sp.State = StateDisabled
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.revokeAll(ctx, id); err != nil {
		return nil, err
	}
	if err := s.disableOwned(ctx, id); err != nil {
		return nil, err
	}
	return l.principal(), nil
}

func (s *Service) revokeAll(ctx context.Context, id string) error {
	now := s.now().UTC()
	if _, err := s.st.RevokePrincipalSessions(ctx, s.tenant, id, now); err != nil {
		return err
	}
	_, err := s.st.RevokePrincipalTokens(ctx, s.tenant, id, now)
	return err
}

func (s *Service) disableOwned(ctx context.Context, ownerID string) error {
	all, err := s.Users(ctx)
	if err != nil {
		return err
	}
	for _, p := range all {
		if p.Kind == KindService && p.Owner == ownerID && p.State != StateDisabled {
			if _, err := s.Disable(ctx, p.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// Enable re-enables a principal. It counts as seen now, so the inactivity sweep
// does not disable it again at once. Revoked sessions and tokens stay revoked.
func (s *Service) Enable(ctx context.Context, id string) (*Principal, error) {
	l, err := s.update(ctx, id, func(l *loaded) error {
		if l.sp.Kind == KindService {
			owner, err := s.load(ctx, l.rec.Owner)
			if err != nil || owner.sp.State != StateActive {
				return fmt.Errorf("%w: the owner of service account %q is not active; enable the owner or reassign it", ErrInvalid, l.rec.Name)
			}
		}
		if l.sp.Role == "" {
			l.sp.State = StatePending
		} else {
			l.sp.State = StateActive
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.st.TouchPrincipal(ctx, s.tenant, id, s.now().UTC()); err != nil {
		return nil, err
	}
	return l.principal(), nil
}

// Delete deletes a principal with its sessions, tokens and access requests;
// service accounts it owns are disabled.
func (s *Service) Delete(ctx context.Context, id string) error {
	if _, err := s.load(ctx, id); err != nil {
		return err
	}
	// Revoke first, so that a credential cannot outlive a failed delete.
	if err := s.revokeAll(ctx, id); err != nil {
		return err
	}
	if err := s.disableOwned(ctx, id); err != nil {
		return err
	}
	if err := s.st.DeletePrincipal(ctx, s.tenant, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("principal %s: %w", id, ErrNoSuchPrincipal)
		}
		return err
	}
	return nil
}

// DisableInactive disables every active or pending principal whose last
// authentication (or creation, if it never authenticated) is at least
// Policy.InactivityDisable ago, and returns them.
func (s *Service) DisableInactive(ctx context.Context) ([]*Principal, error) {
	if s.Policy.InactivityDisable <= 0 {
		return nil, nil
	}
	ps, err := s.st.ListPrincipals(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []*Principal
	for _, p := range ps {
		if p.State == StateDisabled {
			continue
		}
		last := p.LastSeenAt
		if last.IsZero() {
			last = p.CreatedAt
		}
		if now.Sub(last) < s.Policy.InactivityDisable {
			continue
		}
		dp, err := s.Disable(ctx, p.ID)
		if errors.Is(err, ErrNoSuchPrincipal) {
			continue
		}
		if err != nil {
			return out, err
		}
		s.log.Info("disabled an inactive account", "principal", p.ID, "last_seen", last)
		out = append(out, dp)
	}
	return out, nil
}

// Purge deletes expired and revoked sessions and stale lockout records.
func (s *Service) Purge(ctx context.Context) error {
	now := s.now()
	if _, err := s.st.PurgeSessions(ctx, now.Add(-24*time.Hour)); err != nil {
		return err
	}
	_, err := s.st.PurgeLockouts(ctx, now.Add(-s.Policy.Window))
	return err
}
