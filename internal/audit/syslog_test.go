package audit_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
)

// rsyslog runs a real rsyslogd on 127.0.0.1 receiving RFC 5424 over TCP (or
// TLS with certFiles) and writing each message's parsed fields to a file.
type rsyslog struct {
	addr string
	out  string
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

func startRsyslog(t *testing.T, ca, cert, key string) *rsyslog {
	t.Helper()
	bin, err := osexec.LookPath("rsyslogd")
	if err != nil {
		if bin, err = osexec.LookPath("/usr/sbin/rsyslogd"); err != nil {
			t.Fatal("rsyslogd is not installed: apt-get install rsyslog rsyslog-gnutls (scripts/ensure-tools.sh installs them)")
		}
	}
	dir := t.TempDir()
	port := freePort(t)
	r := &rsyslog{addr: "127.0.0.1:" + port, out: filepath.Join(dir, "out.log")}
	tlsConf := ""
	input := fmt.Sprintf(`input(type="imtcp" port="%s" address="127.0.0.1")`, port)
	if cert != "" {
		tlsConf = fmt.Sprintf(`global(DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile="%s" DefaultNetstreamDriverCertFile="%s" DefaultNetstreamDriverKeyFile="%s")`, ca, cert, key)
		input = fmt.Sprintf(`module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port="%s" address="127.0.0.1")`, port)
	} else {
		input = `module(load="imtcp")` + "\n" + input
	}
	conf := fmt.Sprintf(`global(workDirectory="%s")
%s
%s
template(name="fields" type="string" string="%%syslogfacility-text%%|%%app-name%%|%%msgid%%|%%procid%%|%%msg%%\n")
action(type="omfile" file="%s" template="fields")
`, dir, tlsConf, input, r.out)
	confPath := filepath.Join(dir, "rsyslog.conf")
	os.WriteFile(confPath, []byte(conf), 0o600)
	cmd := osexec.Command(bin, "-n", "-f", confPath, "-i", filepath.Join(dir, "pid"))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("tcp", r.addr)
		if err == nil {
			c.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd did not listen: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *rsyslog) lines(t *testing.T, want int) []string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(r.out)
		ls := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(b) > 0 && len(ls) >= want {
			return ls
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslog wrote %d of %d messages: %q", len(ls), want, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type plainDialer struct{ net.Dialer }

func checkSyslog(t *testing.T, r *rsyslog, tlsCfg *tls.Config) {
	sink := audit.NewSyslogSink(audit.SyslogConfig{Address: r.addr, TLS: tlsCfg, Facility: 10, Required: true}, &plainDialer{})
	f := newFixture(t, sink)
	f.fill(t, 3) // three records and a checkpoint
	sink.Close()
	ls := r.lines(t, 4)
	for i, l := range ls[:3] {
		parts := strings.SplitN(l, "|", 5)
		if len(parts) != 5 || parts[0] != "authpriv" || parts[1] != "costwarden" || parts[2] != "audit" || parts[3] != fmt.Sprint(os.Getpid()) {
			t.Fatalf("message %d parsed as %q", i, l)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(strings.TrimSpace(parts[4])), &rec); err != nil || rec["seq"] != float64(i+1) || rec["action"] != "user.create" {
			t.Errorf("message %d body %q: %v", i, parts[4], err)
		}
	}
	if !strings.Contains(ls[3], `"type":"checkpoint"`) {
		t.Errorf("the checkpoint did not reach syslog: %q", ls[3])
	}
}

func TestSyslogSinkTCP(t *testing.T) {
	checkSyslog(t, startRsyslog(t, "", "", ""), nil)
}

func TestSyslogSinkTLS(t *testing.T) {
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, _ := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600)
		return p
	}
	r := startRsyslog(t, write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	checkSyslog(t, r, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: "127.0.0.1"})
	// A client that does not trust the collector's CA refuses it: the
	// required sink then fails Preflight.
	bad := audit.NewSyslogSink(audit.SyslogConfig{Address: r.addr, TLS: &tls.Config{MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1"}, Required: true}, &plainDialer{})
	if err := bad.Ready(t.Context()); err == nil {
		t.Error("an untrusted collector was accepted")
	}
}
