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

// AccessRequest is a principal asking for a role and scope.
type AccessRequest struct {
	ID          string
	PrincipalID string
	Requester   string // username
	Role        rbac.Role
	Scope       rbac.Scope
	Reason      string
	State       string
	CreatedAt   time.Time
	DecidedAt   time.Time
	DecidedBy   string // username of the deciding admin ("" if since deleted)
}

type requestMeta struct {
	Scope  rbac.Scope `json:"scope"`
	Reason string     `json:"reason,omitempty"`
}

// RequestAccess files a request by p for role and scope. At most one request per
// principal may be pending.
func (s *Service) RequestAccess(ctx context.Context, p *Principal, role rbac.Role, scope rbac.Scope, reason string) (*AccessRequest, error) {
	if p.Kind != KindUser {
		return nil, fmt.Errorf("%w: only users request access; an owner changes a service account", ErrInvalid)
	}
	if _, err := rbac.ParseRole(string(role)); err != nil {
		return nil, fmt.Errorf("%w: role: %v", ErrInvalid, err)
	}
	if err := s.checkRoleScope(role, scope); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(reason) > 1000 || !utf8.ValidString(reason) {
		return nil, fmt.Errorf("%w: reason: at most 1000 characters", ErrInvalid)
	}
	pending, err := s.st.ListAccessRequests(ctx, s.tenant, store.RequestPending)
	if err != nil {
		return nil, err
	}
	for _, r := range pending {
		if r.PrincipalID == p.ID {
			return nil, fmt.Errorf("%w: an access request of yours is already pending", ErrExists)
		}
	}
	id, err := randomID("r_")
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(requestMeta{Scope: scope, Reason: strings.TrimSpace(reason)})
	sealed, err := s.sealer.Seal(ctx, s.ad("access-request", id), b)
	if err != nil {
		return nil, err
	}
	r := store.AccessRequest{Tenant: s.tenant, ID: id, PrincipalID: p.ID, Role: string(role), Sealed: sealed, State: store.RequestPending, CreatedAt: s.now().UTC()}
	if err := s.st.InsertAccessRequest(ctx, r); err != nil {
		return nil, err
	}
	return s.openRequest(ctx, r, nil)
}

func (s *Service) openRequest(ctx context.Context, r store.AccessRequest, names map[string]string) (*AccessRequest, error) {
	plain, err := s.sealer.Open(ctx, s.ad("access-request", r.ID), r.Sealed)
	if err != nil {
		return nil, fmt.Errorf("access request %s: %w", r.ID, err)
	}
	var meta requestMeta
	if err := json.Unmarshal(plain, &meta); err != nil {
		return nil, fmt.Errorf("access request %s: %w", r.ID, err)
	}
	name := func(id string) string {
		if id == "" {
			return ""
		}
		if names != nil {
			return names[id]
		}
		if p, err := s.Get(ctx, id); err == nil {
			return p.Name
		}
		return ""
	}
	return &AccessRequest{ID: r.ID, PrincipalID: r.PrincipalID, Requester: name(r.PrincipalID), Role: rbac.Role(r.Role), Scope: meta.Scope,
		Reason: meta.Reason, State: r.State, CreatedAt: r.CreatedAt, DecidedAt: r.DecidedAt, DecidedBy: name(r.DecidedBy)}, nil
}

// AccessRequests lists requests in state ("" = all). With principalID, only that
// principal's.
func (s *Service) AccessRequests(ctx context.Context, state, principalID string) ([]*AccessRequest, error) {
	rs, err := s.st.ListAccessRequests(ctx, s.tenant, state)
	if err != nil {
		return nil, err
	}
	users, err := s.Users(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, u := range users {
		names[u.ID] = u.Name
	}
	var out []*AccessRequest
	for _, r := range rs {
		if principalID != "" && r.PrincipalID != principalID {
			continue
		}
		ar, err := s.openRequest(ctx, r, names)
		if err != nil {
			return nil, err
		}
		out = append(out, ar)
	}
	return out, nil
}

// DecideAccessRequest approves or rejects a pending request as admin. Approval
// gives the requester the requested role and scope (effective on their next
// request). An admin cannot decide their own request.
func (s *Service) DecideAccessRequest(ctx context.Context, admin *Principal, id string, approve bool) (*AccessRequest, error) {
	r, err := s.st.GetAccessRequest(ctx, s.tenant, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("access request: %w", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if r.PrincipalID == admin.ID {
		return nil, fmt.Errorf("%w: nobody decides their own access request", ErrForbidden)
	}
	ar, err := s.openRequest(ctx, r, nil)
	if err != nil {
		return nil, err
	}
	state := store.RequestRejected
	if approve {
		state = store.RequestApproved
	}
	dr, err := s.st.DecideAccessRequest(ctx, s.tenant, id, state, admin.ID, s.now().UTC())
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("%w: the request was already decided", ErrExists)
	}
	if err != nil {
		return nil, err
	}
	if approve {
		if _, err := s.SetRole(ctx, r.PrincipalID, ar.Role, ar.Scope); err != nil {
			return nil, err
		}
	}
	return s.openRequest(ctx, dr, nil)
}
