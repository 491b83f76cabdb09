package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
	"github.com/costwarden/costwarden/web"
)

// OIDCProvider is what the SSO routes need from internal/auth/oidc.
type OIDCProvider interface {
	// Name is shown on the login button.
	Name() string
	// Start begins a login: the URL to send the browser to, and an opaque value
	// (state, nonce, PKCE verifier) for a short-lived cookie.
	Start(ctx context.Context) (authURL, cookie string, err error)
	// Finish checks the provider's redirect against the cookie, redeems the code
	// and verifies the ID token; it returns the identity it vouches for.
	Finish(ctx context.Context, cookie string, callback url.Values) (auth.ExternalIdentity, error)
}

// identityRoutes declares the login, account, user-administration and SCIM
// routes. The password and setup routes exist only with PasswordLogin; the SSO
// routes only with an OIDC provider.
func (a *API) identityRoutes() []server.Route {
	self, users, scim := rbac.ManageSelf, rbac.ManageUsers, rbac.ProvisionUsers
	pub := func(method, path, summary string, h http.Handler) server.Route {
		return server.Route{Method: method, Path: path, Access: server.Public, Summary: summary, Handler: h}
	}
	page := func(method, path string, perm rbac.Permission, summary string, h http.Handler) server.Route {
		return server.Route{Method: method, Path: path, Access: server.Authenticated, Permission: perm, Page: true, Summary: summary, Handler: h}
	}
	api := func(method, path string, perm rbac.Permission, summary string, fn handlerFunc) server.Route {
		return server.Route{Method: method, Path: path, Access: server.Authenticated, Permission: perm, Summary: summary, Handler: a.handle(fn)}
	}
	rs := []server.Route{
		{Method: "GET", Path: "/static/{file}", Access: server.Public, Asset: true, Summary: "Static assets of the pages (CSS, JavaScript, images).", Handler: a.static()},
		pub("GET", "/login", "Login page.", http.HandlerFunc(a.loginPage)),
		pub("POST", "/logout", "Ends the browser session.", http.HandlerFunc(a.logout)),
		page("GET", "/account", self, "Own account: sessions, password, access requests.", http.HandlerFunc(a.accountPage)),
		page("POST", "/account/sessions/{id}/revoke", self, "Ends one of one's own sessions.", http.HandlerFunc(a.accountRevokeSession)),
		page("POST", "/account/access-request", self, "Asks for a role and scope.", http.HandlerFunc(a.accountAccessRequest)),
		page("GET", "/admin/users", users, "User administration page.", http.HandlerFunc(a.adminUsersPage)),
		page("POST", "/admin/users", users, "Creates a user; shows its one-time setup code.", http.HandlerFunc(a.adminCreateUser)),
		page("POST", "/admin/users/{id}", users, "Disables, enables, deletes a principal or resets its MFA.", http.HandlerFunc(a.adminUserAction)),
		page("POST", "/admin/access-requests/{id}", users, "Approves or rejects an access request.", http.HandlerFunc(a.adminDecide)),

		api("GET", "/api/v1/me", self, "The caller's account.", a.me),
		api("GET", "/api/v1/me/sessions", self, "The caller's sessions.", a.mySessions),
		api("DELETE", "/api/v1/me/sessions/{id}", self, "Ends one of the caller's sessions.", a.revokeMySession),
		api("GET", "/api/v1/me/tokens", self, "The caller's API tokens.", a.myTokens),
		api("POST", "/api/v1/me/tokens", self, "Issues an API token (shown once) no wider than the caller.", a.createMyToken),
		api("DELETE", "/api/v1/me/tokens/{id}", self, "Revokes one of the caller's tokens.", a.revokeMyToken),
		api("GET", "/api/v1/me/access-requests", self, "The caller's access requests.", a.myAccessRequests),
		api("POST", "/api/v1/me/access-requests", self, "Asks for a role and scope.", a.requestAccess),

		api("GET", "/api/v1/users", users, "Every user and service account.", a.listUsers),
		api("POST", "/api/v1/users", users, "Creates a user; returns a one-time setup code.", a.createUser),
		api("GET", "/api/v1/users/{id}", users, "One principal.", a.getUser),
		api("PATCH", "/api/v1/users/{id}", users, "Changes role, scope or state (disabling ends sessions and tokens at once).", a.patchUser),
		api("DELETE", "/api/v1/users/{id}", users, "Deletes a principal with its sessions and tokens.", a.deleteUser),
		api("POST", "/api/v1/users/{id}/reset-mfa", users, "Removes the second factor; returns a setup code.", a.resetMFA),
		api("GET", "/api/v1/users/{id}/sessions", users, "A principal's sessions.", a.userSessions),
		api("DELETE", "/api/v1/users/{id}/sessions/{sid}", users, "Ends a principal's session.", a.revokeUserSession),
		api("GET", "/api/v1/users/{id}/tokens", users, "A principal's API tokens.", a.userTokens),
		api("DELETE", "/api/v1/users/{id}/tokens/{tid}", users, "Revokes a principal's token.", a.revokeUserToken),
		api("POST", "/api/v1/service-accounts", users, "Creates a service account owned by a user.", a.createServiceAccount),
		api("POST", "/api/v1/service-accounts/{id}/tokens", users, "Issues an API token for a service account (shown once).", a.createServiceToken),
		api("GET", "/api/v1/access-requests", users, "Access requests (?state=pending|approved|rejected).", a.listAccessRequests),
		api("POST", "/api/v1/access-requests/{id}/approve", users, "Approves an access request.", a.approveRequest),
		api("POST", "/api/v1/access-requests/{id}/reject", users, "Rejects an access request.", a.rejectRequest),
		api("POST", "/api/v1/scim-tokens", users, "Issues a SCIM provisioning token (shown once).", a.createSCIMToken),

		{Method: "GET", Path: "/scim/v2/Users", Access: server.Authenticated, Permission: scim, Summary: "SCIM 2.0: list users (filter userName eq).", Handler: a.scimHandle(a.scimList)},
		{Method: "POST", Path: "/scim/v2/Users", Access: server.Authenticated, Permission: scim, Summary: "SCIM 2.0: create a user.", Handler: a.scimHandle(a.scimCreate)},
		{Method: "GET", Path: "/scim/v2/Users/{id}", Access: server.Authenticated, Permission: scim, Summary: "SCIM 2.0: read a user.", Handler: a.scimHandle(a.scimGet)},
		{Method: "PATCH", Path: "/scim/v2/Users/{id}", Access: server.Authenticated, Permission: scim, Summary: "SCIM 2.0: set active (false disables at once).", Handler: a.scimHandle(a.scimPatch)},
		{Method: "DELETE", Path: "/scim/v2/Users/{id}", Access: server.Authenticated, Permission: scim, Summary: "SCIM 2.0: delete a user.", Handler: a.scimHandle(a.scimDelete)},
	}
	if a.PasswordLogin {
		rs = append(rs,
			pub("POST", "/login", "Password step of the login.", http.HandlerFunc(a.loginPassword)),
			pub("GET", "/login/mfa", "Second-factor step of the login.", http.HandlerFunc(a.mfaPage)),
			pub("POST", "/login/mfa", "Checks the second factor and starts the session.", http.HandlerFunc(a.loginMFA)),
			pub("GET", "/setup", "Setup-code entry (first login or reset).", http.HandlerFunc(a.setupPage)),
			pub("POST", "/setup", "Checks a setup code.", http.HandlerFunc(a.setupCode)),
			pub("GET", "/setup/enrol", "Password and TOTP enrolment.", http.HandlerFunc(a.enrolPage)),
			pub("POST", "/setup/enrol", "Completes the enrolment.", http.HandlerFunc(a.enrol)),
			page("POST", "/account/password", self, "Changes one's password (the current one is required).", http.HandlerFunc(a.accountPassword)),
			api("POST", "/api/v1/me/password", self, "Changes the caller's password (the current one is required).", a.changePassword),
		)
	}
	if a.Auth != nil && a.Auth.WebAuthnEnabled() || a.WebAuthn {
		rs = append(rs,
			api("POST", "/api/v1/me/passkeys/begin", self, "Starts registering a passkey (WebAuthn options).", a.passkeyRegisterBegin),
			api("POST", "/api/v1/me/passkeys/finish", self, "Stores a passkey from the authenticator's answer.", a.passkeyRegisterFinish),
		)
		if a.PasswordLogin {
			rs = append(rs,
				pub("POST", "/login/passkey/begin", "Starts the passkey second factor of a login.", a.handle(a.passkeyLoginBegin)),
				pub("POST", "/login/passkey/finish", "Checks the passkey and starts the session.", http.HandlerFunc(a.passkeyLoginFinish)),
			)
		}
	}
	if a.OIDC != nil {
		rs = append(rs,
			pub("GET", "/login/oidc", "Starts a single-sign-on login.", http.HandlerFunc(a.oidcStart)),
			pub("GET", "/login/oidc/callback", "Single-sign-on callback.", http.HandlerFunc(a.oidcCallback)),
		)
	}
	return rs
}

func (a *API) static() http.Handler {
	fs := http.FileServerFS(web.Static())
	return http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fs.ServeHTTP(w, r)
	}))
}

// writeIdentityError maps the auth package's errors; it reports whether it did.
// Messages of ErrInvalid are written for the caller and name the field; every
// refused credential gets the same generic answer.
func (a *API) writeIdentityError(w http.ResponseWriter, r *http.Request, err error) bool {
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &te):
		w.Header().Set("Retry-After", retryAfter(te.RetryAfter))
		server.WriteError(w, r, http.StatusTooManyRequests, "too many failed attempts; try again later", "")
	case errors.Is(err, auth.ErrUnauthenticated):
		a.Log.InfoContext(r.Context(), "credential refused", "request_id", server.RequestID(r.Context()), "reason", err.Error())
		server.WriteError(w, r, http.StatusUnauthorized, "authentication required", "")
	case errors.Is(err, auth.ErrInvalid):
		msg, field := publicMessage(err, auth.ErrInvalid)
		server.WriteError(w, r, http.StatusBadRequest, msg, field)
	case errors.Is(err, auth.ErrForbidden):
		msg, field := publicMessage(err, auth.ErrForbidden)
		server.WriteError(w, r, http.StatusForbidden, msg, field)
	case errors.Is(err, auth.ErrExists):
		msg, field := publicMessage(err, auth.ErrExists)
		server.WriteError(w, r, http.StatusConflict, msg, field)
	case errors.Is(err, auth.ErrNoSuchPrincipal), errors.Is(err, auth.ErrNotFound):
		server.WriteError(w, r, http.StatusNotFound, "not found", "")
	default:
		return false
	}
	return true
}

func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}

// publicMessage turns "invalid input: password: must be ..." into the message
// "password: must be ..." and the field "password". The auth package writes
// these messages for the caller: they never hold secrets.
func publicMessage(err, sentinel error) (string, string) {
	msg := err.Error()
	if i := strings.LastIndex(msg, sentinel.Error()+": "); i >= 0 {
		msg = msg[i+len(sentinel.Error())+2:]
	}
	field, rest, ok := strings.Cut(msg, ": ")
	if ok && rest != "" && isFieldName(field) {
		return msg, field
	}
	return msg, ""
}

func isFieldName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// decodeJSON reads a JSON object strictly: unknown fields, trailing data, wrong
// types and oversized bodies are 400s naming the problem.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/scim+json") {
		return &query.ParamError{Param: "Content-Type", Message: "must be application/json"}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &mbe):
			return &query.ParamError{Param: "body", Message: fmt.Sprintf("larger than %d bytes", mbe.Limit)}
		case errors.As(err, &ute):
			return &query.ParamError{Param: ute.Field, Message: fmt.Sprintf("must be a %s", ute.Type)}
		case errors.As(err, &se):
			return &query.ParamError{Param: "body", Message: fmt.Sprintf("not valid JSON (offset %d)", se.Offset)}
		case errors.Is(err, io.EOF):
			return &query.ParamError{Param: "body", Message: "a JSON object is required"}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &query.ParamError{Param: f, Message: "unknown field"}
		}
		return &query.ParamError{Param: "body", Message: "not a valid JSON object"}
	}
	if dec.More() {
		return &query.ParamError{Param: "body", Message: "trailing data after the JSON object"}
	}
	return nil
}

// principalJSON is the API shape of an account.
type principalJSON struct {
	ID            string     `json:"id"`
	Kind          string     `json:"kind"`
	Name          string     `json:"name"`
	Email         string     `json:"email,omitempty"`
	DisplayName   string     `json:"displayName,omitempty"`
	Owner         string     `json:"owner,omitempty"`
	Role          string     `json:"role"`
	Scope         rbac.Scope `json:"scope"`
	State         string     `json:"state"`
	Source        string     `json:"source,omitempty"`
	MFA           bool       `json:"mfa"`
	HasPassword   bool       `json:"hasPassword"`
	RecoveryCodes int        `json:"recoveryCodes"`
	CreatedAt     *time.Time `json:"createdAt,omitempty"`
	LastSeenAt    *time.Time `json:"lastSeenAt,omitempty"`
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func newPrincipalJSON(p *auth.Principal) principalJSON {
	return principalJSON{ID: p.ID, Kind: p.Kind, Name: p.Name, Email: p.Email, DisplayName: p.DisplayName, Owner: p.Owner,
		Role: string(p.Role), Scope: p.Scope, State: p.State, Source: p.Source, MFA: p.MFA, HasPassword: p.HasPassword,
		RecoveryCodes: p.RecoveryCodes, CreatedAt: tp(p.CreatedAt), LastSeenAt: tp(p.LastSeenAt)}
}

type sessionJSON struct {
	ID         string     `json:"id"`
	Addr       string     `json:"addr,omitempty"`
	UserAgent  string     `json:"userAgent,omitempty"`
	Method     string     `json:"method,omitempty"`
	Current    bool       `json:"current"`
	CreatedAt  *time.Time `json:"createdAt"`
	LastSeenAt *time.Time `json:"lastSeenAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
}

func sessionsJSON(xs []auth.SessionInfo, current string) []sessionJSON {
	out := make([]sessionJSON, 0, len(xs))
	for _, x := range xs {
		out = append(out, sessionJSON{ID: x.ID, Addr: x.Addr, UserAgent: x.UserAgent, Method: x.Method, Current: x.ID == current,
			CreatedAt: tp(x.CreatedAt), LastSeenAt: tp(x.LastSeenAt), ExpiresAt: tp(x.ExpiresAt), RevokedAt: tp(x.RevokedAt)})
	}
	return out
}

type tokenJSON struct {
	ID         string     `json:"id"`
	Owner      string     `json:"owner"`
	Name       string     `json:"name,omitempty"`
	Role       string     `json:"role"`
	Scope      rbac.Scope `json:"scope"`
	CreatedAt  *time.Time `json:"createdAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	// Token is the secret, present only in the answer that issues it.
	Token string `json:"token,omitempty"`
}

func newTokenJSON(t auth.TokenInfo, secret string) tokenJSON {
	return tokenJSON{ID: t.ID, Owner: t.PrincipalID, Name: t.Name, Role: string(t.Role), Scope: t.Scope, CreatedAt: tp(t.CreatedAt),
		ExpiresAt: tp(t.ExpiresAt), RevokedAt: tp(t.RevokedAt), LastUsedAt: tp(t.LastUsedAt), Token: secret}
}

func tokensJSON(ts []auth.TokenInfo) []tokenJSON {
	out := make([]tokenJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, newTokenJSON(t, ""))
	}
	return out
}

type requestJSON struct {
	ID        string     `json:"id"`
	Requester string     `json:"requester"`
	Role      string     `json:"role"`
	Scope     rbac.Scope `json:"scope"`
	Reason    string     `json:"reason,omitempty"`
	State     string     `json:"state"`
	CreatedAt *time.Time `json:"createdAt"`
	DecidedAt *time.Time `json:"decidedAt,omitempty"`
	DecidedBy string     `json:"decidedBy,omitempty"`
}

func newRequestJSON(r *auth.AccessRequest) requestJSON {
	return requestJSON{ID: r.ID, Requester: r.Requester, Role: string(r.Role), Scope: r.Scope, Reason: r.Reason, State: r.State,
		CreatedAt: tp(r.CreatedAt), DecidedAt: tp(r.DecidedAt), DecidedBy: r.DecidedBy}
}

// client describes the request's origin for throttling and the session list.
// The source address is the TCP peer: X-Forwarded-For is not trusted.
func client(r *http.Request) auth.Client {
	return auth.Client{Addr: r.RemoteAddr, UserAgent: r.UserAgent()}
}

func principal(r *http.Request) *auth.Principal { return server.PrincipalFrom(r.Context()) }
