package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/rbac"
)

func (a *API) me(r *http.Request) (any, error) {
	p := principal(r)
	fresh, err := a.Auth.Get(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	out := struct {
		principalJSON
		Token   string `json:"tokenId,omitempty"`
		Session string `json:"sessionId,omitempty"`
	}{newPrincipalJSON(fresh), p.TokenID, p.SessionID}
	return out, nil
}

func (a *API) mySessions(r *http.Request) (any, error) {
	p := principal(r)
	xs, err := a.Auth.ListSessions(r.Context(), p.ID)
	if err != nil {
		return nil, err
	}
	return listPage(r, "sessions", sessionsJSON(xs, p.SessionID))
}

func (a *API) revokeMySession(r *http.Request) (any, error) {
	if err := a.Auth.RevokeSession(r.Context(), principal(r).ID, r.PathValue("id")); err != nil {
		return nil, err
	}
	return map[string]string{"status": "revoked"}, nil
}

func (a *API) myTokens(r *http.Request) (any, error) {
	ts, err := a.Auth.ListTokens(r.Context(), principal(r).ID)
	if err != nil {
		return nil, err
	}
	return listPage(r, "tokens", tokensJSON(ts))
}

// tokenBody is the request to issue a token.
type tokenBody struct {
	Name  string     `json:"name"`
	Role  string     `json:"role"`
	Scope rbac.Scope `json:"scope"`
	TTL   string     `json:"ttl"` // Go duration, e.g. 720h; empty: auth.tokenTTL
}

func (b tokenBody) request() (auth.TokenRequest, error) {
	req := auth.TokenRequest{Name: b.Name, Role: rbac.Role(b.Role), Scope: b.Scope}
	if b.TTL != "" {
		d, err := time.ParseDuration(b.TTL)
		if err != nil {
			return req, &query.ParamError{Param: "ttl", Message: fmt.Sprintf("not a duration (e.g. 720h): %q", b.TTL)}
		}
		req.TTL = d
	}
	return req, nil
}

func (a *API) createMyToken(r *http.Request) (any, error) {
	p := principal(r)
	if p.TokenID != "" {
		// A token cannot mint tokens: a leaked one must not outlive its expiry.
		return nil, fmt.Errorf("%w: a token cannot issue tokens; log in to issue one", auth.ErrForbidden)
	}
	var b tokenBody
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	req, err := b.request()
	if err != nil {
		return nil, err
	}
	secret, info, err := a.Auth.CreateToken(r.Context(), p.ID, req)
	if err != nil {
		return nil, err
	}
	noteToken(r, info)
	return newTokenJSON(info, secret), nil
}

// noteToken records an issued token (never its secret) in the audit record.
func noteToken(r *http.Request, t auth.TokenInfo) {
	ev := audit.FromContext(r.Context())
	ev.Target = t.ID
	ev.Detail("owner", t.PrincipalID)
	ev.Detail("role", string(t.Role))
	ev.Detail("expires", t.ExpiresAt.UTC().Format(time.RFC3339))
}

func (a *API) revokeMyToken(r *http.Request) (any, error) {
	if err := a.Auth.RevokeToken(r.Context(), principal(r).ID, r.PathValue("id")); err != nil {
		return nil, err
	}
	return map[string]string{"status": "revoked"}, nil
}

type passwordBody struct {
	Current  string `json:"current"`
	Password string `json:"password"`
}

func (a *API) changePassword(r *http.Request) (any, error) {
	var b passwordBody
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	if err := a.Auth.ChangePassword(r.Context(), principal(r), b.Current, b.Password); err != nil {
		return nil, err
	}
	return map[string]string{"status": "changed"}, nil
}

type accessBody struct {
	Role   string     `json:"role"`
	Scope  rbac.Scope `json:"scope"`
	Reason string     `json:"reason"`
}

func (a *API) requestAccess(r *http.Request) (any, error) {
	var b accessBody
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	ar, err := a.Auth.RequestAccess(r.Context(), principal(r), rbac.Role(b.Role), b.Scope, b.Reason)
	if err != nil {
		return nil, err
	}
	return newRequestJSON(ar), nil
}

func (a *API) myAccessRequests(r *http.Request) (any, error) {
	rs, err := a.Auth.AccessRequests(r.Context(), "", principal(r).ID)
	if err != nil {
		return nil, err
	}
	return listPage(r, "requests", requestsJSON(rs))
}

func requestsJSON(rs []*auth.AccessRequest) []requestJSON {
	out := make([]requestJSON, 0, len(rs))
	for _, x := range rs {
		out = append(out, newRequestJSON(x))
	}
	return out
}

func (a *API) listUsers(r *http.Request) (any, error) {
	ps, err := a.Auth.Users(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]principalJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, newPrincipalJSON(p))
	}
	return listPage(r, "users", out)
}

type userBody struct {
	Name        string     `json:"name"`
	Email       string     `json:"email"`
	DisplayName string     `json:"displayName"`
	Role        string     `json:"role"`
	Scope       rbac.Scope `json:"scope"`
}

type setupJSON struct {
	principalJSON
	SetupCode    string     `json:"setupCode,omitempty"`
	SetupExpires *time.Time `json:"setupCodeExpires,omitempty"`
}

func (a *API) createUser(r *http.Request) (any, error) {
	var b userBody
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	if err := nameParam(b.Name); err != nil {
		return nil, err
	}
	p, err := a.Auth.AddUser(r.Context(), auth.NewUser{Name: b.Name, Email: b.Email, DisplayName: b.DisplayName, Role: rbac.Role(b.Role), Scope: b.Scope})
	noteUser(r, p, b.Role)
	if err != nil {
		return nil, err
	}
	out := setupJSON{principalJSON: newPrincipalJSON(p)}
	if a.PasswordLogin {
		code, exp, err := a.Auth.SetupCode(r.Context(), p.ID)
		if err != nil {
			return nil, err
		}
		out.SetupCode, out.SetupExpires = code, tp(exp)
	}
	return out, nil
}

func (a *API) getUser(r *http.Request) (any, error) {
	p, err := a.Auth.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return newPrincipalJSON(p), nil
}

// patchBody changes what is given; role and scope are set together.
type patchBody struct {
	Role  *string     `json:"role"`
	Scope *rbac.Scope `json:"scope"`
	State *string     `json:"state"`
}

func (a *API) patchUser(r *http.Request) (any, error) {
	var b patchBody
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	ev := audit.FromContext(r.Context())
	ev.Target = id
	if b.Role != nil {
		ev.Detail("role", *b.Role)
	}
	if b.Scope != nil {
		ev.Detail("scope", b.Scope.String())
	}
	if b.State != nil {
		ev.Detail("state", *b.State)
	}
	if id == principal(r).ID && (b.State != nil || b.Role != nil) {
		return nil, fmt.Errorf("%w: an admin cannot change their own role or state (another admin must)", auth.ErrForbidden)
	}
	p, err := a.Auth.Get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if b.State != nil && *b.State != "active" && *b.State != "disabled" {
		return nil, &query.ParamError{Param: "state", Message: "must be active or disabled"}
	}
	if b.Role != nil || b.Scope != nil {
		role, scope := p.Role, p.Scope
		if b.Role != nil {
			role = rbac.Role(*b.Role)
		}
		if b.Scope != nil {
			scope = *b.Scope
		}
		if p, err = a.Auth.SetRole(r.Context(), id, role, scope); err != nil {
			return nil, err
		}
	}
	if b.State != nil {
		if *b.State == "disabled" {
			p, err = a.Auth.Disable(r.Context(), id)
		} else {
			p, err = a.Auth.Enable(r.Context(), id)
		}
		if err != nil {
			return nil, err
		}
	}
	return newPrincipalJSON(p), nil
}

func (a *API) deleteUser(r *http.Request) (any, error) {
	id := r.PathValue("id")
	if id == principal(r).ID {
		return nil, fmt.Errorf("%w: an admin cannot delete themselves", auth.ErrForbidden)
	}
	if err := a.Auth.Delete(r.Context(), id); err != nil {
		return nil, err
	}
	return map[string]string{"status": "deleted"}, nil
}

func (a *API) resetMFA(r *http.Request) (any, error) {
	code, exp, err := a.Auth.ResetMFA(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"setupCode": code, "setupCodeExpires": exp.UTC()}, nil
}

func (a *API) userSessions(r *http.Request) (any, error) {
	id := r.PathValue("id")
	if _, err := a.Auth.Get(r.Context(), id); err != nil {
		return nil, err
	}
	xs, err := a.Auth.ListSessions(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return listPage(r, "sessions", sessionsJSON(xs, principal(r).SessionID))
}

func (a *API) revokeUserSession(r *http.Request) (any, error) {
	if err := a.Auth.RevokeSession(r.Context(), r.PathValue("id"), r.PathValue("sid")); err != nil {
		return nil, err
	}
	return map[string]string{"status": "revoked"}, nil
}

func (a *API) userTokens(r *http.Request) (any, error) {
	id := r.PathValue("id")
	if _, err := a.Auth.Get(r.Context(), id); err != nil {
		return nil, err
	}
	ts, err := a.Auth.ListTokens(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return listPage(r, "tokens", tokensJSON(ts))
}

func (a *API) revokeUserToken(r *http.Request) (any, error) {
	if err := a.Auth.RevokeToken(r.Context(), r.PathValue("id"), r.PathValue("tid")); err != nil {
		return nil, err
	}
	return map[string]string{"status": "revoked"}, nil
}

type serviceBody struct {
	Name  string     `json:"name"`
	Owner string     `json:"owner"` // user ID; empty: the caller
	Role  string     `json:"role"`
	Scope rbac.Scope `json:"scope"`
}

func (a *API) createServiceAccount(r *http.Request) (any, error) {
	var b serviceBody
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	if err := nameParam(b.Name); err != nil {
		return nil, err
	}
	owner := b.Owner
	if owner == "" {
		owner = principal(r).ID
	}
	p, err := a.Auth.AddServiceAccount(r.Context(), b.Name, owner, rbac.Role(b.Role), b.Scope)
	noteUser(r, p, b.Role)
	if err != nil {
		if errorIsNoPrincipal(err) {
			return nil, &query.ParamError{Param: "owner", Message: "no such user"}
		}
		return nil, err
	}
	return newPrincipalJSON(p), nil
}

func (a *API) createServiceToken(r *http.Request) (any, error) {
	p, err := a.Auth.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if p.Kind != auth.KindService {
		return nil, &query.ParamError{Param: "id", Message: "not a service account (users issue their own tokens)"}
	}
	var b tokenBody
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	req, err := b.request()
	if err != nil {
		return nil, err
	}
	secret, info, err := a.Auth.CreateToken(r.Context(), p.ID, req)
	if err != nil {
		return nil, err
	}
	noteToken(r, info)
	return newTokenJSON(info, secret), nil
}

func (a *API) listAccessRequests(r *http.Request) (any, error) {
	state := r.URL.Query().Get("state")
	switch state {
	case "", "pending", "approved", "rejected":
	default:
		return nil, &query.ParamError{Param: "state", Message: "must be pending, approved or rejected"}
	}
	rs, err := a.Auth.AccessRequests(r.Context(), state, "")
	if err != nil {
		return nil, err
	}
	return listPage(r, "requests", requestsJSON(rs))
}

func (a *API) approveRequest(r *http.Request) (any, error) { return a.decide(r, true) }
func (a *API) rejectRequest(r *http.Request) (any, error)  { return a.decide(r, false) }

func (a *API) decide(r *http.Request, approve bool) (any, error) {
	ar, err := a.Auth.DecideAccessRequest(r.Context(), principal(r), r.PathValue("id"), approve)
	if err != nil {
		return nil, err
	}
	return newRequestJSON(ar), nil
}

type scimTokenBody struct {
	TTL string `json:"ttl"`
}

func (a *API) createSCIMToken(r *http.Request) (any, error) {
	p := principal(r)
	if p.TokenID != "" {
		return nil, fmt.Errorf("%w: a token cannot issue tokens; log in to issue one", auth.ErrForbidden)
	}
	var b scimTokenBody
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	var ttl time.Duration
	if b.TTL != "" {
		d, err := time.ParseDuration(b.TTL)
		if err != nil {
			return nil, &query.ParamError{Param: "ttl", Message: fmt.Sprintf("not a duration (e.g. 720h): %q", b.TTL)}
		}
		ttl = d
	}
	secret, info, err := a.Auth.CreateSCIMToken(r.Context(), p.ID, ttl)
	if err != nil {
		return nil, err
	}
	noteToken(r, info)
	return newTokenJSON(info, secret), nil
}

// nameParam checks a username given in the JSON field "name".
func nameParam(name string) error {
	if err := auth.ValidateUsername(name); err != nil {
		msg, _ := publicMessage(err, auth.ErrInvalid)
		return &query.ParamError{Param: "name", Message: strings.TrimPrefix(msg, "username: ")}
	}
	return nil
}
