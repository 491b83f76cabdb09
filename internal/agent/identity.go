package agent

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/costwarden/costwarden/internal/agentapi"
	"github.com/costwarden/costwarden/internal/clusterca"
)

// Files of the agent's identity in its data directory. The private key is made
// here and never leaves the directory (mode 0600).
const (
	KeyFile      = "agent-key.pem"
	CertFile     = "agent-cert.pem"
	CAFile       = "agent-ca.pem"
	IdentityFile = "agent-identity.json"
)

// Identity is what enrolment established.
type Identity struct {
	Tenant  string `json:"tenant"`
	Agent   string `json:"agent"`
	Cluster string `json:"cluster"`
	Pin     string `json:"pin"`
	// TokenHash is the SHA-256 of the last join token used (hex), so a new
	// token given at a restart enrols again and the same one does not.
	TokenHash string `json:"tokenHash"`

	cert   tls.Certificate
	leaf   *x509.Certificate
	caPool *x509.CertPool
}

// NotAfter is the end of the current certificate's validity.
func (id *Identity) NotAfter() time.Time { return id.leaf.NotAfter }

// NotBefore is the start of the current certificate's validity.
func (id *Identity) NotBefore() time.Time { return id.leaf.NotBefore }

func tokenHash(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

// loadIdentity reads the identity from dir; fs.ErrNotExist when not enrolled.
func loadIdentity(dir string) (*Identity, error) {
	b, err := os.ReadFile(filepath.Join(dir, IdentityFile))
	if err != nil {
		return nil, err
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, fmt.Errorf("agent: %s is damaged: %w", IdentityFile, err)
	}
	keyPath := filepath.Join(dir, KeyFile)
	if fi, err := os.Stat(keyPath); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("agent: the key %s is readable by group or others (mode %04o); run chmod 600 %s", keyPath, fi.Mode().Perm(), keyPath)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), keyPath)
	if err != nil {
		return nil, fmt.Errorf("agent: certificate and key in %s: %w", dir, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return nil, fmt.Errorf("agent: the server's CA: %w", err)
	}
	if err := id.setCert(cert, caPEM); err != nil {
		return nil, err
	}
	return &id, nil
}

func (id *Identity) setCert(cert tls.Certificate, caPEM []byte) error {
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return fmt.Errorf("agent: the certificate: %w", err)
	}
	blk, _ := pem.Decode(caPEM)
	if blk == nil {
		return errors.New("agent: the server's CA file holds no certificate")
	}
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return fmt.Errorf("agent: the server's CA: %w", err)
	}
	if clusterca.PinOf(ca) != id.Pin {
		return clusterca.ErrPin
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	cert.Leaf = leaf
	id.cert, id.leaf, id.caPool = cert, leaf, pool
	return nil
}

// writeFile replaces path atomically with mode perm.
func writeFile(path string, b []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// save writes the identity: key, certificate, CA, then the identity file last
// (its presence means enrolled).
func (id *Identity) save(dir string, key crypto.Signer, certPEM, caPEM []byte) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	clear(der)
	defer clear(keyPEM)
	if err := writeFile(filepath.Join(dir, KeyFile), keyPEM, 0o600); err != nil {
		return fmt.Errorf("agent: writing the key: %w", err)
	}
	if err := writeFile(filepath.Join(dir, CertFile), certPEM, 0o644); err != nil {
		return fmt.Errorf("agent: writing the certificate: %w", err)
	}
	if err := writeFile(filepath.Join(dir, CAFile), caPEM, 0o644); err != nil {
		return fmt.Errorf("agent: writing the CA: %w", err)
	}
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, IdentityFile), b, 0o600)
}

// newRequest makes a key pair here and a certificate request for it.
func newRequest() (crypto.Signer, []byte, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "costwarden agent"}}, key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// certFrom builds the TLS certificate from an answer and the key.
func certFrom(resp agentapi.CertResponse, key crypto.Signer) (tls.Certificate, error) {
	blk, _ := pem.Decode([]byte(resp.Certificate))
	if blk == nil {
		return tls.Certificate{}, errors.New("agent: the server's answer holds no certificate")
	}
	c := tls.Certificate{Certificate: [][]byte{blk.Bytes}, PrivateKey: key}
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("agent: the issued certificate: %w", err)
	}
	type pub interface{ Public() crypto.PublicKey }
	if k, ok := leaf.PublicKey.(ed25519.PublicKey); !ok || !bytes.Equal(k, key.(pub).Public().(ed25519.PublicKey)) {
		return tls.Certificate{}, errors.New("agent: the issued certificate is not for this agent's key")
	}
	c.Leaf = leaf
	return c, nil
}

// enrol uses the join token: a new key pair, its request sent with the token
// to a server whose CA matches the token's pin.
func (a *Agent) enrol(ctx context.Context, token string) (*Identity, error) {
	tok, err := clusterca.ParseJoinToken(token)
	if err != nil {
		return nil, fmt.Errorf("--join-token: %w", err)
	}
	key, csr, err := newRequest()
	if err != nil {
		return nil, err
	}
	id := &Identity{Tenant: tok.Tenant, Agent: tok.Agent, Pin: tok.Pin, TokenHash: tokenHash(token)}
	a.mu.Lock()
	a.enrolling = id
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.enrolling = nil
		a.mu.Unlock()
	}()
	body, _ := json.Marshal(agentapi.EnrolRequest{Token: token, CSR: string(csr)})
	var resp agentapi.CertResponse
	if err := a.call(ctx, "POST", agentapi.PathEnrol, "application/json", body, &resp, false); err != nil {
		return nil, fmt.Errorf("enrolment: %w", err)
	}
	cert, err := certFrom(resp, key)
	if err != nil {
		return nil, err
	}
	id.Cluster = resp.Cluster
	if err := id.setCert(cert, []byte(resp.CA)); err != nil {
		return nil, err
	}
	if err := id.save(a.opts.Dir, key, []byte(resp.Certificate), []byte(resp.CA)); err != nil {
		return nil, err
	}
	a.log.Info("agent enrolled", "tenant", id.Tenant, "agent", id.Agent, "cluster", id.Cluster,
		"certificate_until", id.leaf.NotAfter.UTC().Format(time.RFC3339))
	return id, nil
}

// renew replaces the certificate (and the key pair) before it expires.
func (a *Agent) renew(ctx context.Context) error {
	id := a.identity()
	key, csr, err := newRequest()
	if err != nil {
		return err
	}
	body, _ := json.Marshal(agentapi.RenewRequest{CSR: string(csr)})
	var resp agentapi.CertResponse
	if err := a.call(ctx, "POST", agentapi.PathRenew, "application/json", body, &resp, true); err != nil {
		return fmt.Errorf("renewal: %w", err)
	}
	cert, err := certFrom(resp, key)
	if err != nil {
		return err
	}
	next := *id
	if err := next.setCert(cert, []byte(resp.CA)); err != nil {
		return err
	}
	if err := next.save(a.opts.Dir, key, []byte(resp.Certificate), []byte(resp.CA)); err != nil {
		return err
	}
	a.mu.Lock()
	a.id = &next
	a.mu.Unlock()
	// Connections made with the old certificate are not reused.
	a.mtls.Transport.(*http.Transport).CloseIdleConnections()
	a.log.Info("agent certificate renewed", "certificate_until", next.leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// Enrolled reports whether dir holds an enrolment.
func Enrolled(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, IdentityFile))
	return !errors.Is(err, fs.ErrNotExist)
}
