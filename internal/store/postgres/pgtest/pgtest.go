// Package pgtest runs a real PostgreSQL server for tests: the Debian package's
// initdb and postgres, in a temporary directory, on 127.0.0.1 at a free port,
// with TLS from a certificate authority generated at test time and password
// (SCRAM) authentication; plain TCP is refused by pg_hba.conf. PostgreSQL
// refuses to run as root, so under root the server runs as the unprivileged
// user nobody (setpriv). The caller stops the server when done.
package pgtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/costwarden/costwarden/internal/store/postgres"
)

// Server is a running PostgreSQL.
type Server struct {
	Dir      string // temporary directory (data in Dir/data)
	DataDir  string
	Port     int
	CAFile   string // PEM of the CA that signed the server certificate
	User     string // superuser
	Password []byte
	cmd      *exec.Cmd
	uid, gid int // the server's user when running as root
	dbs      atomic.Int64
	logFile  string
}

// BinDir finds the PostgreSQL server binaries (the newest installed major).
func BinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return a > b
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("pgtest: PostgreSQL server binaries (initdb, postgres) not found; install the Debian package postgresql (apt-get install postgresql, or make tools)")
}

// Start initialises and starts a server. Call Stop when done.
func Start() (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "costwarden-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, DataDir: filepath.Join(dir, "data"), User: "cwadmin", uid: -1, gid: -1, logFile: filepath.Join(dir, "postgres.log")}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	pw := make([]byte, 16)
	rand.Read(pw)
	s.Password = []byte(hex.EncodeToString(pw))
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs the user nobody to run PostgreSQL: %w", err)
		}
		s.uid, _ = strconv.Atoi(u.Uid)
		s.gid, _ = strconv.Atoi(u.Gid)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, s.Password, 0o600); err != nil {
		return nil, err
	}
	if err := s.chownAll(); err != nil {
		return nil, err
	}
	if out, err := s.run(filepath.Join(bin, "initdb"), "-D", s.DataDir, "-U", s.User, "--pwfile", pwFile,
		"--auth-host=scram-sha-256", "--auth-local=reject", "-E", "UTF8", "--no-locale", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	if err := s.writeTLS(); err != nil {
		return nil, err
	}
	hba := "hostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 0.0.0.0/0 reject\n"
	if err := os.WriteFile(filepath.Join(s.DataDir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return nil, err
	}
	if err := s.chownAll(); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if s.Port, err = freePort(); err != nil {
			return nil, err
		}
		err = s.startOnce(bin)
		if err == nil || attempt == 3 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func (s *Server) startOnce(bin string) error {
	conf := []string{
		"listen_addresses=127.0.0.1", fmt.Sprintf("port=%d", s.Port), "unix_socket_directories=" + s.Dir,
		"ssl=on", "ssl_cert_file=server.crt", "ssl_key_file=server.key", "ssl_min_protocol_version=TLSv1.2",
		"fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200", "shared_buffers=32MB",
	}
	args := []string{"-D", s.DataDir}
	for _, c := range conf {
		args = append(args, "-c", c)
	}
	log, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := s.run(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = log, log
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	s.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			s.cmd = nil
			b, _ := os.ReadFile(s.logFile)
			return fmt.Errorf("pgtest: postgres exited: %v\n%s", err, b)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.ConnectConfig(ctx, s.adminConfig("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			go func() { <-exited }()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Stop()
	b, _ := os.ReadFile(s.logFile)
	return fmt.Errorf("pgtest: postgres did not accept connections within 30s\n%s", b)
}

// run builds a command that runs as the server's user.
func (s *Server) run(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C"}
	if s.uid >= 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid)}}
	}
	return cmd
}

func (s *Server) chownAll() error {
	if s.uid < 0 {
		return nil
	}
	return filepath.Walk(s.Dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, s.uid, s.gid)
	})
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// writeTLS makes a CA and a server certificate for 127.0.0.1 and localhost.
func (s *Server) writeTLS() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "costwarden test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return err
	}
	s.CAFile = filepath.Join(s.Dir, "ca.crt")
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{
		{s.CAFile, "CERTIFICATE", caDER},
		{filepath.Join(s.DataDir, "server.crt"), "CERTIFICATE", srvDER},
		{filepath.Join(s.DataDir, "server.key"), "EC PRIVATE KEY", keyDER},
	} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return err
		}
	}
	// The client reads the CA as root or as the test user; keep it readable.
	return os.Chmod(s.CAFile, 0o644)
}

func (s *Server) adminConfig(db string) *pgx.ConnConfig {
	cc, _ := pgx.ParseConfig("")
	cc.Host, cc.Port, cc.Database, cc.User, cc.Password = "127.0.0.1", uint16(s.Port), db, s.User, string(s.Password)
	pc, _ := postgresTLS(s)
	cc.TLSConfig = pc
	cc.Fallbacks = nil
	return cc
}

// Config returns the store configuration for database db, verify-full TLS.
func (s *Server) Config(db string) postgres.Config {
	return postgres.Config{
		Host: "127.0.0.1", Port: s.Port, Database: db, User: s.User, Password: append([]byte(nil), s.Password...),
		SSLMode: "verify-full", CAFile: s.CAFile, MaxConns: 8, ConnectTimeout: 10 * time.Second,
	}
}

// Exec runs SQL statements as the superuser on database db.
func (s *Server) Exec(ctx context.Context, db string, stmts ...string) error {
	conn, err := pgx.ConnectConfig(ctx, s.adminConfig(db))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// NewDatabase creates an empty database and returns its configuration.
func (s *Server) NewDatabase(t testing.TB) postgres.Config {
	t.Helper()
	name := fmt.Sprintf("cw_%d", s.dbs.Add(1))
	if err := s.Exec(context.Background(), "postgres", "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return s.Config(name)
}

// Open opens a costwarden store on a new database, closed when t ends.
func (s *Server) Open(t testing.TB) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), s.NewDatabase(t), postgres.Options{})
	if err != nil {
		t.Fatalf("pgtest: opening the store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Run is a test binary's TestMain: it starts one server for all the tests in
// *srv, runs them, stops the server and exits with the tests' code.
func Run(m *testing.M, srv **Server) {
	s, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*srv = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

// StartT starts a server for test t and stops it when t ends.
func StartT(t testing.TB) *Server {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Stop shuts the server down (fast shutdown) and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() {
			for i := 0; i < 100; i++ {
				if err := s.cmd.Process.Signal(syscall.Signal(0)); err != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			close(done)
		}()
		<-done
		s.cmd.Process.Kill()
		s.cmd = nil
	}
	if s.Dir != "" && strings.Contains(s.Dir, "costwarden-pg-") {
		os.RemoveAll(s.Dir)
	}
}

// Checkpoint forces every dirty page to the data files (for greps of the pages).
func (s *Server) Checkpoint(ctx context.Context) error {
	return s.Exec(ctx, "postgres", "CHECKPOINT")
}

// Halt stops the server (fast shutdown) and keeps its data: Restart starts it
// again on the same port (an outage of the database in a test).
func (s *Server) Halt() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return errors.New("pgtest: the server is not running")
	}
	p := s.cmd.Process
	s.cmd = nil
	if err := p.Signal(syscall.SIGINT); err != nil {
		return err
	}
	for i := 0; i < 300; i++ {
		if err := p.Signal(syscall.Signal(0)); err != nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.Kill()
	return errors.New("pgtest: the server did not stop within 30s; killed")
}

// Restart starts a halted server again on its port.
func (s *Server) Restart() error {
	bin, err := BinDir()
	if err != nil {
		return err
	}
	return s.startOnce(bin)
}

// QueryInts runs a query returning one row of integers, as the superuser on
// database db.
func (s *Server) QueryInts(ctx context.Context, db, q string, dst ...*int) error {
	conn, err := pgx.ConnectConfig(ctx, s.adminConfig(db))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	vals := make([]int64, len(dst))
	ptrs := make([]any, len(dst))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := conn.QueryRow(ctx, q).Scan(ptrs...); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	for i, v := range vals {
		*dst[i] = int(v)
	}
	return nil
}
