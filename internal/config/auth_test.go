package config_test

import (
	"strings"
	"testing"

	"github.com/costwarden/costwarden/internal/config"
)

func TestAuthKeys(t *testing.T) {
	good := `
auth:
  passwordLogin: false
  sessionIdleTimeout: 15m
  oidc:
    issuer: https://idp.example.com/realms/x
    clientID: costwarden
    clientSecretFile: /run/secrets/oidc
    redirectURL: https://costwarden.example.com/login/oidc/callback
    groupRoles:
      - "platform=admin"
      - "payments-team=viewer;namespaces=payments|billing"
    requireAMR: [mfa]
`
	cfg, err := config.Load(config.Sources{File: writeFile(t, good)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.PasswordLogin || cfg.Auth.SessionIdle.Minutes() != 15 || len(cfg.Auth.OIDC.GroupRoles) != 2 || cfg.Auth.OIDC.ClientSecretFile != "/run/secrets/oidc" {
		t.Errorf("auth config = %+v", cfg.Auth)
	}
	if d := config.Default(); d.Auth.TokenTTL.Hours() != 90*24 || d.Auth.SessionIdle.Minutes() != 30 || d.Auth.SessionLifetime.Hours() != 12 || d.Auth.InactivityDisable.Hours() != 90*24 || !d.Auth.PasswordLogin {
		t.Errorf("defaults = %+v", d.Auth)
	}
	for _, c := range []struct{ body, key string }{
		{"auth:\n  passwordLogin: false\n", "auth.passwordLogin"},
		{"auth:\n  sessionIdleTimeout: 10s\n", "auth.sessionIdleTimeout"},
		{"auth:\n  sessionLifetime: 10m\n", "auth.sessionLifetime"},
		{"auth:\n  inactivityDisable: 5m\n", "auth.inactivityDisable"},
		{"auth:\n  lockout:\n    accountFailures: 0\n", "auth.lockout.accountFailures"},
		{"auth:\n  oidc:\n    issuer: http://idp.example.com\n    clientID: x\n    redirectURL: https://h/login/oidc/callback\n", "auth.oidc.issuer"},
		{"auth:\n  oidc:\n    issuer: https://idp.example.com\n    redirectURL: https://h/login/oidc/callback\n", "auth.oidc.clientID"},
		{"auth:\n  oidc:\n    issuer: https://idp.example.com\n    clientID: x\n    redirectURL: https://h/callback\n", "auth.oidc.redirectURL"},
		{"auth:\n  oidc:\n    issuer: https://idp.example.com\n    clientID: x\n    redirectURL: https://h/login/oidc/callback\n    algorithms: [none]\n", "auth.oidc.algorithms"},
		{"auth:\n  oidc:\n    issuer: https://idp.example.com\n    clientID: x\n    redirectURL: https://h/login/oidc/callback\n    algorithms: [HS256]\n", "auth.oidc.algorithms"},
		{"auth:\n  oidc:\n    issuer: https://idp.example.com\n    clientID: x\n    redirectURL: https://h/login/oidc/callback\n    groupRoles: [\"ops=root\"]\n", "auth.oidc.groupRoles"},
		{"auth:\n  oidc:\n    issuer: https://idp.example.com\n    clientID: x\n    redirectURL: https://h/login/oidc/callback\n    groupRoles: [\"ops=admin;namespaces=a\"]\n", "auth.oidc.groupRoles"},
		{"auth:\n  oidc:\n    clientSecret: hunter2\n", "auth.oidc.clientSecret"},
		{"auth:\n  webauthn:\n    rpID: https://x.example\n", "auth.webauthn.rpID"},
		{"auth:\n  webauthn:\n    rpID: 127.0.0.1\n", "auth.webauthn.rpID"},
		{"auth:\n  webauthn:\n    rpID: x.example\n    origins: [http://x.example]\n", "auth.webauthn.origins"},
		{"auth:\n  webauthn:\n    origins: [https://x.example]\n", "auth.webauthn.origins"},
	} {
		_, err := config.Load(config.Sources{File: writeFile(t, c.body)})
		if err == nil || !strings.Contains(err.Error(), c.key) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: err = %v, want one naming %s (and no secret)", c.body, err, c.key)
		}
	}
	// A provider on loopback may use http (the in-process test provider).
	if _, err := config.Load(config.Sources{File: writeFile(t, "auth:\n  oidc:\n    issuer: http://127.0.0.1:5556\n    clientID: x\n    redirectURL: https://127.0.0.1:8443/login/oidc/callback\n")}); err != nil {
		t.Errorf("loopback http issuer refused: %v", err)
	}
}
