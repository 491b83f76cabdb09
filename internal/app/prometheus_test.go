package app_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/collect/kubemetrics"
	"github.com/costwarden/costwarden/internal/collect/prom/promtest"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/query"
)

// A Monday and Tuesday of the simulated cluster, served by a real Prometheus.
var (
	promDay   = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	promHours = 36
)

const promCluster = "sim-e2e"

// promSettings is the one configuration of the Prometheus tests, for the
// in-process server and (as COSTWARDEN_* variables) for the killed child process.
func promSettings(dir, url string) map[string]string {
	return map[string]string{
		"dataDir": dir, "server.listen": "127.0.0.1:0", "server.internalListen": "127.0.0.1:0",
		"collect.prometheus.url": url, "collect.prometheus.clusterName": promCluster,
		"collect.prometheus.backfill": fmt.Sprintf("%dh", promHours), "collect.prometheus.timeout": "30s",
		"server.shutdownTimeout": "5s",
		// The expected numbers are computed with custom prices: these tests are
		// about the Prometheus path, not about which catalog prices a node.
		"pricing.catalog.enabled": "false",
	}
}

func promConfig(t *testing.T, dir, url string) config.Config {
	t.Helper()
	cfg, err := config.Load(config.Sources{Flags: promSettings(dir, url)})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// promEnviron is promSettings as environment variables, with overrides.
func promEnviron(dir, url string, override map[string]string) []string {
	set := promSettings(dir, url)
	maps.Copy(set, override)
	env := map[string]string{}
	for _, k := range config.Keys() {
		env[k.Name] = k.Env
	}
	var out []string
	for k, v := range set {
		out = append(out, env[k]+"="+v)
	}
	return out
}

type omBytes []byte

func (b omBytes) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(b)
	return int64(n), err
}

// serveAt starts the server with an injected clock; it is stopped with the test (or
// earlier by calling stop).
func serveAt(t *testing.T, cfg config.Config, now func() time.Time) *running {
	t.Helper()
	logs := &syncBuffer{}
	e := app.Env{Now: now, Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Build: app.Build{Version: "test"}}
	addrs := make(chan [2]string, 2)
	e.Ready = func(name string, a net.Addr) { addrs <- [2]string{name, a.String()} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, cfg, e) }()
	r := &running{logs: logs, client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}
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
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	t.Cleanup(func() { _ = r.stop() })
	return r
}

type statusDoc struct {
	Code int `json:"code"`
	Data struct {
		Ready   bool `json:"ready"`
		Sources []struct {
			Cluster, Kind, State, URL, LastError, LastErrorKind string
			ConsecutiveFailures                                 int
			LagSeconds                                          *float64
			Backfill                                            struct {
				State   string  `json:"state"`
				Total   int     `json:"total"`
				Done    int     `json:"done"`
				Percent float64 `json:"percent"`
			} `json:"backfill"`
			PartialHours []time.Time `json:"partialHours"`
			Gaps         int         `json:"gaps"`
		} `json:"sources"`
	} `json:"data"`
}

func (r *running) status(t *testing.T, tok string) statusDoc {
	t.Helper()
	code, body := r.get(t, "/api/v1/status", tok)
	if code != 200 {
		t.Fatalf("status: %d %s", code, body)
	}
	var s statusDoc
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("status: %v\n%s", err, body)
	}
	if len(s.Data.Sources) != 1 {
		t.Fatalf("status lists %d sources: %s", len(s.Data.Sources), body)
	}
	return s
}

func waitFor(t *testing.T, what string, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func near(a, b float64) bool {
	d := math.Abs(a - b)
	// The API rounds to 6 decimal places when it serialises.
	return d <= 1e-6*math.Max(math.Abs(a), math.Abs(b)) || d <= 5.1e-7
}

// TestPrometheusEndToEnd is the acceptance path: a real Prometheus holds 36 hours of
// the simulated cluster (loaded with promtool); costwarden is pointed at it, killed
// in the middle of the backfill and started again; it resumes, and /allocation over
// the backfilled days equals what the engine computes directly from the simulator's
// samples. The admin status endpoint shows the progress; a viewer may not read it.
func TestPrometheusEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	cl, err := sim.New(sim.Config{Name: promCluster, Pods: 20, Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	w := kubemetrics.NewWriter(t.TempDir())
	defer w.Close()
	for h := 0; h < promHours; h++ {
		hs := promDay.Add(time.Duration(h) * time.Hour)
		obs, err := cl.Observe(context.Background(), cost.NewWindow(hs, hs.Add(time.Hour)), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(obs); err != nil {
			t.Fatal(err)
		}
	}
	var om bytes.Buffer
	if _, err := w.WriteTo(&om); err != nil {
		t.Fatal(err)
	}
	srv := promtest.Start(t, promtest.Options{OpenMetrics: omBytes(om.Bytes())})

	end := promDay.Add(time.Duration(promHours) * time.Hour)
	now := func() time.Time { return end.Add(10 * time.Minute) }
	dir := t.TempDir()
	cfg := promConfig(t, dir, srv.URL)
	admin := makeToken(t, cfg)
	if err := app.AddUser(context.Background(), cfg, env(io.Discard, io.Discard), "vic", "viewer"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := app.CreateToken(context.Background(), cfg, env(io.Discard, &out), "vic", time.Hour); err != nil {
		t.Fatal(err)
	}
	viewer := strings.TrimSpace(out.String())

	// First run: a real process, killed with SIGKILL once a few hours are stored.
	first := killMidBackfill(t, cfg, srv.URL, end.Add(10*time.Minute), admin, viewer)

	// Second run: resumes with the missing hours only.
	r := serveAt(t, cfg, now)
	waitFor(t, "the backfill to complete", 5*time.Minute, func() bool {
		b := r.status(t, admin).Data.Sources[0].Backfill
		return b.State == "complete"
	})
	s := r.status(t, admin).Data.Sources[0]
	// The first run stored the latest hour (live) and some of the oldest (backfill);
	// the second backfills only the rest.
	if first < 7 || s.Backfill.Total != promHours-first || s.Backfill.Done != s.Backfill.Total {
		t.Errorf("the resumed backfill did %d/%d hours; the first run stored %d of %d", s.Backfill.Done, s.Backfill.Total, first, promHours)
	}
	if s.Backfill.Percent != 100 || s.State == "degraded" || s.LagSeconds == nil || len(s.PartialHours) != 0 {
		t.Errorf("status after the backfill: %+v", s)
	}
	if code, body := r.get(t, "/readyz", ""); code != 200 {
		t.Errorf("readyz: %d %s", code, body)
	}

	// What the engine computes directly from the simulator's samples.
	p, err := pricing.New(pricing.Custom{CPU: cfg.Pricing.Custom.CPU, RAM: cfg.Pricing.Custom.RAM, GPU: cfg.Pricing.Custom.GPU,
		Storage: cfg.Pricing.Custom.Storage, LoadBalancer: cfg.Pricing.Custom.LoadBalancer, SpotCPU: cfg.Pricing.Custom.SpotCPU, SpotRAM: cfg.Pricing.Custom.SpotRAM})
	if err != nil {
		t.Fatal(err)
	}
	var hours []*cost.Set
	for h := 0; h < promHours; h++ {
		hs := promDay.Add(time.Duration(h) * time.Hour)
		obs, err := cl.Observe(context.Background(), cost.NewWindow(hs, hs.Add(time.Hour)), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		kubemetrics.Visible(obs)
		set, err := allocation.Compute(obs, p)
		if err != nil {
			t.Fatal(err)
		}
		hours = append(hours, set)
	}
	window := promDay.Format(time.RFC3339) + "," + end.Format(time.RFC3339)
	for _, q := range []string{"aggregate=namespace", "aggregate=pod", "aggregate=controller&shareIdle=true", "aggregate=namespace&step=12h"} {
		v, _ := url.ParseQuery("window=" + url.QueryEscape(window) + "&" + q)
		req, err := query.ParseAllocation(v, now(), query.Settings{Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		steps := []cost.Window{req.Window}
		if req.Step > 0 {
			steps = req.Window.Split(req.Step)
		}
		code, body := r.get(t, "/allocation?"+v.Encode(), admin)
		if code != 200 {
			t.Fatalf("%s: %d %s", q, code, body)
		}
		var ar allocResp
		if err := json.Unmarshal(body, &ar); err != nil {
			t.Fatal(err)
		}
		if len(ar.Data) != len(steps) {
			t.Fatalf("%s: %d sets, want %d", q, len(ar.Data), len(steps))
		}
		for i, sw := range steps {
			g := allocation.NewAggregator(sw, req.Query)
			for _, set := range hours {
				if sw.Contains(set.Window.Start) {
					g.AddSet(set)
				}
			}
			want := g.Result()
			got := ar.Data[i]
			if len(got) != len(want.Allocations) || len(got) < 5 {
				t.Errorf("%s step %d: %d rows, want %d", q, i, len(got), len(want.Allocations))
			}
			for _, a := range want.Allocations {
				row := got[a.Name]
				if row == nil {
					t.Errorf("%s step %d: row %s missing", q, i, a.Name)
					continue
				}
				for _, f := range []struct {
					n string
					v float64
				}{{"totalCost", a.TotalCost()}, {"cpuCoreHours", a.CPUCoreHours}, {"ramByteHours", a.RAMByteHours}, {"cpuCost", a.CPUCost},
					{"ramCost", a.RAMCost}, {"pvCost", a.PVCost}, {"loadBalancerCost", a.LoadBalancerCost}, {"cpuEfficiency", a.CPUEfficiency()}} {
					if gv, _ := row[f.n].(float64); !near(gv, f.v) {
						t.Errorf("%s step %d: %s %s = %v, want %v", q, i, a.Name, f.n, gv, f.v)
					}
				}
			}
		}
	}
	assertNoPlaintext(t, dir, cfg)
}

// TestPrometheusUnreachable: pointed at a Prometheus that is not there, costwarden
// starts, stays unready (no hour is closed), says why in the status and the log, and
// keeps retrying.
func TestPrometheusUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := promConfig(t, dir, "http://"+addr)
	admin := makeToken(t, cfg)
	r := serveAt(t, cfg, time.Now)
	waitFor(t, "a recorded failure", time.Minute, func() bool { return r.status(t, admin).Data.Sources[0].LastError != "" })
	s := r.status(t, admin)
	src := s.Data.Sources[0]
	if s.Data.Ready || src.State != "degraded" || src.LastErrorKind != "unreachable" || !strings.Contains(src.LastError, addr) {
		t.Errorf("status: %+v", s)
	}
	code, body := r.get(t, "/readyz", "")
	if code != http.StatusServiceUnavailable {
		t.Errorf("readyz with no hour closed: %d %s", code, body)
	}
	r.waitLog(t, "unreachable")
	if err := r.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// killMidBackfill runs costwarden as a separate process (this test binary in server
// mode), waits until it has backfilled six hours, checks the status endpoint, and
// kills it with SIGKILL. It returns how many hours the process stored.
func killMidBackfill(t *testing.T, cfg config.Config, promURL string, now time.Time, admin, viewer string) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "COSTWARDEN_TEST_NOW="+now.Format(time.RFC3339))
	cmd.Env = append(cmd.Env, promEnviron(cfg.DataDir, promURL, map[string]string{"server.listen": addr, "server.internalListen": ""})...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	r := &running{public: addr, logs: logs, client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}
	waitFor(t, "six backfilled hours", 3*time.Minute, func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the server process ended: %v\n%s", err, logs.String())
		default:
		}
		req, _ := http.NewRequest("GET", "https://"+addr+"/api/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := r.client.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var s statusDoc
		if json.NewDecoder(resp.Body).Decode(&s) != nil || len(s.Data.Sources) != 1 {
			return false
		}
		return s.Data.Sources[0].Backfill.Done >= 6
	})
	s := r.status(t, admin).Data.Sources[0]
	if s.Kind != "prometheus" || s.Cluster != promCluster || s.URL != promURL || s.Backfill.Total != promHours-1 || s.Backfill.State != "running" {
		t.Errorf("status during the backfill: %+v", s)
	}
	if code, _ := r.get(t, "/api/v1/status", viewer); code != http.StatusForbidden {
		t.Errorf("a viewer read the status: %d", code)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the process was not killed: %v", err)
	}
	exited <- nil
	return strings.Count(logs.String(), `"msg":"hour stored"`)
}
