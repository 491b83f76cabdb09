// Package testlog lets end-to-end test harnesses keep the logs of the servers
// and commands they run, and the secrets they used, under the directory named
// by COSTWARDEN_TEST_LOG_DIR (set by `make test`). After the whole suite,
// internal/logscan reads them all and fails if any secret reached a log.
//
// It is test support: production code must not import it.
package testlog

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Env is the environment variable naming the directory.
const Env = "COSTWARDEN_TEST_LOG_DIR"

// Dir returns the directory, or "" when logs are not kept.
func Dir() string { return os.Getenv(Env) }

// SecretsPrefix starts the names of the files listing secrets.
const SecretsPrefix = "secrets-" // internal/logscan reads files with this prefix

// Writer returns a writer into a new log file for the test (io.Discard when
// no directory is set); the file is closed when the test ends.
func Writer(t testing.TB, name string) io.Writer {
	dir := Dir()
	if dir == "" {
		return io.Discard
	}
	b := make([]byte, 4)
	rand.Read(b)
	safe := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name() + "-" + name)
	f, err := os.OpenFile(filepath.Join(dir, safe+"-"+hex.EncodeToString(b)+".log"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatalf("testlog: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return &lockedWriter{w: f}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var secretsMu sync.Mutex

// Secret records credentials the test used (values shorter than 8 bytes are
// ignored: too common to find meaningfully).
func Secret(t testing.TB, values ...string) {
	dir := Dir()
	if dir == "" {
		return
	}
	secretsMu.Lock()
	defer secretsMu.Unlock()
	f, err := os.OpenFile(filepath.Join(dir, SecretsPrefix+strings.ReplaceAll(t.Name(), "/", "_")+".txt"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("testlog: %v", err)
	}
	defer f.Close()
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) >= 8 && !strings.Contains(v, "\n") {
			f.WriteString(v + "\n")
		}
	}
}
