package httpapi

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
)

// AuditLog is what the audit routes (and handlers that record an event
// themselves, such as cost exports) need from internal/audit.
type AuditLog interface {
	Record(ctx context.Context, e audit.Event) error
	List(ctx context.Context, f audit.Filter) ([]audit.Record, string, error)
	Verify(ctx context.Context, pinned ed25519.PublicKey) (audit.Report, error)
}

// routeEvents names the audit event of every state-changing route (and of the
// SSO callback, which starts a session on a GET). A state-changing route
// missing here records the generic http.request event; a test keeps this
// table complete.
var routeEvents = map[string]audit.Code{
	"POST /logout":                              audit.AuthLogout,
	"POST /account/sessions/{id}/revoke":        audit.SessionRevoke,
	"POST /account/access-request":              audit.AccessRequest,
	"POST /account/password":                    audit.AuthPasswordSet,
	"POST /admin/users":                         audit.UserCreate,
	"POST /admin/users/{id}":                    audit.UserUpdate, // the handler names the action
	"POST /admin/access-requests/{id}":          audit.AccessApprove,
	"DELETE /api/v1/me/sessions/{id}":           audit.SessionRevoke,
	"POST /api/v1/me/tokens":                    audit.TokenCreate,
	"DELETE /api/v1/me/tokens/{id}":             audit.TokenRevoke,
	"POST /api/v1/me/access-requests":           audit.AccessRequest,
	"POST /api/v1/me/password":                  audit.AuthPasswordSet,
	"POST /api/v1/me/passkeys/begin":            audit.AuthPasskey,
	"POST /api/v1/me/passkeys/finish":           audit.AuthPasskeyAdd,
	"POST /api/v1/users":                        audit.UserCreate,
	"PATCH /api/v1/users/{id}":                  audit.UserUpdate,
	"DELETE /api/v1/users/{id}":                 audit.UserDelete,
	"POST /api/v1/users/{id}/reset-mfa":         audit.UserMFAReset,
	"DELETE /api/v1/users/{id}/sessions/{sid}":  audit.SessionRevoke,
	"DELETE /api/v1/users/{id}/tokens/{tid}":    audit.TokenRevoke,
	"POST /api/v1/service-accounts":             audit.ServiceCreate,
	"POST /api/v1/service-accounts/{id}/tokens": audit.TokenCreate,
	"POST /api/v1/access-requests/{id}/approve": audit.AccessApprove,
	"POST /api/v1/access-requests/{id}/reject":  audit.AccessReject,
	"POST /api/v1/scim-tokens":                  audit.SCIMTokenCreate,
	"POST /scim/v2/Users":                       audit.SCIMUserCreate,
	"PATCH /scim/v2/Users/{id}":                 audit.SCIMUserUpdate,
	"DELETE /scim/v2/Users/{id}":                audit.SCIMUserDelete,
	"POST /login":                               audit.AuthPassword,
	"POST /login/mfa":                           audit.AuthLogin,
	"POST /setup":                               audit.AuthSetup,
	"POST /setup/enrol":                         audit.AuthMFAEnrol,
	"POST /login/passkey/begin":                 audit.AuthPasskey,
	"POST /login/passkey/finish":                audit.AuthLogin,
	"GET /login/oidc/callback":                  audit.AuthLogin,
	"PUT /api/v1/telemetry/consent":             audit.TelemetryConsent,
	"POST /api/v1/clusters":                     audit.ClusterAdd,
	"POST /api/v1/clusters/{id}/token":          audit.ClusterToken,
	"POST /api/v1/clusters/{id}/revoke":         audit.ClusterRevoke,
}

// RouteEvent is the audit event of a route pattern ("" for reads that are not
// audited).
func RouteEvent(method, path string) audit.Code {
	if c, ok := routeEvents[method+" "+path]; ok {
		return c
	}
	if method != http.MethodGet && method != http.MethodHead {
		return audit.HTTPRequest
	}
	return ""
}

// withAuditEvents sets each route's audit event.
func withAuditEvents(routes []server.Route) []server.Route {
	for i := range routes {
		if routes[i].Audit == "" {
			routes[i].Audit = RouteEvent(routes[i].Method, routes[i].Path)
		}
	}
	return routes
}

// auditRoutes declares the audit log routes (auditors and admins).
func (a *API) auditRoutes() []server.Route {
	return []server.Route{
		{Method: "GET", Path: "/api/v1/audit", Access: server.Authenticated, Permission: rbac.ReadAudit,
			Summary: "Audit records, newest first (since, until, actor, action prefix, outcome, limit, cursor).", Handler: a.handle(a.auditList)},
		{Method: "GET", Path: "/api/v1/audit/verify", Access: server.Authenticated, Permission: rbac.ReadAudit,
			Summary: "Verifies the audit trail's hash chain and signed checkpoints; names the first bad record.", Handler: a.handle(a.auditVerify)},
	}
}

func (a *API) auditList(r *http.Request) (any, error) {
	if a.Audit == nil {
		return nil, errNotConfigured
	}
	v := r.URL.Query()
	for k := range v {
		switch k {
		case "since", "until", "actor", "action", "outcome", "limit", "cursor":
		default:
			return nil, &query.ParamError{Param: k, Message: "unknown parameter (since, until, actor, action, outcome, limit, cursor)"}
		}
	}
	f := audit.Filter{Actor: v.Get("actor"), ActionPrefix: v.Get("action"), Cursor: v.Get("cursor"), Limit: 100}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := v.Get(t.name); s != "" {
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return nil, &query.ParamError{Param: t.name, Message: "must be an RFC 3339 time such as 2026-01-02T15:04:05Z"}
			}
			*t.dst = tm
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return nil, &query.ParamError{Param: "until", Message: "must be after since"}
	}
	switch o := audit.Outcome(v.Get("outcome")); o {
	case "", audit.Success, audit.Failure, audit.Denied:
		f.Outcome = o
	default:
		return nil, &query.ParamError{Param: "outcome", Message: "must be success, failure or denied"}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return nil, &query.ParamError{Param: "limit", Message: "must be a whole number from 1 to 500"}
		}
		f.Limit = n
	}
	if len(f.Actor) > 256 {
		return nil, &query.ParamError{Param: "actor", Message: "too long (at most 256 bytes)"}
	}
	if len(f.ActionPrefix) > 64 {
		return nil, &query.ParamError{Param: "action", Message: "too long (at most 64 bytes)"}
	}
	recs, next, err := a.Audit.List(r.Context(), f)
	if errors.Is(err, audit.ErrBadCursor) {
		return nil, &query.ParamError{Param: "cursor", Message: "not a cursor this list handed out"}
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"code": http.StatusOK, "data": recs, "next": next}, nil
}

func (a *API) auditVerify(r *http.Request) (any, error) {
	if a.Audit == nil {
		return nil, errNotConfigured
	}
	rep, err := a.Audit.Verify(r.Context(), nil)
	if err != nil {
		return nil, err
	}
	return struct {
		Code int `json:"code"`
		audit.Report
	}{http.StatusOK, rep}, nil
}
