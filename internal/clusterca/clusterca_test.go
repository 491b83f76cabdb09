package clusterca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/clusterca"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func open(t *testing.T) (*sqlite.Store, *seal.Keyring) {
	t.Helper()
	dir := t.TempDir()
	kek, err := seal.OpenKeyFile(filepath.Join(dir, "key"), true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(dir, "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, seal.NewKeyring(kek, st, seal.Options{})
}

func csr(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// TestOneCAPerInstallation: replicas opening the CA at once agree on one; its
// key is stored sealed (not in the clear) and opens again.
func TestOneCAPerInstallation(t *testing.T) {
	st, ring := open(t)
	var wg sync.WaitGroup
	pins := make([]string, 8)
	for i := range pins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ca, err := clusterca.Open(context.Background(), st, ring, nil)
			if err != nil {
				t.Error(err)
				return
			}
			pins[i] = ca.Pin()
		}()
	}
	wg.Wait()
	for _, p := range pins {
		if p != pins[0] {
			t.Fatalf("replicas made different CAs: %v", pins)
		}
	}
	raw, err := st.GetMeta(t.Context(), clusterca.MetaKey)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "PRIVATE KEY") {
		t.Error("the CA key is stored in the clear")
	}
	// Another keyring (another KEK) cannot open it.
	kek2, _ := seal.OpenKeyFile(filepath.Join(t.TempDir(), "k2"), true)
	if _, err := clusterca.Open(t.Context(), st, seal.NewKeyring(kek2, st, seal.Options{}), nil); err == nil {
		t.Error("the CA opened under another key-encryption key")
	}
}

// TestAgentCertificates: key types, the identity carried, expiry boundaries.
func TestAgentCertificates(t *testing.T) {
	st, ring := open(t)
	now := t0
	ca, err := clusterca.Open(t.Context(), st, ring, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name string
		key  any
		ok   bool
	}{{"ed25519", ed, true}, {"ECDSA P-256", p256, true}, {"ECDSA P-224", p224, false}, {"RSA", rsaKey, false}} {
		_, err := clusterca.ParseRequest(csr(t, tc.key))
		if (err == nil) != tc.ok {
			t.Errorf("%s: ParseRequest = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	bad := csr(t, ed)
	bad[len(bad)/2] ^= 1
	if _, err := clusterca.ParseRequest(bad); !errors.Is(err, clusterca.ErrBadRequest) {
		t.Errorf("a damaged request = %v, want ErrBadRequest", err)
	}
	req, _ := clusterca.ParseRequest(csr(t, ed))
	id := clusterca.AgentID{Tenant: "acme", Agent: "a_0123", Generation: 3}
	cert, err := ca.IssueAgent(req, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ca.VerifyAgent([]*x509.Certificate{cert}, t0.Add(time.Hour-time.Second))
	if err != nil || got != id {
		t.Fatalf("VerifyAgent(T-1s) = %+v, %v; want %+v", got, err, id)
	}
	if _, err := ca.VerifyAgent([]*x509.Certificate{cert}, t0.Add(time.Hour+time.Second)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("VerifyAgent(after expiry) = %v, want expired", err)
	}
	if _, err := ca.VerifyAgent([]*x509.Certificate{cert}, t0.Add(-clusterca.Backdate-time.Second)); err == nil || !strings.Contains(err.Error(), "not valid yet") {
		t.Errorf("VerifyAgent(before validity) = %v, want not valid yet", err)
	}
	// A server certificate is not an agent certificate, and vice versa.
	srvCert, err := ca.IssueServer([]string{"localhost"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.VerifyAgent([]*x509.Certificate{srvCert.Leaf}, t0); err == nil {
		t.Error("a listener certificate authenticated as an agent")
	}
	if err := clusterca.VerifyServer([][]byte{cert.Raw, ca.Certificate().Raw}, ca.Pin(), nil, t0); err == nil {
		t.Error("an agent certificate was accepted as a server's")
	}
	if err := clusterca.VerifyServer(srvCert.Certificate, ca.Pin(), nil, t0); err != nil {
		t.Errorf("VerifyServer(pinned) = %v", err)
	}
	if err := clusterca.VerifyServer(srvCert.Certificate, strings.Repeat("A", 43), nil, t0); !errors.Is(err, clusterca.ErrPin) {
		t.Errorf("VerifyServer(wrong pin) = %v, want ErrPin", err)
	}
}

// TestJoinTokens: round trip, and malformed tokens refused.
func TestJoinTokens(t *testing.T) {
	tok, err := clusterca.NewJoinToken("acme", "a_01", strings.Repeat("B", 43))
	if err != nil {
		t.Fatal(err)
	}
	back, err := clusterca.ParseJoinToken(tok.String())
	if err != nil || back != tok {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
	if string(back.Hash()) == tok.Secret || len(back.Hash()) != 32 {
		t.Error("the stored hash is not a SHA-256")
	}
	for _, s := range []string{"", "cwj1", "cwj2.acme.a_01." + tok.Secret + "." + tok.Pin, "cwj1.ACME.a_01." + tok.Secret + "." + tok.Pin,
		"cwj1.acme.a_01.short." + tok.Pin, "cwj1._system.a_01." + tok.Secret + "." + tok.Pin, "cwj1.acme.a/01." + tok.Secret + "." + tok.Pin,
		tok.String() + ".x"} {
		if _, err := clusterca.ParseJoinToken(s); !errors.Is(err, clusterca.ErrBadToken) {
			t.Errorf("ParseJoinToken(%q) = %v, want ErrBadToken", s, err)
		}
	}
}

func FuzzParseJoinToken(f *testing.F) {
	f.Add("cwj1.acme.a_01." + strings.Repeat("A", 43) + "." + strings.Repeat("B", 43))
	f.Add("cwj1....")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := clusterca.ParseJoinToken(s)
		if err == nil && tok.String() != strings.TrimSpace(s) {
			t.Errorf("accepted %q but prints %q", s, tok.String())
		}
	})
}
