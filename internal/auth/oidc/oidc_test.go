package oidc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/auth/oidc"
	"github.com/costwarden/costwarden/internal/rbac"
)

// provider runs mockoidc (a real OpenID Connect provider) on 127.0.0.1 with a
// hook that can rewrite the ID token the token endpoint returns, as an attacker
// in the middle or a malicious provider would.
type provider struct {
	m       *mockoidc.MockOIDC
	rewrite func(idToken string) string
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{m: m}
	err = m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != mockoidc.TokenEndpoint || p.rewrite == nil {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			var tr map[string]any
			if rec.Code == 200 && json.Unmarshal(body, &tr) == nil {
				if id, ok := tr["id_token"].(string); ok {
					tr["id_token"] = p.rewrite(id)
					body, _ = json.Marshal(tr)
				}
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			_, _ = w.Write(body)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

func (p *provider) client(t *testing.T, mod func(*oidc.Config)) *oidc.Client {
	t.Helper()
	cfg := oidc.Config{
		Issuer: p.m.Issuer(), ClientID: p.m.ClientID, ClientSecret: p.m.ClientSecret,
		RedirectURL: "https://127.0.0.1:8443/login/oidc/callback", Scopes: []string{"profile", "email", "groups"},
		GroupsClaim: "groups", Algorithms: []string{"RS256"},
		Mappings: []oidc.Mapping{{Group: "finance", Role: rbac.Viewer, Scope: rbac.Scope{Namespaces: []string{"billing"}}}, {Group: "engineering", Role: rbac.Editor}},
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := oidc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// authorize follows the authorization URL as a browser would and returns the
// query of the redirect back to us.
func authorize(t *testing.T, authURL string) url.Values {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !strings.HasPrefix(loc.String(), "https://127.0.0.1:8443/login/oidc/callback?") {
		t.Fatalf("redirected to %s", loc)
	}
	return loc.Query()
}

func login(t *testing.T, c *oidc.Client, mutate func(cookie *string, q url.Values)) (auth.ExternalIdentity, error) {
	t.Helper()
	ctx := context.Background()
	u, cookie, err := c.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	au, _ := url.Parse(u)
	if q := au.Query(); q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" {
		t.Fatalf("authorization URL lacks PKCE S256, nonce or state: %s", u)
	}
	q := authorize(t, u)
	if mutate != nil {
		mutate(&cookie, q)
	}
	return c.Finish(ctx, cookie, q)
}

func claimsOf(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	parts := strings.Split(tok, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.MapClaims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// resign returns the token's claims, changed by fn, signed with the provider's
// own key: a token that is genuine except for what fn changed.
func (p *provider) resign(t *testing.T, fn func(jwt.MapClaims)) func(string) string {
	return func(tok string) string {
		c := claimsOf(t, tok)
		fn(c)
		s, err := p.m.Keypair.SignJWT(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestGoodLogin(t *testing.T) {
	p := newProvider(t)
	p.m.QueueUser(&mockoidc.MockUser{Subject: "u-42", Email: "Ana@Example.com", EmailVerified: true, PreferredUsername: "ana", Groups: []string{"finance", "engineering"}})
	id, err := login(t, p.client(t, nil), nil)
	if err != nil {
		t.Fatalf("good login refused: %v", err)
	}
	if id.Username != "ana" || id.SubjectKey != p.m.Issuer()+"|u-42" || !id.EmailVerified || id.Email != "Ana@Example.com" {
		t.Errorf("identity = %+v", id)
	}
	// First matching mapping wins.
	if !id.Mapped || id.Role != rbac.Viewer || id.Scope.String() != "namespaces=billing" {
		t.Errorf("mapping = %v %s %s, want viewer of billing", id.Mapped, id.Role, id.Scope)
	}
	// Unmapped groups: no role from the provider.
	p.m.QueueUser(&mockoidc.MockUser{Subject: "u-43", PreferredUsername: "ben", Groups: []string{"marketing"}})
	id, err = login(t, p.client(t, nil), nil)
	if err != nil || id.Mapped {
		t.Errorf("unmapped login = %+v, %v", id, err)
	}
}

func TestRefused(t *testing.T) {
	p := newProvider(t)
	for _, c := range []struct {
		name    string
		rewrite func(*testing.T, *provider) func(string) string
		mutate  func(cookie *string, q url.Values)
		config  func(*oidc.Config)
		want    string
	}{
		{name: "tampered token", rewrite: func(t *testing.T, p *provider) func(string) string {
			return func(tok string) string {
				parts := strings.Split(tok, ".")
				c := claimsOf(t, tok)
				c["preferred_username"] = "admin"
				b, _ := json.Marshal(c)
				return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
			}
		}, want: "signature"},
		{name: "wrong audience", rewrite: func(t *testing.T, p *provider) func(string) string {
			return p.resign(t, func(c jwt.MapClaims) { c["aud"] = "another-client" })
		}, want: "audience"},
		{name: "extra audience without azp", rewrite: func(t *testing.T, p *provider) func(string) string {
			return p.resign(t, func(c jwt.MapClaims) { c["aud"] = []string{p.m.ClientID, "another-client"} })
		}, want: "authorized party"},
		{name: "wrong nonce", rewrite: func(t *testing.T, p *provider) func(string) string {
			return p.resign(t, func(c jwt.MapClaims) { c["nonce"] = "attacker-nonce" })
		}, want: "nonce"},
		{name: "wrong issuer", rewrite: func(t *testing.T, p *provider) func(string) string {
			return p.resign(t, func(c jwt.MapClaims) { c["iss"] = "http://127.0.0.1:1/evil" })
		}, want: "different provider"},
		{name: "expired", rewrite: func(t *testing.T, p *provider) func(string) string {
			return p.resign(t, func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })
		}, want: "expired"},
		{name: "alg none", rewrite: func(t *testing.T, p *provider) func(string) string {
			return func(tok string) string {
				c := claimsOf(t, tok)
				b, _ := json.Marshal(c)
				return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(b) + "."
			}
		}, want: "ID token"},
		{name: "HS256 with the client secret (algorithm confusion)", rewrite: func(t *testing.T, p *provider) func(string) string {
			return func(tok string) string {
				s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsOf(t, tok)).SignedString([]byte(p.m.ClientSecret))
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		}, want: "ID token"},
		{name: "signed by another key", rewrite: func(t *testing.T, p *provider) func(string) string {
			other, err := mockoidc.RandomKeypair(2048)
			if err != nil {
				t.Fatal(err)
			}
			return func(tok string) string {
				s, _ := other.SignJWT(claimsOf(t, tok))
				return s
			}
		}, want: "ID token"},
		{name: "missing state", mutate: func(_ *string, q url.Values) { q.Del("state") }, want: "state"},
		{name: "wrong state", mutate: func(_ *string, q url.Values) { q.Set("state", "forged") }, want: "state"},
		{name: "no flow cookie (login CSRF)", mutate: func(c *string, _ url.Values) { *c = "" }, want: "flow cookie"},
		{name: "wrong PKCE verifier", mutate: func(c *string, _ url.Values) {
			raw, _ := base64.RawURLEncoding.DecodeString(*c)
			var f map[string]any
			_ = json.Unmarshal(raw, &f)
			f["v"] = "a-verifier-that-does-not-match-the-challenge-sent-1234567890"
			b, _ := json.Marshal(f)
			*c = base64.RawURLEncoding.EncodeToString(b)
		}, want: "redeeming"},
		{name: "provider error", mutate: func(_ *string, q url.Values) { q.Set("error", "access_denied") }, want: "refused"},
		{name: "no MFA asserted", config: func(c *oidc.Config) { c.RequireAMR = []string{"mfa"} }, want: "MFA"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p.rewrite = nil
			if c.rewrite != nil {
				p.rewrite = c.rewrite(t, p)
			}
			defer func() { p.rewrite = nil }()
			p.m.QueueUser(&mockoidc.MockUser{Subject: "u-1", PreferredUsername: "eve", Groups: []string{"engineering"}})
			id, err := login(t, p.client(t, c.config), c.mutate)
			if err == nil || !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("accepted (%+v, %v); want a refusal", id, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("refusal %q does not mention %q", err, c.want)
			}
		})
	}
}

// amrUser adds an amr claim, as a provider asserting MFA does.
type amrUser struct {
	*mockoidc.MockUser
	amr []string
}

func (u amrUser) Claims(scope []string, c *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	base, err := u.MockUser.Claims(scope, c)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(base)
	var m jwt.MapClaims
	_ = json.Unmarshal(b, &m)
	m["amr"] = u.amr
	return m, nil
}

func TestRequiredMFA(t *testing.T) {
	p := newProvider(t)
	c := p.client(t, func(c *oidc.Config) { c.RequireAMR = []string{"mfa", "hwk"} })
	p.m.QueueUser(amrUser{&mockoidc.MockUser{Subject: "u-7", PreferredUsername: "kim"}, []string{"pwd", "mfa"}})
	if _, err := login(t, c, nil); err != nil {
		t.Errorf("login with amr=[pwd mfa] refused: %v", err)
	}
	p.m.QueueUser(amrUser{&mockoidc.MockUser{Subject: "u-8", PreferredUsername: "lee"}, []string{"pwd"}})
	if _, err := login(t, c, nil); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("login with amr=[pwd] accepted: %v", err)
	}
}

func TestConfigRefusesWeakAlgorithms(t *testing.T) {
	for _, alg := range []string{"none", "HS256"} {
		if _, err := oidc.New(oidc.Config{Issuer: "https://x", ClientID: "c", RedirectURL: "https://h/login/oidc/callback", Algorithms: []string{alg}}); err == nil {
			t.Errorf("algorithm %s accepted", alg)
		}
	}
}

// TestDiscoveredEndpoints: the token and key endpoints the discovery document
// names are reported once (the egress allowlist adds their hosts).
func TestDiscoveredEndpoints(t *testing.T) {
	p := newProvider(t)
	var got [][]string
	c := p.client(t, func(cfg *oidc.Config) { cfg.Discovered = func(u []string) { got = append(got, u) } })
	p.m.QueueUser(&mockoidc.MockUser{Subject: "u-1", PreferredUsername: "ana"})
	if _, err := login(t, c, nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0]) != 2 || got[0][0] != p.m.TokenEndpoint() || got[0][1] != p.m.JWKSEndpoint() {
		t.Errorf("discovered %v, want once [%s %s]", got, p.m.TokenEndpoint(), p.m.JWKSEndpoint())
	}
}
