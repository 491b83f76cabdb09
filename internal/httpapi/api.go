// Package httpapi holds costwarden's HTTP API handlers: the OpenCost-compatible
// endpoints (/allocation, /allocation/compute, /assets) and costwarden's own API,
// the JSON shapes they return, and the one place that maps errors to HTTP statuses.
// Routes() declares every route with its access and permission.
//
// Handlers return a value or an error; they must not build listeners or decide
// authentication (internal/server does), and must not compute costs (query and
// allocation do).
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
	"github.com/costwarden/costwarden/web"
)

// API serves the HTTP API.
type API struct {
	Query    *query.Service
	Settings query.Settings
	// Recommendations are the configured right-sizing defaults.
	Recommendations query.RecommendationSettings
	Now             func() time.Time
	Log             *slog.Logger
	// Ready reports whether the server can answer cost queries (an hour is stored).
	Ready func() bool

	// Identity and access (issue 5): accounts, sessions, tokens, SSO, SCIM.
	Auth *auth.Service
	// OIDC is the single-sign-on provider; nil when SSO is not configured.
	OIDC OIDCProvider
	// Pages renders the browser pages (login, setup, account, users).
	Pages *web.Pages
	// PasswordLogin enables the password and setup routes; when false they are
	// not declared at all (404).
	PasswordLogin bool
	// WebAuthn declares the passkey routes even without an Auth service (for
	// route listings in tests); with one, Auth.WebAuthnEnabled decides.
	WebAuthn bool
	// Sources reports the cluster sources for GET /api/v1/status.
	Sources func() []SourceStatus

	// Dashboard, exports and settings (issue 8).
	// Currency is the ISO 4217 code of the prices (pricing.currency).
	Currency string
	// Tenant names the billing account of FOCUS exports.
	Tenant string
	// SettingsView is the effective configuration /api/v1/settings shows.
	SettingsView *SettingsView
	// Keys reports key status for /api/v1/keys; nil answers 404.
	Keys KeysFunc

	// Clusters enrols and revokes agents (issue 9); nil answers 404.
	Clusters ClusterAdmin
	// Leases lists the background jobs this replica runs, for /api/v1/status.
	Leases func() []LeaseStatus
	// Security operations (issue 7): the audit trail (also the Auditor that
	// handlers recording their own event, such as cost exports, call), the
	// posture check, and opt-in telemetry.
	Audit     AuditLog
	Posture   PostureChecker
	Telemetry TelemetryControl
}

// Routes declares every route of the public listener.
func (a *API) Routes() []server.Route {
	routes := []server.Route{
		{Method: "GET", Path: "/healthz", Access: server.Public, Summary: "Liveness: the process serves requests.", Handler: a.handle(a.healthz)},
		{Method: "GET", Path: "/readyz", Access: server.Public, Summary: "Readiness: cost data is available.", Handler: http.HandlerFunc(a.readyz)},
		{Method: "GET", Path: "/allocation", Access: server.Authenticated, Permission: rbac.ReadCosts, Summary: "OpenCost-compatible cost allocation.", Handler: a.handle(a.allocation)},
		{Method: "GET", Path: "/allocation/compute", Access: server.Authenticated, Permission: rbac.ReadCosts, Summary: "Alias of /allocation (OpenCost).", Handler: a.handle(a.allocation)},
		{Method: "GET", Path: "/assets", Access: server.Authenticated, Permission: rbac.ReadAssets, Summary: "OpenCost-compatible assets: nodes, disks, load balancers.", Handler: a.handle(a.assets)},
		{Method: "GET", Path: "/api/v1/recommendations", Access: server.Authenticated, Permission: rbac.ReadCosts, Summary: "Right-sizing: recommended CPU and memory requests per workload container, with monthly savings.", Handler: a.handle(a.recommendations)},
		{Method: "GET", Path: "/api/v1/status", Access: server.Authenticated, Permission: rbac.ReadStatus, Summary: "Cluster sources: health, lag, backfill progress, partial and missing hours (admin).", Handler: a.handle(a.status)},
	}
	routes = append(routes, a.identityRoutes()...)
	routes = append(routes, a.clusterRoutes()...)
	routes = append(routes, a.auditRoutes()...)
	routes = append(routes, a.securityRoutes()...)
	routes = append(routes, a.dashboardRoutes()...)
	return withAuditEvents(routes)
}

// handlerFunc returns a value to encode as JSON, or an error.
type handlerFunc func(r *http.Request) (any, error)

func (a *API) handle(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if jw, ok := v.(jsonWriter); ok {
			if err := jw.WriteJSON(w); err != nil {
				a.Log.WarnContext(r.Context(), "writing response", "request_id", server.RequestID(r.Context()), "error", err)
			}
			return
		}
		enc := json.NewEncoder(w)
		if err := enc.Encode(v); err != nil {
			a.Log.WarnContext(r.Context(), "writing response", "request_id", server.RequestID(r.Context()), "error", err)
		}
	})
}

// writeError is the one mapping from errors to statuses. Only messages written for
// the caller (parameter errors) are shown; anything else is logged with the request
// id and answered generically.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if a.writeIdentityError(w, r, err) || a.writeClusterError(w, r, err) {
		return
	}
	if pe, ok := query.IsParamError(err); ok {
		server.WriteError(w, r, http.StatusBadRequest, pe.Error(), pe.Param)
		return
	}
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		server.WriteError(w, r, http.StatusUnauthorized, "authentication required", "")
		return
	case errors.Is(err, errNotConfigured):
		server.WriteError(w, r, http.StatusNotFound, "not available: "+err.Error(), "")
		return
	case errors.Is(err, context.Canceled):
		server.WriteError(w, r, 499, "request cancelled", "")
		return
	case errors.Is(err, context.DeadlineExceeded):
		server.WriteError(w, r, http.StatusServiceUnavailable, "the query took too long; narrow the window or use a larger step", "")
		return
	}
	a.Log.ErrorContext(r.Context(), "request failed", "request_id", server.RequestID(r.Context()), "path", r.URL.Path, "error", err)
	server.WriteError(w, r, http.StatusInternalServerError, "internal error; quote the request id when reporting it", "")
}

func (a *API) healthz(*http.Request) (any, error) {
	return map[string]string{"status": "ok"}, nil
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if a.Ready != nil && !a.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "not ready: no hour of cost data is stored yet"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "ready"})
}

func (a *API) allocation(r *http.Request) (any, error) {
	req, err := query.ParseAllocation(r.URL.Query(), a.Now(), a.Settings)
	if err != nil {
		return nil, err
	}
	scoped, err := a.scopeAllocation(r, &req.Query)
	if err != nil {
		return nil, err
	}
	results, err := a.Query.Allocation(r.Context(), req)
	if err != nil {
		return nil, err
	}
	stream := newAllocationStream(results)
	if scoped {
		stream.warnings = nil // warnings name nodes and other cluster-level things
	}
	return stream, nil
}

func (a *API) assets(r *http.Request) (any, error) {
	v := r.URL.Query()
	for k := range v {
		if k != "window" {
			return nil, &query.ParamError{Param: k, Message: "unknown parameter (window)"}
		}
	}
	w, err := query.ParseWindow(v.Get("window"), a.Now(), a.Settings.Location)
	if err != nil {
		return nil, &query.ParamError{Param: "window", Message: err.Error()}
	}
	res, err := a.Query.Assets(r.Context(), w)
	if err != nil {
		return nil, err
	}
	if err := a.scopeAssets(r, res); err != nil {
		return nil, err
	}
	data := map[string]any{}
	for k, n := range res.Nodes {
		data[clusterKey(k, "Node")] = newNodeJSON(n)
	}
	for k, d := range res.Disks {
		data[clusterKey(k, "Disk")] = newDiskJSON(d)
	}
	for k, l := range res.LoadBalancers {
		data[clusterKey(k, "LoadBalancer")] = newLBJSON(l)
	}
	return map[string]any{"code": http.StatusOK, "data": []map[string]any{data}}, nil
}

// clusterKey turns "cluster/name..." into "cluster/Type/name...".
func clusterKey(k, typ string) string {
	c, rest, _ := strings.Cut(k, "/")
	return c + "/" + typ + "/" + rest
}
