package httpapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/costwarden/costwarden/internal/server"
)

// Param documents one query parameter of a route.
type Param struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Enum        []string `json:"enum,omitempty"`
	Example     string   `json:"example,omitempty"`
	Required    bool     `json:"required,omitempty"`
}

// opDoc documents one route beyond its Summary: query parameters, request body
// and what a success returns.
type opDoc struct {
	params  []Param
	body    string // description of the JSON request body; "" for none
	form    string // description of a form body (browser pages)
	returns string // media type of a success: json (default), html, csv, redirect, css
	schema  string // components/schemas name of a JSON success, if any
}

var (
	pWindow = Param{Name: "window", Required: true, Example: "7d",
		Description: "today, yesterday, week, lastweek, month, lastmonth, Nm, Nh, Nd, Nw (ending now), or start,end in RFC 3339 or Unix seconds."}
	pAggregate = Param{Name: "aggregate", Example: "namespace",
		Description: "Comma-separated keys: cluster, node, namespace, controllerKind, controller, pod, container, service, label:<key>, annotation:<key>, team, department, product, environment, owner. Empty: one row per container."}
	pStep       = Param{Name: "step", Example: "1d", Description: "Split the window into steps of Nh, Nd or Nw (whole hours)."}
	pAccumulate = Param{Name: "accumulate", Enum: []string{"true", "false"}, Description: "Merge the steps into one set."}
	pIdle       = Param{Name: "idle", Enum: []string{"true", "false"}, Description: "Include __idle__ rows (default true)."}
	pIncIdle    = Param{Name: "includeIdle", Enum: []string{"true", "false"}, Description: "Alias of idle (OpenCost)."}
	pShareIdle  = Param{Name: "shareIdle", Enum: []string{"true", "false"}, Description: "Distribute idle cost over the rows in proportion to their cost."}
	pIdleByNode = Param{Name: "idleByNode", Enum: []string{"true", "false"}, Description: "Idle per node rather than per cluster."}
	pFilter     = Param{Name: "filter", Example: `namespace:"payments"`, Description: "OpenCost v2 filter: field:\"value\", !: negation, ~: contains, <~: prefix, ~>: suffix, + and, | or, parentheses."}
	pShareNS    = Param{Name: "shareNamespaces", Example: "kube-system,monitoring", Description: "Namespaces whose cost is shared over the other rows."}
	pShareLbl   = Param{Name: "shareLabels", Example: "app:proxy", Description: "key:value pairs whose rows' cost is shared."}
	pShareCost  = Param{Name: "shareCost", Example: "1000", Description: "Fixed shared overhead per month, in the billing currency."}
	pShareSplit = Param{Name: "shareSplit", Enum: []string{"weighted", "even"}, Description: "How shared cost is split."}
	pLimit      = Param{Name: "limit", Example: "100", Description: "Page size."}
	pCursor     = Param{Name: "cursor", Description: "The next value of the previous page."}

	allocationParams = []Param{pWindow, pAggregate, pStep, pAccumulate, pIdle, pIncIdle, pShareIdle, pIdleByNode, pFilter, pShareNS, pShareLbl, pShareCost, pShareSplit}
)

func allocationParamsExcept(name string) []Param {
	var out []Param
	for _, p := range allocationParams {
		if p.Name != name {
			out = append(out, p)
		}
	}
	return out
}

// openAPIOps documents every route by its pattern. A route without an entry
// here fails TestOpenAPIMatchesRoutes, and so does an entry without a route.
func openAPIOps() map[string]opDoc {
	page := opDoc{returns: "html"}
	redirect := opDoc{returns: "redirect"}
	form := func(d string) opDoc { return opDoc{form: d, returns: "html"} }
	body := func(d string) opDoc { return opDoc{body: d} }
	scim := opDoc{body: "SCIM 2.0 User resource (application/scim+json)."}
	v1alloc := append(allocationParamsExcept("accumulate"), pLimit, pCursor,
		Param{Name: "sort", Example: "-totalCost", Description: "Column to sort by, - for descending: " + strings.Join(allocationSortFields, ", ") + "."},
		Param{Name: "seriesTop", Example: "8", Description: "With step: how many of the largest rows the series shows (the rest is __other__)."})
	return map[string]opDoc{
		"GET /healthz":            {},
		"GET /readyz":             {},
		"GET /allocation":         {params: allocationParams, schema: "AllocationResponse"},
		"GET /allocation/compute": {params: allocationParams, schema: "AllocationResponse"},
		"GET /assets":             {params: []Param{pWindow}},
		"GET /api/v1/recommendations": {params: []Param{pWindow, pAggregate, pFilter,
			{Name: "cpuPercentile", Example: "95", Description: "Percentile of CPU usage to size for."},
			{Name: "cpuHeadroom", Example: "15", Description: "Percent added to the CPU recommendation."},
			{Name: "ramHeadroom", Example: "15", Description: "Percent added to the memory recommendation."},
			{Name: "minHours", Example: "24", Description: "Container-hours of data needed before recommending."}}},

		"GET /api/v1/status": {},
		// Clusters and agents (issue 9).
		"GET /api/v1/clusters":              {},
		"POST /api/v1/clusters":             body(`{"name"}: registers the cluster; the agent's one-time join token is returned once.`),
		"POST /api/v1/clusters/{id}/token":  {},
		"POST /api/v1/clusters/{id}/revoke": {},

		"GET /static/{file}":                        {returns: "asset"},
		"GET /login":                                page,
		"POST /login":                               form("username, password"),
		"POST /logout":                              redirect,
		"GET /login/mfa":                            page,
		"POST /login/mfa":                           form("code (TOTP or recovery code)"),
		"GET /setup":                                page,
		"POST /setup":                               form("setup (one-time setup code)"),
		"GET /setup/enrol":                          page,
		"POST /setup/enrol":                         form("password, code"),
		"POST /login/passkey/begin":                 {},
		"POST /login/passkey/finish":                body("The authenticator's assertion (WebAuthn)."),
		"GET /login/oidc":                           redirect,
		"GET /login/oidc/callback":                  {params: []Param{{Name: "code", Description: "Authorization code."}, {Name: "state", Description: "State issued at the start."}, {Name: "error", Description: "Provider error."}}, returns: "redirect"},
		"GET /account":                              page,
		"POST /account/sessions/{id}/revoke":        form("none"),
		"POST /account/access-request":              form("role, scope, reason"),
		"POST /account/password":                    form("current, new"),
		"GET /admin/users":                          page,
		"POST /admin/users":                         form("name, email, role, scope"),
		"POST /admin/users/{id}":                    form("action: disable, enable, delete or reset-mfa"),
		"POST /admin/access-requests/{id}":          form("decision: approve or reject"),
		"GET /api/v1/me":                            {},
		"GET /api/v1/me/sessions":                   {params: []Param{pLimit, pCursor}},
		"DELETE /api/v1/me/sessions/{id}":           {},
		"GET /api/v1/me/tokens":                     {params: []Param{pLimit, pCursor}},
		"POST /api/v1/me/tokens":                    body(`{"name","role","scope","ttl"}: the token is returned once.`),
		"DELETE /api/v1/me/tokens/{id}":             {},
		"GET /api/v1/me/access-requests":            {params: []Param{pLimit, pCursor}},
		"POST /api/v1/me/access-requests":           body(`{"role","scope","reason"}`),
		"POST /api/v1/me/password":                  body(`{"current","password"}`),
		"POST /api/v1/me/passkeys/begin":            {},
		"POST /api/v1/me/passkeys/finish":           body("The authenticator's attestation (WebAuthn)."),
		"GET /api/v1/users":                         {params: []Param{pLimit, pCursor}},
		"POST /api/v1/users":                        body(`{"name","email","displayName","role","scope"}`),
		"GET /api/v1/users/{id}":                    {},
		"PATCH /api/v1/users/{id}":                  body(`{"role","scope","state"}`),
		"DELETE /api/v1/users/{id}":                 {},
		"POST /api/v1/users/{id}/reset-mfa":         {},
		"GET /api/v1/users/{id}/sessions":           {params: []Param{pLimit, pCursor}},
		"DELETE /api/v1/users/{id}/sessions/{sid}":  {},
		"GET /api/v1/users/{id}/tokens":             {params: []Param{pLimit, pCursor}},
		"DELETE /api/v1/users/{id}/tokens/{tid}":    {},
		"POST /api/v1/service-accounts":             body(`{"name","owner","role","scope"}`),
		"POST /api/v1/service-accounts/{id}/tokens": body(`{"name","role","scope","ttl"}`),
		"GET /api/v1/access-requests":               {params: []Param{{Name: "state", Enum: []string{"pending", "approved", "rejected"}, Description: "Only requests in this state."}, pLimit, pCursor}},
		"POST /api/v1/access-requests/{id}/approve": {},
		"POST /api/v1/access-requests/{id}/reject":  {},
		"POST /api/v1/scim-tokens":                  body(`{"ttl"}`),
		"GET /scim/v2/Users": {params: []Param{{Name: "filter", Example: `userName eq "ada"`, Description: "SCIM filter (userName eq)."},
			{Name: "startIndex", Example: "1", Description: "1-based index of the first result."}, {Name: "count", Example: "100", Description: "Page size."}}},
		"POST /scim/v2/Users":        scim,
		"GET /scim/v2/Users/{id}":    {},
		"PATCH /scim/v2/Users/{id}":  scim,
		"DELETE /scim/v2/Users/{id}": {},

		"GET /{$}":                page,
		"GET /allocations":        page,
		"GET /infrastructure":     page,
		"GET /savings":            page,
		"GET /audit":              page,
		"GET /admin":              page,
		"GET /api/v1/allocations": {params: v1alloc, schema: "AllocationsPage"},
		"GET /api/v1/assets": {params: []Param{pWindow, {Name: "type", Enum: []string{"node", "disk", "loadbalancer"}, Description: "Only this kind of asset."},
			{Name: "sort", Example: "-totalCost", Description: "name, totalCost, type or hours; - for descending."}, pLimit, pCursor}, schema: "AssetsPage"},
		"GET /api/v1/overview":     {schema: "Overview"},
		"GET /api/v1/settings":     {},
		"GET /api/v1/keys":         {},
		"GET /api/v1/openapi.json": {},
		"GET /api/v1/export/csv":   {params: allocationParams, returns: "csv"},
		"GET /api/v1/export/focus": {params: allocationParams, returns: "csv"},

		// Security operations (issue 7).
		"GET /api/v1/audit": {params: []Param{
			{Name: "since", Example: "2026-01-01T00:00:00Z", Description: "First time (RFC 3339)."},
			{Name: "until", Example: "2026-02-01T00:00:00Z", Description: "End time, exclusive (RFC 3339)."},
			{Name: "actor", Example: "alice", Description: "A principal id, local-cli, system, or a name (failed logins naming it included)."},
			{Name: "action", Example: "auth.", Description: "Event code prefix."},
			{Name: "outcome", Enum: []string{"success", "failure", "denied"}, Description: "Only this outcome."},
			{Name: "limit", Example: "100", Description: "Page size, 1 to 500."}, pCursor}},
		"GET /api/v1/audit/verify":      {},
		"GET /api/v1/security/posture":  {},
		"GET /api/v1/telemetry/preview": {},
		"GET /api/v1/telemetry/consent": {},
		"PUT /api/v1/telemetry/consent": body(`{"enabled","payloadVersion"}: payloadVersion must be the one the preview shows when enabling.`),
	}
}

// OpenAPIParams lists the documented query parameters of a route pattern (the
// fuzz test sends each of them bad values).
func OpenAPIParams(pattern string) ([]Param, bool) {
	d, ok := openAPIOps()[pattern]
	return d.params, ok
}

var pathParamRE = regexp.MustCompile(`\{([a-z]+)\}`)

// OpenAPI builds the OpenAPI 3.1 document of routes. Undocumented routes are
// listed with their summary only, and reported in missing.
func OpenAPI(routes []server.Route, version string) (doc map[string]any, missing []string) {
	ops := openAPIOps()
	paths := map[string]map[string]any{}
	errResp := func(d string) map[string]any {
		return map[string]any{"description": d, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	}
	for _, rt := range routes {
		d, ok := ops[rt.Pattern()]
		if !ok {
			missing = append(missing, rt.Pattern())
		}
		path := strings.ReplaceAll(rt.Path, "{$}", "")
		op := map[string]any{"summary": rt.Summary, "operationId": operationID(rt)}
		var params []map[string]any
		for _, m := range pathParamRE.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, p := range d.params {
			s := map[string]any{"type": "string"}
			if len(p.Enum) > 0 {
				s["enum"] = p.Enum
			}
			q := map[string]any{"name": p.Name, "in": "query", "description": p.Description, "schema": s}
			if p.Required {
				q["required"] = true
			}
			if p.Example != "" {
				q["example"] = p.Example
			}
			params = append(params, q)
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if d.body != "" {
			op["requestBody"] = map[string]any{"description": d.body, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}
		}
		if d.form != "" {
			op["requestBody"] = map[string]any{"description": d.form, "content": map[string]any{"application/x-www-form-urlencoded": map[string]any{"schema": map[string]any{"type": "object"}}}}
		}
		ok200 := map[string]any{"description": "Success."}
		switch d.returns {
		case "html":
			ok200["content"] = map[string]any{"text/html": map[string]any{"schema": map[string]any{"type": "string"}}}
		case "csv":
			ok200["content"] = map[string]any{"text/csv": map[string]any{"schema": map[string]any{"type": "string"}}}
		case "asset":
			ok200["content"] = map[string]any{"*/*": map[string]any{"schema": map[string]any{"type": "string"}}}
		case "redirect":
			ok200 = nil
		default:
			schema := map[string]any{"type": "object"}
			if d.schema != "" {
				schema = map[string]any{"$ref": "#/components/schemas/" + d.schema}
			}
			ok200["content"] = map[string]any{"application/json": map[string]any{"schema": schema}}
		}
		responses := map[string]any{}
		if ok200 != nil {
			responses["200"] = ok200
		}
		if d.returns == "redirect" || rt.Page || d.form != "" {
			responses["303"] = map[string]any{"description": "Redirect (to /login when not logged in)."}
		}
		responses["400"] = errResp("Bad input; field names the parameter.")
		if rt.Access == server.Authenticated {
			responses["401"] = errResp("No or a bad credential.")
			responses["403"] = errResp("The caller's role lacks " + string(rt.Permission) + ".")
			op["security"] = []map[string]any{{"bearer": []string{}}, {"session": []string{}}}
			op["x-permission"] = string(rt.Permission)
		} else {
			op["security"] = []map[string]any{}
		}
		responses["404"] = errResp("Not found.")
		op["responses"] = responses
		tag := "api"
		switch {
		case rt.Page || d.returns == "html" || d.returns == "asset" || d.form != "":
			tag = "pages"
		case strings.HasPrefix(rt.Path, "/scim/"):
			tag = "scim"
		case !strings.HasPrefix(rt.Path, "/api/"):
			tag = "opencost"
		}
		op["tags"] = []string{tag}
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		paths[path][strings.ToLower(rt.Method)] = op
	}
	sort.Strings(missing)
	doc = map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "costwarden API", "version": version,
			"description": "Kubernetes cost allocation: OpenCost-compatible endpoints and costwarden's own API. Every route but health, login and static assets needs a bearer token (Authorization: Bearer cwt_...) or a session cookie; results are filtered to the caller's scope."},
		"servers": []map[string]any{{"url": "/"}},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer", "description": "API token (costwarden token create, or POST /api/v1/me/tokens)."},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": server.SessionCookie},
			},
			"schemas": schemas(),
		},
		"tags": []map[string]any{{"name": "opencost", "description": "OpenCost-compatible endpoints."}, {"name": "api", "description": "costwarden's versioned API."},
			{"name": "scim", "description": "SCIM 2.0 provisioning."}, {"name": "pages", "description": "Browser pages and their forms."}},
	}
	return doc, missing
}

func operationID(rt server.Route) string {
	p := strings.NewReplacer("{$}", "home", "{", "", "}", "", ".", "_").Replace(rt.Path)
	parts := strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '-' })
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, s := range parts {
		b.WriteString(strings.ToUpper(s[:1]) + s[1:])
	}
	return b.String()
}

func schemas() map[string]any {
	n := map[string]any{"type": "number"}
	str := map[string]any{"type": "string"}
	win := map[string]any{"type": "object", "properties": map[string]any{"start": map[string]any{"type": "string", "format": "date-time"}, "end": map[string]any{"type": "string", "format": "date-time"}}}
	alloc := map[string]any{"type": "object", "properties": map[string]any{
		"name": str, "properties": map[string]any{"type": "object"}, "window": win,
		"cpuCoreHours": n, "cpuCost": n, "cpuEfficiency": n, "ramByteHours": n, "ramCost": n, "ramEfficiency": n,
		"gpuHours": n, "gpuCost": n, "pvByteHours": n, "pvCost": n, "loadBalancerCost": n, "sharedCost": n, "totalCost": n, "totalEfficiency": n}}
	return map[string]any{
		"Error": map[string]any{"type": "object", "required": []string{"code", "message"}, "properties": map[string]any{
			"code": map[string]any{"type": "integer"}, "message": str, "field": str, "requestId": str}},
		"Allocation": alloc,
		"AllocationResponse": map[string]any{"type": "object", "properties": map[string]any{"code": map[string]any{"type": "integer"},
			"data":     map[string]any{"type": "array", "items": map[string]any{"type": "object", "additionalProperties": map[string]any{"$ref": "#/components/schemas/Allocation"}}},
			"warnings": map[string]any{"type": "array", "items": str}}},
		"AllocationsPage": map[string]any{"type": "object", "properties": map[string]any{"code": map[string]any{"type": "integer"}, "window": win, "currency": str,
			"count": map[string]any{"type": "integer"}, "data": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/Allocation"}},
			"totals": map[string]any{"$ref": "#/components/schemas/Allocation"}, "next": str,
			"series": map[string]any{"type": "object", "properties": map[string]any{"steps": map[string]any{"type": "array", "items": win},
				"rows": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{"name": str, "costs": map[string]any{"type": "array", "items": n}}}}}}}},
		"AssetsPage": map[string]any{"type": "object", "properties": map[string]any{"code": map[string]any{"type": "integer"}, "window": win, "currency": str,
			"count": map[string]any{"type": "integer"}, "next": str,
			"data": map[string]any{"type": "array", "items": map[string]any{"type": "object", "properties": map[string]any{
				"type": map[string]any{"type": "string", "enum": []string{"Node", "Disk", "LoadBalancer"}}, "cluster": str, "namespace": str, "name": str,
				"instanceType": str, "spot": map[string]any{"type": "boolean"}, "cpuCost": n, "ramCost": n, "gpuCost": n, "hours": n, "totalCost": n}}},
			"totals": map[string]any{"type": "object", "properties": map[string]any{"nodes": n, "disks": n, "loadBalancers": n, "total": n}}}},
		"Overview": map[string]any{"type": "object", "properties": map[string]any{"monthToDate": n, "forecast": n, "dailyRate": n,
			"idleShare": map[string]any{"type": []string{"number", "null"}}, "efficiency": map[string]any{"type": "object"},
			"trend": map[string]any{"type": "array", "items": map[string]any{"type": "object"}}, "topMovers": map[string]any{"type": "array", "items": map[string]any{"type": "object"}}}},
	}
}

// openAPIDoc serves the document of the routes this server declares.
func (a *API) openAPIDoc(*http.Request) (any, error) {
	doc, _ := OpenAPI(a.Routes(), "1")
	return json.RawMessage(mustJSON(doc)), nil
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	return b
}
