package server_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
)

// tokenAuth maps bearer values to principals, with a token role narrowing one.
type tokenAuth map[string]*auth.Principal

func (m tokenAuth) AuthenticateRequest(r *http.Request) (*auth.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, nil
	}
	return m[strings.TrimPrefix(h, "Bearer ")], nil
}

func TestCrossOriginPagesAndTokenRoles(t *testing.T) {
	routes := []server.Route{
		{Method: "GET", Path: "/account", Access: server.Authenticated, Permission: rbac.ManageSelf, Page: true, Handler: ok("page")},
		{Method: "POST", Path: "/users", Access: server.Authenticated, Permission: rbac.ManageUsers, Handler: ok("users")},
		{Method: "POST", Path: "/login", Access: server.Public, Handler: ok("login")},
		{Method: "GET", Path: "/costs", Access: server.Authenticated, Permission: rbac.ReadCosts, Handler: ok("costs")},
	}
	a := tokenAuth{
		"admin":        &auth.Principal{ID: "u1", Role: rbac.Admin},
		"viewer-token": &auth.Principal{ID: "u1", Role: rbac.Admin, TokenID: "t1", TokenRole: rbac.Viewer},
		"scim":         &auth.Principal{ID: "u1", Role: rbac.Admin, TokenID: "t2", TokenRole: rbac.Provisioner},
	}
	h, err := server.Handler(server.Options{Routes: routes, Auth: a, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, method, path, token string
		hdr                       map[string]string
		want                      int
	}{
		{"same-origin post", "POST", "/users", "admin", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"non-browser post", "POST", "/users", "admin", nil, 200},
		{"cross-site post", "POST", "/users", "admin", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-origin post by Origin", "POST", "/users", "admin", map[string]string{"Origin": "https://evil.example"}, 403},
		{"cross-site login post (login CSRF)", "POST", "/login", "", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-site GET is fine", "GET", "/costs", "admin", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
		{"anonymous page GET redirects", "GET", "/account", "", nil, 303},
		{"anonymous API", "GET", "/costs", "", nil, 401},
		{"a viewer token of an admin cannot manage users", "POST", "/users", "viewer-token", nil, 403},
		{"a viewer token of an admin reads costs", "GET", "/costs", "viewer-token", nil, 200},
		{"a SCIM token reads no costs", "GET", "/costs", "scim", nil, 403},
		{"a SCIM token has no self-service", "GET", "/account", "scim", nil, 403},
	} {
		r := httptest.NewRequest(c.method, "https://costwarden.example"+c.path, nil)
		r.Host = "costwarden.example"
		if c.token != "" {
			r.Header.Set("Authorization", "Bearer "+c.token)
		}
		for k, v := range c.hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, w.Code, w.Body.String(), c.want)
		}
		if c.want == 303 && w.Header().Get("Location") != "/login" {
			t.Errorf("%s: redirected to %q", c.name, w.Header().Get("Location"))
		}
	}
}

func TestCookies(t *testing.T) {
	w := httptest.NewRecorder()
	server.SetCookie(w, server.SessionCookie, "secret-value", 0)
	server.SetCookie(w, server.LoginCookie, "ticket", 5*time.Minute)
	server.ClearCookie(w, server.SetupCookie)
	set := w.Header().Values("Set-Cookie")
	if len(set) != 3 {
		t.Fatalf("Set-Cookie = %q", set)
	}
	for _, c := range set {
		for _, want := range []string{"__Host-", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
			if !strings.Contains(c, want) {
				t.Errorf("%q lacks %s", c, want)
			}
		}
		if strings.Contains(strings.ToLower(c), "domain") {
			t.Errorf("%q has a Domain", c)
		}
	}
	if strings.Contains(set[0], "Max-Age") || !strings.Contains(set[1], "Max-Age=300") || !strings.Contains(set[2], "Max-Age=0") {
		t.Errorf("lifetimes: %q", set)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", server.SessionCookie+"=a; "+server.SessionCookie+"=b")
	if v := server.CookieValue(r, server.SessionCookie); v != "" {
		t.Errorf("two session cookies read as %q, want none", v)
	}
	r.Header.Set("Cookie", server.SessionCookie+"=a")
	if v := server.CookieValue(r, server.SessionCookie); v != "a" {
		t.Errorf("CookieValue = %q", v)
	}
}
