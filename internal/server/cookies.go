package server

import (
	"net/http"
	"time"
)

// Cookie names. The __Host- prefix makes browsers accept them only when Secure,
// for path /, and without a Domain: no subdomain can set or read them.
const (
	SessionCookie = "__Host-costwarden-session"
	// LoginCookie carries the login ticket between the password and the
	// second-factor step.
	LoginCookie = "__Host-costwarden-login"
	// SetupCookie carries a setup code through the enrolment pages.
	SetupCookie = "__Host-costwarden-setup"
	// OIDCCookie carries the state, nonce and PKCE verifier of an SSO login.
	OIDCCookie = "__Host-costwarden-oidc"
)

// SetCookie sets a credential cookie: __Host- rules (Secure, Path=/, no Domain),
// HttpOnly, SameSite=Lax (the SSO callback is a top-level navigation from the
// provider), expiring after maxAge (0: when the browser closes).
func SetCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// ClearCookie deletes a credential cookie.
func ClearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// CookieValue returns the value of the named cookie; "" when absent or when the
// request carries it more than once (an attacker on a sibling domain cannot set
// a __Host- cookie, but a confused client might send two).
func CookieValue(r *http.Request, name string) string {
	var v string
	n := 0
	for _, c := range r.CookiesNamed(name) {
		v = c.Value
		n++
	}
	if n != 1 {
		return ""
	}
	return v
}
