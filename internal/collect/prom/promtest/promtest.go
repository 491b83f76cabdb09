// Package promtest runs a real Prometheus server (the Debian package prometheus, with
// promtool) for tests: it loads OpenMetrics history with `promtool tsdb
// create-blocks-from openmetrics` into a temporary storage directory, starts
// prometheus on 127.0.0.1 with a temporary configuration, waits until it is ready,
// and stops it when the test ends.
//
// It is test support only; nothing in the server imports it.
package promtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries returns the paths of prometheus and promtool, failing the test with the
// package to install when they are missing.
func Binaries(t testing.TB) (prometheus, promtool string) {
	t.Helper()
	p, err1 := exec.LookPath("prometheus")
	pt, err2 := exec.LookPath("promtool")
	if err1 != nil || err2 != nil {
		t.Fatalf("prometheus and promtool are needed: install the Debian package prometheus (apt-get install prometheus, or scripts/ensure-tools.sh)")
	}
	return p, pt
}

// Options of a server.
type Options struct {
	// OpenMetrics, if set, is loaded as history before the server starts.
	OpenMetrics io.WriterTo
	// Args are extra command-line flags (e.g. --query.max-samples=1000).
	Args []string
	// WebConfig is the content of --web.config.file (TLS, basic auth), if any.
	WebConfig string
	// ScrapeConfig is YAML appended under scrape_configs, if any.
	ScrapeConfig string
	// Scheme is "https" when WebConfig enables TLS; default "http".
	Scheme string
}

// Server is a running Prometheus.
type Server struct {
	URL     string
	Dir     string // storage directory
	Addr    string
	opts    Options
	bin     string
	cfgFile string
	webFile string
	logs    *syncBuffer

	mu  sync.Mutex
	cmd *exec.Cmd
}

// LoadBlocks writes om to a file and runs promtool to create TSDB blocks in dir.
func LoadBlocks(t testing.TB, dir string, om io.WriterTo) {
	t.Helper()
	_, promtool := Binaries(t)
	f, err := os.CreateTemp(t.TempDir(), "history-*.om")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := om.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", f.Name(), dir).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool tsdb create-blocks-from openmetrics: %v\n%s", err, tail(out))
	}
	_ = os.Remove(f.Name())
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}

// Start loads the history (if any) and starts Prometheus; it is stopped when the
// test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, _ := Binaries(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if opts.OpenMetrics != nil {
		LoadBlocks(t, data, opts.OpenMetrics)
	}
	s := &Server{Dir: data, opts: opts, bin: bin, cfgFile: filepath.Join(dir, "prometheus.yml"), logs: &syncBuffer{}}
	cfg := "global:\n  scrape_interval: 15s\n"
	if opts.ScrapeConfig != "" {
		cfg += "scrape_configs:\n" + opts.ScrapeConfig
	}
	if err := os.WriteFile(s.cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if opts.WebConfig != "" {
		s.webFile = filepath.Join(dir, "web.yml")
		if err := os.WriteFile(s.webFile, []byte(opts.WebConfig), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.Addr = freeAddr(t)
	scheme := opts.Scheme
	if scheme == "" {
		scheme = "http"
	}
	s.URL = scheme + "://" + s.Addr
	t.Cleanup(s.Stop)
	s.start(t)
	return s
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	args := []string{
		"--config.file=" + s.cfgFile,
		"--storage.tsdb.path=" + s.Dir,
		"--storage.tsdb.retention.time=36500d",
		"--web.listen-address=" + s.Addr,
		"--log.level=warn",
	}
	if s.webFile != "" {
		args = append(args, "--web.config.file="+s.webFile)
	}
	args = append(args, s.opts.Args...)
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout = s.logs
	cmd.Stderr = s.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	s.waitReady(t)
}

func (s *Server) waitReady(t testing.TB) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureForProbe()}}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", s.URL+"/-/ready", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			// 401 means it is up behind basic auth.
			if resp.StatusCode == 200 || resp.StatusCode == 401 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Stop()
	t.Fatalf("prometheus did not become ready at %s:\n%s", s.URL, tail([]byte(s.logs.String())))
}

// Stop stops the server (SIGTERM, then SIGKILL after 15 s). It is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart starts a stopped server again on the same address and storage.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.start(t)
}

// AddBlocks loads more history into a running server's storage; Prometheus picks
// new blocks up when it reloads them (Reload restarts it to make that immediate).
func (s *Server) AddBlocks(t testing.TB, om io.WriterTo) {
	t.Helper()
	LoadBlocks(t, s.Dir, om)
}

// Logs returns what the server wrote.
func (s *Server) Logs() string { return s.logs.String() }

// syncBuffer is a goroutine-safe buffer for the server's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// insecureForProbe is for the readiness probe only: it checks that the listener
// answers, not who it is.
func insecureForProbe() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true} //nolint:gosec
}

// Port is the server's port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// String describes the server.
func (s *Server) String() string { return fmt.Sprintf("prometheus at %s (storage %s)", s.URL, s.Dir) }
