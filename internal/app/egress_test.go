package app_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/egress"
)

// collector is a telemetry endpoint that counts every connection made to it.
type collector struct {
	addr  string
	conns atomic.Int64
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{addr: ln.Addr().String()}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.conns.Add(1)
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c
}

// TestAirGappedServerDialsOnlyItsAllowlist runs the whole server in
// air-gapped mode with the demo cluster, single sign-on and a telemetry
// endpoint configured: every dial attempt the guarded dialer saw was to the
// OIDC issuer; telemetry cannot be enabled and its endpoint never sees a
// connection.
func TestAirGappedServerDialsOnlyItsAllowlist(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	col := newCollector(t)
	dir := t.TempDir()
	cfg := testConfig(t, dir, 1)
	cfg.Egress.AirGapped = true
	cfg.Telemetry.Endpoint = "https://" + col.addr + "/v1/report"
	o := &cfg.Auth.OIDC
	o.Issuer, o.ClientID, o.RedirectURL, o.Algorithms = m.Issuer(), m.ClientID, "https://127.0.0.1:1/login/oidc/callback", []string{"RS256"}
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	var dialer *egress.Dialer
	r := serve(t, cfg, func(e *app.Env) { e.Egress = func(d *egress.Dialer) { dialer = d } })
	admin := newBrowser(t, r)
	admin.enrol(addUser(t, cfg, "g-admin", "admin", ""), testPassword, goTOTP, time.Now())
	r.waitLog(t, "backfill complete")
	for _, p := range []string{"/allocation?window=1d&aggregate=namespace", "/assets?window=1d", "/api/v1/recommendations?window=1d",
		"/api/v1/security/posture", "/api/v1/telemetry/preview", "/api/v1/audit", "/login/oidc"} {
		if a := admin.get(p); a.code != 200 && a.code != 303 {
			t.Errorf("GET %s = %d %.200s", p, a.code, a.body)
		}
	}
	if a := admin.json("PUT", "/api/v1/telemetry/consent", map[string]any{"enabled": true, "payloadVersion": 1}); a.code != 400 || !strings.Contains(a.body, "air-gapped") {
		t.Errorf("enabling telemetry in air-gapped mode: %d %s", a.code, a.body)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	attempts := dialer.Attempts()
	issuer := strings.TrimPrefix(strings.TrimPrefix(m.Issuer(), "http://"), "https://")
	issuer, _, _ = strings.Cut(issuer, "/")
	if len(attempts) == 0 {
		t.Fatal("no dial attempt recorded: the OIDC discovery should have dialled the issuer")
	}
	for _, a := range attempts {
		if !a.Allowed || a.Purpose != egress.OIDC || a.Addr != issuer {
			t.Errorf("dial attempt %+v: only the OIDC issuer %s may be dialled", a, issuer)
		}
	}
	if n := col.conns.Load(); n != 0 {
		t.Errorf("the telemetry endpoint saw %d connections", n)
	}
	t.Logf("%d dial attempts, all to the OIDC issuer", len(attempts))
}

var connectRE = regexp.MustCompile(`connect\(\d+, \{sa_family=AF_INET6?, sin6?_port=htons\((\d+)\), (?:sin_addr=inet_addr\("([^"]+)"\)|[^}]*inet_pton\(AF_INET6, "([^"]+)")`)

// TestAirGappedBinaryUnderStrace runs the real binary in air-gapped mode with
// the demo cluster under strace, an independent witness of every connect()
// the process makes: the only network destination is the OIDC issuer.
func TestAirGappedBinaryUnderStrace(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	straceBin, err := exec.LookPath("strace")
	if err != nil {
		t.Fatal("strace is not installed: apt-get install strace (scripts/ensure-tools.sh installs it)")
	}
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	col := newCollector(t)
	bin := filepath.Join(t.TempDir(), "costwarden")
	build := exec.Command("go", "build", "-o", bin, "./cmd/costwarden")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building: %v\n%s", err, out)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	conf := filepath.Join(dir, "costwarden.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `dataDir: %s
server:
  listen: %s
  internalListen: 127.0.0.1:0
demo:
  enabled: true
  days: 1
  pods: 60
egress:
  airGapped: true
telemetry:
  endpoint: https://%s/v1/report
auth:
  oidc:
    issuer: %s
    clientID: %s
    redirectURL: https://%s/login/oidc/callback
    algorithms: [RS256]
`, filepath.Join(dir, "data"), addr, col.addr, m.Issuer(), m.ClientID, addr), 0o600); err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(dir, "trace.txt")
	cmd := exec.Command(straceBin, "-f", "-qq", "--seccomp-bpf", "-e", "trace=connect", "-o", trace, bin, "serve", "--config", conf)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// The binary reads COSTWARDEN_* variables as configuration: pass none of the
	// test run's own (COSTWARDEN_TEST_LOG_DIR is not a configuration key).
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COSTWARDEN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(120 * time.Second)
	for {
		resp, err := client.Get("https://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the server exited before it was ready: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range []string{"/healthz", "/allocation?window=1h", "/login", "/login/oidc"} {
		if resp, err := client.Get("https://" + addr + p); err == nil {
			resp.Body.Close()
		}
	}
	// Stop the server itself (strace passes nothing on): its pid is strace's child.
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	if err != nil || len(strings.Fields(string(kids))) == 0 {
		t.Fatalf("finding the traced server: %v %q", err, kids)
	}
	var child int
	fmt.Sscan(strings.Fields(string(kids))[0], &child)
	_ = syscall.Kill(child, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop")
	}
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, issuerPort, _ := net.SplitHostPort(strings.Split(strings.TrimPrefix(m.Issuer(), "http://"), "/")[0])
	inet, toIssuer := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "connect(") || strings.Contains(line, "AF_UNIX") {
			continue
		}
		mm := connectRE.FindStringSubmatch(line)
		if mm == nil {
			if strings.Contains(line, "AF_INET") {
				t.Errorf("unparsed connect: %s", line)
			}
			continue
		}
		inet++
		host := mm[2] + mm[3]
		if host == "127.0.0.1" && mm[1] == issuerPort {
			toIssuer++
			continue
		}
		t.Errorf("the process connected outside its allowlist: %s", line)
	}
	if toIssuer == 0 {
		t.Fatalf("strace saw no connect to the OIDC issuer (port %s): the witness saw nothing\n%s", issuerPort, logs.String())
	}
	if n := col.conns.Load(); n != 0 {
		t.Errorf("the telemetry endpoint saw %d connections", n)
	}
	t.Logf("strace: %d inet connects, all %d to the OIDC issuer", inet, toIssuer)
}
