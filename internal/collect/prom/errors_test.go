package prom_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/costwarden/costwarden/internal/collect/prom"
	"github.com/costwarden/costwarden/internal/collect/prom/promtest"
	"github.com/costwarden/costwarden/internal/cost"
)

// pki is a CA and a server certificate for 127.0.0.1, made at test time.
type pki struct {
	caFile, certFile, keyFile string
}

func newPKI(t *testing.T, dir, name string) pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	p := pki{caFile: filepath.Join(dir, name+"-ca.pem"), certFile: filepath.Join(dir, name+"-cert.pem"), keyFile: filepath.Join(dir, name+"-key.pem")}
	write := func(path, typ string, b []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(p.caFile, "CERTIFICATE", caDER)
	write(p.certFile, "CERTIFICATE", der)
	write(p.keyFile, "EC PRIVATE KEY", kb)
	return p
}

func kindOf(err error) string {
	var pe *prom.Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return ""
}

// TestBadConnectionsExplainThemselves: unreachable, wrong CA, wrong password — each
// fails the observation with an error that says what to check, the health records
// it, and nothing panics. The right CA and password work.
func TestBadConnectionsExplainThemselves(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	dir := t.TempDir()
	good := newPKI(t, dir, "good")
	other := newPKI(t, dir, "other")
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  costwarden: %s\n", good.certFile, good.keyFile, hash)
	srv := promtest.Start(t, promtest.Options{WebConfig: web, Scheme: "https", OpenMetrics: rawOM(openMetrics(t, example("e1")))})
	secret := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	right, wrong := secret("right", "correct horse"), secret("wrong", "battery staple")
	ctx := context.Background()
	closed := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		a := l.Addr().String()
		l.Close()
		return "http://" + a
	}()
	cases := []struct {
		name, url, ca, pw, kind, says string
	}{
		{"unreachable", closed, "", "", prom.KindUnreachable, "unreachable"},
		{"system roots", srv.URL, "", right, prom.KindTLS, "caFile"},
		{"wrong CA", srv.URL, other.caFile, right, prom.KindTLS, "not trusted"},
		{"wrong password", srv.URL, good.caFile, wrong, prom.KindAuth, "401"},
		{"no credentials", srv.URL, good.caFile, "", prom.KindAuth, "401"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			src := source(t, c.url, func(cfg *prom.Config) {
				cfg.Cluster, cfg.CAFile, cfg.Timeout = "e1", c.ca, 5*time.Second
				cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
				if c.pw != "" {
					cfg.BasicAuthUsername, cfg.BasicAuthPasswordFile = "costwarden", c.pw
				}
			})
			obs, err := src.Observe(ctx, exampleHour, time.Minute)
			if err == nil || obs != nil {
				t.Fatalf("observed %v, %v; want an error", obs, err)
			}
			if kindOf(err) != c.kind || !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q (kind %q), want kind %s mentioning %q", err, kindOf(err), c.kind, c.says)
			}
			if strings.Contains(err.Error(), "correct horse") || strings.Contains(err.Error(), "battery") {
				t.Errorf("the error repeats the password: %v", err)
			}
			h := src.Health()
			if h.ConsecutiveFailures != 1 || h.LastErrorKind != c.kind || h.LastError == "" || !h.LastSuccess.IsZero() {
				t.Errorf("health %+v", h)
			}
			if err := src.Check(ctx); kindOf(err) != c.kind {
				t.Errorf("Check: %v", err)
			}
		})
	}
	src := source(t, srv.URL, func(cfg *prom.Config) {
		cfg.Cluster, cfg.CAFile, cfg.BasicAuthUsername, cfg.BasicAuthPasswordFile = "e1", good.caFile, "costwarden", right
	})
	obs, err := src.Observe(ctx, exampleHour, time.Minute)
	if err != nil || len(obs.Pods) != 2 {
		t.Fatalf("with the right CA and password: %v, %+v", err, obs)
	}
	// The password file is re-read: rotating it takes effect without a restart.
	if err := os.WriteFile(right, []byte("rotated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Observe(ctx, exampleHour, time.Minute); kindOf(err) != prom.KindAuth {
		t.Errorf("after rotating the password file to a wrong one: %v, want an auth error", err)
	}
}

// TestSampleLimit: a Prometheus with a small --query.max-samples refuses large
// queries; the collector splits them until they fit and gets the same answer. When
// even one step is too large, the error says what to change.
func TestSampleLimit(t *testing.T) {
	srv := simServer(t)
	ctx := context.Background()
	w := cost.NewWindow(simStart.Add(time.Hour), simStart.Add(2*time.Hour))
	hist := func() rawOM {
		var b bytes.Buffer
		if _, err := history(t, simCluster(t), simStart, 2).WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		return rawOM(b.Bytes())
	}
	want, err := source(t, srv.URL, nil).Observe(ctx, w, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	small := promtest.Start(t, promtest.Options{OpenMetrics: hist(), Args: []string{"--query.max-samples=3000"}})
	var logs bytes.Buffer
	src := source(t, small.URL, func(c *prom.Config) { c.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
	got, err := src.Observe(ctx, w, time.Minute)
	if err != nil {
		t.Fatalf("with max-samples 3000: %v", err)
	}
	if !strings.Contains(logs.String(), "splitting") {
		t.Errorf("no query was split; the test does not exercise chunking:\n%s", logs.String())
	}
	if len(got.Containers) != len(want.Containers) || len(got.Pods) != len(want.Pods) {
		t.Fatalf("split queries: %d containers, want %d", len(got.Containers), len(want.Containers))
	}
	for i := range want.Containers {
		if fmt.Sprint(got.Containers[i].CPUUsage) != fmt.Sprint(want.Containers[i].CPUUsage) || got.Containers[i].Running.Count() != want.Containers[i].Running.Count() {
			t.Fatalf("container %d differs after splitting", i)
		}
	}
	// A budget our own chunking respects from the start.
	budget := source(t, srv.URL, func(c *prom.Config) { c.MaxSamples = 1000 })
	if got, err := budget.Observe(ctx, w, time.Minute); err != nil || len(got.Containers) != len(want.Containers) {
		t.Fatalf("with maxSamples 1000: %v", err)
	}
	tiny := promtest.Start(t, promtest.Options{OpenMetrics: hist(), Args: []string{"--query.max-samples=5"}})
	src = source(t, tiny.URL, nil)
	if _, err := src.Observe(ctx, w, time.Minute); kindOf(err) != prom.KindSampleLimit || !strings.Contains(err.Error(), "--query.max-samples") {
		t.Errorf("with max-samples 5: %v, want a sample-limit error naming --query.max-samples", err)
	}
	if h := src.Health(); h.LastErrorKind != prom.KindSampleLimit {
		t.Errorf("health %+v", h)
	}
}

// TestMissingLabelsAreSkippedAndReported: series without the labels the collector
// needs (a broken relabelling) are skipped, counted per series name in the health
// and logged; the rest is read.
func TestMissingLabelsAreSkippedAndReported(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	om := openMetrics(t, example("e1"))
	// Drop the pod label from b1's series: kube-state-metrics relabelled badly.
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(om), "\n") {
		if strings.Contains(line, `pod="b1",`) && (strings.HasPrefix(line, "kube_pod_container_status_running") || strings.HasPrefix(line, "container_memory_working_set_bytes")) {
			line = strings.Replace(line, `pod="b1",`, "", 1)
		}
		out.WriteString(line)
	}
	srv := promtest.Start(t, promtest.Options{OpenMetrics: rawOM(out.Bytes())})
	var logs bytes.Buffer
	src := source(t, srv.URL, func(c *prom.Config) { c.Cluster = "e1"; c.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
	obs, err := src.Observe(context.Background(), exampleHour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs.Containers) != 1 || obs.Pods[obs.Containers[0].Pod].Name != "a1" {
		t.Errorf("containers read: %d, want only a1's", len(obs.Containers))
	}
	h := src.Health()
	if h.MissingLabels["kube_pod_container_status_running"] != 1 || h.MissingLabels["container_memory_working_set_bytes"] != 1 {
		t.Errorf("missing labels in health: %v", h.MissingLabels)
	}
	if !strings.Contains(logs.String(), "without the labels") {
		t.Errorf("nothing logged:\n%s", logs.String())
	}
}
