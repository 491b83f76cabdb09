package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/server"
)

// runListeners runs plain-HTTP listeners and returns their addresses.
func runListeners(t *testing.T, logs io.Writer, ls ...server.Listener) map[string]string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	addrs := map[string]string{}
	ready := make(chan struct{}, len(ls))
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Config{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
			IdleTimeout: 5 * time.Second, ShutdownTimeout: time.Second, Log: slog.New(slog.NewTextHandler(logs, nil)),
			Ready: func(name string, a net.Addr) {
				mu.Lock()
				addrs[name] = a.String()
				mu.Unlock()
				ready <- struct{}{}
			}}, ls...)
	}()
	for range ls {
		select {
		case <-ready:
		case err := <-done:
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { cancel(); <-done })
	return addrs
}

// from dials addr from the local address src (a loopback alias).
func from(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// echoAddr answers with the client address the handler sees.
var echoAddr = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.RemoteAddr) })

// TestAllowlistRefusesOtherNetworks: a listener allowing 127.0.0.1/32 closes a
// connection from 127.0.0.2 before any byte is read, and serves 127.0.0.1;
// another listener without an allowlist serves both.
func TestAllowlistRefusesOtherNetworks(t *testing.T) {
	var logs syncBuf
	allow, err := server.ParsePrefixes([]string{"127.0.0.1/32"})
	if err != nil {
		t.Fatal(err)
	}
	addrs := runListeners(t, &logs,
		server.Listener{Name: "guarded", Addr: "127.0.0.1:0", Handler: echoAddr, Allow: allow},
		server.Listener{Name: "open", Addr: "127.0.0.1:0", Handler: echoAddr})
	if resp, err := from("127.0.0.1").Get("http://" + addrs["guarded"] + "/"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("from an allowed address: %v", err)
	}
	if resp, err := from("127.0.0.2").Get("http://" + addrs["guarded"] + "/"); err == nil {
		resp.Body.Close()
		t.Fatalf("a request from 127.0.0.2 was answered %d; want the connection closed", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), "not in the listener's allowlist") || !strings.Contains(logs.String(), "127.0.0.2") {
		t.Errorf("the refusal is not logged with the source: %s", logs.String())
	}
	if resp, err := from("127.0.0.2").Get("http://" + addrs["open"] + "/"); err != nil || resp.StatusCode != 200 {
		t.Errorf("a listener without an allowlist refused 127.0.0.2: %v", err)
	}
}

// TestTrustedProxies: X-Forwarded-For is read only from a trusted proxy, and
// then only up to the first address that is not a trusted proxy; a forwarded
// client outside the allowlist is refused.
func TestTrustedProxies(t *testing.T) {
	var logs syncBuf
	proxies, _ := server.ParsePrefixes([]string{"127.0.0.3/32", "10.9.0.0/16"})
	allow, _ := server.ParsePrefixes([]string{"127.0.0.1/32", "192.0.2.0/24"})
	log := slog.New(slog.NewTextHandler(&logs, nil))
	addrs := runListeners(t, &logs, server.Listener{Name: "public", Addr: "127.0.0.1:0",
		Handler: server.ClientAddress(proxies, allow, log, echoAddr), Allow: allow, Proxies: proxies})
	get := func(src string, xff ...string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+addrs["public"]+"/", nil)
		for _, x := range xff {
			req.Header.Add("X-Forwarded-For", x)
		}
		resp, err := from(src).Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, src string
		xff       []string
		code      int
		client    string
	}{
		{"direct, header ignored", "127.0.0.1", []string{"192.0.2.7"}, 200, "127.0.0.1:"},
		{"through the proxy", "127.0.0.3", []string{"192.0.2.7"}, 200, "192.0.2.7:0"},
		{"spoofed entries left of the client are not trusted", "127.0.0.3", []string{"203.0.113.9, 192.0.2.7"}, 200, "192.0.2.7:0"},
		{"a chain of trusted proxies", "127.0.0.3", []string{"192.0.2.8", "10.9.1.1"}, 200, "192.0.2.8:0"},
		{"forwarded client outside the allowlist", "127.0.0.3", []string{"203.0.113.9"}, 403, ""},
		{"untrusted peer outside the allowlist", "127.0.0.4", []string{"192.0.2.7"}, 0, ""},
	} {
		code, body := get(tc.src, tc.xff...)
		if code != tc.code || (tc.client != "" && !strings.HasPrefix(body, tc.client)) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, body, tc.code, tc.client)
		}
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
