package config

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/rbac"
)

// validateAuth checks the identity-and-access keys.
func (c *Config) validateAuth(bad func(key, format string, args ...any)) {
	a := c.Auth
	if a.SessionIdle < time.Minute {
		bad("auth.sessionIdleTimeout", "must be at least 1m, got %s", a.SessionIdle)
	}
	if a.SessionLifetime < a.SessionIdle || a.SessionLifetime > 30*24*time.Hour {
		bad("auth.sessionLifetime", "must lie between auth.sessionIdleTimeout (%s) and 720h, got %s", a.SessionIdle, a.SessionLifetime)
	}
	if a.SetupCodeTTL < time.Minute || a.SetupCodeTTL > 30*24*time.Hour {
		bad("auth.setupCodeTTL", "must lie between 1m and 720h, got %s", a.SetupCodeTTL)
	}
	if a.InactivityDisable < 0 || (a.InactivityDisable > 0 && a.InactivityDisable < time.Hour) {
		bad("auth.inactivityDisable", "must be 0 (never) or at least 1h, got %s", a.InactivityDisable)
	}
	if a.Lockout.AccountFailures < 1 || a.Lockout.AccountFailures > 1000 {
		bad("auth.lockout.accountFailures", "must lie between 1 and 1000, got %d", a.Lockout.AccountFailures)
	}
	if a.Lockout.AddressFailures < 1 || a.Lockout.AddressFailures > 100000 {
		bad("auth.lockout.addressFailures", "must lie between 1 and 100000, got %d", a.Lockout.AddressFailures)
	}
	if a.Lockout.Window < time.Second {
		bad("auth.lockout.window", "must be at least 1s, got %s", a.Lockout.Window)
	}
	if a.Lockout.Duration < time.Second {
		bad("auth.lockout.duration", "must be at least 1s, got %s", a.Lockout.Duration)
	}
	if w := a.WebAuthn; w.RPID != "" {
		if strings.ContainsAny(w.RPID, "/: ") || net.ParseIP(w.RPID) != nil {
			bad("auth.webauthn.rpID", "must be a host name without scheme or port (browsers refuse IP addresses), got %q", w.RPID)
		}
		for _, o := range w.Origins {
			if u, err := url.Parse(o); err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" {
				bad("auth.webauthn.origins", "%q is not an https origin (https://HOST[:PORT])", o)
			}
		}
	} else if len(a.WebAuthn.Origins) > 0 {
		bad("auth.webauthn.origins", "set auth.webauthn.rpID too")
	}
	o := a.OIDC
	if o.Issuer == "" {
		if !a.PasswordLogin {
			bad("auth.passwordLogin", "false leaves nobody a way to log in: configure auth.oidc.issuer")
		}
		return
	}
	if err := checkProviderURL(o.Issuer); err != "" {
		bad("auth.oidc.issuer", "%s", err)
	}
	if o.ClientID == "" {
		bad("auth.oidc.clientID", "must be set when auth.oidc.issuer is")
	}
	if u, err := url.Parse(o.RedirectURL); err != nil || !u.IsAbs() || u.Path != "/login/oidc/callback" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
		bad("auth.oidc.redirectURL", "must be https://HOST/login/oidc/callback (this server's address as the provider knows it), got %q", o.RedirectURL)
	}
	if o.UsernameClaim == "" {
		bad("auth.oidc.usernameClaim", "must be set")
	}
	if len(o.Algorithms) == 0 {
		bad("auth.oidc.algorithms", "must list at least one algorithm")
	}
	for _, alg := range o.Algorithms {
		if !slices.Contains([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}, alg) {
			bad("auth.oidc.algorithms", "%q is not an accepted asymmetric signature algorithm (RS256, PS256, ES256, EdDSA, ...; never none or HS*)", alg)
		}
	}
	for _, m := range o.GroupRoles {
		if _, _, _, err := ParseGroupRole(m); err != nil {
			bad("auth.oidc.groupRoles", "%q: %v", m, err)
		}
	}
}

// ParseGroupRole parses a group mapping GROUP=ROLE[;scope] (see
// auth.oidc.groupRoles).
func ParseGroupRole(m string) (string, rbac.Role, rbac.Scope, error) {
	group, rest, ok := strings.Cut(m, "=")
	group = strings.TrimSpace(group)
	if !ok || group == "" {
		return "", "", rbac.Scope{}, errorf("expected GROUP=ROLE[;namespaces=a|b][;clusters=c][;selector=...]")
	}
	roleName, scopeText, _ := strings.Cut(rest, ";")
	role, err := rbac.ParseRole(strings.TrimSpace(roleName))
	if err != nil {
		return "", "", rbac.Scope{}, err
	}
	scope, err := rbac.ParseScope(scopeText)
	if err != nil {
		return "", "", rbac.Scope{}, err
	}
	if role == rbac.Admin && !scope.IsZero() {
		return "", "", rbac.Scope{}, errorf("an admin sees everything; scopes apply to editors and viewers")
	}
	return group, role, scope, nil
}

type configError string

func (e configError) Error() string { return string(e) }

func errorf(s string) error { return configError(s) }

// checkProviderURL requires https, except for a provider on the loopback
// interface (tests and local development).
func checkProviderURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "must be an absolute URL"
	}
	if u.Scheme == "https" || (u.Scheme == "http" && isLoopbackHost(u.Hostname())) {
		return ""
	}
	return "must be an https:// URL (http only on the loopback interface)"
}
