package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/server"
	"github.com/costwarden/costwarden/internal/testlog"
)

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// browser is an HTTP client with a cookie jar that does not follow redirects,
// so each step of a login is visible.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	// bearer, when set, is sent as "Authorization: Bearer".
	bearer string
	// requestID, when set, is sent as X-Request-Id.
	requestID string
}

func newBrowser(t *testing.T, r *running) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, base: "https://" + r.public, c: &http.Client{
		Jar: jar, Timeout: 60 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	// Session cookies and bearer tokens are secrets the log scan looks for.
	u, _ := url.Parse(b.base)
	t.Cleanup(func() {
		for _, c := range jar.Cookies(u) {
			testlog.Secret(t, c.Value)
		}
		testlog.Secret(t, b.bearer)
	})
	return b
}

type answer struct {
	code     int
	body     string
	location string
	header   http.Header
}

func (b *browser) do(method, path string, body io.Reader, contentType string) answer {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if b.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+b.bearer)
	}
	if b.requestID != "" {
		req.Header.Set("X-Request-Id", b.requestID)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, body: string(rb), location: resp.Header.Get("Location"), header: resp.Header}
}

func (b *browser) get(path string) answer { return b.do("GET", path, nil, "") }

func (b *browser) form(path string, kv ...string) answer {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return b.do("POST", path, strings.NewReader(v.Encode()), "application/x-www-form-urlencoded")
}

func (b *browser) json(method, path string, v any) answer {
	var body io.Reader
	if v != nil {
		j, _ := json.Marshal(v)
		body = bytes.NewReader(j)
	}
	return b.do(method, path, body, "application/json")
}

// addUser creates a user through the CLI path and returns its setup code.
func addUser(t *testing.T, cfg config.Config, name, role, scope string) string {
	t.Helper()
	var out bytes.Buffer
	if err := app.AddUserWith(context.Background(), cfg, env(io.Discard, &out), app.UserOptions{Name: name, Role: role, Email: name + "@example.com", Scope: scope}); err != nil {
		t.Fatal(err)
	}
	code := strings.TrimSpace(out.String())
	testlog.Secret(t, code)
	if !strings.HasPrefix(code, auth.SetupPrefix) {
		t.Fatalf("user add printed %q, want a setup code", out.String())
	}
	return code
}

var (
	secretRE   = regexp.MustCompile(`<span class="secret">([A-Z2-7]+)</span>`)
	recoveryRE = regexp.MustCompile(`<li>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</li>`)
)

// enrol runs the setup pages with a setup code; code(secret, at) computes the
// TOTP code. It returns the secret (base32) and the recovery codes, and leaves
// the browser logged in.
func (b *browser) enrol(setup, password string, code func(secret string, at time.Time) string, at time.Time) (string, []string) {
	b.t.Helper()
	if a := b.form("/setup", "setup", setup); a.code != 303 || a.location != "/setup/enrol" {
		b.t.Fatalf("POST /setup = %d %q: %s", a.code, a.location, a.body)
	}
	a := b.get("/setup/enrol")
	m := secretRE.FindStringSubmatch(a.body)
	if a.code != 200 || m == nil || !strings.Contains(a.body, `src="data:image/png;base64,`) {
		b.t.Fatalf("enrol page %d without a secret or QR code: %s", a.code, a.body)
	}
	secret := m[1]
	a = b.form("/setup/enrol", "password", password, "code", code(secret, at))
	if a.code != 200 {
		b.t.Fatalf("POST /setup/enrol = %d: %s", a.code, a.body)
	}
	var codes []string
	for _, m := range recoveryRE.FindAllStringSubmatch(a.body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != 10 {
		b.t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	testlog.Secret(b.t, append([]string{secret, password, setup}, codes...)...)
	for _, c := range b.c.Jar.Cookies(mustURL(b.base)) {
		testlog.Secret(b.t, c.Value)
	}
	return secret, codes
}

func goTOTP(secret string, at time.Time) string {
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	return auth.TOTP(raw, at)
}

// oathtool computes a TOTP code with the independent authenticator.
func oathtool(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	path, err := exec.LookPath("oathtool")
	if err != nil {
		t.Fatal("oathtool is not installed: apt-get install oathtool (scripts/ensure-tools.sh installs it)")
	}
	out, err := exec.Command(path, "--totp", "--base32", "--now", at.UTC().Format("2006-01-02 15:04:05 UTC"), secret).CombinedOutput()
	if err != nil {
		t.Fatalf("oathtool: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// login runs password then code through the pages.
func (b *browser) login(name, password, code string) answer {
	b.t.Helper()
	a := b.form("/login", "username", name, "password", password)
	if a.code != 303 || a.location != "/login/mfa" {
		return a
	}
	return b.form("/login/mfa", "code", code)
}

const testPassword = "granite-orchid-velvet-19"

func TestLoginWithOathtool(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	r := serve(t, cfg)
	setup := addUser(t, cfg, "olga", "viewer", "")
	b := newBrowser(t, r)
	ot := func(secret string, at time.Time) string { return oathtool(t, secret, at) }

	// Enrol with the code oathtool computes for now.
	now := time.Now()
	secret, recovery := b.enrol(setup, testPassword, ot, now)
	if a := b.get("/api/v1/me"); a.code != 200 || !strings.Contains(a.body, `"name":"olga"`) || !strings.Contains(a.body, `"mfa":true`) {
		t.Fatalf("after enrolment /api/v1/me = %d %s", a.code, a.body)
	}
	// The setup code is spent.
	b2 := newBrowser(t, r)
	if a := b2.form("/setup", "setup", setup); a.code != 200 || !strings.Contains(a.body, "not valid") {
		t.Errorf("a used setup code: %d", a.code)
	}
	if a := b.form("/logout"); a.code != 303 {
		t.Fatalf("logout = %d", a.code)
	}
	if a := b.get("/api/v1/me"); a.code != 401 {
		t.Fatalf("after logout /api/v1/me = %d", a.code)
	}

	// Password alone yields no session: only the MFA page is reachable.
	if a := b.form("/login", "username", "olga", "password", testPassword); a.code != 303 || a.location != "/login/mfa" {
		t.Fatalf("password step = %d %q", a.code, a.location)
	}
	if a := b.get("/api/v1/me"); a.code != 401 {
		t.Fatalf("after the password step alone /api/v1/me = %d, want 401", a.code)
	}
	// The next step's code (within the accepted skew, after the enrolment's).
	next := oathtool(t, secret, now.Add(30*time.Second))
	a := b.form("/login/mfa", "code", next)
	if a.code != 303 || a.location != "/" {
		t.Fatalf("code step = %d %q: %s", a.code, a.location, a.body)
	}
	// The cookie is what the spec says.
	set := strings.Join(a.header.Values("Set-Cookie"), "\n")
	for _, want := range []string{server.SessionCookie + "=", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(set, want) {
			t.Errorf("session cookie %q lacks %s", set, want)
		}
	}
	if strings.Contains(strings.ToLower(set), "domain=") {
		t.Errorf("session cookie has a Domain: %q", set)
	}
	if a := b.get("/account"); a.code != 200 || !strings.Contains(a.body, "olga") {
		t.Fatalf("/account = %d", a.code)
	}
	// The same code again is rejected.
	b3 := newBrowser(t, r)
	if a := b3.login("olga", testPassword, next); a.code != 200 || !strings.Contains(a.body, "did not work") {
		t.Errorf("the same TOTP code twice: %d, want 401", a.code)
	}
	// A recovery code works once.
	if a := b3.login("olga", testPassword, recovery[0]); a.code != 303 || a.location != "/" {
		t.Errorf("recovery code: %d %q", a.code, a.location)
	}
	b4 := newBrowser(t, r)
	if a := b4.login("olga", testPassword, recovery[0]); a.code != 200 || !strings.Contains(a.body, "did not work") {
		t.Errorf("a recovery code twice: %d, want 401", a.code)
	}
	// Sessions are listed, and another one can be ended from the account page.
	var ss struct {
		Sessions []struct {
			ID      string
			Current bool
		}
	}
	a = b.get("/api/v1/me/sessions")
	if err := json.Unmarshal([]byte(a.body), &ss); err != nil || len(ss.Sessions) < 2 {
		t.Fatalf("sessions = %s", a.body)
	}
	var other string
	for _, s := range ss.Sessions {
		if !s.Current {
			other = s.ID
		}
	}
	if a := b.form("/account/sessions/" + other + "/revoke"); a.code != 303 {
		t.Errorf("revoking my other session = %d %s", a.code, a.body)
	}
	if a := b3.get("/api/v1/me"); a.code != 401 {
		t.Errorf("a revoked session still works: %d", a.code)
	}
	if strings.Contains(r.logs.String(), secret) || strings.Contains(r.logs.String(), recovery[1]) || strings.Contains(r.logs.String(), testPassword) {
		t.Error("a secret reached the log")
	}
}

// cookieOf returns the session cookie value the browser holds.
func (b *browser) cookieOf(name string) string {
	u, _ := url.Parse(b.base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func TestCrossOriginAndBadCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	r := serve(t, cfg)
	setup := addUser(t, cfg, "root", "admin", "")
	b := newBrowser(t, r)
	b.enrol(setup, testPassword, goTOTP, time.Now())

	// A cross-site form post (the browser says so) is refused before anything.
	req, _ := http.NewRequest("POST", b.base+"/api/v1/users", strings.NewReader(`{"name":"evil","role":"admin"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("cross-site POST with the session cookie = %d, want 403", resp.StatusCode)
	}
	// Same-origin works.
	req, _ = http.NewRequest("POST", b.base+"/api/v1/users", strings.NewReader(`{"name":"good","role":"viewer"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err = b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("same-origin POST = %d, want 200", resp.StatusCode)
	}
	// Malformed cookies and tokens: 401, never 500.
	for _, c := range []struct{ cookie, bearer string }{
		{"x", ""}, {strings.Repeat("A", 43), ""}, {strings.Repeat("é", 20), ""}, {"%00%00", ""}, {b.cookieOf(server.SessionCookie) + "x", ""},
		{"", "cwt_"}, {"", "cwt_" + strings.Repeat("é", 22)}, {"", strings.Repeat("A", 4000)}, {"", "cwscim_" + strings.Repeat("A", 43)},
	} {
		req, _ := http.NewRequest("GET", b.base+"/api/v1/me", nil)
		if c.cookie != "" {
			req.Header.Set("Cookie", server.SessionCookie+"="+c.cookie)
		}
		if c.bearer != "" {
			req.Header.Set("Authorization", "Bearer "+c.bearer)
		}
		resp, err := (&http.Client{Transport: b.c.Transport}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || !strings.Contains(string(body), "authentication required") {
			t.Errorf("cookie %q bearer %q: %d %s", c.cookie, c.bearer, resp.StatusCode, body)
		}
	}
	// A cookie and a bearer token together are refused.
	tok := makeTokenFor(t, cfg, "root")
	req, _ = http.NewRequest("GET", b.base+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("cookie + bearer = %d, want 401", resp.StatusCode)
	}
	// Identical answers for an unknown user and a wrong password.
	anon := newBrowser(t, r)
	a1 := anon.form("/login", "username", "nobody", "password", "whatever-password-1")
	a2 := anon.form("/login", "username", "root", "password", "whatever-password-1")
	strip := regexp.MustCompile(`(?s)<header>.*</header>`)
	if a1.code != 200 || a2.code != 200 || !strings.Contains(a1.body, "Wrong username or password") || strip.ReplaceAllString(a1.body, "") != strip.ReplaceAllString(a2.body, "") {
		t.Errorf("unknown user %d vs wrong password %d: the answers differ", a1.code, a2.code)
	}
	// Oversized and strange form input: a clear refusal, not a crash.
	for _, kv := range [][2]string{{strings.Repeat("u", 5000), "p"}, {"root", strings.Repeat("p", 100000)}, {"ro\u0000ot", testPassword}, {"ROOT", testPassword}, {"röot", testPassword}} {
		if a := anon.form("/login", "username", kv[0], "password", kv[1]); (a.code != 200 || !strings.Contains(a.body, "Wrong username")) && a.code != 429 {
			t.Errorf("login with %.20q: %d", kv[0], a.code)
		}
	}
	if a := anon.do("POST", "/login", strings.NewReader(strings.Repeat("a=b&", 1<<19)), "application/x-www-form-urlencoded"); a.code >= 500 {
		t.Errorf("huge form: %d", a.code)
	}
}

// makeTokenFor issues an API token with the CLI for name.
func makeTokenFor(t *testing.T, cfg config.Config, name string) string {
	t.Helper()
	var out bytes.Buffer
	if err := app.CreateToken(context.Background(), cfg, env(io.Discard, &out), name, time.Hour); err != nil {
		t.Fatal(err)
	}
	testlog.Secret(t, strings.TrimSpace(out.String()))
	return strings.TrimSpace(out.String())
}

func TestDisableEndsSessionAndToken(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	r := serve(t, cfg)
	admin := newBrowser(t, r)
	admin.enrol(addUser(t, cfg, "root", "admin", ""), testPassword, goTOTP, time.Now())
	for _, how := range []string{"api", "scim", "cli", "ui"} {
		t.Run(how, func(t *testing.T) {
			name := "leaver-" + how
			u := newBrowser(t, r)
			u.enrol(addUser(t, cfg, name, "viewer", ""), testPassword, goTOTP, time.Now())
			tok := newBrowser(t, r)
			tok.bearer = makeTokenFor(t, cfg, name)
			for _, b := range []*browser{u, tok} {
				if a := b.get("/allocation?window=1h"); a.code != 200 {
					t.Fatalf("before: %d %s", a.code, a.body)
				}
			}
			var me struct{ ID string }
			_ = json.Unmarshal([]byte(u.get("/api/v1/me").body), &me)
			switch how {
			case "api":
				if a := admin.json("PATCH", "/api/v1/users/"+me.ID, map[string]string{"state": "disabled"}); a.code != 200 {
					t.Fatalf("disable: %d %s", a.code, a.body)
				}
			case "scim":
				scim := newBrowser(t, r)
				var st struct{ Token string }
				_ = json.Unmarshal([]byte(admin.json("POST", "/api/v1/scim-tokens", map[string]string{}).body), &st)
				scim.bearer = st.Token
				a := scim.do("PATCH", "/scim/v2/Users/"+me.ID, strings.NewReader(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`), "application/scim+json")
				if a.code != 200 || !strings.Contains(a.body, `"active":false`) {
					t.Fatalf("SCIM deactivate: %d %s", a.code, a.body)
				}
			case "ui":
				if a := admin.form("/admin/users/"+me.ID, "action", "disable"); a.code != 200 || !strings.Contains(a.body, "Done: disable") {
					t.Fatalf("disable from the users page: %d %s", a.code, a.body)
				}
			case "cli":
				if err := app.UserAction(context.Background(), cfg, env(io.Discard, io.Discard), "disable", name); err != nil {
					t.Fatal(err)
				}
			}
			for label, b := range map[string]*browser{"session": u, "token": tok} {
				if a := b.get("/allocation?window=1h"); a.code != 401 {
					t.Errorf("%s after disabling (%s): %d, want 401", label, how, a.code)
				}
			}
		})
	}
}

func TestPasswordLoginOff(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	cfg.Auth.PasswordLogin = false
	cfg.Auth.OIDC.Issuer, cfg.Auth.OIDC.ClientID = "http://127.0.0.1:9/unreachable", "costwarden"
	cfg.Auth.OIDC.RedirectURL = "https://127.0.0.1:8443/login/oidc/callback"
	r := serve(t, cfg)
	b := newBrowser(t, r)
	for _, rt := range []struct{ method, path string }{
		{"POST", "/login"}, {"GET", "/login/mfa"}, {"POST", "/login/mfa"}, {"GET", "/setup"}, {"POST", "/setup"},
		{"GET", "/setup/enrol"}, {"POST", "/setup/enrol"}, {"POST", "/account/password"}, {"POST", "/api/v1/me/password"},
	} {
		if a := b.do(rt.method, rt.path, strings.NewReader("username=a&password=b"), "application/x-www-form-urlencoded"); a.code != 404 {
			t.Errorf("%s %s with password login off = %d, want 404", rt.method, rt.path, a.code)
		}
	}
	a := b.get("/login")
	if a.code != 200 || strings.Contains(a.body, `type="password"`) || !strings.Contains(a.body, `href="/login/oidc"`) {
		t.Errorf("login page with password login off: %d\n%s", a.code, a.body)
	}
	// SSO is offered even when the provider is down; starting it says so.
	if a := b.get("/login/oidc"); a.code != 502 || !strings.Contains(html.UnescapeString(a.body), "unavailable") {
		t.Errorf("SSO start with the provider down = %d", a.code)
	}
	_ = fmt.Sprint()
}

// addUserNoSetup creates a user without printing a setup code (password login
// off: the account is for SSO).
func addUserNoSetup(t *testing.T, cfg config.Config, name string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := env(io.Discard, &out)
	e.Stderr = &errb
	if err := app.AddUserWith(context.Background(), cfg, e, app.UserOptions{Name: name, Role: "admin", Email: name + "@example.com"}); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || !strings.Contains(errb.String(), "SSO") {
		t.Fatalf("with password login off, user add printed %q / %q", out.String(), errb.String())
	}
}
