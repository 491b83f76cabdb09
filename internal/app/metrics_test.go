package app_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/server"
)

// TestPrometheusScrapesCostMetrics: Debian's Prometheus scrapes the internal
// listener over TLS (server.internalTLS; plain HTTP is refused) twice, with the
// scrape token and without it. With it the scrape is
// up and OpenCost's cost series arrive; without it the scrape fails (401).
func TestPrometheusScrapesCostMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus is not installed: apt-get install prometheus (scripts/ensure-tools.sh installs it)")
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir, 1)
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	tokenFile := filepath.Join(dir, "metrics.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Server.MetricsTokenFile = tokenFile
	cfg.Server.InternalTLS = true
	r := serve(t, cfg)
	r.waitLog(t, "backfill complete")

	// The metrics listener speaks only TLS, with the server's certificate.
	caFile := filepath.Join(cfg.DataDir, server.SelfSignedCert)
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in " + caFile)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	if resp, err := http.Get("http://" + r.internal + "/metrics"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || strings.Contains(string(body), "costwarden_") {
			t.Errorf("plain HTTP to the TLS metrics listener: %d %.200s", resp.StatusCode, body)
		}
	}

	// Directly: no token, a wrong one, the right one.
	scrape := func(tok string) (int, string) {
		req, _ := http.NewRequest("GET", "https://"+r.internal+"/metrics", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := scrape(""); code != 401 || strings.Contains(body, "node_") {
		t.Errorf("scrape without a token: %d %.200s", code, body)
	}
	if code, _ := scrape(token[:len(token)-1] + "x"); code != 401 {
		t.Errorf("scrape with a wrong token: %d", code)
	}
	code, body := scrape(token)
	if code != 200 {
		t.Fatalf("scrape with the token: %d", code)
	}
	for _, name := range []string{"node_cpu_hourly_cost", "node_ram_hourly_cost", "node_gpu_hourly_cost", "node_total_hourly_cost", "pv_hourly_cost",
		"container_cpu_allocation", "container_memory_allocation_bytes", "kubecost_load_balancer_cost", "costwarden_http_requests_total"} {
		if !strings.Contains(body, "\n"+name+"{") && !strings.Contains(body, "\n"+name+" ") {
			t.Errorf("the scrape lacks %s", name)
		}
	}

	// Prometheus itself, two jobs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	promAddr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: with-token
    scheme: https
    tls_config: {ca_file: %s}
    authorization:
      credentials_file: %s
    static_configs: [{targets: ["%s"]}]
  - job_name: without-token
    scheme: https
    tls_config: {ca_file: %s}
    static_configs: [{targets: ["%s"]}]
`, caFile, tokenFile, r.internal, caFile, r.internal)
	confFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, promBin, "--config.file="+confFile, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	var promLog strings.Builder
	cmd.Stdout, cmd.Stderr = &promLog, &promLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })

	query := func(q string) map[string]float64 {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  [2]any            `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&out) != nil {
			return nil
		}
		m := map[string]float64{}
		for _, r := range out.Data.Result {
			v, _ := strconv.ParseFloat(fmt.Sprint(r.Value[1]), 64)
			m[r.Metric["job"]+"/"+r.Metric["node"]] = v
		}
		return m
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		up := query("up")
		if len(up) == 2 {
			if up["with-token/"] != 1 || up["without-token/"] != 0 {
				t.Fatalf("up: %v (want with-token 1, without-token 0)", up)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never scraped both jobs: %v\n%s", up, promLog.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	nodes := query(`node_total_hourly_cost`)
	cpu := query(`sum by (job) (container_cpu_allocation)`)
	if len(nodes) < 3 || cpu["with-token/"] <= 0 {
		t.Errorf("Prometheus holds %d node_total_hourly_cost series, container_cpu_allocation %v", len(nodes), cpu)
	}
	for k, v := range nodes {
		if !strings.HasPrefix(k, "with-token/") || v <= 0 {
			t.Errorf("node_total_hourly_cost %s = %v", k, v)
		}
	}
}

// TestMetricsRightAfterAnHour: a server started in the first minutes of an hour
// (before collect.closeDelay lets it close the hour that ended) still exports
// that hour's costs: it once served empty cost series until the hour was
// stored, and CI caught it when a test started at 02:00.
func TestMetricsRightAfterAnHour(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	for _, after := range []time.Duration{5 * time.Second, 30 * time.Second} {
		t.Run(after.String(), func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig(t, dir, 1)
			token := strings.Repeat("m", 32)
			tokenFile := filepath.Join(dir, "metrics.token")
			if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg.Server.MetricsTokenFile = tokenFile
			real := time.Now()
			offset := real.Truncate(time.Hour).Add(time.Hour + after).Sub(real)
			r := serve(t, cfg, func(e *app.Env) { e.Now = func() time.Time { return time.Now().Add(offset) } })
			r.waitLog(t, "backfill complete")
			req, _ := http.NewRequest("GET", "http://"+r.internal+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, name := range []string{"node_total_hourly_cost", "container_cpu_allocation"} {
				if !strings.Contains(string(body), "\n"+name+"{") {
					t.Errorf("started %s after the hour: the scrape (%d) lacks %s", after, resp.StatusCode, name)
				}
			}
		})
	}
}
