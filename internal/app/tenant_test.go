package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/agent"
	"github.com/costwarden/costwarden/internal/agentapi"
	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/httpapi"
	"github.com/costwarden/costwarden/internal/server"
)

// hostClient sends requests to one listener with a chosen Host header.
type hostClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func (h *hostClient) do(host, method, path, bearer, cookie string, body io.Reader, ctype string) answer {
	h.t.Helper()
	req, err := http.NewRequest(method, h.base+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Host = host
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := h.c.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s (Host %s): %v", method, path, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, body: string(b), location: resp.Header.Get("Location"), header: resp.Header}
}

func tenantEnv(tenant string, out io.Writer) app.Env {
	e := env(io.Discard, out)
	e.Tenant = tenant
	return e
}

// hostedTenant sets up a tenant: registry entry, an admin with a token, and a
// cluster whose agent (the demo cluster) pushes a day.
type hostedTenant struct {
	id, host, cluster string
	token             string
	agentCfg          config.Config
	joinToken         string
}

func setUpTenant(t *testing.T, cfg config.Config, id, cluster string) *hostedTenant {
	t.Helper()
	ctx := context.Background()
	ht := &hostedTenant{id: id, host: id + ".test", cluster: cluster}
	if err := app.TenantAdd(ctx, cfg, tenantEnv("", io.Discard), id, []string{ht.host}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := app.AddUserWith(ctx, cfg, tenantEnv(id, &out), app.UserOptions{Name: id + "-admin", Role: "admin", Email: id + "-admin@" + id + ".example"}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := app.CreateToken(ctx, cfg, tenantEnv(id, &out), id+"-admin", time.Hour); err != nil {
		t.Fatal(err)
	}
	ht.token = strings.TrimSpace(out.String())
	out.Reset()
	if err := app.ClusterAdd(ctx, cfg, tenantEnv(id, &out), cluster); err != nil {
		t.Fatal(err)
	}
	ht.joinToken = strings.TrimSpace(out.String())
	ht.agentCfg = testConfig(t, t.TempDir(), 1)
	return ht
}

// TestCrossTenantMatrix: hosted mode with two tenants told apart by host name,
// each with its own keys, users, token and cluster (pushed by its own agent).
// Every route, as the first tenant's administrator, anonymous, and with the
// second tenant's object ids, reveals nothing of the second tenant: no name,
// id, cost, error message or metric. A credential of one tenant is refused on
// the other's host; an unknown host learns nothing; shredding one tenant cuts
// off its host and agent and leaves the other intact.
func TestCrossTenantMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	ctx := t.Context()
	cfg := testConfig(t, t.TempDir(), 0)
	cfg.Demo.Enabled = false
	cfg.Hosted.Enabled = true
	cfg.Server.AgentListen = "127.0.0.1:0"
	cfg.HA.LeaseRetry = 200 * time.Millisecond
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	acme := setUpTenant(t, cfg, "acme", "acme-prod-eu1")
	globex := setUpTenant(t, cfg, "globex", "globex-secret-cluster")
	srv := startReplica(t, "hosted", cfg)
	h := &hostClient{t: t, base: srv.url("public"), c: &http.Client{Timeout: 60 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	// Each tenant's agent pushes its day.
	agents := map[string]context.CancelFunc{}
	for _, ht := range []*hostedTenant{acme, globex} {
		actx, cancel := context.WithCancel(ctx)
		agents[ht.id] = cancel
		pods := 30
		if ht == globex {
			pods = 50
		}
		ht.agentCfg.Demo.Pods = pods
		go app.RunAgent(actx, ht.agentCfg, env(io.Discard, io.Discard), app.AgentOptions{Servers: []string{srv.url("agents")}, JoinToken: ht.joinToken})
	}
	defer func() {
		for _, c := range agents {
			c()
		}
	}()
	for _, ht := range []*hostedTenant{acme, globex} {
		waitUntil(t, ht.id+"'s costs", 90*time.Second, func() bool {
			a := h.do(ht.host, "GET", "/allocation?window=2d&aggregate=cluster", ht.token, "", nil, "")
			return a.code == 200 && strings.Contains(a.body, `"`+ht.cluster+`"`)
		})
	}

	// What belongs to globex: its names, and ids read on its own host.
	markers := []string{"globex"}
	idRE := regexp.MustCompile(`"(?:id|clusterId|agent)":"([a-z]_[0-9a-f]{20,})"`)
	globexIDs := map[string]string{}
	for _, p := range []string{"/api/v1/me", "/api/v1/users", "/api/v1/clusters", "/api/v1/me/tokens"} {
		a := h.do(globex.host, "GET", p, globex.token, "", nil, "")
		if a.code != 200 {
			t.Fatalf("globex %s = %d: %s", p, a.code, a.body)
		}
		for _, m := range idRE.FindAllStringSubmatch(a.body, -1) {
			markers = append(markers, m[1])
			globexIDs[p] = m[1]
		}
	}
	if len(markers) < 4 {
		t.Fatalf("found too few globex ids to check for: %v", markers)
	}
	leaks := func(body string) string {
		for _, m := range markers {
			if strings.Contains(body, m) {
				return m
			}
		}
		return ""
	}

	routes := (&httpapi.API{PasswordLogin: true, WebAuthn: true}).Routes()
	idFor := func(path string) string {
		switch {
		case strings.Contains(path, "/clusters/"):
			return globexIDs["/api/v1/clusters"]
		case strings.Contains(path, "/tokens/"):
			return globexIDs["/api/v1/me/tokens"]
		}
		return globexIDs["/api/v1/me"]
	}
	checked := 0
	// acme's own trail records, as targets, the paths and ids acme's admin
	// requested, globex's ids included: that is acme's input, not globex's
	// data. (A globex record would still show, by its globex actor.)
	var requested []string
	for _, rt := range routes {
		if rt.Method == "POST" && rt.Path == "/logout" {
			continue
		}
		id := idFor(rt.Path)
		path := strings.NewReplacer("{id}", id, "{sid}", id, "{tid}", id, "{file}", "costwarden.css", "{$}", "").Replace(rt.Path)
		if strings.HasPrefix(rt.Path, "/allocation") || rt.Path == "/assets" || strings.HasPrefix(rt.Path, "/api/v1/export") ||
			rt.Path == "/api/v1/allocations" || rt.Path == "/api/v1/assets" || rt.Path == "/api/v1/recommendations" {
			path += "?window=2d"
		}
		for _, who := range []struct{ name, token string }{{"acme admin", acme.token}, {"anonymous", ""}} {
			var a answer
			switch {
			case rt.Method == "GET" || rt.Method == "DELETE":
				a = h.do(acme.host, rt.Method, path, who.token, "", nil, "")
			case strings.HasPrefix(rt.Path, "/api/") || strings.HasPrefix(rt.Path, "/scim/"):
				a = h.do(acme.host, rt.Method, path, who.token, "", strings.NewReader("{}"), "application/json")
			default:
				a = h.do(acme.host, rt.Method, path, who.token, "", strings.NewReader(""), "application/x-www-form-urlencoded")
			}
			checked++
			body := a.body
			if rt.Path == "/api/v1/audit" {
				for _, p := range requested {
					body = strings.ReplaceAll(body, `"target":"`+p+`"`, `"target":""`)
				}
			}
			requested = append(requested, strings.SplitN(path, "?", 2)[0], id)
			if m := leaks(body + a.location); m != "" {
				i := strings.Index(body, m)
				t.Errorf("%s %s as %s on acme's host (%d) reveals globex's %q: …%s…", rt.Method, path, who.name, a.code, m, body[max(0, i-300):min(len(body), i+100)])
			}
			if strings.Contains(rt.Path, "{id}") && who.token != "" && a.code < 300 && rt.Method != "GET" {
				t.Errorf("%s %s with globex's id as acme admin = %d, want a refusal", rt.Method, path, a.code)
			}
		}
		// A credential of acme on globex's host is refused on every
		// authenticated route.
		if rt.Access != server.Public {
			a := h.do(globex.host, "GET", path, acme.token, "", nil, "")
			if rt.Method == "GET" && a.code != 401 && !(rt.Page && a.code == 303) {
				t.Errorf("GET %s on globex's host with acme's token = %d, want 401", path, a.code)
			}
			if m := leaks(a.body); m != "" && rt.Method == "GET" && a.code != 200 {
				t.Errorf("refusal on globex's host reveals %q: %s", m, a.body)
			}
		}
	}
	if checked < 2*len(routes)-2 {
		t.Fatalf("checked %d requests", checked)
	}
	// Acme's own data is there (the matrix is not vacuous).
	if a := h.do(acme.host, "GET", "/api/v1/export/csv?window=2d", acme.token, "", nil, ""); a.code != 200 || !strings.Contains(a.body, "acme-prod-eu1") {
		t.Errorf("acme's CSV export = %d without its cluster", a.code)
	}
	// The metrics name no tenant and no cluster.
	resp, err := http.Get("http://" + srv.addrs["internal"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range append(markers, "acme", "edge") {
		if strings.Contains(string(mb), m) {
			t.Errorf("/metrics names %q", m)
		}
	}
	if !strings.Contains(string(mb), "costwarden_agent_windows_stored_total") {
		t.Error("/metrics lacks the agent counters")
	}
	// An unknown host: the same 404 as an undeclared path.
	if a := h.do("initech.test", "GET", "/api/v1/me", acme.token, "", nil, ""); a.code != 404 || leaks(a.body) != "" || strings.Contains(a.body, "acme") {
		t.Errorf("unknown host = %d: %s", a.code, a.body)
	}
	// Health checks by address answer without naming a tenant.
	for _, p := range []string{"/healthz", "/readyz"} {
		if a := h.do("127.0.0.1", "GET", p, "", "", nil, ""); a.code != 200 || leaks(a.body) != "" || strings.Contains(a.body, "acme") {
			t.Errorf("%s by address = %d: %s", p, a.code, a.body)
		}
	}
	// A session of acme is nothing on globex's host.
	var out bytes.Buffer
	if err := app.AddUserWith(ctx, cfg, tenantEnv("acme", &out), app.UserOptions{Name: "acme-viewer", Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	sess := acmeSession(t, h, acme.host, strings.TrimSpace(out.String()))
	if a := h.do(acme.host, "GET", "/api/v1/me", "", sess, nil, ""); a.code != 200 {
		t.Fatalf("acme session on acme = %d", a.code)
	}
	if a := h.do(globex.host, "GET", "/api/v1/me", "", sess, nil, ""); a.code != 401 {
		t.Errorf("acme's session on globex's host = %d, want 401", a.code)
	}
	// The same user name in both tenants is two accounts.
	if a := h.do(globex.host, "POST", "/login", "", "", strings.NewReader("username=acme-viewer&password="+testPassword), "application/x-www-form-urlencoded"); a.location == "/login/mfa" {
		t.Error("acme's user and password started a login on globex's host")
	}

	// Offboarding: shredding globex cuts off its host and its agent, leaves acme.
	if err := app.TenantShred(ctx, cfg, env(io.Discard, io.Discard), "globex", true); err != nil {
		t.Fatal(err)
	}
	if a := h.do(globex.host, "GET", "/api/v1/me", globex.token, "", nil, ""); a.code != 404 {
		t.Errorf("after shred, globex's host = %d, want 404", a.code)
	}
	// Globex's agent, with its still-valid certificate, is refused at its next
	// request.
	cert, err := tls.LoadX509KeyPair(filepath.Join(globex.agentCfg.DataDir, agent.CertFile), filepath.Join(globex.agentCfg.DataDir, agent.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	ac := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, Certificates: []tls.Certificate{cert}}}}
	resp, err = ac.Get(srv.url("agents") + agentapi.PathPing)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(srv.logs.String(), `"reason":"no such enrolment`) {
		t.Errorf("globex's agent after the shred: %d, want 403 recorded as no such enrolment", resp.StatusCode)
	}
	if a := h.do(acme.host, "GET", "/allocation?window=2d&aggregate=cluster", acme.token, "", nil, ""); a.code != 200 || !strings.Contains(a.body, "acme-prod-eu1") {
		t.Errorf("acme after globex's shred = %d", a.code)
	}
}

// acmeSession enrols a user through the setup pages on host and returns the
// session cookie ("name=value").
func acmeSession(t *testing.T, h *hostClient, host, setup string) string {
	t.Helper()
	a := h.do(host, "POST", "/setup", "", "", strings.NewReader("setup="+setup), "application/x-www-form-urlencoded")
	if a.code != 303 {
		t.Fatalf("setup = %d: %s", a.code, a.body)
	}
	cookie := strings.Split(a.header.Get("Set-Cookie"), ";")[0]
	page := h.do(host, "GET", "/setup/enrol", "", cookie, nil, "")
	m := secretRE.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no secret: %s", page.body)
	}
	a = h.do(host, "POST", "/setup/enrol", "", cookie, strings.NewReader("password="+testPassword+"&code="+goTOTP(m[1], time.Now())), "application/x-www-form-urlencoded")
	if a.code != 200 {
		t.Fatalf("enrol = %d", a.code)
	}
	for _, c := range a.header.Values("Set-Cookie") {
		if kv := strings.Split(c, ";")[0]; strings.HasPrefix(kv, server.SessionCookie+"=") && len(kv) > len(server.SessionCookie)+1 {
			cookie = kv
		}
	}
	return cookie
}
