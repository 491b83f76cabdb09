// Package clusterca is the internal certificate authority that agents
// authenticate with, and the one-time join tokens that enrol them.
//
// The CA is made once per installation (ECDSA P-256, ten years), on first use
// by whichever replica comes first; its private key is sealed by the keyring
// (internal/seal) under the install's system tenant and kept in the store, so
// every replica signs with the same CA and the key is protected like every
// other key. It issues:
//
//   - agent client certificates (ExtKeyUsage clientAuth only), short-lived,
//     for a key pair the agent generated itself (ed25519 or ECDSA: only its
//     certificate request reaches the server), naming the agent by a URI SAN
//     spiffe://costwarden/tenant/T/agent/ID/gen/N;
//   - server certificates (serverAuth only) for each replica's agents
//     listener.
//
// A join token (cwj1.TENANT.AGENT.SECRET.PIN) names the enrolment, carries 256
// random bits of which the store keeps only the SHA-256, and pins the CA by the
// SHA-256 of its SubjectPublicKeyInfo, as kubeadm's discovery hash does: the
// agent trusts exactly that CA from its first connection.
//
// The package owns certificate and token formats and checks; it must not store
// anything but the CA (meta key MetaKey) or decide whether an enrolment is
// still valid (the caller reads it from the store at every request).
package clusterca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/store"
)

// SystemTenant is the tenant whose keys seal installation-wide secrets (the CA
// key). Hosted tenants' ids cannot take this form.
const SystemTenant = "_system"

// MetaKey is where the CA is stored.
const MetaKey = "agents/ca"

// Errors a caller can test for.
var (
	// ErrBadToken: a join token that is malformed.
	ErrBadToken = errors.New("malformed join token")
	// ErrBadRequest: a certificate request that is malformed, badly signed or
	// of a refused key type.
	ErrBadRequest = errors.New("bad certificate request")
	// ErrRefused: a certificate that does not authenticate an agent.
	ErrRefused = errors.New("agent certificate refused")
	// ErrPin: the server's CA is not the one the join token pins.
	ErrPin = errors.New("the server's certificate authority does not match the join token's pin")
)

// Store is what the CA needs from the store.
type Store interface {
	GetMeta(ctx context.Context, key string) ([]byte, error)
	PutMetaIfAbsent(ctx context.Context, key string, value []byte) (bool, error)
}

// Sealer is what the CA needs from the keyring.
type Sealer interface {
	Seal(ctx context.Context, ad seal.AD, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, ad seal.AD, blob []byte) ([]byte, error)
}

// CA is the installation's agents CA.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     crypto.Signer
	now     func() time.Time
}

type stored struct {
	Cert []byte `json:"cert"` // PEM
	Key  []byte `json:"key"`  // sealed PKCS#8
}

func keyAD(cert *x509.Certificate) seal.AD {
	return seal.AD{Tenant: SystemTenant, Kind: "agents-ca-key", ID: cert.SerialNumber.Text(16)}
}

// Open loads the CA from the store, making it first when there is none (two
// replicas making it at once agree on the first one stored).
func Open(ctx context.Context, st Store, sealer Sealer, now func() time.Time) (*CA, error) {
	if now == nil {
		now = time.Now
	}
	b, err := st.GetMeta(ctx, MetaKey)
	if errors.Is(err, store.ErrNotFound) {
		nb, err := create(ctx, sealer, now())
		if err != nil {
			return nil, err
		}
		if _, err := st.PutMetaIfAbsent(ctx, MetaKey, nb); err != nil {
			return nil, fmt.Errorf("clusterca: storing the CA: %w", err)
		}
		b, err = st.GetMeta(ctx, MetaKey)
		if err != nil {
			return nil, fmt.Errorf("clusterca: reading the CA: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("clusterca: reading the CA: %w", err)
	}
	var s stored
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("clusterca: the stored CA is damaged: %w", err)
	}
	blk, _ := pem.Decode(s.Cert)
	if blk == nil {
		return nil, errors.New("clusterca: the stored CA certificate is damaged")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("clusterca: the stored CA certificate: %w", err)
	}
	der, err := sealer.Open(ctx, keyAD(cert), s.Key)
	if err != nil {
		return nil, fmt.Errorf("clusterca: opening the CA key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, fmt.Errorf("clusterca: the CA key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok || !publicKeysEqual(signer.Public(), cert.PublicKey) {
		return nil, errors.New("clusterca: the CA key does not match its certificate")
	}
	return &CA{cert: cert, certPEM: s.Cert, key: signer, now: now}, nil
}

func create(ctx context.Context, sealer Sealer, now time.Time) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "costwarden agents CA " + serial.Text(16)[:8], Organization: []string{"costwarden"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("clusterca: making the CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	sealed, err := sealer.Seal(ctx, keyAD(cert), pk)
	clear(pk)
	if err != nil {
		return nil, fmt.Errorf("clusterca: sealing the CA key: %w", err)
	}
	return json.Marshal(stored{Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), Key: sealed})
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(eq)
	return ok && e.Equal(b)
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// Certificate returns the CA certificate.
func (c *CA) Certificate() *x509.Certificate { return c.cert }

// CertPEM returns the CA certificate in PEM.
func (c *CA) CertPEM() []byte { return bytes.Clone(c.certPEM) }

// Pool returns a pool holding only the CA.
func (c *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// Pin is the CA's pin: the SHA-256 of its SubjectPublicKeyInfo, base64url.
func (c *CA) Pin() string { return PinOf(c.cert) }

// PinOf returns the pin of a certificate.
func PinOf(cert *x509.Certificate) string {
	h := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// Backdate is how far before issuance certificates become valid, so that
// clocks a little behind accept them.
const Backdate = 10 * time.Minute

// IssueServer issues a certificate for an agents listener, valid for ttl, for
// the given host names and addresses.
func (c *CA) IssueServer(names []string, ips []net.IP, ttl time.Duration) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := c.now()
	cn := "costwarden agents listener"
	if len(names) > 0 {
		cn = names[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"costwarden"}},
		NotBefore:    now.Add(-Backdate),
		NotAfter:     now.Add(ttl),
		DNSNames:     names,
		IPAddresses:  ips,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("clusterca: issuing the listener certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, c.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// AgentID is who an agent certificate authenticates.
type AgentID struct {
	Tenant     string
	Agent      string
	Generation int64
}

const spiffeHost = "costwarden"

// URI is the certificate's URI SAN.
func (a AgentID) URI() *url.URL {
	return &url.URL{Scheme: "spiffe", Host: spiffeHost,
		Path: "/tenant/" + a.Tenant + "/agent/" + a.Agent + "/gen/" + strconv.FormatInt(a.Generation, 10)}
}

func (a AgentID) String() string { return a.URI().String() }

func parseAgentURI(u *url.URL) (AgentID, error) {
	if u.Scheme != "spiffe" || u.Host != spiffeHost {
		return AgentID{}, errors.New("not a costwarden agent identity")
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) != 6 || parts[0] != "tenant" || parts[2] != "agent" || parts[4] != "gen" {
		return AgentID{}, errors.New("not a costwarden agent identity")
	}
	gen, err := strconv.ParseInt(parts[5], 10, 64)
	if err != nil || gen < 1 || !validID(parts[1], true) || !validID(parts[3], false) {
		return AgentID{}, errors.New("not a costwarden agent identity")
	}
	return AgentID{Tenant: parts[1], Agent: parts[3], Generation: gen}, nil
}

// validID accepts tenant ids ([a-z0-9-], or the system tenant) and agent ids
// ([a-z0-9_]), 1-64 characters; neither holds '.' or '/'.
func validID(s string, tenant bool) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	if tenant && s == SystemTenant {
		return false
	}
	for _, r := range s {
		ok := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || (tenant && r == '-') || (!tenant && r == '_')
		if !ok {
			return false
		}
	}
	return true
}

// ParseRequest reads a PEM certificate request and checks its signature and key
// type: ed25519, or ECDSA on P-256 or P-384.
func ParseRequest(pemBytes []byte) (*x509.CertificateRequest, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: not a PEM CERTIFICATE REQUEST", ErrBadRequest)
	}
	csr, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: its signature does not verify", ErrBadRequest)
	}
	switch k := csr.PublicKey.(type) {
	case ed25519.PublicKey:
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("%w: ECDSA keys must be on P-256 or P-384", ErrBadRequest)
		}
	default:
		return nil, fmt.Errorf("%w: the key must be ed25519 or ECDSA (P-256, P-384), got %T", ErrBadRequest, csr.PublicKey)
	}
	return csr, nil
}

// IssueAgent issues a client certificate for csr's key naming id, valid for ttl.
func (c *CA) IssueAgent(csr *x509.CertificateRequest, id AgentID, ttl time.Duration) (*x509.Certificate, error) {
	if !validID(id.Tenant, true) || !validID(id.Agent, false) || id.Generation < 1 {
		return nil, fmt.Errorf("clusterca: bad agent identity %+v", id)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := c.now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "agent " + id.Agent, Organization: []string{"costwarden"}},
		NotBefore:    now.Add(-Backdate),
		NotAfter:     now.Add(ttl),
		URIs:         []*url.URL{id.URI()},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, csr.PublicKey, c.key)
	if err != nil {
		return nil, fmt.Errorf("clusterca: issuing the agent certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// VerifyAgent checks a client certificate chain at time at: signed by this CA,
// valid at at, for client authentication, naming an agent. It says why not.
func (c *CA) VerifyAgent(chain []*x509.Certificate, at time.Time) (AgentID, error) {
	if len(chain) == 0 {
		return AgentID{}, fmt.Errorf("%w: no certificate", ErrRefused)
	}
	leaf := chain[0]
	_, err := leaf.Verify(x509.VerifyOptions{Roots: c.Pool(), CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return AgentID{}, fmt.Errorf("%w: %s", ErrRefused, why(err, leaf, at))
	}
	if len(leaf.URIs) != 1 {
		return AgentID{}, fmt.Errorf("%w: it names no agent", ErrRefused)
	}
	id, err := parseAgentURI(leaf.URIs[0])
	if err != nil {
		return AgentID{}, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return id, nil
}

// why turns a verification error into a short reason for logs and the audit
// trail.
func why(err error, leaf *x509.Certificate, at time.Time) string {
	var inv x509.CertificateInvalidError
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		if at.Before(leaf.NotBefore) {
			return "not valid yet (valid from " + leaf.NotBefore.UTC().Format(time.RFC3339) + ")"
		}
		return "expired at " + leaf.NotAfter.UTC().Format(time.RFC3339)
	case errors.As(err, &ua):
		return "signed by another certificate authority"
	case errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage:
		return "not a client certificate"
	}
	return err.Error()
}

// VerifyServer checks the agents listener's certificate chain as an agent does:
// the chain must lead to a CA whose pin is pin (and, when roots is set, that is
// one of roots), the leaf must be for server authentication and, unless at is
// zero, valid at at. The host name is not checked: only this installation's CA,
// whose key never leaves its store, issues such certificates.
func VerifyServer(raw [][]byte, pin string, roots *x509.CertPool, at time.Time) error {
	if len(raw) == 0 {
		return errors.New("the server sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return fmt.Errorf("the server's certificate: %w", err)
		}
		certs[i] = c
	}
	pool := roots
	if pool == nil {
		pinned := 0
		pool = x509.NewCertPool()
		for _, c := range certs[1:] {
			if c.IsCA && subtle.ConstantTimeCompare([]byte(PinOf(c)), []byte(pin)) == 1 {
				pool.AddCert(c)
				pinned++
			}
		}
		if pinned == 0 {
			return ErrPin
		}
	}
	leaf := certs[0]
	when := at
	if when.IsZero() {
		// Before the first exchange the agent cannot know the server's time:
		// the pin, not the clock, decides.
		when = leaf.NotBefore.Add(time.Second)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: when, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("the server's certificate: %s", why(err, leaf, when))
	}
	if pin != "" {
		root := chains[0][len(chains[0])-1]
		if subtle.ConstantTimeCompare([]byte(PinOf(root)), []byte(pin)) != 1 {
			return ErrPin
		}
	}
	return nil
}

// JoinToken is a parsed join token.
type JoinToken struct {
	Tenant string
	Agent  string
	Secret string
	Pin    string
}

const tokenPrefix = "cwj1"

// NewJoinToken makes a join token for an enrolment.
func NewJoinToken(tenant, agent, pin string) (JoinToken, error) {
	if !validID(tenant, true) || !validID(agent, false) {
		return JoinToken{}, fmt.Errorf("clusterca: bad tenant or agent id")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return JoinToken{}, err
	}
	return JoinToken{Tenant: tenant, Agent: agent, Secret: base64.RawURLEncoding.EncodeToString(b), Pin: pin}, nil
}

func (t JoinToken) String() string {
	return strings.Join([]string{tokenPrefix, t.Tenant, t.Agent, t.Secret, t.Pin}, ".")
}

// Hash is what the store keeps of the token.
func (t JoinToken) Hash() []byte {
	h := sha256.Sum256([]byte(t.Secret))
	return h[:]
}

// ParseJoinToken reads a join token.
func ParseJoinToken(s string) (JoinToken, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 5 || parts[0] != tokenPrefix {
		return JoinToken{}, fmt.Errorf("%w: want cwj1.TENANT.AGENT.SECRET.PIN", ErrBadToken)
	}
	t := JoinToken{Tenant: parts[1], Agent: parts[2], Secret: parts[3], Pin: parts[4]}
	if !validID(t.Tenant, true) || !validID(t.Agent, false) {
		return JoinToken{}, fmt.Errorf("%w: bad tenant or agent", ErrBadToken)
	}
	for _, b64 := range []string{t.Secret, t.Pin} {
		raw, err := base64.RawURLEncoding.DecodeString(b64)
		if err != nil || len(raw) != 32 {
			return JoinToken{}, fmt.Errorf("%w: secret and pin are 32 bytes in base64url", ErrBadToken)
		}
	}
	return t, nil
}

// SerialHex formats a certificate serial for the store and logs.
func SerialHex(c *x509.Certificate) string { return hex.EncodeToString(c.SerialNumber.Bytes()) }
