// Package doctor scores a costwarden installation's security posture: given
// the effective configuration and facts gathered from the running data (the
// served certificate, data-key ages, principals and their second factors, API
// tokens, the audit chain's verification, telemetry consent, the schema
// version), it returns findings with a severity and the exact fix, a score and
// the worst severity. `costwarden doctor` prints them and exits with a code
// that reflects the worst; GET /api/v1/security/posture serves them.
//
// It is a pure function of its input: it must not do I/O (the caller gathers).
package doctor

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/config"
)

// Severity of a finding.
type Severity string

// Severities, least to most severe.
const (
	OK       Severity = "ok"
	Info     Severity = "info"
	Low      Severity = "low"
	Medium   Severity = "medium"
	High     Severity = "high"
	Critical Severity = "critical"
)

// Rank orders severities (ok = 0 ... critical = 5).
func (s Severity) Rank() int {
	return slices.Index([]Severity{OK, Info, Low, Medium, High, Critical}, s)
}

// ExitCode is what `costwarden doctor` exits with for a worst severity: 0 for
// ok and info, 2 low, 3 medium, 4 high, 5 critical (1 is left for "doctor
// could not run").
func (s Severity) ExitCode() int {
	if r := s.Rank(); r >= 2 {
		return r
	}
	return 0
}

// Finding is one weakness with its fix.
type Finding struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	Detail   string   `json:"detail"`
	Fix      string   `json:"fix"`
}

// Check is one check that ran, with the worst severity it found.
type Check struct {
	ID     string   `json:"id"`
	Status Severity `json:"status"`
}

// Report is the outcome.
type Report struct {
	Score    int       `json:"score"`
	Worst    Severity  `json:"worst"`
	Findings []Finding `json:"findings"`
	Checks   []Check   `json:"checks"`
}

// Principal is what doctor needs to know of an account.
type Principal struct {
	ID, Name, Kind, Role, State, Source string
	MFA                                 bool // TOTP or a passkey is enrolled
	HasPassword                         bool
	CreatedAt, LastSeenAt               time.Time
}

// Token is what doctor needs to know of an API token.
type Token struct {
	ID, PrincipalID string
	ExpiresAt       time.Time // zero: never
	RevokedAt       time.Time
}

// DataKey is one tenant's active data key.
type DataKey struct {
	Tenant  string
	Created time.Time
}

// Input is everything doctor looks at.
type Input struct {
	Config config.Config
	Now    time.Time
	// Cert is the served certificate's leaf (nil: none could be read, CertErr says why).
	Cert    *x509.Certificate
	CertErr error
	Keys    []DataKey
	// KEKID names the key-encryption key in use.
	KEKID      string
	Principals []Principal
	Tokens     []Token
	// AuditOK, AuditFirstBad: the audit chain's verification (AuditErr when it
	// could not run).
	AuditOK       bool
	AuditFirstBad string
	AuditErr      error
	AuditRecords  int
	Telemetry     bool // consent given
	TelemetryBy   string
	Schema        int
	LatestSchema  int
}

type run struct {
	in       Input
	findings []Finding
	checks   []Check
	cur      string
}

func (r *run) check(id string, fn func()) {
	r.cur = id
	before := len(r.findings)
	fn()
	worst := OK
	for _, f := range r.findings[before:] {
		if f.Severity.Rank() > worst.Rank() {
			worst = f.Severity
		}
	}
	r.checks = append(r.checks, Check{ID: id, Status: worst})
}

func (r *run) add(id string, sev Severity, title, detail, fix string) {
	r.findings = append(r.findings, Finding{ID: id, Severity: sev, Title: title, Detail: detail, Fix: fix})
}

// Weights of findings in the score (100 minus the sum, at least 0).
var weight = map[Severity]int{Info: 0, Low: 3, Medium: 10, High: 25, Critical: 50}

// Run checks everything and scores it.
func Run(in Input) Report {
	r := &run{in: in}
	c := in.Config
	r.check("tls", r.tls)
	r.check("keys", r.keys)
	r.check("auth", r.auth)
	r.check("accounts", r.accounts)
	r.check("tokens", r.tokens)
	r.check("listeners", r.listeners)
	r.check("audit", r.audit)
	r.check("telemetry", func() {
		if in.Telemetry {
			r.add("telemetry.enabled", Info, "Usage telemetry is enabled",
				fmt.Sprintf("An administrator (%s) consented to sending product usage counters to %s.", in.TelemetryBy, c.Telemetry.Endpoint),
				"Nothing to fix if intended; withdraw consent with PUT /api/v1/telemetry/consent {\"enabled\":false}.")
		}
	})
	r.check("retention", func() {
		if c.Retention.HourlyDays == 0 || c.Retention.DailyMonths == 0 {
			r.add("retention.forever", Low, "Cost data is kept forever",
				fmt.Sprintf("retention.hourlyDays is %d and retention.dailyMonths is %d (0 keeps data forever).", c.Retention.HourlyDays, c.Retention.DailyMonths),
				"Set retention.hourlyDays (e.g. 15) and retention.dailyMonths (e.g. 24).")
		}
	})
	r.check("schema", func() {
		if in.Schema != in.LatestSchema {
			r.add("store.schema", High, "The database schema is not this binary's",
				fmt.Sprintf("The store is at schema version %d; this binary uses %d.", in.Schema, in.LatestSchema),
				"Start the server once (it migrates), or run the costwarden release that wrote the database.")
		}
	})
	slices.SortStableFunc(r.findings, func(a, b Finding) int { return b.Severity.Rank() - a.Severity.Rank() })
	rep := Report{Score: 100, Worst: OK, Findings: r.findings, Checks: r.checks}
	if rep.Findings == nil {
		rep.Findings = []Finding{}
	}
	for _, f := range r.findings {
		rep.Score -= weight[f.Severity]
		if f.Severity.Rank() > rep.Worst.Rank() {
			rep.Worst = f.Severity
		}
	}
	rep.Score = max(rep.Score, 0)
	return rep
}

func (r *run) tls() {
	in, c := r.in, r.in.Config
	if in.Cert == nil {
		r.add("tls.certificate", High, "The TLS certificate cannot be read", fmt.Sprint(in.CertErr),
			"Check server.tls.certFile and server.tls.keyFile (PEM, key mode 0600).")
		return
	}
	left := in.Cert.NotAfter.Sub(in.Now)
	switch {
	case left <= 0:
		r.add("tls.expired", Critical, "The TLS certificate has expired", "It expired on "+in.Cert.NotAfter.UTC().Format(time.RFC3339)+".",
			"Install a new certificate at server.tls.certFile; it is reloaded without a restart.")
	case left < 7*24*time.Hour:
		r.add("tls.expiry", High, "The TLS certificate expires within 7 days", "It expires on "+in.Cert.NotAfter.UTC().Format(time.RFC3339)+".",
			"Renew it and replace server.tls.certFile; it is reloaded without a restart.")
	case left < 30*24*time.Hour:
		r.add("tls.expiry", Medium, "The TLS certificate expires within 30 days", "It expires on "+in.Cert.NotAfter.UTC().Format(time.RFC3339)+".",
			"Renew it and replace server.tls.certFile; it is reloaded without a restart.")
	}
	if c.Server.TLS.CertFile == "" || selfSigned(in.Cert) {
		r.add("tls.self-signed", Medium, "A self-signed certificate is served",
			"Clients cannot verify the server, so users learn to click through warnings.",
			"Configure server.tls.certFile and server.tls.keyFile with a certificate from your CA (or cert-manager).")
	}
	// The protocol floor is fixed in code (TLS 1.2, AEAD suites only): nothing to configure.
}

func selfSigned(c *x509.Certificate) bool {
	return string(c.RawIssuer) == string(c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func (r *run) keys() {
	in, c := r.in, r.in.Config
	if c.Keys.RotateEvery <= 0 {
		r.add("keys.rotation-off", Medium, "Scheduled data-key rotation is off", "keys.rotateEvery is 0.",
			"Set keys.rotateEvery (e.g. 2160h, 90 days).")
	} else {
		for _, k := range in.Keys {
			if age := in.Now.Sub(k.Created); age > c.Keys.RotateEvery+c.Retention.Interval+24*time.Hour {
				r.add("keys.age", Medium, "A data key is older than the rotation schedule",
					fmt.Sprintf("Tenant %s's active data key is %d days old; keys.rotateEvery is %s.", k.Tenant, int(age.Hours()/24), c.Keys.RotateEvery),
					"Run costwarden keys rotate (and check that the server's maintenance runs: it rotates on schedule).")
			}
		}
	}
	if c.Keys.Provider == "file" {
		inside := within(c.DataDir, c.Keys.File)
		if inside {
			r.add("keys.file-in-data-dir", Medium, "The key-encryption key lives in the data directory",
				"keys.file is "+c.Keys.File+": a copy of the data directory (a backup, a snapshot) carries the key that opens it.",
				"Move the key file off the data volume (keys.file), or use keys.provider secret or awskms.")
		}
	}
}

func within(dir, path string) bool {
	d, err1 := filepath.Abs(dir)
	p, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func (r *run) auth() {
	c := r.in.Config
	if c.Auth.PasswordLogin {
		r.add("auth.password-login", Low, "Password login is enabled",
			"Passwords (with TOTP) can be phished and reused; single sign-on centralises MFA and offboarding.",
			"Configure auth.oidc and set auth.passwordLogin: false.")
	} else if c.Auth.OIDC.Issuer != "" && len(c.Auth.OIDC.RequireAMR) == 0 && len(c.Auth.OIDC.RequireACR) == 0 {
		r.add("auth.sso-mfa", Medium, "Single sign-on does not require MFA",
			"Neither auth.oidc.requireAMR nor auth.oidc.requireACR is set, so an SSO login without a second factor is accepted.",
			"Set auth.oidc.requireAMR (e.g. [mfa]) to what your provider asserts.")
	}
	if c.Auth.InactivityDisable <= 0 {
		r.add("auth.inactivity-off", Medium, "Inactive accounts are never disabled", "auth.inactivityDisable is 0.",
			"Set auth.inactivityDisable (e.g. 2160h, 90 days).")
	}
	if c.Auth.MaxTokenTTL > 365*24*time.Hour {
		r.add("auth.token-ttl", Low, "API tokens may live longer than a year", "auth.maxTokenTTL is "+c.Auth.MaxTokenTTL.String()+".",
			"Set auth.maxTokenTTL to 8760h or less.")
	}
}

func (r *run) accounts() {
	in, c := r.in, r.in.Config
	admins := 0
	var noMFA, inactive []string
	for _, p := range in.Principals {
		if p.State == "disabled" {
			continue
		}
		if p.Role == "admin" {
			admins++
		}
		if p.Kind == "user" && c.Auth.PasswordLogin && p.Source != "oidc" && !p.MFA {
			noMFA = append(noMFA, p.Name)
		}
		last := p.LastSeenAt
		if last.IsZero() {
			last = p.CreatedAt
		}
		if in.Now.Sub(last) > 30*24*time.Hour {
			inactive = append(inactive, p.Name)
		}
	}
	switch {
	case admins == 0:
		r.add("accounts.no-admin", High, "No active administrator", "Nobody can manage users, keys or settings through the API.",
			"Create one: costwarden user add NAME --role admin.")
	case admins == 1:
		r.add("accounts.single-admin", Low, "Only one administrator", "If that person is away or leaves, nobody can administer costwarden.",
			"Add a second administrator: costwarden user add NAME --role admin.")
	case admins > 5:
		r.add("accounts.many-admins", Low, fmt.Sprintf("%d administrators", admins), "More admins than needed widens what a stolen account can do.",
			"Give most of them the editor, viewer or auditor role (PATCH /api/v1/users/{id}).")
	}
	if len(noMFA) > 0 {
		r.add("accounts.no-mfa", Medium, fmt.Sprintf("%d users without a second factor", len(noMFA)),
			"They have not completed setup (password and TOTP): "+list(noMFA)+".",
			"Ask them to complete setup, or reset: costwarden user reset-mfa NAME; delete accounts nobody uses.")
	}
	if len(inactive) > 0 {
		r.add("accounts.inactive", Low, fmt.Sprintf("%d accounts unused for 30 days", len(inactive)), "Not seen for 30 days: "+list(inactive)+".",
			"Disable those no longer needed: costwarden user disable NAME.")
	}
}

func list(names []string) string {
	slices.Sort(names)
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(" and %d more", len(names)-10)
	}
	return strings.Join(names, ", ")
}

func (r *run) tokens() {
	var never []string
	for _, t := range r.in.Tokens {
		if t.ExpiresAt.IsZero() && t.RevokedAt.IsZero() {
			never = append(never, t.ID)
		}
	}
	if len(never) > 0 {
		r.add("tokens.no-expiry", High, fmt.Sprintf("%d API tokens never expire", len(never)),
			"A leaked token without an expiry works until someone notices: "+list(never)+".",
			"Revoke them (DELETE /api/v1/users/{id}/tokens/{tid}) and issue tokens with a lifetime.")
	}
}

func (r *run) listeners() {
	c := r.in.Config
	if !loopback(c.Server.Listen) && len(c.Server.AllowCIDRs) == 0 {
		r.add("listeners.public-open", Medium, "The HTTPS listener accepts every address",
			"server.listen is "+c.Server.Listen+" and server.allowCIDRs is empty.",
			"Set server.allowCIDRs to the networks users and automation come from (e.g. [10.0.0.0/8]).")
	}
	if c.Server.InternalListen != "" && !loopback(c.Server.InternalListen) && len(c.Server.InternalAllowCIDRs) == 0 {
		r.add("listeners.internal-open", High, "The metrics listener is reachable beyond this host",
			"server.internalListen is "+c.Server.InternalListen+" and server.internalAllowCIDRs is empty.",
			"Bind server.internalListen to 127.0.0.1, or set server.internalAllowCIDRs to your Prometheus's addresses.")
	}
	if c.Server.InternalListen != "" && !loopback(c.Server.InternalListen) && !c.Server.InternalTLS {
		sev := Low
		if c.Server.MetricsTokenFile != "" {
			sev = Medium // the scrape token and the cost series cross the network in clear
		}
		r.add("listeners.internal-plaintext", sev, "The metrics listener serves plain HTTP beyond this host",
			"server.internalListen is "+c.Server.InternalListen+" without server.internalTLS: the scrape token and what /metrics carries travel unencrypted.",
			"Set server.internalTLS: true and scrape with scheme https and the server certificate's CA.")
	}
}

// loopback reports whether a listen address binds only loopback.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

func (r *run) audit() {
	in, c := r.in, r.in.Config
	switch {
	case in.AuditErr != nil:
		r.add("audit.unverifiable", High, "The audit trail could not be verified", in.AuditErr.Error(),
			"Check the store and key, then run costwarden audit verify.")
	case !in.AuditOK:
		r.add("audit.tampered", Critical, "The audit trail fails verification", in.AuditFirstBad,
			"Treat it as an incident: keep the database as evidence, compare with your central copy (audit.syslog or audit.file), and run costwarden audit verify.")
	}
	if c.Audit.File == "" && c.Audit.Syslog.Address == "" && !c.Audit.Stdout {
		r.add("audit.no-central-copy", Low, "Audit records are kept only in the database",
			"An insider holding the database and its key could rewrite the trail and its signatures; an outside copy cannot be.",
			"Set audit.syslog.address (RFC 5424 over TLS to your SIEM), audit.file, or audit.stdout (shipped by your log collector; the Helm chart sets audit.stdout).")
	}
}
