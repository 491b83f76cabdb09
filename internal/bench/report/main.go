// Command report is `make bench`: it runs costwarden at the scale and prints
// each performance figure next to its target.
//
//  1. Builds the binary and runs `serve --demo --demo-pods 10000 --demo-days 30` on a
//     fresh data directory (embedded store, encryption on), sampling the server's RSS.
//  2. When the backfill and the daily rollups are done, creates a token and times the
//     issue's queries over HTTPS: the first request (nothing cached) and repeats (warm).
//  3. Stops the server and runs the Go benchmarks (internal/bench) on the same data
//     directory: closing one hour, the queries in-process, storage per container-hour.
//
// Everything runs on 127.0.0.1 and stops by itself.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/costwarden/costwarden/internal/bench"
	"github.com/costwarden/costwarden/internal/bench/procinfo"
)

type figure struct {
	name, measured, target, verdict, note string
}

func main() {
	pods := flag.Int("pods", bench.DemoPods, "demo pods")
	days := flag.Int("days", bench.DemoDays, "demo days")
	keep := flag.Bool("keep", false, "keep the data directory")
	flag.Parse()
	if err := run(*pods, *days, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

type logWatch struct {
	mu    sync.Mutex
	lines []map[string]any
}

func (l *logWatch) scan(r io.Reader) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		var m map[string]any
		if json.Unmarshal(s.Bytes(), &m) == nil {
			l.mu.Lock()
			l.lines = append(l.lines, m)
			l.mu.Unlock()
		}
	}
}

func (l *logWatch) find(pred func(m map[string]any) bool) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.lines {
		if pred(m) {
			return m
		}
	}
	return nil
}

func (l *logWatch) all(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, m := range l.lines {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func run(pods, days int, keep bool) error {
	ctx := context.Background()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "costwarden-bench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "costwarden")
	data := filepath.Join(tmp, "data")
	logf("building %s", bin)
	build := exec.Command("go", "build", "-o", bin, "./cmd/costwarden")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return err
	}
	addr, err := procinfo.FreeAddr("127.0.0.1")
	if err != nil {
		return err
	}
	srv := exec.Command(bin, "serve", "--demo", "--demo-pods", strconv.Itoa(pods), "--demo-days", strconv.Itoa(days),
		"--data-dir", data, "--listen", addr, "--internal-listen", "")
	stderr, err := srv.StderrPipe()
	if err != nil {
		return err
	}
	started := time.Now()
	if err := srv.Start(); err != nil {
		return err
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			_ = srv.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = srv.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				_ = srv.Process.Kill()
				<-done
			}
		}
	}
	defer stop()
	lw := &logWatch{}
	go lw.scan(stderr)
	pid := srv.Process.Pid
	var peakMu sync.Mutex
	var peakBackfill int64
	sampling := make(chan struct{})
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sampling:
				return
			case <-t.C:
				cur, _ := procinfo.Memory(pid)
				peakMu.Lock()
				peakBackfill = max(peakBackfill, cur)
				peakMu.Unlock()
			}
		}
	}()

	logf("serving the demo cluster (%d pods, %d days) on %s; waiting for the backfill", pods, days, addr)
	var backfillDone map[string]any
	for backfillDone == nil {
		if srv.ProcessState != nil {
			return errors.New("the server exited")
		}
		if time.Since(started) > 40*time.Minute {
			return errors.New("the backfill did not finish in 40 minutes")
		}
		time.Sleep(time.Second)
		backfillDone = lw.find(func(m map[string]any) bool { return m["msg"] == "backfill complete" })
	}
	backfillSeconds, _ := backfillDone["seconds"].(float64)
	logf("backfill complete in %.0f s; waiting for the daily rollups", backfillSeconds)
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		ups := lw.all("day rolled up")
		if n := len(ups); n >= days-1 {
			if last := ups[n-1]; last["remaining"] == float64(0) {
				break
			}
		}
		time.Sleep(2 * time.Second)
	}
	rollups := lw.all("day rolled up")
	var rollupSeconds []float64
	for _, u := range rollups {
		if s, ok := u["seconds"].(float64); ok {
			rollupSeconds = append(rollupSeconds, s)
		}
	}
	var closeMs []float64
	close(sampling)
	peakMu.Lock()
	peakBeforeQueries := peakBackfill
	peakMu.Unlock()

	// A token, through the CLI on the same data directory.
	if out, err := exec.Command(bin, "user", "add", "bench", "--role", "admin", "--data-dir", data).CombinedOutput(); err != nil {
		return fmt.Errorf("user add: %v: %s", err, out)
	}
	tokOut, err := exec.Command(bin, "token", "create", "--user", "bench", "--data-dir", data).Output()
	if err != nil {
		return fmt.Errorf("token create: %v", err)
	}
	token := strings.TrimSpace(string(tokOut))
	// Peak RSS while querying: reset the high-water mark first.
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(path string) (time.Duration, int, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if resp.StatusCode != 200 {
			return d, int(n), fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return d, int(n), nil
	}
	median := func(path string, n int) (time.Duration, error) {
		var ds []time.Duration
		for i := 0; i < n; i++ {
			d, _, err := get(path)
			if err != nil {
				return 0, err
			}
			ds = append(ds, d)
		}
		slices.Sort(ds)
		return ds[len(ds)/2], nil
	}
	loadAtQueries = loadAvg()
	q30 := "/allocation?" + bench.Query30dNamespace
	q7 := "/allocation?" + bench.Query7dStepControler
	cold30, size30, err := get(q30)
	if err != nil {
		return err
	}
	warm30, err := median(q30, 7)
	if err != nil {
		return err
	}
	cold7, size7, err := get(q7)
	if err != nil {
		return err
	}
	warm7, err := median(q7, 3)
	if err != nil {
		return err
	}
	recs, _, err := get("/api/v1/recommendations?window=7d&aggregate=controller")
	if err != nil {
		return err
	}
	_, hwmQueries := procinfo.Memory(pid)
	stop()
	for _, c := range lw.all("hour closed") {
		if s, ok := c["seconds"].(float64); ok {
			closeMs = append(closeMs, s*1000)
		}
	}
	var dbBytes int64
	entries, _ := os.ReadDir(data)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "costwarden.db") {
			if fi, err := e.Info(); err == nil {
				dbBytes += fi.Size()
			}
		}
	}

	logf("running the Go benchmarks on the same data directory")
	gt := exec.Command("go", "test", "-run", "^$", "-bench", ".", "-benchtime", "5x", "-count", "1", "-timeout", "60m", "./internal/bench/")
	gt.Dir = root
	gt.Env = append(os.Environ(), "COSTWARDEN_BENCH_DIR="+data)
	var gout bytes.Buffer
	gt.Stdout = io.MultiWriter(&gout, os.Stderr)
	gt.Stderr = os.Stderr
	if err := gt.Run(); err != nil {
		return fmt.Errorf("go test -bench: %w", err)
	}
	bm := parseBench(gout.String())

	peakAll := max(peakBeforeQueries, hwmQueries)
	closeHour := time.Duration(bm["BenchmarkCloseHour"]["ns/op"])
	c30 := time.Duration(bm["BenchmarkQuery30dNamespaceShareIdle/cold"]["ns/op"])
	w30 := time.Duration(bm["BenchmarkQuery30dNamespaceShareIdle/warm"]["ns/op"])
	s7 := time.Duration(bm["BenchmarkQuery7dStep1hController"]["ns/op"])
	figs := []figure{
		{"close one hour (observe+allocate+seal+write), 10k-pod peak hour", ms(closeHour), "≤ " + ms(bench.TargetCloseHour), verdict(closeHour <= bench.TargetCloseHour), "Go benchmark, in-process"},
		{"30d namespace shareIdle, warm (in-process)", ms(w30), "≤ " + ms(bench.TargetQuery30dWarm), verdict(w30 <= bench.TargetQuery30dWarm), "partial results of each stored window cached"},
		{"30d namespace shareIdle, warm (HTTPS, median of 7)", ms(warm30), "≤ " + ms(bench.TargetQuery30dWarm), verdict(warm30 <= bench.TargetQuery30dWarm), "includes TLS, auth and JSON"},
		{"30d namespace shareIdle, nothing cached (in-process)", ms(c30), "≤ " + ms(bench.TargetQuery30dCold), verdict(c30 <= bench.TargetQuery30dCold), "new service: read, decrypt, decode, aggregate"},
		{"30d namespace shareIdle, first request (HTTPS)", ms(cold30), "≤ " + ms(bench.TargetQuery30dCold), verdict(cold30 <= bench.TargetQuery30dCold), fmt.Sprintf("%d-byte response", size30)},
		{"7d step=1h controller, nothing cached (in-process)", ms(s7), "≤ " + ms(bench.TargetQuery7dStep1h), verdict(s7 <= bench.TargetQuery7dStep1h), "168 hourly windows"},
		{"7d step=1h controller, first request (HTTPS)", ms(cold7), "≤ " + ms(bench.TargetQuery7dStep1h), verdict(cold7 <= bench.TargetQuery7dStep1h), fmt.Sprintf("%d-byte response; warm median %s", size7, ms(warm7))},
		{"peak RSS of the server (backfill, rollups and queries)", fmt.Sprintf("%d MB", peakAll>>20), fmt.Sprintf("≤ %d MB", bench.TargetPeakRSSBytes>>20), verdict(peakAll <= bench.TargetPeakRSSBytes),
			fmt.Sprintf("sampled every 200 ms before the queries: %d MB; high-water mark during the queries: %d MB", peakBeforeQueries>>20, hwmQueries>>20)},
		{"sealed bytes per container-hour (hourly windows)", fmt.Sprintf("%.0f B", bm["BenchmarkStorage"]["hourly-sealed-bytes/container-hour"]), "reported", "-",
			fmt.Sprintf("with daily rollups: %.0f B; whole database files: %d MB", bm["BenchmarkStorage"]["all-sealed-bytes/container-hour"], dbBytes>>20)},
		{"backfill of the demo history", fmt.Sprintf("%.0f s", backfillSeconds), "-", "-", fmt.Sprintf("%d hours", int(bm["BenchmarkStorage"]["hours"]))},
		{"daily rollups built", fmt.Sprintf("%d", len(rollups)), "-", "-", fmt.Sprintf("median %.2f s per day", medianF(rollupSeconds))},
		{"7d recommendations (HTTPS)", ms(recs), "-", "-", ""},
	}
	fmt.Printf("\ncostwarden performance report — demo cluster %d pods, %d days, embedded SQLite store, AES-256-GCM sealing, %d cores (%s)\n", pods, days, numCPU(), time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("load average when the queries ran: %s (other processes on the machine slow every wall-clock figure)\n\n", loadAtQueries)
	fmt.Printf("%-62s %-12s %-10s %-8s %s\n", "figure", "measured", "target", "verdict", "note")
	fmt.Printf("%s\n", strings.Repeat("-", 130))
	for _, f := range figs {
		fmt.Printf("%-62s %-12s %-10s %-8s %s\n", f.name, f.measured, f.target, f.verdict, f.note)
	}
	if len(closeMs) > 0 {
		fmt.Printf("\nlive hours closed by the server during the run: %d (median %.0f ms)\n", len(closeMs), medianF(closeMs))
	}
	return nil
}

var loadAtQueries string

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

// parseBench reads `go test -bench` output: name -> unit -> value.
func parseBench(out string) map[string]map[string]float64 {
	res := map[string]map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		m := benchLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		vals := map[string]float64{}
		f := strings.Fields(m[3])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				vals[f[i+1]] = v
			}
		}
		res[m[1]] = vals
	}
	return res
}
