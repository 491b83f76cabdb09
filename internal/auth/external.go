package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/store"
)

// ExternalIdentity is a person an identity provider vouched for (SSO).
type ExternalIdentity struct {
	SubjectKey    string // issuer and subject: stable and unique at the provider
	Username      string
	Email         string
	EmailVerified bool
	DisplayName   string
	// Role and Scope come from the provider's group claims; when Mapped is false
	// no group mapped and the stored role (granted by an admin or an access
	// request) is kept.
	Mapped bool
	Role   rbac.Role
	Scope  rbac.Scope
}

// ExternalLogin finds or creates the account of an identity the provider has
// vouched for, and returns it. It is found by its external subject, else linked
// by verified e-mail or by username (an account an admin or SCIM created ahead of
// the first login), else created (pending when no group maps to a role). A
// mapped role and scope replace the stored ones at every login. Disabled
// accounts are refused.
func (s *Service) ExternalLogin(ctx context.Context, id ExternalIdentity) (*Principal, error) {
	if id.SubjectKey == "" {
		return nil, fmt.Errorf("%w: identity without a subject", ErrUnauthenticated)
	}
	if id.Mapped {
		if err := s.checkRoleScope(id.Role, id.Scope); err != nil {
			return nil, fmt.Errorf("group mapping: %w", err)
		}
	}
	subIdx, err := s.index(ctx, "principal-subject", id.SubjectKey)
	if err != nil {
		return nil, err
	}
	sp, err := s.st.GetPrincipalBySubject(ctx, s.tenant, subIdx)
	if errors.Is(err, store.ErrNotFound) {
		sp, err = s.linkable(ctx, id)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := ValidateUsername(id.Username); err != nil {
			return nil, fmt.Errorf("%w: the provider's username %q is not a valid costwarden username", ErrUnauthenticated, id.Username)
		}
		email := id.Email
		if !id.EmailVerified || ValidateEmail(email) != nil {
			email = ""
		}
		role, scope := rbac.Role(""), rbac.Scope{}
		if id.Mapped {
			role, scope = id.Role, id.Scope
		}
		return s.AddUser(ctx, NewUser{Name: id.Username, Email: email, DisplayName: id.DisplayName, Role: role, Scope: scope, Source: "oidc", SubjectKey: id.SubjectKey})
	case err != nil:
		return nil, err
	}
	if sp.State == StateDisabled {
		return nil, fmt.Errorf("%w: principal %s is disabled", ErrUnauthenticated, sp.ID)
	}
	if sp.Kind != KindUser {
		return nil, fmt.Errorf("%w: principal %s is a service account", ErrUnauthenticated, sp.ID)
	}
	l, err := s.update(ctx, sp.ID, func(l *loaded) error {
		l.sp.SubjectIndex = subIdx
		if id.DisplayName != "" {
			l.rec.DisplayName = id.DisplayName
		}
		if id.Mapped {
			l.sp.Role, l.rec.Scope = string(id.Role), id.Scope
			if l.sp.State == StatePending && id.Role != "" {
				l.sp.State = StateActive
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l.principal(), nil
}

// linkable finds an account created ahead of the first SSO login: by verified
// e-mail, else by username. An account already linked to another subject is
// not taken over.
func (s *Service) linkable(ctx context.Context, id ExternalIdentity) (store.Principal, error) {
	if id.EmailVerified && ValidateEmail(id.Email) == nil && id.Email != "" {
		idx, err := s.emailIndex(ctx, id.Email)
		if err != nil {
			return store.Principal{}, err
		}
		sp, err := s.st.GetPrincipalByEmail(ctx, s.tenant, idx)
		if err == nil {
			if len(sp.SubjectIndex) > 0 {
				return store.Principal{}, fmt.Errorf("%w: the account with this e-mail belongs to another identity", ErrUnauthenticated)
			}
			return sp, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.Principal{}, err
		}
	}
	if ValidateUsername(id.Username) != nil {
		return store.Principal{}, store.ErrNotFound
	}
	idx, err := s.nameIndex(ctx, id.Username)
	if err != nil {
		return store.Principal{}, err
	}
	sp, err := s.st.GetPrincipalByName(ctx, s.tenant, idx)
	if err != nil {
		return store.Principal{}, err
	}
	if len(sp.SubjectIndex) > 0 {
		return store.Principal{}, fmt.Errorf("%w: the account %q belongs to another identity", ErrUnauthenticated, id.Username)
	}
	// Linking by username alone would let anyone who can choose their username
	// at the provider take over a local account: only accounts that have no
	// password of their own (created for SSO or by SCIM) are linked this way.
	l, err := s.openRecord(ctx, sp)
	if err != nil {
		return store.Principal{}, err
	}
	if l.rec.PasswordHash != "" || strings.EqualFold(l.rec.Source, "local") && l.rec.Email != "" {
		return store.Principal{}, fmt.Errorf("%w: the account %q exists with its own password; an admin must link it (same verified e-mail)", ErrUnauthenticated, id.Username)
	}
	return sp, nil
}
