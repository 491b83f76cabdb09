package doctor_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/doctor"
)

var now = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func cert(t *testing.T, notAfter time.Time) *x509.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, NotBefore: now.Add(-time.Hour), NotAfter: notAfter.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf"}, NotBefore: now.Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// good is an input with nothing to report.
func good(t *testing.T) doctor.Input {
	cfg := config.Default()
	cfg.DataDir, cfg.Keys.File = "/var/lib/costwarden", "/etc/costwarden/kek"
	cfg.Server.TLS.CertFile, cfg.Server.Listen = "/etc/costwarden/tls.crt", "127.0.0.1:8443"
	cfg.Auth.PasswordLogin = false
	cfg.Auth.OIDC.Issuer, cfg.Auth.OIDC.RequireAMR = "https://sso.example.com", []string{"mfa"}
	cfg.Audit.File = "/var/log/costwarden/audit.jsonl"
	return doctor.Input{Config: cfg, Now: now, Cert: cert(t, now.Add(300*24*time.Hour)), Keys: []doctor.DataKey{{Tenant: "default", Created: now.Add(-10 * 24 * time.Hour)}},
		Principals: []doctor.Principal{{Name: "a", Kind: "user", Role: "admin", State: "active", MFA: true, LastSeenAt: now}, {Name: "b", Kind: "user", Role: "admin", State: "active", MFA: true, LastSeenAt: now}},
		AuditOK:    true, Schema: 3, LatestSchema: 3}
}

func ids(r doctor.Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.ID)
	}
	return out
}

func TestEachCheck(t *testing.T) {
	if r := doctor.Run(good(t)); len(r.Findings) != 0 || r.Score != 100 || r.Worst != doctor.OK || r.Worst.ExitCode() != 0 {
		t.Fatalf("good input: %+v", r)
	}
	for _, tt := range []struct {
		id    string
		sev   doctor.Severity
		tweak func(*doctor.Input)
	}{
		{"tls.expired", doctor.Critical, func(in *doctor.Input) { in.Cert = cert(t, now.Add(-time.Hour)) }},
		{"tls.expiry", doctor.High, func(in *doctor.Input) { in.Cert = cert(t, now.Add(3*24*time.Hour)) }},
		{"tls.expiry", doctor.Medium, func(in *doctor.Input) { in.Cert = cert(t, now.Add(20*24*time.Hour)) }},
		{"tls.certificate", doctor.High, func(in *doctor.Input) { in.Cert, in.CertErr = nil, errors.New("no such file") }},
		{"tls.self-signed", doctor.Medium, func(in *doctor.Input) { in.Config.Server.TLS.CertFile = "" }},
		{"keys.age", doctor.Medium, func(in *doctor.Input) { in.Keys[0].Created = now.Add(-200 * 24 * time.Hour) }},
		{"keys.rotation-off", doctor.Medium, func(in *doctor.Input) { in.Config.Keys.RotateEvery = 0 }},
		{"keys.file-in-data-dir", doctor.Medium, func(in *doctor.Input) { in.Config.Keys.File = "/var/lib/costwarden/costwarden.key" }},
		{"auth.password-login", doctor.Low, func(in *doctor.Input) { in.Config.Auth.PasswordLogin = true }},
		{"auth.sso-mfa", doctor.Medium, func(in *doctor.Input) { in.Config.Auth.OIDC.RequireAMR = nil }},
		{"accounts.no-admin", doctor.High, func(in *doctor.Input) { in.Principals = nil }},
		{"accounts.single-admin", doctor.Low, func(in *doctor.Input) { in.Principals = in.Principals[:1] }},
		{"accounts.many-admins", doctor.Low, func(in *doctor.Input) {
			for range 5 {
				in.Principals = append(in.Principals, in.Principals[0])
			}
		}},
		{"accounts.no-mfa", doctor.Medium, func(in *doctor.Input) {
			in.Config.Auth.PasswordLogin = true
			in.Principals = append(in.Principals, doctor.Principal{Name: "c", Kind: "user", Role: "viewer", State: "active", LastSeenAt: now})
		}},
		{"accounts.inactive", doctor.Low, func(in *doctor.Input) { in.Principals[1].LastSeenAt = now.Add(-31 * 24 * time.Hour) }},
		{"tokens.no-expiry", doctor.High, func(in *doctor.Input) { in.Tokens = []doctor.Token{{ID: "t_1"}} }},
		{"listeners.public-open", doctor.Medium, func(in *doctor.Input) { in.Config.Server.Listen = ":8443" }},
		{"listeners.internal-open", doctor.High, func(in *doctor.Input) {
			in.Config.Server.InternalListen, in.Config.Server.InternalTLS = "0.0.0.0:9003", true
		}},
		{"listeners.internal-plaintext", doctor.Medium, func(in *doctor.Input) {
			in.Config.Server.InternalListen, in.Config.Server.InternalAllowCIDRs = "10.0.0.5:9003", []string{"10.0.0.0/8"}
			in.Config.Server.MetricsTokenFile = "/etc/costwarden/metrics/token"
		}},
		{"audit.tampered", doctor.Critical, func(in *doctor.Input) { in.AuditOK, in.AuditFirstBad = false, "record 3 is missing (deleted)" }},
		{"audit.unverifiable", doctor.High, func(in *doctor.Input) { in.AuditErr = errors.New("store down") }},
		{"audit.no-central-copy", doctor.Low, func(in *doctor.Input) { in.Config.Audit.File = "" }},
		{"telemetry.enabled", doctor.Info, func(in *doctor.Input) { in.Telemetry = true }},
		{"retention.forever", doctor.Low, func(in *doctor.Input) { in.Config.Retention.DailyMonths = 0 }},
		{"store.schema", doctor.High, func(in *doctor.Input) { in.Schema = 2 }},
	} {
		in := good(t)
		tt.tweak(&in)
		r := doctor.Run(in)
		if tt.id == "accounts.no-mfa" { // only with password login, itself a finding
			r.Findings = slices.DeleteFunc(r.Findings, func(f doctor.Finding) bool { return f.ID == "auth.password-login" })
		}
		if len(r.Findings) != 1 || r.Findings[0].ID != tt.id || r.Findings[0].Severity != tt.sev || r.Worst != tt.sev {
			t.Errorf("%s: findings %v (worst %s), want only %s at %s", tt.id, ids(r), r.Worst, tt.id, tt.sev)
		}
	}
	// Allowlists (and TLS on the metrics listener) silence the listener findings.
	in := good(t)
	in.Config.Server.Listen, in.Config.Server.AllowCIDRs = ":8443", []string{"10.0.0.0/8"}
	in.Config.Server.InternalListen, in.Config.Server.InternalAllowCIDRs = "0.0.0.0:9003", []string{"10.1.2.3/32"}
	in.Config.Server.InternalTLS = true
	if r := doctor.Run(in); len(r.Findings) != 0 {
		t.Errorf("listeners with allowlists: %v", ids(r))
	}
	codes := []int{}
	for _, s := range []doctor.Severity{doctor.OK, doctor.Info, doctor.Low, doctor.Medium, doctor.High, doctor.Critical} {
		codes = append(codes, s.ExitCode())
	}
	if !slices.Equal(codes, []int{0, 0, 2, 3, 4, 5}) {
		t.Errorf("exit codes %v", codes)
	}
}

// TestStdoutIsACentralCopy: audit records on standard output (collected with
// the container's logs, as the Helm chart configures) count as an outside copy.
func TestStdoutIsACentralCopy(t *testing.T) {
	in := good(t)
	in.Config.Audit.File, in.Config.Audit.Stdout = "", true
	if r := doctor.Run(in); len(r.Findings) != 0 {
		t.Errorf("findings %v with audit.stdout, want none", ids(r))
	}
}
