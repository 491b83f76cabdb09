package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/server"
)

// TestCIDRAllowlist: a listener whose allowlist excludes the client's address
// closes the connection before answering; one that includes it answers.
func TestCIDRAllowlist(t *testing.T) {
	for _, tt := range []struct {
		allow  string
		answer bool
	}{{"10.0.0.0/8", false}, {"127.0.0.0/8", true}, {"::1/128", false}} {
		t.Run(tt.allow, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			addr := make(chan net.Addr, 1)
			done := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello") })
			go func() {
				done <- server.Run(ctx, server.Config{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
					IdleTimeout: time.Second, ShutdownTimeout: time.Second, Log: slog.New(slog.DiscardHandler),
					Ready: func(_ string, a net.Addr) { addr <- a }},
					server.Listener{Name: "internal", Addr: "127.0.0.1:0", Handler: h, Allow: []netip.Prefix{netip.MustParsePrefix(tt.allow)}})
			}()
			a := <-addr
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + a.String() + "/")
			if tt.answer {
				if err != nil {
					t.Fatalf("allowed client refused: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "hello" {
					t.Errorf("body %q", b)
				}
			} else if err == nil {
				resp.Body.Close()
				t.Fatalf("a client outside %s got an answer: %d", tt.allow, resp.StatusCode)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
