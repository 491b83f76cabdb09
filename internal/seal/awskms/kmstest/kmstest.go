// Package kmstest starts a real AWS-KMS-API server for tests: local-kms
// (github.com/nsmithuk/local-kms), built from the Go module proxy with the go
// command on first use and cached in the temporary directory, run on 127.0.0.1
// at a free port with its data in the test's temporary directory, and stopped
// when the test ends.
package kmstest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Module is the local-kms version the harness builds.
const Module = "github.com/nsmithuk/local-kms@v0.0.0-20260228092603-2a5e92d09ab6"

// Region is the region the server answers for.
const Region = "eu-west-2"

// Server is a running local-kms.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	// CredentialsFile holds test credentials in the shared credentials format
	// (local-kms accepts any signature, real KMS would not).
	CredentialsFile string
	cmd             *exec.Cmd
}

// Binary returns the path of a built local-kms, building it when missing.
func Binary(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "costwarden-test-tools")
	bin := filepath.Join(dir, "local-kms-"+strings.ReplaceAll(Module[strings.Index(Module, "@")+1:], "/", "_"))
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "install", Module)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0", "GOFLAGS=")
	cmd.Dir = tmp // outside any module: go install pkg@version
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kmstest: building local-kms (%s) with the go command failed: %v\n%s", Module, err, out)
	}
	// Rename is atomic: concurrent test binaries either see the file or not.
	if err := os.Rename(filepath.Join(tmp, "local-kms"), bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

var started = regexp.MustCompile(`started on [0-9.:\[\]]*:(\d+)`)

// Start runs a local-kms for the test.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Env = []string{
		"PORT=0", "KMS_REGION=" + Region, "KMS_ACCOUNT_ID=111122223333",
		"KMS_DATA_PATH=" + filepath.Join(dir, "data"), "KMS_SEED_PATH=" + filepath.Join(dir, "no-seed.yaml"),
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("kmstest: starting local-kms: %v", err)
	}
	s := &Server{cmd: cmd}
	t.Cleanup(s.Stop)
	portc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			if m := started.FindStringSubmatch(sc.Text()); m != nil && !sent {
				portc <- m[1]
				sent = true
			}
		}
	}()
	select {
	case port := <-portc:
		s.Endpoint = "http://127.0.0.1:" + port
	case <-time.After(30 * time.Second):
		t.Fatal("kmstest: local-kms did not report its port within 30s")
	}
	s.CredentialsFile = filepath.Join(dir, "credentials")
	creds := "[default]\naws_access_key_id = AKIDTESTTESTTEST\naws_secret_access_key = test-secret-not-real\n"
	if err := os.WriteFile(s.CredentialsFile, []byte(creds), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// Stop kills the server (idempotent).
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Admin is an SDK client for test setup (creating and disabling keys).
func (s *Server) Admin() *kms.Client {
	return kms.New(kms.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTESTTESTTEST", "test-secret-not-real", ""),
	})
}

// CreateKey makes a new symmetric key and returns its ARN.
func (s *Server) CreateKey(t testing.TB) string {
	t.Helper()
	out, err := s.Admin().CreateKey(context.Background(), &kms.CreateKeyInput{Description: aws.String("costwarden test")})
	if err != nil {
		t.Fatalf("kmstest: CreateKey: %v", err)
	}
	return *out.KeyMetadata.Arn
}

// DisableKey disables a key: every use of it then fails.
func (s *Server) DisableKey(t testing.TB, arn string) {
	t.Helper()
	if _, err := s.Admin().DisableKey(context.Background(), &kms.DisableKeyInput{KeyId: aws.String(arn)}); err != nil {
		t.Fatalf("kmstest: DisableKey: %v", err)
	}
}

// String is the endpoint.
func (s *Server) String() string { return fmt.Sprintf("local-kms at %s", s.Endpoint) }
