package app_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/doctor"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/sqlite"
	"github.com/costwarden/costwarden/internal/telemetry"
)

// writeCert writes a certificate for 127.0.0.1 valid for validFor: signed by
// a fresh CA, or self-signed.
func writeCert(t *testing.T, dir string, validFor time.Duration, selfSigned bool) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "costwarden.test"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(validFor), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	parent, signer := leaf, key
	if !selfSigned {
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		parent = &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(2 * validFor), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
		signer = caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, leaf, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	cert, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return cert, keyPath
}

func runDoctor(t *testing.T, cfg config.Config) (doctor.Report, error) {
	t.Helper()
	var out bytes.Buffer
	err := app.Doctor(context.Background(), cfg, env(io.Discard, &out), "json")
	var rep doctor.Report
	if jerr := json.Unmarshal(out.Bytes(), &rep); jerr != nil {
		t.Fatalf("doctor printed %q (%v), err %v", out.String(), jerr, err)
	}
	return rep, err
}

// TestDoctorOnAWeakConfiguration reports every weakness of a deliberately
// weak installation, and exits with the worst severity's code.
func TestDoctorOnAWeakConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir, 0)
	cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile = writeCert(t, t.TempDir(), 3*24*time.Hour, true)
	cfg.Server.Listen, cfg.Server.InternalListen = "0.0.0.0:8443", "0.0.0.0:9003"
	cfg.Retention.HourlyDays, cfg.Keys.RotateEvery, cfg.Auth.InactivityDisable = 0, 0, 0
	cfg.Auth.MaxTokenTTL = 2 * 365 * 24 * time.Hour
	cfg.Telemetry.Endpoint = "https://collector.invalid/v1"
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	ctx := context.Background()
	// One admin; a user who never finished setup; an account unused for 40 days.
	if err := app.AddUserWith(ctx, cfg, env(io.Discard, io.Discard), app.UserOptions{Name: "w-admin", Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	old := env(io.Discard, io.Discard)
	old.Now = func() time.Time { return time.Now().Add(-40 * 24 * time.Hour) }
	if err := app.AddUserWith(ctx, cfg, old, app.UserOptions{Name: "w-old", Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	// A token that never expires (as an older release could make), and consent.
	st, err := sqlite.Open(ctx, cfg.Storage.SQLite.Path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ps, _ := st.ListPrincipals(ctx, app.DefaultTenant)
	if err := st.InsertToken(ctx, store.Token{ID: "t_forever", Tenant: app.DefaultTenant, PrincipalID: ps[0].ID, Hash: []byte("h"), Sealed: []byte("s"), Role: "admin", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := telemetry.New(st, app.DefaultTenant, telemetry.Options{Endpoint: cfg.Telemetry.Endpoint}).SetConsent(ctx, true, telemetry.PayloadVersion, "u_someone"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// An edited audit record.
	db, _ := sql.Open("sqlite", "file:"+cfg.Storage.SQLite.Path)
	if _, err := db.Exec("UPDATE audit SET action = 'auth.logout' WHERE seq = 1"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	rep, err := runDoctor(t, cfg)
	var ee *app.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 || rep.Worst != doctor.Critical {
		t.Errorf("doctor on a weak config: %v, worst %s; want exit 5 (critical)", err, rep.Worst)
	}
	var ids []string
	for _, f := range rep.Findings {
		ids = append(ids, f.ID)
		if f.Title == "" || f.Detail == "" || f.Fix == "" || f.Severity.Rank() < 1 {
			t.Errorf("finding without title, detail, fix or severity: %+v", f)
		}
	}
	for _, want := range []string{"tls.expiry", "tls.self-signed", "keys.rotation-off", "keys.file-in-data-dir", "auth.password-login",
		"auth.inactivity-off", "auth.token-ttl", "accounts.single-admin", "accounts.no-mfa", "accounts.inactive", "tokens.no-expiry",
		"listeners.public-open", "listeners.internal-open", "audit.tampered", "audit.no-central-copy", "telemetry.enabled", "retention.forever"} {
		if !slices.Contains(ids, want) {
			t.Errorf("doctor did not report %s (reported %v)", want, ids)
		}
	}
	if rep.Score > 20 {
		t.Errorf("score %d for a weak configuration", rep.Score)
	}
}

// TestDoctorOnTheRecommendedConfiguration reports nothing.
func TestDoctorOnTheRecommendedConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir, 0)
	cfg.Server.TLS.CertFile, cfg.Server.TLS.KeyFile = writeCert(t, t.TempDir(), 365*24*time.Hour, false)
	cfg.Server.Listen, cfg.Server.AllowCIDRs = "0.0.0.0:8443", []string{"10.0.0.0/8"}
	cfg.Server.InternalListen = "127.0.0.1:9003"
	cfg.Keys.File = filepath.Join(t.TempDir(), "kek")
	cfg.Auth.PasswordLogin = false
	o := &cfg.Auth.OIDC
	o.Issuer, o.ClientID, o.RedirectURL, o.RequireAMR = "https://sso.example.com", "costwarden", "https://costwarden.example.com/login/oidc/callback", []string{"mfa"}
	cfg.Audit.File = filepath.Join(dir, "audit.jsonl")
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, n := range []string{"p-admin1", "p-admin2"} {
		if err := app.AddUserWith(context.Background(), cfg, env(io.Discard, io.Discard), app.UserOptions{Name: n, Role: "admin", Email: n + "@example.com"}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := runDoctor(t, cfg)
	if err != nil || len(rep.Findings) != 0 || rep.Worst != doctor.OK || rep.Score != 100 {
		t.Errorf("doctor on the recommended configuration: %v, %+v", err, rep)
	}
	if len(rep.Checks) < 10 {
		t.Errorf("only %d checks ran", len(rep.Checks))
	}
}

// TestPostureAndTelemetryAPI: auditors read the posture; admins preview the
// telemetry payload and give or withdraw consent (recorded with who and when).
func TestPostureAndTelemetryAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	cfg.Telemetry.Endpoint = "https://127.0.0.1:9/v1/report"
	r := serve(t, cfg)
	admin, auditor, viewer := newBrowser(t, r), newBrowser(t, r), newBrowser(t, r)
	admin.enrol(addUser(t, cfg, "t-admin", "admin", ""), testPassword, goTOTP, time.Now())
	auditor.enrol(addUser(t, cfg, "t-auditor", "auditor", ""), testPassword, goTOTP, time.Now())
	viewer.enrol(addUser(t, cfg, "t-viewer", "viewer", ""), testPassword, goTOTP, time.Now())

	a := auditor.get("/api/v1/security/posture")
	var p struct {
		Code     int
		Score    int
		Worst    string
		Findings []doctor.Finding
	}
	if err := json.Unmarshal([]byte(a.body), &p); err != nil || a.code != 200 || p.Code != 200 || p.Worst == "" || len(p.Findings) == 0 {
		t.Fatalf("posture: %d %s", a.code, a.body)
	}
	ids := map[string]bool{}
	for _, f := range p.Findings {
		ids[f.ID] = true
		if f.Severity == "" || f.Title == "" || f.Fix == "" {
			t.Errorf("finding %+v", f)
		}
	}
	if !ids["tls.self-signed"] || !ids["auth.password-login"] {
		t.Errorf("posture of the test server lacks tls.self-signed or auth.password-login: %v", ids)
	}
	if a := viewer.get("/api/v1/security/posture"); a.code != 403 {
		t.Errorf("viewer posture: %d", a.code)
	}
	if a := auditor.get("/api/v1/telemetry/preview"); a.code != 403 {
		t.Errorf("auditor preview: %d", a.code)
	}
	var pv struct {
		Code           int
		Enabled        bool
		PayloadVersion int
		Payload        telemetry.Payload
	}
	a = admin.get("/api/v1/telemetry/preview")
	if err := json.Unmarshal([]byte(a.body), &pv); err != nil || a.code != 200 || pv.Enabled || pv.PayloadVersion != telemetry.PayloadVersion ||
		pv.Payload.Version != "test" || len(pv.Payload.Features) != len(telemetry.Features()) || pv.Payload.Clusters != "1" {
		t.Fatalf("preview: %d %s", a.code, a.body)
	}
	for _, leak := range []string{clusterName, "t-admin", "127.0.0.1", "@"} {
		if bytes.Contains([]byte(a.body), []byte(leak)) {
			t.Errorf("the preview holds %q", leak)
		}
	}
	if a := admin.get("/api/v1/telemetry/consent"); a.code != 200 || !bytes.Contains([]byte(a.body), []byte(`"enabled":false`)) ||
		!bytes.Contains([]byte(a.body), []byte(`"available":true`)) {
		t.Errorf("consent by default: %d %s", a.code, a.body)
	}
	for body, field := range map[string]string{`{}`: "enabled", `{"enabled":true,"payloadVersion":99}`: "payloadVersion", `{"enabled":"yes"}`: "enabled"} {
		a := admin.do("PUT", "/api/v1/telemetry/consent", bytes.NewReader([]byte(body)), "application/json")
		if a.code != 400 || !bytes.Contains([]byte(a.body), []byte(`"field":"`+field+`"`)) {
			t.Errorf("PUT consent %s: %d %s", body, a.code, a.body)
		}
	}
	a = admin.json("PUT", "/api/v1/telemetry/consent", map[string]any{"enabled": true, "payloadVersion": telemetry.PayloadVersion})
	var c struct {
		Enabled        bool
		By, At         string
		PayloadVersion int
	}
	var me struct{ ID string }
	_ = json.Unmarshal([]byte(admin.get("/api/v1/me").body), &me)
	if err := json.Unmarshal([]byte(a.body), &c); err != nil || a.code != 200 || !c.Enabled || c.By != me.ID || c.At == "" || c.PayloadVersion != 1 {
		t.Fatalf("consent: %d %s", a.code, a.body)
	}
	if a := auditor.get("/api/v1/telemetry/consent"); !bytes.Contains([]byte(a.body), []byte(`"enabled":true`)) {
		t.Errorf("auditor sees consent: %d %s", a.code, a.body)
	}
	recs := auditRecords(t, auditor, "&action=telemetry.consent&outcome=success")
	if len(recs) != 1 || recs[0].Actor.ID != me.ID || recs[0].Details["enabled"] != "true" {
		t.Errorf("consent audit records: %+v", recs)
	}
}
