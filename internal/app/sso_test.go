package app_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/costwarden/costwarden/internal/testlog"
)

// freeAddr returns a loopback address that was free a moment ago (the
// provider must know the callback URL before the server starts).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSSOLogin logs in through an OpenID Connect provider (mockoidc on
// 127.0.0.1) with password login switched off: the group claim maps to a
// scoped viewer; a pre-created account is linked by verified e-mail.
func TestSSOLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "oidc-secret")
	if err := os.WriteFile(secretFile, []byte(m.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testlog.Secret(t, m.ClientSecret)
	cfg := testConfig(t, dir, 0)
	addr := freeAddr(t)
	cfg.Server.Listen = addr
	cfg.Auth.PasswordLogin = false
	o := &cfg.Auth.OIDC
	o.Issuer, o.ClientID, o.ClientSecretFile = m.Issuer(), m.ClientID, secretFile
	o.RedirectURL = "https://" + addr + "/login/oidc/callback"
	o.Scopes = []string{"profile", "email", "groups"}
	o.GroupRoles = []string{"finops=admin", "payments-team=viewer;namespaces=payments"}
	o.Algorithms = []string{"RS256"}
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	// An admin account exists ahead of the first SSO login (no password: SSO only).
	addUserNoSetup(t, cfg, "root")
	r := serve(t, cfg)

	sso := func(u *mockoidc.MockUser) *browser {
		t.Helper()
		b := newBrowser(t, r)
		m.QueueUser(u)
		a := b.get("/login/oidc")
		if a.code != 303 || !strings.HasPrefix(a.location, m.AuthorizationEndpoint()) {
			t.Fatalf("SSO start: %d %q", a.code, a.location)
		}
		resp, err := b.c.Get(a.location) // the provider, which redirects back at once
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cb := resp.Header.Get("Location")
		if !strings.HasPrefix(cb, "https://"+addr+"/login/oidc/callback?") {
			t.Fatalf("provider redirected to %q", cb)
		}
		a = b.get(strings.TrimPrefix(cb, "https://"+addr))
		if a.code != 303 || a.location != "/" {
			t.Fatalf("callback: %d %q %s", a.code, a.location, a.body)
		}
		return b
	}
	me := func(b *browser) map[string]any {
		var v map[string]any
		a := b.get("/api/v1/me")
		if err := json.Unmarshal([]byte(a.body), &v); err != nil || a.code != 200 {
			t.Fatalf("/api/v1/me = %d %s", a.code, a.body)
		}
		return v
	}
	viewer := sso(&mockoidc.MockUser{Subject: "s-1", PreferredUsername: "pat", Email: "pat@example.com", EmailVerified: true, Groups: []string{"payments-team"}})
	if v := me(viewer); v["name"] != "pat" || v["role"] != "viewer" || v["source"] != "oidc" || !strings.Contains(jsonOf(v["scope"]), "payments") {
		t.Errorf("SSO viewer: %v", v)
	}
	if a := viewer.get("/api/v1/users"); a.code != 403 {
		t.Errorf("SSO viewer on /api/v1/users: %d", a.code)
	}
	admin := sso(&mockoidc.MockUser{Subject: "s-2", PreferredUsername: "someone-else", Email: "root@example.com", EmailVerified: true, Groups: []string{"finops"}})
	if v := me(admin); v["name"] != "root" || v["role"] != "admin" {
		t.Errorf("linked admin: %v", v)
	}
	// A forged callback (no flow cookie in this browser) gets no session.
	forged := newBrowser(t, r)
	if a := forged.get("/login/oidc/callback?code=abc&state=def"); a.code != 200 || !strings.Contains(a.body, "did not succeed") {
		t.Errorf("forged callback: %d", a.code)
	}
	if a := forged.get("/api/v1/me"); a.code != 401 {
		t.Errorf("forged callback gave a session: %d", a.code)
	}
	// No password route exists.
	if a := forged.form("/login", "username", "root", "password", "x"); a.code != 404 {
		t.Errorf("POST /login with password login off: %d", a.code)
	}
	if strings.Contains(r.logs.String(), m.ClientSecret) {
		t.Error("the client secret reached the log")
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
