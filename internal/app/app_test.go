package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/httpapi"
	"github.com/costwarden/costwarden/internal/server"
	"github.com/costwarden/costwarden/internal/testlog"
)

const clusterName = "acme-prod-eu1"

func testConfig(t *testing.T, dir string, days int) config.Config {
	t.Helper()
	cfg, err := config.Load(config.Sources{Flags: map[string]string{
		"dataDir": dir, "server.listen": "127.0.0.1:0", "server.internalListen": "127.0.0.1:0",
		"demo.enabled": "true", "demo.days": fmt.Sprint(days), "demo.pods": "120", "demo.clusterName": clusterName,
		"server.shutdownTimeout": "5s",
	}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type running struct {
	public, internal string
	logs             *syncBuffer
	stop             func() error
	client           *http.Client
}

func env(logs io.Writer, out io.Writer) app.Env {
	// The production logger (redaction included), at debug level.
	return app.Env{Now: time.Now, Stdout: out, Stderr: io.Discard, Log: app.NewLogger(logs, config.LogConfig{Level: "debug", Format: "json"}), Build: app.Build{Version: "test"}}
}

// serve starts the whole server and waits until it is ready (an hour is stored).
func serve(t *testing.T, cfg config.Config, opts ...func(*app.Env)) *running {
	t.Helper()
	logs := &syncBuffer{}
	// The server's log is also kept for the suite-wide secret scan (internal/logscan).
	e := env(io.MultiWriter(logs, testlog.Writer(t, "server")), io.Discard)
	for _, o := range opts {
		o(&e)
	}
	addrs := make(chan [2]string, 2)
	e.Ready = func(name string, a net.Addr) { addrs <- [2]string{name, a.String()} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, cfg, e) }()
	r := &running{logs: logs, client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}
	for r.public == "" || r.internal == "" {
		select {
		case a := <-addrs:
			if a[0] == "public" {
				r.public = a[1]
			} else {
				r.internal = a[1]
			}
		case err := <-done:
			cancel()
			t.Fatalf("Serve ended early: %v\n%s", err, logs.String())
		case <-time.After(60 * time.Second):
			cancel()
			t.Fatalf("server did not start\n%s", logs.String())
		}
	}
	var once sync.Once
	var stopErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			stopErr = <-done
		})
		return stopErr
	}
	t.Cleanup(func() { _ = r.stop() })
	deadline := time.Now().Add(120 * time.Second)
	for {
		resp, err := r.client.Get("https://" + r.public + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready after 120s\n%s", logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return r
}

func (r *running) waitLog(t *testing.T, what string) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for !strings.Contains(r.logs.String(), what) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r *running) get(t *testing.T, path, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://"+r.public+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func makeToken(t *testing.T, cfg config.Config) string {
	t.Helper()
	ctx := context.Background()
	if err := app.AddUser(ctx, cfg, env(io.Discard, io.Discard), "alice", "admin"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := app.CreateToken(ctx, cfg, env(io.Discard, &out), "alice", time.Hour); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out.String())
	testlog.Secret(t, tok)
	if strings.Count(out.String(), "\n") != 1 || !strings.HasPrefix(tok, "cwt_") {
		t.Fatalf("token create printed %q, want exactly one token line", out.String())
	}
	return tok
}

type allocResp struct {
	Code int                                 `json:"code"`
	Data []map[string]map[string]interface{} `json:"data"`
}

func sumRows(rows map[string]map[string]interface{}) float64 {
	s := 0.0
	for _, r := range rows {
		s += r["totalCost"].(float64)
	}
	return s
}

func TestServeDemoEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir, 2)
	r := serve(t, cfg)
	// Administration commands work while the server runs.
	tok := makeToken(t, cfg)
	r.waitLog(t, "backfill complete")

	code, body := r.get(t, "/allocation?window=2d&aggregate=namespace", tok)
	if code != 200 {
		t.Fatalf("allocation: %d %s", code, body)
	}
	var ar allocResp
	if err := json.Unmarshal(body, &ar); err != nil {
		t.Fatal(err)
	}
	if ar.Code != 200 || len(ar.Data) != 1 {
		t.Fatalf("response shape: %s", body[:min(300, len(body))])
	}
	rows := ar.Data[0]
	if _, ok := rows[cost.IdleName]; !ok {
		t.Errorf("no __idle__ row in %v", keys(rows))
	}
	nonZero := 0
	for name, row := range rows {
		if row["totalCost"].(float64) > 0 && name != cost.IdleName {
			nonZero++
		}
		for _, f := range []string{"cpuCoreHours", "cpuCost", "ramByteHours", "ramCost", "gpuCost", "totalCost", "cpuEfficiency", "properties", "window", "start", "end", "minutes"} {
			if _, ok := row[f]; !ok {
				t.Errorf("row %s lacks OpenCost field %s", name, f)
			}
		}
	}
	if nonZero < 8 {
		t.Errorf("only %d namespaces with cost: %v", nonZero, keys(rows))
	}

	// The rows add up to what the assets cost (to the rounding of each row).
	code, body = r.get(t, "/assets?window=2d", tok)
	if code != 200 {
		t.Fatalf("assets: %d %s", code, body)
	}
	var as struct {
		Data []map[string]map[string]interface{} `json:"data"`
	}
	if err := json.Unmarshal(body, &as); err != nil {
		t.Fatal(err)
	}
	assetTotal, nodes := 0.0, 0
	for _, a := range as.Data[0] {
		assetTotal += a["totalCost"].(float64)
		if a["type"] == "Node" {
			nodes++
		}
	}
	// Both answers are computed independently; between the two requests the open
	// hour can advance by a minute, so allow for that as well as rounding.
	if got := sumRows(rows); nodes < 3 || math.Abs(got-assetTotal) > 0.01*assetTotal {
		t.Errorf("allocation total %.6f vs assets total %.6f (%d nodes)", got, assetTotal, nodes)
	}

	// Accumulated over steps equals the total; steps partition the window.
	code, body = r.get(t, "/allocation?window=2026-01-01T00:00:00Z,2026-01-02T00:00:00Z&step=6h", tok)
	if code != 200 {
		t.Fatalf("step query: %d %s", code, body)
	}
	if err := json.Unmarshal(body, &ar); err != nil || len(ar.Data) != 4 {
		t.Errorf("step=6h over a day: %d sets (err %v), want 4", len(ar.Data), err)
	}

	// Anonymous and bad credentials are refused; bad input names the parameter.
	for _, c := range []struct {
		path, token string
		code        int
		field       string
	}{
		{"/allocation?window=7d", "", 401, ""},
		{"/allocation?window=7d", "cwt_" + strings.Repeat("A", 43), 401, ""},
		{"/allocation?window=7d&aggregate=planet", tok, 400, "aggregate"},
		{"/allocation?window=yesteryear", tok, 400, "window"},
		{"/allocation?window=7d&step=-1h", tok, 400, "step"},
		{"/assets?window=7d&x=1", tok, 400, "x"},
		{"/nowhere", tok, 404, ""},
	} {
		code, body := r.get(t, c.path, c.token)
		var eb server.ErrorBody
		_ = json.Unmarshal(body, &eb)
		if code != c.code || eb.Code != c.code || (c.field != "" && (eb.Field != c.field || !strings.Contains(eb.Message, c.field))) {
			t.Errorf("GET %s: %d %s, want %d naming %q", c.path, code, body, c.code, c.field)
		}
	}

	// Metrics are on the internal listener only.
	resp, err := http.Get("http://" + r.internal + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"costwarden_http_requests_total", "costwarden_build_info", "costwarden_http_request_duration_seconds"} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if code, _ := r.get(t, "/metrics", tok); code != 404 {
		t.Errorf("public /metrics = %d, want 404", code)
	}

	// The token never reaches the log.
	if strings.Contains(r.logs.String(), tok) || strings.Contains(r.logs.String(), tok[4:20]) {
		t.Error("the log contains the API token")
	}
	if err := r.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	assertNoPlaintext(t, dir, cfg)
}

func keys(m map[string]map[string]interface{}) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// assertNoPlaintext greps every file in the data directory (database, WAL, journal)
// for the demo cluster's names (invariant 1).
func assertNoPlaintext(t *testing.T, dir string, cfg config.Config) {
	t.Helper()
	cl, err := sim.New(sim.Config{Name: clusterName, Seed: cfg.Demo.Seed, Pods: cfg.Demo.Pods})
	if err != nil {
		t.Fatal(err)
	}
	h := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	obs, err := cl.Observe(context.Background(), cost.NewWindow(h, h.Add(time.Hour)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	needles := map[string]bool{clusterName: true, "alice": true}
	for _, ns := range obs.Namespaces {
		needles[ns.Name] = true
	}
	for i, p := range obs.Pods {
		if i%7 == 0 {
			needles[p.Name] = true
		}
		for _, v := range p.Labels {
			if len(v) >= 6 {
				needles[v] = true
			}
		}
	}
	for _, n := range obs.Nodes {
		needles[n.Name] = true
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	dbSeen := false
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "costwarden.db") {
			dbSeen = true
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for n := range needles {
			if len(n) >= 5 && bytes.Contains(b, []byte(n)) {
				t.Errorf("%s contains the plaintext %q", filepath.Base(f), n)
			}
		}
	}
	if !dbSeen || len(needles) < 50 {
		t.Fatalf("checked %d files for %d names; the database was not found or the names are too few", len(files), len(needles))
	}
}

func TestEveryRouteRefusesAnonymous(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	r := serve(t, cfg)
	routes := (&httpapi.API{PasswordLogin: true}).Routes()
	if len(routes) < 5 {
		t.Fatalf("only %d routes declared", len(routes))
	}
	noFollow := *r.client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, rt := range routes {
		path := strings.NewReplacer("{id}", "x", "{name}", "x", "{sid}", "x", "{tid}", "x", "{file}", "costwarden.css", "{$}", "").Replace(rt.Path)
		req, _ := http.NewRequest(rt.Method, "https://"+r.public+path, nil)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch rt.Access {
		case server.Public:
			// A credential-checking form (POST /login, /login/mfa, /setup...)
			// answers an empty post with 401; no public route may be 403 or 5xx.
			if resp.StatusCode == 403 || resp.StatusCode >= 500 || (resp.StatusCode == 401 && rt.Method != "POST") {
				t.Errorf("public %s refused: %d", rt.Pattern(), resp.StatusCode)
			}
		default:
			if rt.Page && rt.Method == "GET" {
				// Browser pages send an anonymous visitor to the login page.
				if resp.StatusCode != 303 || resp.Header.Get("Location") != "/login" {
					t.Errorf("anonymous %s = %d to %q, want 303 to /login", rt.Pattern(), resp.StatusCode, resp.Header.Get("Location"))
				}
				continue
			}
			if resp.StatusCode != 401 {
				t.Errorf("anonymous %s = %d, want 401", rt.Pattern(), resp.StatusCode)
			}
		}
	}
}

// TestFreshInstallHasNoCredential: nothing a guesser could try works on a new install.
func TestFreshInstallHasNoCredential(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	cfg := testConfig(t, t.TempDir(), 0)
	r := serve(t, cfg)
	for _, guess := range []string{"admin", "admin:admin", "costwarden", "cwt_" + strings.Repeat("0", 43), "cwt_" + strings.Repeat("A", 43)} {
		if code, _ := r.get(t, "/allocation?window=1h", guess); code != 401 {
			t.Errorf("token %q got %d, want 401", guess, code)
		}
	}
	if !strings.Contains(r.logs.String(), "no users exist yet") {
		t.Error("a fresh install should tell the operator how to create the first administrator")
	}
}

func hashFiles(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil {
			out[e.Name()] = sha256.Sum256(b)
		}
	}
	return out
}

func assertUnchanged(t *testing.T, before, after map[string][32]byte) {
	t.Helper()
	for name, h := range before {
		if after[name] != h {
			t.Errorf("a failed start changed %s", name)
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			t.Errorf("a failed start created %s", name)
		}
	}
}

// prepared returns a data directory holding a stored demo hour, server stopped.
func prepared(t *testing.T) (string, config.Config) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(t, dir, 1)
	r := serve(t, cfg)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	return dir, cfg
}

func startErr(t *testing.T, cfg config.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return app.Serve(ctx, cfg, env(io.Discard, io.Discard))
}

func TestRefusesToStartOnDamage(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	t.Run("corrupted database page", func(t *testing.T) {
		dir, cfg := prepared(t)
		db := filepath.Join(dir, "costwarden.db")
		b, _ := os.ReadFile(db)
		pages := len(b) / 4096
		if pages < 8 {
			t.Fatalf("database too small: %d pages", pages)
		}
		// A bad sector: one page in the middle of the file becomes garbage.
		for i := (pages / 2) * 4096; i < (pages/2+1)*4096; i++ {
			b[i] = byte(0xa5 ^ i)
		}
		if err := os.WriteFile(db, b, 0o600); err != nil {
			t.Fatal(err)
		}
		before := hashFiles(t, dir)
		err := startErr(t, cfg)
		if err == nil || !strings.Contains(err.Error(), "integrity") {
			t.Errorf("err = %v, want an integrity error", err)
		}
		assertUnchanged(t, before, hashFiles(t, dir))
	})
	t.Run("wrong key file", func(t *testing.T) {
		dir, cfg := prepared(t)
		other := filepath.Join(t.TempDir(), "k")
		otherCfg := testConfig(t, t.TempDir(), 0)
		otherCfg.Keys.File = other
		// A valid key file, but not this data directory's.
		if err := app.AddUser(context.Background(), otherCfg, env(io.Discard, io.Discard), "bob", "viewer"); err != nil {
			t.Fatal(err)
		}
		kb, _ := os.ReadFile(other)
		if err := os.WriteFile(cfg.Keys.File, kb, 0o600); err != nil {
			t.Fatal(err)
		}
		before := hashFiles(t, dir)
		err := startErr(t, cfg)
		if err == nil || !strings.Contains(err.Error(), "key file does not match") {
			t.Errorf("err = %v, want a key mismatch error", err)
		}
		assertUnchanged(t, before, hashFiles(t, dir))
	})
	t.Run("missing key file", func(t *testing.T) {
		dir, cfg := prepared(t)
		if err := os.Remove(cfg.Keys.File); err != nil {
			t.Fatal(err)
		}
		err := startErr(t, cfg)
		if err == nil || !strings.Contains(err.Error(), "key file") || !strings.Contains(err.Error(), "missing") {
			t.Errorf("err = %v, want a missing key error", err)
		}
		if _, err := os.Stat(cfg.Keys.File); err == nil {
			t.Error("a new key file was created next to existing data")
		}
		_ = dir
	})
}
