package httpapi

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
)

// dashboardRoutes declares the dashboard pages and the API they read (issue 8):
// allocations, assets, overview, settings, keys, exports and the OpenAPI
// document. Pages are shells rendered on the server; /static/*.js fills them
// from the JSON API with the caller's own credentials, so every number a page
// shows went through the same scope as the API.
func (a *API) dashboardRoutes() []server.Route {
	page := func(path string, perm rbac.Permission, name, title, summary string) server.Route {
		return server.Route{Method: "GET", Path: path, Access: server.Authenticated, Permission: perm, Page: true, Summary: summary,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.dashboardPage(w, r, name, title) })}
	}
	api := func(path string, perm rbac.Permission, summary string, fn handlerFunc) server.Route {
		return server.Route{Method: "GET", Path: path, Access: server.Authenticated, Permission: perm, Summary: summary, Handler: a.handle(fn)}
	}
	return []server.Route{
		{Method: "GET", Path: "/{$}", Access: server.Authenticated, Permission: rbac.ManageSelf, Page: true,
			Summary: "Overview: month to date, forecast, trend, idle share, efficiency, top movers.", Handler: http.HandlerFunc(a.homePage)},
		page("/allocations", rbac.ReadCosts, "allocations", "Allocations", "Allocations explorer: window, aggregation, filters, idle and shared costs, chart, table, drill-down, downloads."),
		page("/infrastructure", rbac.ReadAssets, "assets", "Assets", "Assets: nodes with instance type, spot and cost split; disks; load balancers."),
		page("/savings", rbac.ReadCosts, "savings", "Savings", "Savings: right-sizing recommendations with monthly savings."),
		page("/audit", rbac.ReadAudit, "audit", "Audit", "Audit log with filters and chain status (auditors and admins)."),
		page("/admin", rbac.ManageUsers, "admin", "Administration", "Administration: users, service accounts, tokens, access requests, sessions, settings, keys, telemetry, posture."),

		api("/api/v1/allocations", rbac.ReadCosts, "Allocations summed over the window, sorted and paged, with totals and (with step) a series of the largest rows.", a.allocationsV1),
		api("/api/v1/assets", rbac.ReadAssets, "Nodes, disks and load balancers as flat rows, sorted and paged.", a.assetsV1),
		api("/api/v1/overview", rbac.ReadCosts, "Month to date, forecast, 30-day trend, idle share, efficiency and top movers, within the caller's scope.", a.overview),
		api("/api/v1/settings", rbac.ManageSettings, "The effective non-secret configuration.", a.settings),
		api("/api/v1/keys", rbac.ReadStatus, "Key-encryption key and data-key versions (no key material).", a.keysStatus),
		api("/api/v1/openapi.json", rbac.ManageSelf, "This API's OpenAPI 3.1 document.", a.openAPIDoc),
		{Method: "GET", Path: "/api/v1/export/csv", Access: server.Authenticated, Permission: rbac.ReadCosts,
			Summary: "Any allocation query as CSV (streamed; one row per allocation and step).", Handler: http.HandlerFunc(a.exportCSV)},
		{Method: "GET", Path: "/api/v1/export/focus", Access: server.Authenticated, Permission: rbac.ReadCosts,
			Summary: "Any allocation query as a FOCUS 1.2 cost-and-usage CSV (streamed; daily charge periods by default).", Handler: http.HandlerFunc(a.exportFOCUS)},
	}
}

// homePage is the overview for those who may read costs; others land where
// their role leads (auditors on the audit log, everyone on their account).
func (a *API) homePage(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	switch {
	case rbac.DecideAll(rbac.ReadCosts, p.Roles()...).Allowed:
		a.dashboardPage(w, r, "overview", "Overview")
	case rbac.DecideAll(rbac.ReadAudit, p.Roles()...).Allowed:
		http.Redirect(w, r, "/audit", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	}
}

func (a *API) dashboardPage(w http.ResponseWriter, r *http.Request, name, title string) {
	d := a.data(r, title)
	d.Page = name
	if name == "audit" {
		for _, c := range audit.Codes() {
			d.AuditActions = append(d.AuditActions, string(c))
		}
	}
	a.render(w, r, http.StatusOK, name+".html", d)
}

// DeniedPage is the refusal a browser sees when it opens a page its role does
// not allow (server.Options.DeniedPage): a 403 page naming the missing
// permission and where to ask, with the navigation of the pages it may open.
// It shows nothing the permission guards.
func (a *API) DeniedPage(w http.ResponseWriter, r *http.Request, missing rbac.Permission) {
	d := a.data(r, "Not allowed")
	role := "no role yet"
	if p := principal(r); p != nil && p.Role != "" {
		role = "the " + string(p.Role) + " role"
	}
	d.Message = fmt.Sprintf("This page needs the %s permission, which %s does not include. Nothing from it was sent to your browser.", missing, role)
	d.Link, d.LinkText = "/account", "Ask an administrator for access on your account page"
	a.render(w, r, http.StatusForbidden, "message.html", d)
}

// nav says which dashboard pages a principal may open.
type nav struct {
	Costs, Assets, Audit, Admin, Settings bool
}

// BusinessKeys are the business aggregation keys, for the aggregate picker.
func (a *API) businessKeys() []string {
	keys := []string{"team", "department", "product", "environment", "owner"}
	for k := range a.Settings.BusinessLabels {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}
