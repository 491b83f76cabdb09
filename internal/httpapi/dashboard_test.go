package httpapi_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/doctor"
	"github.com/costwarden/costwarden/internal/httpapi"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/query/querytest"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
	"github.com/costwarden/costwarden/internal/telemetry"
	"github.com/costwarden/costwarden/web"
)

// principalAuth authenticates every request as one principal.
type principalAuth struct{ p *auth.Principal }

func (a principalAuth) AuthenticateRequest(*http.Request) (*auth.Principal, error) { return a.p, nil }

// full is an API with everything a server has (accounts, pages), over 30 hours
// of a simulated cluster, called through the real route table and guard.
type full struct {
	api   *httpapi.API
	admin *auth.Principal
	h     func(p *auth.Principal) http.Handler
}

func newFull(t *testing.T) *full {
	t.Helper()
	ctx := context.Background()
	env := querytest.New(t)
	cats, err := pricing.BundledCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	env.Pricer, err = pricing.NewPricer(pricing.Config{Custom: pricing.DefaultCustom(), Catalogs: cats})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.Fill(ctx, querytest.Cluster(t, "prod", 40), day0, day0.Add(30*time.Hour)); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return day0.Add(30 * time.Hour) }
	svc := auth.New(env.Store, env.Keyring, "default", now)
	admin, err := svc.AddUser(ctx, auth.NewUser{Name: "root-admin", Role: rbac.Admin})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := web.New()
	if err != nil {
		t.Fatal(err)
	}
	api := &httpapi.API{
		Query: query.NewService(env.Sets), Settings: query.Settings{Location: time.UTC},
		Recommendations: query.RecommendationSettings{CPUPercentile: 95, CPUHeadroom: 15, RAMHeadroom: 15, MinHours: 12},
		Now:             now, Log: slog.New(slog.DiscardHandler), Auth: svc, Pages: pages, PasswordLogin: true,
		Currency: "USD", Tenant: "default", SettingsView: &httpapi.SettingsView{TimeZone: "UTC", Currency: "USD"},
		Keys: func(context.Context) (httpapi.KeysStatus, error) {
			return httpapi.KeysStatus{KEK: "file:test", Provider: "file", Tenants: []httpapi.TenantKeys{}}, nil
		},
		Audit:     audit.New(env.Store, env.Keyring, "default", audit.Options{Now: now}),
		Telemetry: telemetry.New(env.Store, "default", telemetry.Options{Version: "test", Endpoint: "https://127.0.0.1:9/v1", Now: now}),
		Posture:   postureOf(doctor.Input{Config: config.Default(), Now: now()}),
	}
	f := &full{api: api, admin: admin}
	f.h = func(p *auth.Principal) http.Handler {
		h, err := server.Handler(server.Options{Routes: api.Routes(), Auth: principalAuth{p}, Log: api.Log, Now: time.Now, DeniedPage: api.DeniedPage})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	return f
}

// postureOf answers the doctor's report of a fixed input.
type postureOf doctor.Input

func (p postureOf) Posture(context.Context) (doctor.Report, error) {
	return doctor.Run(doctor.Input(p)), nil
}

func (f *full) get(t *testing.T, p *auth.Principal, target string) (int, []byte, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	f.h(p).ServeHTTP(rec, httptest.NewRequest("GET", target, nil))
	return rec.Code, rec.Body.Bytes(), rec.Header()
}

func viewer(ns ...string) *auth.Principal {
	return &auth.Principal{Tenant: "default", ID: "u_viewer", Kind: auth.KindUser, Name: "v", Role: rbac.Viewer, State: auth.StateActive,
		Scope: rbac.Scope{Namespaces: ns}}
}

type allocPage struct {
	Count  int
	Next   string
	Data   []map[string]any
	Totals map[string]any
	Series *struct {
		Steps []map[string]string
		Rows  []struct {
			Name  string
			Costs []float64
		}
	}
	Scoped bool
}

// TestAllocationsV1PagesSortsAndTotals: pages cover every row exactly once, in
// the asked order; totals equal /allocation's rows; the series adds up.
func TestAllocationsV1PagesSortsAndTotals(t *testing.T) {
	f := newFull(t)
	q := window + "&aggregate=pod&step=6h"
	code, body, _ := f.get(t, f.admin, "/allocation?"+window+"&aggregate=pod&accumulate=true")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var ref struct{ Data []map[string]map[string]any }
	_ = json.Unmarshal(body, &ref)
	want := 0.0
	for _, r := range ref.Data[0] {
		want += r["totalCost"].(float64)
	}
	seen := map[string]bool{}
	cursor, pages, last := "", 0, math.Inf(1)
	var total float64
	for {
		target := "/api/v1/allocations?" + q + "&limit=7&sort=-totalCost"
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		code, body, _ := f.get(t, f.admin, target)
		if code != 200 {
			t.Fatalf("%s: %d %s", target, code, body)
		}
		var p allocPage
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		pages++
		total = p.Totals["totalCost"].(float64)
		for _, r := range p.Data {
			n, c := r["name"].(string), r["totalCost"].(float64)
			if seen[n] {
				t.Errorf("row %s on two pages", n)
			}
			seen[n] = true
			if c > last+1e-9 {
				t.Errorf("%s (%.6f) after a cheaper row (%.6f): not sorted descending", n, c, last)
			}
			last = c
		}
		if p.Series == nil || len(p.Series.Steps) != 5 {
			t.Fatalf("series: %+v", p.Series)
		}
		sum := 0.0
		for _, r := range p.Series.Rows {
			for _, c := range r.Costs {
				sum += c
			}
		}
		if math.Abs(sum-want) > 1e-4*want {
			t.Errorf("series sums to %.6f, rows to %.6f", sum, want)
		}
		if p.Next == "" {
			if len(seen) != p.Count || len(seen) != len(ref.Data[0]) {
				t.Errorf("%d rows seen over %d pages, count %d, /allocation has %d", len(seen), pages, p.Count, len(ref.Data[0]))
			}
			break
		}
		cursor = p.Next
	}
	if math.Abs(total-want) > 1e-4*want || pages < 3 {
		t.Errorf("totals %.6f over %d pages, /allocation sums to %.6f", total, pages, want)
	}
	// Bad paging and sorting are 400s naming the parameter.
	for _, c := range []struct{ q, field string }{
		{"&limit=0", "limit"}, {"&limit=abc", "limit"}, {"&cursor=zzz", "cursor"}, {"&sort=planet", "sort"}, {"&seriesTop=99", "seriesTop"}, {"&accumulate=true", "accumulate"},
	} {
		code, body, _ := f.get(t, f.admin, "/api/v1/allocations?"+window+c.q)
		var eb server.ErrorBody
		_ = json.Unmarshal(body, &eb)
		if code != 400 || eb.Field != c.field {
			t.Errorf("%s: %d %s, want 400 naming %s", c.q, code, body, c.field)
		}
	}
}

// TestScopedViewerEverywhere: the dashboard's API and both exports show a
// namespace-scoped viewer that namespace only, and no cluster-level figure.
func TestScopedViewerEverywhere(t *testing.T) {
	f := newFull(t)
	_, body, _ := f.get(t, f.admin, "/api/v1/allocations?"+window+"&aggregate=namespace&limit=100")
	var all allocPage
	_ = json.Unmarshal(body, &all)
	var namespaces []string
	for _, r := range all.Data {
		if n := r["name"].(string); !strings.HasPrefix(n, "__") {
			namespaces = append(namespaces, n)
		}
	}
	if len(namespaces) < 4 {
		t.Fatalf("namespaces %v", namespaces)
	}
	mine := namespaces[1]
	v := viewer(mine)
	leak := func(what string, b []byte) {
		t.Helper()
		for _, ns := range namespaces {
			if ns != mine && strings.Contains(string(b), ns) {
				t.Errorf("%s shows %s outside the scope", what, ns)
			}
		}
		if strings.Contains(string(b), "__idle__") {
			t.Errorf("%s shows idle to a namespace-scoped viewer", what)
		}
	}
	for _, target := range []string{
		"/api/v1/allocations?" + window + "&aggregate=namespace&step=6h",
		"/api/v1/allocations?" + window + "&aggregate=pod",
		"/api/v1/overview",
		"/api/v1/export/csv?" + window + "&aggregate=pod",
		"/api/v1/export/focus?" + window + "&aggregate=controller",
		"/api/v1/assets?" + window,
	} {
		code, body, _ := f.get(t, v, target)
		if code != 200 {
			t.Errorf("%s: %d %s", target, code, body)
			continue
		}
		leak(target, body)
		if !strings.Contains(string(body), mine) && !strings.HasPrefix(target, "/api/v1/assets") {
			t.Errorf("%s does not show the viewer's own namespace %s", target, mine)
		}
	}
	_, body, _ = f.get(t, v, "/api/v1/overview")
	var o struct {
		Scoped    bool
		IdleShare *float64
		Top       []struct{ Name string }
	}
	_ = json.Unmarshal(body, &o)
	if !o.Scoped || o.IdleShare != nil || len(o.Top) != 1 || o.Top[0].Name != mine {
		t.Errorf("scoped overview: %s", body)
	}
	// Settings and keys are for roles that hold them.
	for _, p := range []string{"/api/v1/settings", "/api/v1/keys", "/admin"} {
		if code, _, _ := f.get(t, v, p); code != 403 {
			t.Errorf("viewer GET %s = %d, want 403", p, code)
		}
		if code, body, _ := f.get(t, f.admin, p); code != 200 {
			t.Errorf("admin GET %s = %d %s", p, code, body)
		}
	}
}

func TestOverview(t *testing.T) {
	f := newFull(t)
	code, body, _ := f.get(t, f.admin, "/api/v1/overview")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var o struct {
		MonthToDate, Forecast, DailyRate float64
		IdleShare                        *float64
		Efficiency                       struct{ CPU, RAM, Total float64 }
		Trend                            []struct{ Total, Idle float64 }
	}
	if err := json.Unmarshal(body, &o); err != nil {
		t.Fatal(err)
	}
	trend, idle := 0.0, 0.0
	for _, d := range o.Trend {
		trend += d.Total
		idle += d.Idle
	}
	// All 30 hours lie in March 2026: month to date is everything.
	_, body, _ = f.get(t, f.admin, "/allocation?"+window+"&aggregate=cluster&accumulate=true")
	var ref struct{ Data []map[string]map[string]any }
	_ = json.Unmarshal(body, &ref)
	want := 0.0
	for _, r := range ref.Data[0] {
		want += r["totalCost"].(float64)
	}
	if len(o.Trend) != 30 || math.Abs(trend-want) > 1e-4*want || math.Abs(o.MonthToDate-want) > 1e-4*want {
		t.Errorf("trend %d days summing to %.4f, month to date %.4f, /allocation %.4f", len(o.Trend), trend, o.MonthToDate, want)
	}
	if o.IdleShare == nil || math.Abs(*o.IdleShare-idle/want) > 1e-3 || o.Forecast < o.MonthToDate || o.Efficiency.Total <= 0 || o.Efficiency.Total > 5 {
		t.Errorf("overview %s", body)
	}
	if code, body, _ := f.get(t, f.admin, "/api/v1/overview?window=7d"); code != 400 || !strings.Contains(string(body), `"field":"window"`) {
		t.Errorf("overview with a parameter: %d %s", code, body)
	}
}

func TestAssetsV1(t *testing.T) {
	f := newFull(t)
	code, body, _ := f.get(t, f.admin, "/api/v1/assets?"+window+"&type=node&sort=-totalCost")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var a struct {
		Count int
		Data  []struct {
			Type, InstanceType string
			Spot               *bool
			CPUCost, RAMCost   float64
			GPUCost, TotalCost float64
		}
		Totals struct{ Nodes, Disks, LoadBalancers, Total float64 }
	}
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err)
	}
	spot, sum := 0, 0.0
	for _, n := range a.Data {
		if n.Type != "Node" || n.InstanceType == "" || n.Spot == nil {
			t.Errorf("node row %+v", n)
			continue
		}
		if *n.Spot {
			spot++
		}
		sum += n.TotalCost
		if math.Abs(n.CPUCost+n.RAMCost+n.GPUCost-n.TotalCost) > 1e-5 {
			t.Errorf("split %+v", n)
		}
	}
	if spot == 0 || len(a.Data) < 3 || math.Abs(sum-a.Totals.Nodes) > 1e-4 || a.Totals.Disks <= 0 || a.Totals.LoadBalancers <= 0 {
		t.Errorf("%d nodes (%d spot) summing to %.4f; totals %+v", len(a.Data), spot, sum, a.Totals)
	}
	if code, body, _ := f.get(t, f.admin, "/api/v1/assets?"+window+"&type=vm"); code != 400 || !strings.Contains(string(body), `"field":"type"`) {
		t.Errorf("bad type: %d %s", code, body)
	}
}

// TestCSVExport: the CSV export of a query has the query's rows and totals,
// arrives as an attachment, and is refused like /allocation on bad input.
func TestCSVExport(t *testing.T) {
	f := newFull(t)
	code, body, hdr := f.get(t, f.admin, "/api/v1/export/csv?"+window+"&aggregate=namespace&step=6h")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || !strings.Contains(hdr.Get("Content-Disposition"), "attachment") {
		t.Fatalf("%d %v %s", code, hdr, body[:min(300, len(body))])
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	sum, steps := 0.0, map[string]bool{}
	for _, r := range recs[1:] {
		v, err := parseFloat(r[col["totalCost"]])
		if err != nil {
			t.Fatalf("totalCost %q: %v", r[col["totalCost"]], err)
		}
		sum += v
		steps[r[col["windowStart"]]] = true
	}
	_, body, _ = f.get(t, f.admin, "/api/v1/allocations?"+window+"&aggregate=namespace")
	var p allocPage
	_ = json.Unmarshal(body, &p)
	want := p.Totals["totalCost"].(float64)
	if len(steps) != 5 || math.Abs(sum-want) > 1e-3 {
		t.Errorf("CSV: %d steps, total %.6f; API total %.6f", len(steps), sum, want)
	}
	code, body, _ = f.get(t, f.admin, "/api/v1/export/csv?"+window+"&aggregate=planet")
	if code != 400 || !strings.Contains(string(body), `"field":"aggregate"`) {
		t.Errorf("bad export: %d %s", code, body)
	}
}

// TestOpenAPIDocumentServed: the served document is OpenAPI 3.1 and lists the
// routes of this server.
func TestOpenAPIDocumentServed(t *testing.T) {
	f := newFull(t)
	code, body, _ := f.get(t, f.admin, "/api/v1/openapi.json")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]any
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Paths["/api/v1/allocations"]["get"] == nil || doc.Paths["/allocation"]["get"] == nil || doc.Paths["/scim/v2/Users"]["post"] == nil {
		t.Errorf("document: %s", body[:min(400, len(body))])
	}
}

// TestDeniedPageNamesThePermission: a viewer's browser opening the audit or
// admin page gets an HTML 403 that names the missing permission, shows the
// navigation the viewer may use, and carries no audit or admin content.
func TestDeniedPageNamesThePermission(t *testing.T) {
	f := newFull(t)
	h := f.h(viewer())
	for path, perm := range map[string]string{"/audit": "audit:read", "/admin": "users:manage"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.String()
		if rec.Code != 403 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(body, "<h1>Not allowed</h1>") ||
			!strings.Contains(body, perm) || !strings.Contains(body, "the viewer role") || !strings.Contains(body, `href="/account"`) {
			t.Errorf("GET %s as a viewer: %d %s\n%.600s", path, rec.Code, rec.Header().Get("Content-Type"), body)
		}
		if !strings.Contains(body, `href="/allocations"`) || strings.Contains(body, `href="/audit"`) || strings.Contains(body, "audit.js") || strings.Contains(body, "admin.js") {
			t.Errorf("GET %s as a viewer: the refusal page's navigation or scripts are wrong:\n%s", path, body)
		}
	}
}
