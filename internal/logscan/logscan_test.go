//go:build logscan

package logscan_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/costwarden/costwarden/internal/testlog"
)

var credentialShape = regexp.MustCompile(`cw(?:t|scim|setup)_[A-Za-z0-9_\-]{43}`)

func TestSuiteLogsHoldNoSecrets(t *testing.T) {
	dir := testlog.Dir()
	if dir == "" {
		t.Fatalf("%s is not set: run this after the suite, as make test does", testlog.Env)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]bool{}
	var logs []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), testlog.SecretsPrefix):
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(string(b), "\n") {
				if l = strings.TrimSpace(l); l != "" {
					secrets[l] = true
				}
			}
		case strings.HasSuffix(e.Name(), ".log") || strings.HasSuffix(e.Name(), ".jsonl"):
			logs = append(logs, p)
		}
	}
	total := 0
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		total += len(b)
		s := string(b)
		for sec := range secrets {
			if strings.Contains(s, sec) {
				t.Errorf("%s contains a secret the tests used (%.6s…)", filepath.Base(p), sec)
			}
		}
		if m := credentialShape.FindString(s); m != "" {
			t.Errorf("%s contains a costwarden credential (%.8s…)", filepath.Base(p), m)
		}
	}
	t.Logf("scanned %d log files (%d bytes) for %d secrets", len(logs), total, len(secrets))
	if len(logs) < 10 || total < 100000 || len(secrets) < 20 {
		t.Fatalf("too little to scan: %d log files, %d bytes, %d secrets; the harnesses did not keep their logs", len(logs), total, len(secrets))
	}
}
