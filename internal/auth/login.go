package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/costwarden/costwarden/internal/store"
)

// Client describes where a login comes from: the source address (for
// throttling; personal data, so only its blind index is stored) and the user
// agent (sealed in the session, for the session list).
type Client struct {
	Addr      string
	UserAgent string
}

// sessionMeta is the sealed part of a session.
type sessionMeta struct {
	Addr      string `json:"addr,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
	Method    string `json:"method,omitempty"` // how it was established
}

// SessionInfo describes a session without its secret.
type SessionInfo struct {
	ID          string
	PrincipalID string
	Stage       string
	Addr        string
	UserAgent   string
	Method      string
	CreatedAt   time.Time
	LastSeenAt  time.Time
	ExpiresAt   time.Time
	RevokedAt   time.Time
}

// throttle keys: an account name (whether or not it exists, so that throttling
// says nothing about existence) and a source address (IPv6 per /64).
func (s *Service) throttleKeys(ctx context.Context, username string, c Client) ([][]byte, error) {
	acct, err := s.index(ctx, "throttle-account", username)
	if err != nil {
		return nil, err
	}
	keys := [][]byte{acct, nil}
	if addr := sourcePrefix(c.Addr); addr != "" {
		if keys[1], err = s.index(ctx, "throttle-addr", addr); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

func sourcePrefix(addr string) string {
	ap, err := netip.ParseAddrPort(addr)
	var a netip.Addr
	if err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(addr); err != nil {
		return ""
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// checkThrottle refuses while any key is locked.
func (s *Service) checkThrottle(ctx context.Context, keys [][]byte) error {
	now := s.now()
	var wait time.Duration
	for _, k := range keys {
		if k == nil {
			continue
		}
		l, err := s.st.GetLockout(ctx, s.tenant, k)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if now.Before(l.LockedUntil) && l.LockedUntil.Sub(now) > wait {
			wait = l.LockedUntil.Sub(now)
		}
	}
	if wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// fail counts a failure against every key and locks those over their limit.
func (s *Service) fail(ctx context.Context, keys [][]byte) error {
	now := s.now()
	limits := []int{s.Policy.AccountFailures, s.Policy.IPFailures}
	for i, k := range keys {
		if k == nil {
			continue
		}
		l, err := s.st.AddFailure(ctx, s.tenant, k, now.UTC(), now.Add(-s.Policy.Window).UTC())
		if err != nil {
			return err
		}
		if limits[i] > 0 && l.Failures >= limits[i] {
			if err := s.st.LockUntil(ctx, s.tenant, k, now.Add(s.Policy.LockFor).UTC()); err != nil {
				return err
			}
		}
	}
	return nil
}

// fake returns a hash to verify against when there is no real one, so that
// every failed login costs one argon2id computation (no timing oracle).
func (s *Service) fake() string {
	s.fakeMu.Lock()
	defer s.fakeMu.Unlock()
	if s.fakeHash == "" || s.fakeParams != s.Policy.Argon2 {
		s.fakeHash, _ = HashPassword("costwarden-fake-password-for-timing", s.Policy.Argon2)
		s.fakeParams = s.Policy.Argon2
	}
	return s.fakeHash
}

// Login checks a username and password. It never yields a session: on success it
// returns a short-lived login ticket (a session in the "mfa" stage) that
// CompleteMFA exchanges, with a TOTP or recovery code, for a session. Unknown
// users, wrong passwords, accounts without a password and disabled accounts all
// get the same ErrUnauthenticated after the same work; throttled logins a
// *ThrottledError.
func (s *Service) Login(ctx context.Context, username, password string, c Client) (string, error) {
	if len(username) > 256 || len(password) > 4*MaxPasswordLen {
		return "", fmt.Errorf("%w: oversized credentials", ErrUnauthenticated)
	}
	keys, err := s.throttleKeys(ctx, username, c)
	if err != nil {
		return "", err
	}
	if err := s.checkThrottle(ctx, keys); err != nil {
		return "", err
	}
	l, lerr := s.loadByName(ctx, username)
	hash := ""
	if lerr == nil {
		hash = l.rec.PasswordHash
	}
	if hash == "" {
		hash = s.fake()
	}
	ok, rehash, verr := VerifyPassword(password, hash, s.Policy.Argon2)
	switch {
	case lerr != nil && !errors.Is(lerr, ErrNoSuchPrincipal) && !errors.Is(lerr, ErrInvalid):
		return "", lerr
	case lerr != nil || verr != nil || !ok || l.rec.PasswordHash == "":
		if err := s.fail(ctx, keys); err != nil {
			return "", err
		}
		return "", fmt.Errorf("%w: wrong username or password", ErrUnauthenticated)
	case l.sp.State == StateDisabled || l.sp.Kind != KindUser:
		// The password was right; the answer is the same as for a wrong one.
		return "", fmt.Errorf("%w: account %s is %s", ErrUnauthenticated, l.sp.ID, l.sp.State)
	case len(l.rec.TOTPSecret) == 0:
		return "", fmt.Errorf("%w: account %s has no second factor enrolled (needs a setup code)", ErrUnauthenticated, l.sp.ID)
	}
	if rehash {
		if h, err := HashPassword(password, s.Policy.Argon2); err == nil {
			_, _ = s.update(ctx, l.sp.ID, func(x *loaded) error { x.rec.PasswordHash = h; return nil })
		}
	}
	secret, _, err := s.newSession(ctx, l.sp.ID, store.SessionMFA, s.Policy.MFATimeout, sessionMeta{Addr: c.Addr, Method: "password"})
	return secret, err
}

// CompleteMFA exchanges a login ticket and a TOTP code (or a recovery code) for a
// new browser session. The ticket is used up either way after a wrong code only
// when the account gets locked; each TOTP code and each recovery code works once.
func (s *Service) CompleteMFA(ctx context.Context, ticket, code string, c Client) (string, *Principal, error) {
	x, err := s.stagedSession(ctx, ticket, store.SessionMFA)
	if err != nil {
		return "", nil, err
	}
	l, err := s.load(ctx, x.PrincipalID)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	keys, err := s.throttleKeys(ctx, l.rec.Name, c)
	if err != nil {
		return "", nil, err
	}
	if err := s.checkThrottle(ctx, keys); err != nil {
		_ = s.st.RevokeSession(ctx, s.tenant, x.ID, s.now().UTC())
		return "", nil, err
	}
	method := ""
	_, err = s.update(ctx, l.sp.ID, func(l *loaded) error {
		method = ""
		if l.sp.State == StateDisabled || len(l.rec.TOTPSecret) == 0 {
			return fmt.Errorf("%w: account %s cannot log in", ErrUnauthenticated, l.sp.ID)
		}
		if step, ok := verifyTOTP(l.rec.TOTPSecret, code, s.now(), l.rec.TOTPLastStep); ok {
			l.rec.TOTPLastStep = step
			method = "password+totp"
			return nil
		}
		if i := matchRecovery(l.rec.RecoveryHashes, code); i >= 0 {
			l.rec.RecoveryHashes = append(l.rec.RecoveryHashes[:i:i], l.rec.RecoveryHashes[i+1:]...)
			method = "password+recovery"
			return nil
		}
		return fmt.Errorf("%w: wrong second-factor code", ErrUnauthenticated)
	})
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			if ferr := s.fail(ctx, keys); ferr != nil {
				return "", nil, ferr
			}
		}
		return "", nil, err
	}
	// The ticket is spent; the session gets a new secret (rotation at login).
	if err := s.st.RevokeSession(ctx, s.tenant, x.ID, s.now().UTC()); err != nil {
		return "", nil, err
	}
	_ = s.st.ClearLockout(ctx, s.tenant, keys[0])
	return s.startSession(ctx, l.sp.ID, c, method)
}

// StartSession opens a browser session for a principal authenticated elsewhere
// (SSO). The caller has verified the identity completely.
func (s *Service) StartSession(ctx context.Context, principalID string, c Client, method string) (string, *Principal, error) {
	return s.startSession(ctx, principalID, c, method)
}

func (s *Service) startSession(ctx context.Context, principalID string, c Client, method string) (string, *Principal, error) {
	secret, id, err := s.newSession(ctx, principalID, store.SessionActive, s.Policy.SessionAbsolute, sessionMeta{Addr: c.Addr, UserAgent: truncate(c.UserAgent, 256), Method: method})
	if err != nil {
		return "", nil, err
	}
	l, err := s.load(ctx, principalID)
	if err != nil {
		return "", nil, err
	}
	s.seen(ctx, l.sp, s.now())
	p := l.principal()
	p.SessionID = id
	return secret, p, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (s *Service) newSession(ctx context.Context, principalID, stage string, ttl time.Duration, meta sessionMeta) (string, string, error) {
	secret, err := newSecret("")
	if err != nil {
		return "", "", err
	}
	if stage == store.SessionSetup {
		secret = SetupPrefix + secret
	}
	id, err := randomID("x_")
	if err != nil {
		return "", "", err
	}
	b, _ := json.Marshal(meta)
	sealed, err := s.sealer.Seal(ctx, s.ad("session", id), b)
	if err != nil {
		return "", "", err
	}
	now := s.now().UTC()
	err = s.st.InsertSession(ctx, store.Session{ID: id, Tenant: s.tenant, PrincipalID: principalID, Hash: HashToken(secret), Stage: stage,
		Sealed: sealed, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(ttl)})
	if errors.Is(err, store.ErrNotFound) {
		return "", "", fmt.Errorf("principal %s: %w", principalID, ErrNoSuchPrincipal)
	}
	return secret, id, err
}

// stagedSession finds a live session of stage by its secret.
func (s *Service) stagedSession(ctx context.Context, secret, stage string) (store.Session, error) {
	prefix := ""
	if stage == store.SessionSetup {
		prefix = SetupPrefix
	}
	if !wellFormed(secret, prefix) {
		return store.Session{}, fmt.Errorf("%w: malformed %s secret", ErrUnauthenticated, stage)
	}
	x, err := s.st.GetSessionByHash(ctx, HashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, fmt.Errorf("%w: unknown %s secret", ErrUnauthenticated, stage)
	}
	if err != nil {
		return store.Session{}, err
	}
	now := s.now()
	switch {
	case x.Tenant != s.tenant || x.Stage != stage:
		return store.Session{}, fmt.Errorf("%w: session %s is not a %s session", ErrUnauthenticated, x.ID, stage)
	case !x.RevokedAt.IsZero():
		return store.Session{}, fmt.Errorf("%w: session %s revoked", ErrUnauthenticated, x.ID)
	case !now.Before(x.ExpiresAt):
		return store.Session{}, fmt.Errorf("%w: session %s expired", ErrUnauthenticated, x.ID)
	}
	return x, nil
}

// AuthenticateSession resolves a browser session secret to its principal: the
// session must be active, unrevoked, younger than its absolute lifetime and used
// within the idle timeout, and its principal active (or pending). Each use
// extends the idle timeout.
func (s *Service) AuthenticateSession(ctx context.Context, secret string) (*Principal, error) {
	x, err := s.stagedSession(ctx, secret, store.SessionActive)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if !now.Before(x.LastSeenAt.Add(s.Policy.SessionIdle)) {
		return nil, fmt.Errorf("%w: session %s idle since %s", ErrUnauthenticated, x.ID, x.LastSeenAt.Format(time.RFC3339))
	}
	sp, err := s.st.GetPrincipal(ctx, s.tenant, x.PrincipalID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: session %s has no principal", ErrUnauthenticated, x.ID)
	}
	if err != nil {
		return nil, err
	}
	if sp.State == StateDisabled {
		return nil, fmt.Errorf("%w: principal %s is disabled", ErrUnauthenticated, sp.ID)
	}
	l, err := s.openRecord(ctx, sp)
	if err != nil {
		return nil, err
	}
	if err := s.st.TouchSession(ctx, s.tenant, x.ID, now.UTC()); err != nil {
		return nil, err
	}
	s.seen(ctx, sp, now)
	p := l.principal()
	p.SessionID = x.ID
	return p, nil
}

// Logout revokes the session a secret belongs to (if any).
func (s *Service) Logout(ctx context.Context, secret string) error {
	if secret == "" {
		return nil
	}
	x, err := s.st.GetSessionByHash(ctx, HashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.st.RevokeSession(ctx, s.tenant, x.ID, s.now().UTC())
}

// ListSessions lists a principal's sessions (every session of the tenant when
// principalID is empty): active-stage sessions only, newest last.
func (s *Service) ListSessions(ctx context.Context, principalID string) ([]SessionInfo, error) {
	xs, err := s.st.ListSessions(ctx, s.tenant, principalID)
	if err != nil {
		return nil, err
	}
	var out []SessionInfo
	for _, x := range xs {
		if x.Stage != store.SessionActive {
			continue
		}
		var meta sessionMeta
		if plain, err := s.sealer.Open(ctx, s.ad("session", x.ID), x.Sealed); err == nil {
			_ = json.Unmarshal(plain, &meta)
		} else {
			return nil, fmt.Errorf("session %s: %w", x.ID, err)
		}
		out = append(out, SessionInfo{ID: x.ID, PrincipalID: x.PrincipalID, Stage: x.Stage, Addr: meta.Addr, UserAgent: meta.UserAgent, Method: meta.Method,
			CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt, ExpiresAt: x.ExpiresAt, RevokedAt: x.RevokedAt})
	}
	return out, nil
}

// RevokeSession revokes session id; with a principalID the session must be
// that principal's (ErrNotFound otherwise).
func (s *Service) RevokeSession(ctx context.Context, principalID, id string) error {
	xs, err := s.st.ListSessions(ctx, s.tenant, principalID)
	if err != nil {
		return err
	}
	for _, x := range xs {
		if x.ID == id {
			return s.st.RevokeSession(ctx, s.tenant, id, s.now().UTC())
		}
	}
	return fmt.Errorf("session: %w", ErrNotFound)
}

// SetupCode issues a one-time setup code for a user: with it the user sets a
// password and enrols a TOTP second factor (first login, or after ResetMFA). It
// is valid for Policy.SetupTTL; issuing a new one revokes the older ones.
func (s *Service) SetupCode(ctx context.Context, id string) (string, time.Time, error) {
	l, err := s.load(ctx, id)
	if err != nil {
		return "", time.Time{}, err
	}
	if l.sp.Kind != KindUser {
		return "", time.Time{}, fmt.Errorf("%w: service accounts authenticate with API tokens only", ErrInvalid)
	}
	if l.sp.State == StateDisabled {
		return "", time.Time{}, fmt.Errorf("%w: %q is disabled; enable it first", ErrInvalid, l.rec.Name)
	}
	if err := s.revokeStage(ctx, id, store.SessionSetup); err != nil {
		return "", time.Time{}, err
	}
	secret, _, err := s.newSession(ctx, id, store.SessionSetup, s.Policy.SetupTTL, sessionMeta{Method: "setup"})
	return secret, s.now().UTC().Add(s.Policy.SetupTTL), err
}

func (s *Service) revokeStage(ctx context.Context, id, stage string) error {
	xs, err := s.st.ListSessions(ctx, s.tenant, id)
	if err != nil {
		return err
	}
	for _, x := range xs {
		if x.Stage == stage && x.RevokedAt.IsZero() {
			if err := s.st.RevokeSession(ctx, s.tenant, x.ID, s.now().UTC()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Enrolment is the TOTP secret offered during setup.
type Enrolment struct {
	Principal *Principal
	Secret    string // base32, for manual entry
	URI       string // otpauth://
	QRCode    string // data: URI of a PNG
}

// BeginSetup checks a setup code and returns the TOTP secret to enrol. The same
// secret is offered until the setup completes; the account's enrolled factor (if
// any) is unchanged until then.
func (s *Service) BeginSetup(ctx context.Context, code string) (*Enrolment, error) {
	x, err := s.stagedSession(ctx, code, store.SessionSetup)
	if err != nil {
		return nil, err
	}
	l, err := s.update(ctx, x.PrincipalID, func(l *loaded) error {
		if len(l.rec.TOTPPending) == 0 {
			sec, err := NewTOTPSecret()
			if err != nil {
				return err
			}
			l.rec.TOTPPending = sec
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrNoSuchPrincipal) {
			return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
		}
		return nil, err
	}
	uri := TOTPURI(s.Policy.Issuer, l.rec.Name, l.rec.TOTPPending)
	qr, err := QRCodeDataURI(uri)
	if err != nil {
		return nil, err
	}
	return &Enrolment{Principal: l.principal(), Secret: b32.EncodeToString(l.rec.TOTPPending), URI: uri, QRCode: qr}, nil
}

// CompleteSetup finishes a setup: it sets the password (policy-checked), enrols
// the pending TOTP secret once code proves the authenticator has it, issues ten
// new recovery codes (returned once), spends the setup code, ends every other
// session of the account, and opens a session.
func (s *Service) CompleteSetup(ctx context.Context, setupCode, password, code string, c Client) (session string, recovery []string, p *Principal, err error) {
	x, err := s.stagedSession(ctx, setupCode, store.SessionSetup)
	if err != nil {
		return "", nil, nil, err
	}
	l, err := s.load(ctx, x.PrincipalID)
	if err != nil {
		return "", nil, nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if err := CheckPassword(password, l.rec.Name); err != nil {
		return "", nil, nil, err
	}
	hash, err := HashPassword(password, s.Policy.Argon2)
	if err != nil {
		return "", nil, nil, err
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return "", nil, nil, err
	}
	_, err = s.update(ctx, l.sp.ID, func(l *loaded) error {
		if len(l.rec.TOTPPending) == 0 {
			return fmt.Errorf("%w: code: start the setup again to get the secret to enrol", ErrInvalid)
		}
		step, ok := verifyTOTP(l.rec.TOTPPending, code, s.now(), 0)
		if !ok {
			return fmt.Errorf("%w: code: the code does not match; check the authenticator's clock and try the current code", ErrInvalid)
		}
		l.rec.PasswordHash, l.rec.TOTPSecret, l.rec.TOTPPending, l.rec.TOTPLastStep, l.rec.RecoveryHashes = hash, l.rec.TOTPPending, nil, step, hashes
		return nil
	})
	if err != nil {
		return "", nil, nil, err
	}
	if _, err := s.st.RevokePrincipalSessions(ctx, s.tenant, l.sp.ID, s.now().UTC()); err != nil {
		return "", nil, nil, err
	}
	session, p, err = s.startSession(ctx, l.sp.ID, c, "setup")
	return session, codes, p, err
}

// ChangePassword sets a new password after checking the current one. Other
// sessions of the account end.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, current, next string) error {
	l, err := s.load(ctx, p.ID)
	if err != nil {
		return err
	}
	hash := l.rec.PasswordHash
	if hash == "" {
		hash = s.fake()
	}
	ok, _, _ := VerifyPassword(current, hash, s.Policy.Argon2)
	if !ok || l.rec.PasswordHash == "" {
		return fmt.Errorf("%w: current: the current password is wrong", ErrInvalid)
	}
	if current == next {
		return fmt.Errorf("%w: password: the new password is the current one", ErrInvalid)
	}
	if err := CheckPassword(next, l.rec.Name); err != nil {
		return err
	}
	h, err := HashPassword(next, s.Policy.Argon2)
	if err != nil {
		return err
	}
	if _, err := s.update(ctx, p.ID, func(l *loaded) error { l.rec.PasswordHash = h; return nil }); err != nil {
		return err
	}
	return s.revokeOtherSessions(ctx, p.ID, p.SessionID)
}

func (s *Service) revokeOtherSessions(ctx context.Context, id, keep string) error {
	xs, err := s.st.ListSessions(ctx, s.tenant, id)
	if err != nil {
		return err
	}
	for _, x := range xs {
		if x.ID != keep && x.RevokedAt.IsZero() {
			if err := s.st.RevokeSession(ctx, s.tenant, x.ID, s.now().UTC()); err != nil {
				return err
			}
		}
	}
	return nil
}

// ResetMFA removes a user's second factor and recovery codes, ends their
// sessions, and returns a setup code with which they set a password and enrol a
// new factor.
func (s *Service) ResetMFA(ctx context.Context, id string) (string, time.Time, error) {
	if _, err := s.update(ctx, id, func(l *loaded) error {
		if l.sp.Kind != KindUser {
			return fmt.Errorf("%w: service accounts have no second factor", ErrInvalid)
		}
		l.rec.TOTPSecret, l.rec.TOTPPending, l.rec.RecoveryHashes, l.rec.TOTPLastStep = nil, nil, nil, 0
		l.rec.Passkeys, l.rec.Ceremony = nil, nil
		return nil
	}); err != nil {
		return "", time.Time{}, err
	}
	if _, err := s.st.RevokePrincipalSessions(ctx, s.tenant, id, s.now().UTC()); err != nil {
		return "", time.Time{}, err
	}
	return s.SetupCode(ctx, id)
}
