package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
)

// fakeAuth accepts "Bearer admin" and "Bearer viewer".
type fakeAuth struct{}

func (fakeAuth) AuthenticateRequest(r *http.Request) (*auth.Principal, error) {
	switch r.Header.Get("Authorization") {
	case "":
		return nil, nil
	case "Bearer admin":
		return &auth.Principal{ID: "u1", Role: rbac.Admin}, nil
	case "Bearer viewer":
		return &auth.Principal{ID: "u2", Role: rbac.Viewer}, nil
	}
	return nil, fmt.Errorf("%w: bad token", auth.ErrUnauthenticated)
}

func ok(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
}

func testRoutes() []server.Route {
	return []server.Route{
		{Method: "GET", Path: "/healthz", Access: server.Public, Handler: ok("healthy")},
		{Method: "GET", Path: "/costs", Access: server.Authenticated, Permission: rbac.ReadCosts, Handler: ok("costs")},
		{Method: "POST", Path: "/users", Access: server.Authenticated, Permission: rbac.ManageUsers, Handler: ok("users")},
		{Method: "GET", Path: "/boom", Access: server.Public, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("secret internal detail") })},
	}
}

func newHandler(t *testing.T, logw io.Writer) http.Handler {
	t.Helper()
	h, err := server.Handler(server.Options{Routes: testRoutes(), Auth: fakeAuth{}, Log: slog.New(slog.NewJSONHandler(logw, nil)), MaxBodyBytes: 1024, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func do(h http.Handler, method, path, token string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, nil)
	if token != "" {
		r.Header.Set("Authorization", token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestRouteTable(t *testing.T) {
	h := newHandler(t, io.Discard)
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"GET", "/healthz", "", 200},
		{"GET", "/costs", "", 401},
		{"GET", "/costs", "Bearer nonsense", 401},
		{"GET", "/costs", "Bearer viewer", 200},
		{"POST", "/users", "Bearer viewer", 403},
		{"POST", "/users", "Bearer admin", 200},
		{"GET", "/users", "Bearer admin", 404},
		{"GET", "/undeclared", "Bearer admin", 404},
		{"GET", "/debug/pprof/", "", 404},
		{"GET", "/metrics", "", 404},
		{"DELETE", "/costs", "Bearer admin", 404},
	} {
		w := do(h, c.method, c.path, c.token)
		if w.Code != c.want {
			t.Errorf("%s %s (%q) = %d, want %d", c.method, c.path, c.token, w.Code, c.want)
		}
		if w.Code >= 400 {
			var body server.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Code != w.Code || body.Message == "" || body.RequestID == "" {
				t.Errorf("%s %s: error body %q is not {code, message, requestId}", c.method, c.path, w.Body.String())
			}
		}
	}
}

func TestRouteTableRejectsInconsistentDeclarations(t *testing.T) {
	for name, routes := range map[string][]server.Route{
		"authenticated without permission": {{Method: "GET", Path: "/x", Access: server.Authenticated, Handler: ok("")}},
		"public with permission":           {{Method: "GET", Path: "/x", Access: server.Public, Permission: rbac.ReadCosts, Handler: ok("")}},
		"no access":                        {{Method: "GET", Path: "/x", Handler: ok("")}},
		"duplicate": {{Method: "GET", Path: "/x", Access: server.Public, Handler: ok("")},
			{Method: "GET", Path: "/x", Access: server.Public, Handler: ok("")}},
	} {
		if _, err := server.Handler(server.Options{Routes: routes, Auth: fakeAuth{}, Log: slog.New(slog.DiscardHandler), Now: time.Now}); err == nil {
			t.Errorf("%s: Handler accepted the table", name)
		}
	}
}

// TestDeniedPageForBrowsers: a browser opening a page its role does not allow
// gets the HTML refusal (with the principal and the missing permission); a
// script or API client gets the JSON 403; a page the role allows, and an API
// route, are unaffected.
func TestDeniedPageForBrowsers(t *testing.T) {
	var gotWho string
	var gotPerm rbac.Permission
	routes := append(testRoutes(),
		server.Route{Method: "GET", Path: "/audit", Access: server.Authenticated, Permission: rbac.ReadAudit, Page: true, Handler: ok("the audit page")},
		server.Route{Method: "GET", Path: "/api/audit", Access: server.Authenticated, Permission: rbac.ReadAudit, Handler: ok("audit data")})
	h, err := server.Handler(server.Options{Routes: routes, Auth: fakeAuth{}, Log: slog.New(slog.DiscardHandler), Now: time.Now,
		DeniedPage: func(w http.ResponseWriter, r *http.Request, missing rbac.Permission) {
			gotWho, gotPerm = server.PrincipalFrom(r.Context()).ID, missing
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, "<p>not for you</p>")
		}})
	if err != nil {
		t.Fatal(err)
	}
	send := func(path, token, accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.Header.Set("Authorization", token)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	w := send("/audit", "Bearer viewer", browser)
	if w.Code != 403 || w.Body.String() != "<p>not for you</p>" || gotWho != "u2" || gotPerm != rbac.ReadAudit {
		t.Errorf("browser denied a page: %d %q (principal %q, permission %q)", w.Code, w.Body.String(), gotWho, gotPerm)
	}
	for _, c := range []struct{ path, accept string }{{"/audit", "application/json"}, {"/audit", ""}, {"/api/audit", browser}} {
		w := send(c.path, "Bearer viewer", c.accept)
		var body server.ErrorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 403 || body.Message != "permission denied" {
			t.Errorf("GET %s (Accept %q) as viewer: %d %q, want the JSON 403", c.path, c.accept, w.Code, w.Body.String())
		}
	}
	if w := send("/audit", "Bearer admin", browser); w.Code != 200 || w.Body.String() != "the audit page" {
		t.Errorf("admin opening the page: %d %q", w.Code, w.Body.String())
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHandler(t, io.Discard)
	for _, path := range []string{"/healthz", "/costs", "/nope"} {
		w := do(h, "GET", path, "Bearer admin")
		for k, want := range map[string]string{
			"Strict-Transport-Security": "max-age=31536000",
			"Content-Security-Policy":   "frame-ancestors 'none'",
			"X-Content-Type-Options":    "nosniff",
			"Referrer-Policy":           "no-referrer",
			"Cache-Control":             "no-store",
		} {
			if got := w.Header().Get(k); !strings.Contains(got, want) {
				t.Errorf("%s: %s = %q, want it to contain %q", path, k, got, want)
			}
		}
		if csp := w.Header().Get("Content-Security-Policy"); strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: CSP allows inline script: %q", path, csp)
		}
		if w.Header().Get("Server") != "" || w.Header().Get("X-Powered-By") != "" {
			t.Errorf("%s: version banner present", path)
		}
	}
}

func TestPanicGivesGenericError(t *testing.T) {
	var logs strings.Builder
	h := newHandler(t, &logs)
	w := do(h, "GET", "/boom", "")
	if w.Code != 500 {
		t.Fatalf("status = %d, want 500", w.Code)
	}
	if strings.Contains(w.Body.String(), "secret internal detail") || strings.Contains(w.Body.String(), "goroutine") {
		t.Errorf("500 body leaks internals: %s", w.Body.String())
	}
	var body server.ErrorBody
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if body.RequestID == "" || !strings.Contains(logs.String(), body.RequestID) || !strings.Contains(logs.String(), "secret internal detail") {
		t.Errorf("the log should hold the cause under the request id %q; log: %s", body.RequestID, logs.String())
	}
}

func TestRequestIDIsSanitised(t *testing.T) {
	h := newHandler(t, io.Discard)
	r := httptest.NewRequest("GET", "/healthz", nil)
	r.Header.Set("X-Request-Id", "evil\nid")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if id := w.Header().Get("X-Request-Id"); strings.ContainsAny(id, "\n ") || id == "" {
		t.Errorf("request id %q was not replaced", id)
	}
}

// startTLS runs a real listener with the production TLS policy.
func startTLS(t *testing.T) (addr string, pool *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	certPath, keyPath, created, err := server.EnsureSelfSigned(dir, time.Now())
	if err != nil || !created {
		t.Fatalf("EnsureSelfSigned: created=%v err=%v", created, err)
	}
	if st, _ := os.Stat(keyPath); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode = %o, want 600", st.Mode().Perm())
	}
	files, err := server.LoadCertFiles(certPath, keyPath, time.Now, func(error) {})
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(certPath)
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Config{
			TLS: server.TLSConfig(files.GetCertificate), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second,
			WriteTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, MaxHeaderBytes: 8192, ShutdownTimeout: 5 * time.Second,
			Log:   slog.New(slog.DiscardHandler),
			Ready: func(_ string, a net.Addr) { ready <- a.String() },
		}, server.Listener{Name: "public", Addr: "127.0.0.1:0", Handler: newHandler(t, io.Discard), TLS: true})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return <-ready, pool
}

func TestTLSPolicyWithGoClient(t *testing.T) {
	addr, pool := startTLS(t)
	for _, c := range []struct {
		name   string
		conf   *tls.Config
		wantOK bool
	}{
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
		{"TLS 1.2 ECDHE-GCM", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false},
		{"TLS 1.2 CBC only", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}}, false},
	} {
		c.conf.RootCAs = pool
		c.conf.ServerName = "localhost"
		conn, err := tls.Dial("tcp", addr, c.conf)
		if (err == nil) != c.wantOK {
			t.Errorf("%s: handshake err = %v, want ok=%v", c.name, err, c.wantOK)
		}
		if err == nil {
			conn.Close()
		}
	}
	// The default negotiation picks TLS 1.3.
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if v := conn.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("negotiated %x, want TLS 1.3", v)
	}
	conn.Close()
}

// TestTLSPolicyWithOpenSSL uses an independent client: openssl s_client must fail
// with -tls1_1 and with a CBC suite, and succeed with TLS 1.2 GCM and TLS 1.3.
func TestTLSPolicyWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is required for this test (apt-get install openssl; .ci/run installs it)")
	}
	addr, _ := startTLS(t)
	for _, c := range []struct {
		name   string
		args   []string
		wantOK bool
	}{
		{"tls1_3", []string{"-tls1_3"}, true},
		{"tls1_2 gcm", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"}, true},
		{"tls1_1", []string{"-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"}, false},
		{"tls1", []string{"-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"}, false},
		{"tls1_2 cbc", []string{"-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256"}, false},
		{"tls1_2 rsa kx", []string{"-tls1_2", "-cipher", "AES128-GCM-SHA256"}, false},
	} {
		args := append([]string{"s_client", "-connect", addr, "-servername", "localhost"}, c.args...)
		cmd := exec.Command(openssl, args...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		// s_client exits non-zero when the handshake fails.
		established := err == nil && (strings.Contains(string(out), "Cipher is") && !strings.Contains(string(out), "Cipher is (NONE)"))
		if established != c.wantOK {
			t.Errorf("openssl %s: established=%v, want %v\n%s", c.name, established, c.wantOK, tail(string(out), 600))
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestPlainHTTPGetsNoData: speaking HTTP to the TLS port yields no application data.
func TestPlainHTTPGetsNoData(t *testing.T) {
	addr, _ := startTLS(t)
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
	b, _ := io.ReadAll(bufio.NewReader(conn))
	if strings.Contains(string(b), "healthy") || strings.Contains(string(b), "200 OK") {
		t.Errorf("plain HTTP got data: %q", b)
	}
}

func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, _, err := server.EnsureSelfSigned(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	now := func() time.Time { return clock }
	var reloadErr error
	files, err := server.LoadCertFiles(certPath, keyPath, now, func(err error) { reloadErr = err })
	if err != nil {
		t.Fatal(err)
	}
	first, _ := files.GetCertificate(nil)
	// Replace the pair (a renewal) and advance the clock past the check interval.
	other := t.TempDir()
	c2, k2, _, err := server.EnsureSelfSigned(other, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for src, dst := range map[string]string{c2: certPath, k2: keyPath} {
		b, _ := os.ReadFile(src)
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	future := time.Now().Add(time.Minute)
	_ = os.Chtimes(certPath, future, future)
	clock = clock.Add(10 * time.Second)
	second, _ := files.GetCertificate(nil)
	if string(first.Certificate[0]) == string(second.Certificate[0]) {
		t.Error("certificate was not reloaded after the files changed")
	}
	// A broken renewal keeps serving the last good certificate.
	if err := os.WriteFile(certPath, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(10 * time.Second)
	third, err := files.GetCertificate(nil)
	if err != nil || string(third.Certificate[0]) != string(second.Certificate[0]) || reloadErr == nil {
		t.Errorf("broken renewal: err=%v reloadErr=%v, want the previous certificate kept and an error reported", err, reloadErr)
	}
}

func TestKeyPermissionsEnforced(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath, _, err := server.EnsureSelfSigned(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = server.LoadCertFiles(certPath, keyPath, time.Now, nil)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key accepted: %v", err)
	}
	if _, err := server.LoadCertFiles(filepath.Join(dir, "none.crt"), keyPath, time.Now, nil); err == nil {
		t.Error("missing certificate accepted")
	}
	// A Kubernetes Secret mounted into a non-root pod through fsGroup is root-owned
	// and 0440: accepted only while root owns it and others cannot read it.
	for _, c := range []struct {
		mode fs.FileMode
		uid  int
		ok   bool
	}{{0o440, 0, true}, {0o640, 0, true}, {0o444, 0, false}, {0o460, 0, false}, {0o440, 65532, false}, {0o400, 65532, true}} {
		if os.Geteuid() != 0 && c.uid == 0 {
			continue // files of this process cannot be root-owned; the non-root cases still run
		}
		if os.Geteuid() == 0 {
			if err := os.Chown(keyPath, c.uid, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(keyPath, c.mode); err != nil {
			t.Fatal(err)
		}
		_, err := server.LoadCertFiles(certPath, keyPath, time.Now, nil)
		if (err == nil) != c.ok {
			t.Errorf("key mode %04o owned by uid %d: err = %v, want accepted = %v", c.mode, c.uid, err, c.ok)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	routes := []server.Route{{Method: "POST", Path: "/echo", Access: server.Public, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			server.WriteError(w, r, http.StatusRequestEntityTooLarge, "body too large", "")
			return
		}
		io.WriteString(w, "ok")
	})}}
	h, err := server.Handler(server.Options{Routes: routes, Auth: fakeAuth{}, Log: slog.New(slog.DiscardHandler), MaxBodyBytes: 10, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/echo", strings.NewReader(strings.Repeat("x", 100)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: status %d, want 413", w.Code)
	}
}
