package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// TLSConfig is the only TLS policy costwarden serves: TLS 1.2 minimum, 1.3
// preferred (Go negotiates the highest both sides speak), and for 1.2 only ECDHE
// with AEAD ciphers (no CBC, no SHA-1 MACs, no RSA key exchange).
func TLSConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384},
		NextProtos:       []string{"h2", "http/1.1"},
		GetCertificate:   getCert,
	}
}

// CertFiles serves a certificate from PEM files and reloads it when either file
// changes (checked at most once per interval, on handshakes), so renewed
// certificates are picked up without a restart. A broken renewal keeps the last
// good certificate and reports the error through onError.
type CertFiles struct {
	certPath, keyPath string
	interval          time.Duration
	now               func() time.Time
	onError           func(error)

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string
	checkedAt time.Time
}

// LoadCertFiles loads the pair once (failing clearly if it cannot) and returns a
// reloader.
func LoadCertFiles(certPath, keyPath string, now func() time.Time, onError func(error)) (*CertFiles, error) {
	c := &CertFiles{certPath: certPath, keyPath: keyPath, interval: 5 * time.Second, now: now, onError: onError}
	if err := checkKeyPerms(keyPath); err != nil {
		return nil, err
	}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func checkKeyPerms(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("TLS key: %w", err)
	}
	perm := st.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	// A key mounted from a Kubernetes Secret into a non-root pod is owned by root and
	// readable by the pod's fsGroup only (0440): accepted, as PostgreSQL accepts a
	// root-owned key that its group may read. Others may never read it, and nobody
	// but root may write it.
	if perm&0o037 == 0 && ownedByRoot(st) {
		return nil
	}
	return fmt.Errorf("TLS key %s is readable by group or others (mode %04o); run chmod 600 %s", path, perm, path)
}

// ownedByRoot reports whether the file belongs to uid 0.
func ownedByRoot(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0
}

func fileStamp(paths ...string) (string, error) {
	h := sha256.New()
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s|%d|%d;", p, st.Size(), st.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (c *CertFiles) reload() error {
	stamp, err := fileStamp(c.certPath, c.keyPath)
	if err != nil {
		return fmt.Errorf("TLS certificate: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
	if err != nil {
		return fmt.Errorf("TLS certificate %s / key %s: %w", c.certPath, c.keyPath, err)
	}
	c.cert, c.stamp = &cert, stamp
	return nil
}

// GetCertificate implements tls.Config.GetCertificate.
func (c *CertFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); now.Sub(c.checkedAt) >= c.interval {
		c.checkedAt = now
		if stamp, err := fileStamp(c.certPath, c.keyPath); err == nil && stamp != c.stamp {
			if err := c.reload(); err != nil && c.onError != nil {
				c.onError(fmt.Errorf("keeping the previous certificate: %w", err))
			}
		}
	}
	return c.cert, nil
}

// Leaf returns the current certificate's leaf.
func (c *CertFiles) Leaf() (*x509.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert.Leaf != nil {
		return c.cert.Leaf, nil
	}
	return x509.ParseCertificate(c.cert.Certificate[0])
}

// Self-signed certificate file names in the data directory.
const (
	SelfSignedCert = "tls-selfsigned.crt"
	SelfSignedKey  = "tls-selfsigned.key"
)

// EnsureSelfSigned returns the paths of a self-signed ECDSA P-256 certificate in dir,
// generating it (key 0600) if absent. It is valid for one year for localhost, the
// loopback addresses and the host name, and is regenerated when it has expired.
func EnsureSelfSigned(dir string, now time.Time) (certPath, keyPath string, created bool, err error) {
	certPath, keyPath = filepath.Join(dir, SelfSignedCert), filepath.Join(dir, SelfSignedKey)
	if b, err := os.ReadFile(certPath); err == nil {
		if blk, _ := pem.Decode(b); blk != nil {
			if c, err := x509.ParseCertificate(blk.Bytes); err == nil && now.Before(c.NotAfter.Add(-24*time.Hour)) {
				if _, err := os.Stat(keyPath); err == nil {
					return certPath, keyPath, false, nil
				}
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", "", false, fmt.Errorf("self-signed certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", false, fmt.Errorf("generating TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", "", false, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "costwarden self-signed", Organization: []string{"costwarden"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host != "" && host != "localhost" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", false, fmt.Errorf("self-signing certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", false, err
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", false, err
	}
	if err := writeFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", false, err
	}
	return certPath, keyPath, true, nil
}

// writeFileAtomic writes via a temporary file and rename so a crash never leaves a
// half-written key or certificate.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Fingerprint is the SHA-256 of a certificate, for logs and pinning.
func Fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}
