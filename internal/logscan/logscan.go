package logscan

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// SecretsPrefix starts the names of the files listing secrets (as
// internal/testlog writes them).
const SecretsPrefix = "secrets-"

var credentialShape = regexp.MustCompile(`cw(?:t|scim|setup)_[A-Za-z0-9_\-]{43}`)

// Result is what Scan found.
type Result struct {
	Logs    int
	Bytes   int
	Secrets int
	// Leaks names each log file holding a secret (only its first characters
	// are shown) or a costwarden credential.
	Leaks []string
}

// Scan reads every *.log and *.jsonl file in dir and every secrets file, and
// reports the logs that contain a secret or a costwarden credential.
func Scan(dir string) (Result, error) {
	var r Result
	entries, err := os.ReadDir(dir)
	if err != nil {
		return r, err
	}
	secrets := map[string]bool{}
	var logs []string
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), SecretsPrefix):
			b, err := os.ReadFile(p)
			if err != nil {
				return r, err
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
	r.Secrets, r.Logs = len(secrets), len(logs)
	for _, p := range logs {
		b, err := os.ReadFile(p)
		if err != nil {
			return r, err
		}
		r.Bytes += len(b)
		s := string(b)
		for sec := range secrets {
			if strings.Contains(s, sec) {
				r.Leaks = append(r.Leaks, filepath.Base(p)+" holds a secret the tests used ("+sec[:min(6, len(sec))]+"…)")
			}
		}
		if m := credentialShape.FindString(s); m != "" {
			r.Leaks = append(r.Leaks, filepath.Base(p)+" holds a costwarden credential ("+m[:8]+"…)")
		}
	}
	return r, nil
}
