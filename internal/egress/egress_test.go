package egress_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/costwarden/costwarden/internal/egress"
)

func TestAllowlistAndAttempts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer other.Close()
	d := egress.New(egress.Options{})
	if err := d.Allow(egress.Database, srv.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	c, err := d.DialContext(context.Background(), "tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("allowed destination refused: %v", err)
	}
	c.Close()
	if _, err := d.DialContext(context.Background(), "tcp", other.Listener.Addr().String()); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("unlisted destination: %v", err)
	}
	// The unlisted server saw no connection: the refusal happens before dialling.
	client := &http.Client{Transport: d.Transport(nil)}
	if _, err := client.Get(other.URL); err == nil {
		t.Fatal("HTTP through the guarded transport reached an unlisted server")
	}
	got := d.Attempts()
	if len(got) != 3 || !got[0].Allowed || got[0].Purpose != egress.Database || got[1].Allowed || got[2].Allowed {
		t.Errorf("attempts = %+v", got)
	}
	if _, err := d.DialContext(context.Background(), "udp", srv.Listener.Addr().String()); err == nil {
		t.Error("a UDP dial to a TCP allowlist entry was allowed")
	}
}

func TestGateAndAirGapped(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	consent := false
	d := egress.New(egress.Options{})
	_ = d.AllowIf(egress.Telemetry, ln.Addr().String(), func() bool { return consent })
	if _, err := d.DialContext(context.Background(), "tcp", ln.Addr().String()); !errors.Is(err, egress.ErrRefused) {
		t.Errorf("gated destination without consent: %v", err)
	}
	consent = true
	if c, err := d.DialContext(context.Background(), "tcp", ln.Addr().String()); err != nil {
		t.Errorf("gated destination with consent: %v", err)
	} else {
		c.Close()
	}
	ag := egress.New(egress.Options{AirGapped: true})
	for _, p := range []string{egress.Telemetry, egress.Syslog} {
		if err := ag.Allow(p, "collector.example:443"); err == nil {
			t.Errorf("air-gapped mode allowed %s", p)
		}
	}
	for _, p := range []string{egress.Prometheus, egress.Kubernetes, egress.Database, egress.KMS, egress.OIDC} {
		if err := ag.Allow(p, "svc.example:443"); err != nil {
			t.Errorf("air-gapped mode refused %s: %v", p, err)
		}
	}
	if got := ag.Allowed(); len(got) != 1 {
		t.Errorf("allowed = %v", got)
	}
}
