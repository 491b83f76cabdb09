package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/costwarden/costwarden/internal/store"
)

// Passkeys (WebAuthn) are an optional second factor next to TOTP: a user who
// has registered one may complete a password login with it instead of a code.
// Credentials, the user handle and a ceremony in progress live in the sealed
// principal record.

// passkeyCeremonyTTL bounds how long a begun ceremony can be finished.
const passkeyCeremonyTTL = 5 * time.Minute

// EnableWebAuthn turns passkeys on for relying-party ID rpID, accepting
// assertions from origins.
func (s *Service) EnableWebAuthn(rpID, displayName string, origins []string) error {
	w, err := webauthn.New(&webauthn.Config{RPID: rpID, RPDisplayName: displayName, RPOrigins: origins})
	if err != nil {
		return fmt.Errorf("webauthn: %w", err)
	}
	s.webauthn = w
	return nil
}

// WebAuthnEnabled reports whether passkeys are configured.
func (s *Service) WebAuthnEnabled() bool { return s.webauthn != nil }

// ceremony is a begun registration or login.
type ceremony struct {
	Kind    string               `json:"kind"` // "register" or "login"
	Session webauthn.SessionData `json:"session"`
	Expires time.Time            `json:"expires"`
	Name    string               `json:"name,omitempty"`
}

// passkey is a registered credential with the name its owner gave it.
type passkey struct {
	Name       string              `json:"name"`
	Credential webauthn.Credential `json:"credential"`
	AddedAt    time.Time           `json:"addedAt"`
}

// waUser adapts a principal record to webauthn.User.
type waUser struct{ l *loaded }

func (u waUser) WebAuthnID() []byte          { return u.l.rec.WebAuthnID }
func (u waUser) WebAuthnName() string        { return u.l.rec.Name }
func (u waUser) WebAuthnDisplayName() string { return u.l.rec.Name }
func (u waUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(u.l.rec.Passkeys))
	for _, p := range u.l.rec.Passkeys {
		out = append(out, p.Credential)
	}
	return out
}

func (s *Service) needWebAuthn() error {
	if s.webauthn == nil {
		return fmt.Errorf("%w: passkeys are not configured (auth.webauthn.rpID)", ErrInvalid)
	}
	return nil
}

// BeginPasskeyRegistration starts registering a passkey for p (already logged
// in with password and TOTP). It returns the options for
// navigator.credentials.create.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, p *Principal, name string) (*protocol.CredentialCreation, error) {
	if err := s.needWebAuthn(); err != nil {
		return nil, err
	}
	if p.Kind != KindUser || p.TokenID != "" {
		return nil, fmt.Errorf("%w: passkeys are registered by a user in a browser session", ErrForbidden)
	}
	if len(name) > 64 {
		return nil, fmt.Errorf("%w: name: at most 64 characters", ErrInvalid)
	}
	var creation *protocol.CredentialCreation
	_, err := s.update(ctx, p.ID, func(l *loaded) error {
		if len(l.rec.WebAuthnID) == 0 {
			l.rec.WebAuthnID = make([]byte, 32)
			if _, err := rand.Read(l.rec.WebAuthnID); err != nil {
				return err
			}
		}
		var exclude []protocol.CredentialDescriptor
		for _, pk := range l.rec.Passkeys {
			exclude = append(exclude, pk.Credential.Descriptor())
		}
		c, sd, err := s.webauthn.BeginRegistration(waUser{l}, webauthn.WithExclusions(exclude),
			webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: protocol.VerificationPreferred, ResidentKey: protocol.ResidentKeyRequirementDiscouraged}))
		if err != nil {
			return fmt.Errorf("webauthn: %w", err)
		}
		creation = c
		l.rec.Ceremony = &ceremony{Kind: "register", Session: *sd, Expires: s.now().Add(passkeyCeremonyTTL), Name: name}
		return nil
	})
	return creation, err
}

// FinishPasskeyRegistration checks the authenticator's answer (JSON of the
// PublicKeyCredential) and stores the credential.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, p *Principal, body []byte) error {
	if err := s.needWebAuthn(); err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return fmt.Errorf("%w: credential: %v", ErrInvalid, err)
	}
	_, err = s.update(ctx, p.ID, func(l *loaded) error {
		c := l.rec.Ceremony
		if c == nil || c.Kind != "register" || !s.now().Before(c.Expires) {
			return fmt.Errorf("%w: credential: no registration in progress (start again)", ErrInvalid)
		}
		cred, err := s.webauthn.CreateCredential(waUser{l}, c.Session, parsed)
		if err != nil {
			return fmt.Errorf("%w: credential: %v", ErrInvalid, err)
		}
		name := c.Name
		if name == "" {
			name = fmt.Sprintf("passkey %d", len(l.rec.Passkeys)+1)
		}
		l.rec.Passkeys = append(l.rec.Passkeys, passkey{Name: name, Credential: *cred, AddedAt: s.now().UTC()})
		l.rec.Ceremony = nil
		return nil
	})
	return err
}

// BeginPasskeyLogin starts the second factor of a password login with a
// passkey; ticket is the login ticket from Login. It returns the options for
// navigator.credentials.get.
func (s *Service) BeginPasskeyLogin(ctx context.Context, ticket string) (*protocol.CredentialAssertion, error) {
	if err := s.needWebAuthn(); err != nil {
		return nil, err
	}
	x, err := s.stagedSession(ctx, ticket, store.SessionMFA)
	if err != nil {
		return nil, err
	}
	var assertion *protocol.CredentialAssertion
	_, err = s.update(ctx, x.PrincipalID, func(l *loaded) error {
		if len(l.rec.Passkeys) == 0 {
			return fmt.Errorf("%w: no passkey is registered for this account", ErrInvalid)
		}
		a, sd, err := s.webauthn.BeginLogin(waUser{l}, webauthn.WithUserVerification(protocol.VerificationPreferred))
		if err != nil {
			return fmt.Errorf("webauthn: %w", err)
		}
		assertion = a
		l.rec.Ceremony = &ceremony{Kind: "login", Session: *sd, Expires: s.now().Add(passkeyCeremonyTTL)}
		return nil
	})
	if errors.Is(err, ErrNoSuchPrincipal) {
		return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	return assertion, err
}

// FinishPasskeyLogin checks the passkey's assertion for the login ticket and
// opens a session. A failed assertion counts as a failed login; a signature
// counter that did not increase (a cloned authenticator) is refused.
func (s *Service) FinishPasskeyLogin(ctx context.Context, ticket string, body []byte, c Client) (string, *Principal, error) {
	if err := s.needWebAuthn(); err != nil {
		return "", nil, err
	}
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
		return "", nil, err
	}
	parsed, perr := protocol.ParseCredentialRequestResponseBytes(body)
	_, err = s.update(ctx, l.sp.ID, func(l *loaded) error {
		cer := l.rec.Ceremony
		if l.sp.State == StateDisabled {
			return fmt.Errorf("%w: account %s is disabled", ErrUnauthenticated, l.sp.ID)
		}
		if perr != nil {
			return fmt.Errorf("%w: malformed assertion: %v", ErrUnauthenticated, perr)
		}
		if cer == nil || cer.Kind != "login" || !s.now().Before(cer.Expires) {
			return fmt.Errorf("%w: no passkey login in progress", ErrUnauthenticated)
		}
		l.rec.Ceremony = nil // one assertion per challenge, right or wrong
		cred, err := s.webauthn.ValidateLogin(waUser{l}, cer.Session, parsed)
		if err != nil {
			return fmt.Errorf("%w: passkey assertion: %v", ErrUnauthenticated, err)
		}
		if cred.Authenticator.CloneWarning {
			return fmt.Errorf("%w: passkey signature counter did not increase (cloned authenticator?)", ErrUnauthenticated)
		}
		for i := range l.rec.Passkeys {
			if string(l.rec.Passkeys[i].Credential.ID) == string(cred.ID) {
				l.rec.Passkeys[i].Credential.Authenticator.SignCount = cred.Authenticator.SignCount
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			// The spent challenge must be saved even though the login failed.
			_, _ = s.update(ctx, l.sp.ID, func(l *loaded) error { l.rec.Ceremony = nil; return nil })
			if ferr := s.fail(ctx, keys); ferr != nil {
				return "", nil, ferr
			}
		}
		return "", nil, err
	}
	if err := s.st.RevokeSession(ctx, s.tenant, x.ID, s.now().UTC()); err != nil {
		return "", nil, err
	}
	_ = s.st.ClearLockout(ctx, s.tenant, keys[0])
	return s.startSession(ctx, l.sp.ID, c, "password+passkey")
}

// PasskeyInfo describes a registered passkey.
type PasskeyInfo struct {
	Name    string
	AddedAt time.Time
}

// Passkeys lists p's registered passkeys.
func (s *Service) Passkeys(ctx context.Context, id string) ([]PasskeyInfo, error) {
	l, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []PasskeyInfo
	for _, p := range l.rec.Passkeys {
		out = append(out, PasskeyInfo{Name: p.Name, AddedAt: p.AddedAt})
	}
	return out, nil
}
