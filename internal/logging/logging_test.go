package logging_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/costwarden/costwarden/internal/logging"
)

// Credentials made at test time (nothing secret-shaped is committed).
func secrets() map[string]string {
	return map[string]string{
		"token":   "cwt_" + strings.Repeat("Qx9", 14) + "A",
		"scim":    "cwscim_" + strings.Repeat("Zk3", 14) + "B",
		"setup":   "cwsetup_" + strings.Repeat("Mn7", 14) + "C",
		"bearer":  "Bearer " + "eyJhbGciOi" + strings.Repeat("J9", 20),
		"aws":     "AKIA" + strings.Repeat("Q7", 8),
		"pem":     "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE" + strings.Repeat("b", 40) + "\n-----END EC PRIVATE KEY-----",
		"urlpass": "postgres://app:" + "hunter2-" + "s3cr3t" + "@db.example:5432/x",
	}
}

func TestRedaction(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		log := logging.New(&buf, "debug", format)
		s := secrets()
		log.Info("login with "+s["token"], "password", "correct-horse-battery", "Authorization", s["bearer"], "cookie", "__Host-session=abc123def456",
			"error", errors.New("dial "+s["urlpass"]+": refused"), "detail", "setup code "+s["setup"], "aws", s["aws"], "key", s["pem"],
			"list", []string{s["scim"]}, slog.Group("req", "client_secret", "oidc-client-secret-value", "url", "/x?token=abcdef123456"))
		log.With("setup_code", s["setup"]).Warn("x")
		out := buf.String()
		for name, v := range s {
			check := v
			if name == "urlpass" {
				check = "hunter2-s3cr3t"
			}
			if name == "pem" {
				check = strings.Repeat("b", 40)
			}
			if strings.Contains(out, check) {
				t.Errorf("%s: %s leaked:\n%s", format, name, out)
			}
		}
		for _, v := range []string{"correct-horse-battery", "abc123def456", "oidc-client-secret-value", "abcdef123456"} {
			if strings.Contains(out, v) {
				t.Errorf("%s: %q leaked:\n%s", format, v, out)
			}
		}
		if !strings.Contains(out, "db.example") || !strings.Contains(out, "login with") {
			t.Errorf("%s: redaction removed more than the credential:\n%s", format, out)
		}
	}
}

// TestLogInjection: user-controlled strings with newlines, a forged JSON line
// or terminal escapes stay inside one line of one record.
func TestLogInjection(t *testing.T) {
	evil := "bob\n{\"time\":\"2026-01-01T00:00:00Z\",\"level\":\"ERROR\",\"msg\":\"forged\"}\r\n\x1b[31mred\u2028x"
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		log := logging.New(&buf, "info", format)
		log.Info("user "+evil, "username", evil, "agent", evil)
		out := buf.String()
		if n := strings.Count(out, "\n"); n != 1 {
			t.Errorf("%s: one record became %d lines:\n%s", format, n, out)
		}
		if strings.ContainsAny(out[:len(out)-1], "\r\x1b\u2028") {
			t.Errorf("%s: control characters written raw: %q", format, out)
		}
		if format == "json" {
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil || m["msg"] == "forged" || m["level"] != "INFO" {
				t.Errorf("json: %v %v", err, m)
			}
		}
	}
}
