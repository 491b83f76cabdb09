package app_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/auth/webauthntest"
)

// TestPasskeyLogin registers a passkey through the API with a software
// authenticator and completes a password login with it instead of a TOTP code.
func TestPasskeyLogin(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	addr := freeAddr(t)
	cfg.Server.Listen = addr
	port := addr[strings.LastIndex(addr, ":")+1:]
	origin := "https://localhost:" + port
	cfg.Auth.WebAuthn.RPID, cfg.Auth.WebAuthn.Origins = "localhost", []string{origin}
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	r := serve(t, cfg)
	b := newBrowser(t, r)
	b.enrol(addUser(t, cfg, "kai", "viewer", ""), testPassword, goTOTP, time.Now())
	if a := b.get("/account"); !strings.Contains(a.body, "data-passkey-register") || !strings.Contains(a.body, `<script src="/static/passkey.js" defer></script>`) {
		t.Errorf("account page offers no passkey registration")
	}
	if a := b.get("/static/passkey.js"); a.code != 200 || !strings.Contains(a.header.Get("Content-Type"), "javascript") {
		t.Errorf("passkey.js: %d %s", a.code, a.header.Get("Content-Type"))
	}
	key, err := webauthntest.New(origin)
	if err != nil {
		t.Fatal(err)
	}
	a := b.json("POST", "/api/v1/me/passkeys/begin", map[string]string{"name": "laptop"})
	if a.code != 200 {
		t.Fatalf("begin registration: %d %s", a.code, a.body)
	}
	cred, err := key.Create([]byte(a.body))
	if err != nil {
		t.Fatal(err)
	}
	if a := b.do("POST", "/api/v1/me/passkeys/finish", strings.NewReader(string(cred)), "application/json"); a.code != 200 {
		t.Fatalf("finish registration: %d %s", a.code, a.body)
	}
	if a := b.get("/api/v1/me"); !strings.Contains(a.body, `"name":"kai"`) {
		t.Fatal(a.body)
	}

	login := func(k *webauthntest.Authenticator) (*browser, answer) {
		c := newBrowser(t, r)
		if a := c.form("/login", "username", "kai", "password", testPassword); a.code != 303 {
			t.Fatalf("password step: %d", a.code)
		}
		if a := c.get("/login/mfa"); !strings.Contains(a.body, "data-passkey-login") {
			t.Errorf("the second-factor page offers no passkey")
		}
		a := c.json("POST", "/login/passkey/begin", map[string]string{})
		if a.code != 200 {
			t.Fatalf("begin login: %d %s", a.code, a.body)
		}
		assertion, err := k.Get([]byte(a.body))
		if err != nil {
			t.Fatal(err)
		}
		return c, c.do("POST", "/login/passkey/finish", strings.NewReader(string(assertion)), "application/json")
	}
	c, a := login(key)
	if a.code != 200 || !strings.Contains(a.body, `"redirect":"/"`) {
		t.Fatalf("passkey login: %d %s", a.code, a.body)
	}
	if a := c.get("/api/v1/me/sessions"); a.code != 200 || !strings.Contains(a.body, "password+passkey") {
		t.Errorf("session after a passkey login: %d %s", a.code, a.body)
	}
	// A look-alike site's origin is refused, and gets no session.
	key.Origin = "https://costwarden-login.example"
	c, a = login(key)
	if a.code != 401 {
		t.Errorf("phishing origin: %d %s", a.code, a.body)
	}
	if a := c.get("/api/v1/me"); a.code != 401 {
		t.Errorf("a refused passkey gave a session: %d", a.code)
	}
	// Without a login ticket there is nothing to begin.
	if a := newBrowser(t, r).json("POST", "/login/passkey/begin", map[string]string{}); a.code != 401 {
		t.Errorf("passkey begin without a password step: %d", a.code)
	}
}

// TestPagesHaveNoInlineScriptOrStyle: the CSP forbids inline code, so the pages
// must not rely on any.
func TestPagesHaveNoInlineScriptOrStyle(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	cfg.Auth.WebAuthn.RPID = "localhost" // so the pages load the passkey script
	r := serve(t, cfg)
	b := newBrowser(t, r)
	setup := addUser(t, cfg, "ines", "admin", "")
	pages := []string{b.get("/login").body, b.get("/setup").body}
	_ = b.form("/setup", "setup", setup)
	pages = append(pages, b.get("/setup/enrol").body)
	b2 := newBrowser(t, r)
	b2.enrol(addUser(t, cfg, "jon", "admin", ""), testPassword, goTOTP, time.Now())
	pages = append(pages, b2.get("/account").body, b2.get("/admin/users").body)
	b3 := newBrowser(t, r)
	_ = b3.form("/login", "username", "jon", "password", testPassword)
	pages = append(pages, b3.get("/login/mfa").body)
	scripts := 0
	for _, p := range pages {
		scripts += strings.Count(p, "<script")
	}
	if scripts < 2 {
		t.Fatalf("only %d script tags seen: the check would prove nothing", scripts)
	}
	inline := regexp.MustCompile(`(?i)\sstyle=|<style|\son[a-z]+=|javascript:`)
	script := regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`)
	for i, p := range pages {
		if len(p) < 200 {
			t.Fatalf("page %d is empty", i)
		}
		if m := inline.FindString(p); m != "" {
			t.Errorf("page %d has inline code: %q", i, m)
		}
		if n := strings.Count(strings.ToLower(p), "<script"); n != len(script.FindAllString(p, -1)) {
			t.Errorf("page %d has a script tag that is not closed right after it", i)
		}
		for _, m := range script.FindAllStringSubmatch(p, -1) {
			if !strings.Contains(m[1], `src="/static/`) || strings.TrimSpace(m[2]) != "" {
				t.Errorf("page %d has an inline script: %q", i, m[0])
			}
		}
	}
}
