package app_test

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/httpapi"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
)

// identity is one column of the role × route matrix.
type identity struct {
	name  string
	b     *browser
	roles []rbac.Role // nil: anonymous
}

// TestRoleRouteMatrix sends every declared route, through real HTTPS, as
// anonymous, as each role, as a scoped viewer, as a pending account without a
// role, and with a SCIM token, and checks that exactly the declared permission
// decides (deny by default).
func TestRoleRouteMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 1)
	cfg.Auth.WebAuthn.RPID = "localhost" // declare the passkey routes too
	r := serve(t, cfg)
	ids := []identity{{name: "anonymous", b: newBrowser(t, r)}}
	for _, u := range []struct {
		name, role, scope string
	}{
		{"m-admin", "admin", ""}, {"m-editor", "editor", ""}, {"m-viewer", "viewer", ""}, {"m-auditor", "auditor", ""},
		{"m-scoped", "viewer", "namespaces=payments"}, {"m-pending", "", ""},
	} {
		b := newBrowser(t, r)
		b.enrol(addUser(t, cfg, u.name, u.role, u.scope), testPassword, goTOTP, time.Now())
		ids = append(ids, identity{name: u.name, b: b, roles: []rbac.Role{rbac.Role(u.role)}})
	}
	scim := newBrowser(t, r)
	var st struct{ Token string }
	_ = json.Unmarshal([]byte(ids[1].b.json("POST", "/api/v1/scim-tokens", map[string]string{}).body), &st)
	if !strings.HasPrefix(st.Token, auth.SCIMPrefix) {
		t.Fatalf("no SCIM token: %q", st.Token)
	}
	scim.bearer = st.Token
	ids = append(ids, identity{name: "scim-token", b: scim, roles: []rbac.Role{rbac.Provisioner}})

	routes := (&httpapi.API{PasswordLogin: true, WebAuthn: true}).Routes()
	repl := strings.NewReplacer("{id}", "u_000000000000000000000000", "{sid}", "x_000000000000000000000000", "{tid}", "t_000000000000000000000000",
		"{file}", "costwarden.css", "{$}", "")
	checked := 0
	for _, rt := range routes {
		if rt.Method == "POST" && rt.Path == "/logout" {
			continue // would end the sessions the matrix uses; tested in TestLoginWithOathtool
		}
		path := repl.Replace(rt.Path)
		if rt.Path == "/allocation" || rt.Path == "/allocation/compute" || rt.Path == "/assets" {
			path += "?window=1h"
		}
		for _, id := range ids {
			var a answer
			switch {
			case rt.Method == "GET" || rt.Method == "DELETE":
				a = id.b.do(rt.Method, path, nil, "")
			case strings.HasPrefix(rt.Path, "/api/") || strings.HasPrefix(rt.Path, "/scim/"):
				a = id.b.do(rt.Method, path, strings.NewReader("{}"), "application/json")
			default:
				a = id.b.form(path)
			}
			checked++
			guardDenied := a.code == 403 && strings.Contains(a.body, `"message":"permission denied"`)
			where := fmt.Sprintf("%s %s as %s", rt.Method, path, id.name)
			switch {
			case a.code >= 500:
				t.Errorf("%s: %d %s", where, a.code, a.body)
			case rt.Access == server.Public:
				if a.code == 403 || (a.code == 401 && rt.Method != "POST") {
					t.Errorf("%s: public route refused with %d", where, a.code)
				}
			case id.roles == nil:
				wantRedirect := rt.Page && rt.Method == "GET"
				if (wantRedirect && (a.code != 303 || a.location != "/login")) || (!wantRedirect && a.code != 401) {
					t.Errorf("%s: %d %q, want 401 (or 303 to /login for a page)", where, a.code, a.location)
				}
			case rbac.DecideAll(rt.Permission, id.roles...).Allowed:
				if a.code == 401 || guardDenied {
					t.Errorf("%s: %d %s, but %v grants %s", where, a.code, a.body, id.roles, rt.Permission)
				}
			default:
				if !guardDenied {
					t.Errorf("%s: %d %.200s, want 403 permission denied (%v lacks %s)", where, a.code, a.body, id.roles, rt.Permission)
				}
			}
		}
	}
	if checked < 8*50 {
		t.Errorf("only %d route × identity checks", checked)
	}
	t.Logf("%d routes × %d identities = %d checks", len(routes)-1, len(ids), checked)
}

type allocRows = map[string]map[string]any

func allocationOf(t *testing.T, b *browser, query string) (allocRows, string) {
	t.Helper()
	a := b.get("/allocation?" + query)
	if a.code != 200 {
		t.Fatalf("/allocation?%s = %d %s", query, a.code, a.body)
	}
	var ar struct {
		Data []allocRows `json:"data"`
	}
	if err := json.Unmarshal([]byte(a.body), &ar); err != nil || len(ar.Data) != 1 {
		t.Fatalf("/allocation?%s: %v %.200s", query, err, a.body)
	}
	return ar.Data[0], a.body
}

// TestScopedViewerSeesOnlyItsScope: a viewer scoped to one namespace of the demo
// cluster gets that namespace's rows and costs, exactly as an admin sees them,
// and no name or cost from outside: no other namespace, no idle, no assets, no
// warnings, whatever the aggregation; errors name only the parameter.
func TestScopedViewerSeesOnlyItsScope(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 1)
	r := serve(t, cfg)
	admin := newBrowser(t, r)
	admin.enrol(addUser(t, cfg, "s-admin", "admin", ""), testPassword, goTOTP, time.Now())
	r.waitLog(t, "backfill complete")
	const q = "window=2026-01-01T00:00:00Z,2100-01-01T00:00:00Z&aggregate=namespace&idle=true"
	all, _ := allocationOf(t, admin, q)
	var namespaces []string
	for name, row := range all {
		if !strings.HasPrefix(name, "__") && row["totalCost"].(float64) > 0 {
			namespaces = append(namespaces, name)
		}
	}
	sort.Strings(namespaces)
	if len(namespaces) < 5 {
		t.Fatalf("demo has only %v", namespaces)
	}
	mine := namespaces[len(namespaces)/2]
	viewer := newBrowser(t, r)
	viewer.enrol(addUser(t, cfg, "s-viewer", "viewer", "namespaces="+mine), testPassword, goTOTP, time.Now())

	rows, body := allocationOf(t, viewer, q)
	if len(rows) != 1 || rows[mine] == nil {
		t.Fatalf("scoped viewer got rows %v, want only %s", keysOf(rows), mine)
	}
	got, want := rows[mine]["totalCost"].(float64), all[mine]["totalCost"].(float64)
	if math.Abs(got-want) > 1e-6*math.Max(1, want) {
		t.Errorf("scoped total %.6f, admin sees %.6f for %s", got, want, mine)
	}
	leak := func(what, body string) {
		t.Helper()
		for _, ns := range namespaces {
			if ns != mine && strings.Contains(body, `"`+ns+`"`) {
				t.Errorf("%s names the namespace %s outside the scope", what, ns)
			}
		}
		if strings.Contains(body, "__idle__") || strings.Contains(body, `"warnings"`) {
			t.Errorf("%s shows idle or warnings (cluster-level) to a namespace-scoped viewer", what)
		}
	}
	leak("aggregate=namespace", body)
	for _, agg := range []string{"pod", "controller", "node", "cluster", "label:app", "team", "namespace,container"} {
		rows, body := allocationOf(t, viewer, "window=2026-01-01T00:00:00Z,2100-01-01T00:00:00Z&aggregate="+agg)
		for name, row := range rows {
			if p, _ := row["properties"].(map[string]any); p["namespace"] != nil && p["namespace"] != mine {
				t.Errorf("aggregate=%s row %s has namespace %v", agg, name, p["namespace"])
			}
		}
		leak("aggregate="+agg, body)
	}
	_, body = allocationOf(t, viewer, "window=2026-01-01T00:00:00Z,2100-01-01T00:00:00Z&aggregate=namespace&shareIdle=true")
	leak("shareIdle=true", body)
	// Right-sizing is scoped too, and it had data to scope: the admin sees other
	// namespaces' workloads.
	if a := viewer.get("/api/v1/recommendations?window=1d"); a.code != 200 {
		t.Errorf("recommendations for a scoped viewer: %d %.300s", a.code, a.body)
	} else {
		leak("recommendations", a.body)
	}
	if a := admin.get("/api/v1/recommendations?window=1d"); a.code != 200 || !strings.Contains(a.body, `"`+namespaces[0]+`"`) {
		t.Errorf("admin recommendations lack %s: %d %.300s", namespaces[0], a.code, a.body)
	}
	// A filter naming a namespace outside the scope answers like one that does
	// not exist: an empty result, not an error that confirms it.
	for _, ns := range []string{namespaces[0], "no-such-namespace"} {
		rows, body := allocationOf(t, viewer, "window=1d&aggregate=namespace&filter=namespace:%22"+ns+"%22")
		if len(rows) != 0 {
			t.Errorf("filter on %s outside the scope gave rows %v", ns, keysOf(rows))
		}
		leak("filter outside the scope", body)
	}
	// Assets are cluster-level: none for a namespace scope.
	if a := viewer.get("/assets?window=1d"); a.code != 200 || strings.Contains(a.body, `"type":"Node"`) || strings.Contains(a.body, `"type":"Disk"`) || strings.Contains(a.body, `"type":"LoadBalancer"`) {
		t.Errorf("/assets for a scoped viewer: %d %.300s", a.code, a.body)
	}
	if a := admin.get("/assets?window=1d"); !strings.Contains(a.body, `"type":"Node"`) {
		t.Errorf("admin sees no nodes: %.300s", a.body)
	}
	// Errors name the parameter, nothing of the data.
	a := viewer.get("/allocation?window=1d&aggregate=label:")
	var eb server.ErrorBody
	_ = json.Unmarshal([]byte(a.body), &eb)
	if a.code != 400 || eb.Field != "aggregate" {
		t.Errorf("bad aggregate: %d %s", a.code, a.body)
	}
	leak("an error", a.body)

	// A token of the scoped viewer is no wider than its owner.
	if a := viewer.json("POST", "/api/v1/me/tokens", map[string]any{"name": "wide"}); a.code != 200 {
		t.Errorf("token with the owner's scope: %d %s", a.code, a.body)
	}
	other := namespaces[0]
	if a := viewer.json("POST", "/api/v1/me/tokens", map[string]any{"scope": map[string]any{"namespaces": []string{mine, other}}}); a.code != 403 || strings.Contains(a.body, other) && !strings.Contains(a.body, "scope") {
		t.Errorf("token wider than the owner: %d %s", a.code, a.body)
	}
	// A permission change applies on the next request: widen the scope.
	var me struct{ ID string }
	_ = json.Unmarshal([]byte(viewer.get("/api/v1/me").body), &me)
	if a := admin.json("PATCH", "/api/v1/users/"+me.ID, map[string]any{"scope": map[string]any{"namespaces": []string{mine, other}}}); a.code != 200 {
		t.Fatalf("widen scope: %d %s", a.code, a.body)
	}
	rows, _ = allocationOf(t, viewer, q)
	if ks := keysOf(rows); len(ks) != 2 || !slices.Contains(ks, other) {
		t.Errorf("after widening: %v", ks)
	}
	// And to everything: idle appears (the scope covers the cluster).
	if a := admin.json("PATCH", "/api/v1/users/"+me.ID, map[string]any{"scope": map[string]any{}}); a.code != 200 {
		t.Fatalf("unscope: %d %s", a.code, a.body)
	}
	if rows, _ = allocationOf(t, viewer, q); rows["__idle__"] == nil || len(rows) != len(all) {
		t.Errorf("unrestricted viewer sees %d rows (idle: %v), admin %d", len(rows), rows["__idle__"] != nil, len(all))
	}
}

func keysOf(m allocRows) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
