package config_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/config"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md's key table")

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "costwarden.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	file := writeFile(t, "server:\n  listen: ':1001'\n  internalListen: '127.0.0.1:1002'\npricing:\n  custom:\n    cpu: 0.5\n")
	env := []string{"COSTWARDEN_SERVER_LISTEN=:2001", "PATH=/bin", "COSTWARDEN_PRICING_CUSTOM_RAM=0.25"}
	flags := map[string]string{"server.listen": ":3001"}
	cfg, err := config.Load(config.Sources{File: file, Environ: env, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what     string
		got, exp any
	}{
		{"flag beats env and file", cfg.Server.Listen, ":3001"},
		{"file beats default", cfg.Server.InternalListen, "127.0.0.1:1002"},
		{"file value", cfg.Pricing.Custom.CPU, 0.5},
		{"env beats default", cfg.Pricing.Custom.RAM, 0.25},
		{"default kept", cfg.Pricing.Custom.GPU, 0.95},
		{"derived path", cfg.Storage.SQLite.Path, "/var/lib/costwarden/costwarden.db"},
	} {
		if c.got != c.exp {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.exp)
		}
	}
	cfg, err = config.Load(config.Sources{File: file, Environ: env})
	if err != nil || cfg.Server.Listen != ":2001" {
		t.Errorf("env beats file: got %q (err %v), want :2001", cfg.Server.Listen, err)
	}
}

func fieldErrors(t *testing.T, err error) config.Errors {
	t.Helper()
	var errs config.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v, want config.Errors", err)
	}
	return errs
}

func hasKey(errs config.Errors, key, contains string) bool {
	for _, e := range errs {
		if e.Key == key && strings.Contains(e.Message, contains) {
			return true
		}
	}
	return false
}

func TestErrorsNameTheKey(t *testing.T) {
	file := writeFile(t, `
server:
  listen: "nonsense"
  readTimeout: 5 minutes
  tls:
    certFile: /x.pem
pricing:
  custom:
    cpu: -1
  currency: dollars
storage:
  password: hunter2
log:
  levle: debug
demo:
  pods: 3
`)
	_, err := config.Load(config.Sources{File: file, Environ: []string{"COSTWARDEN_AUTH_TOKEN=abc", "COSTWARDEN_NOPE=1"}})
	errs := fieldErrors(t, err)
	for _, c := range []struct{ key, msg string }{
		{"server.listen", "host:port"},
		{"server.readTimeout", "not a duration"},
		{"server.tls", "together"},
		{"pricing.custom.cpu", "non-negative"},
		{"pricing.currency", "ISO 4217"},
		{"storage.password", "inline secrets are not accepted"},
		{"log.levle", "unknown key"},
		{"demo.pods", "between 20 and 50000"},
		{"COSTWARDEN_AUTH_TOKEN", "inline secrets"},
		{"COSTWARDEN_NOPE", "not a configuration key"},
	} {
		if !hasKey(errs, c.key, c.msg) {
			t.Errorf("no error for %s containing %q; got:\n%v", c.key, c.msg, errs)
		}
	}
	for _, e := range errs {
		if strings.Contains(e.Error(), "hunter2") || strings.Contains(e.Error(), "abc") {
			t.Errorf("error repeats a secret value: %v", e)
		}
	}
}

func TestBadFiles(t *testing.T) {
	for name, body := range map[string]string{
		"not yaml":     "server: [",
		"not mapping":  "- a\n- b\n",
		"wrong type":   "server:\n  listen:\n    - a\n",
		"nested wrong": "server: 3\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := config.Load(config.Sources{File: writeFile(t, body)}); err == nil {
				t.Error("Load succeeded, want an error")
			}
		})
	}
	if _, err := config.Load(config.Sources{File: "/does/not/exist.yaml"}); err == nil || !strings.Contains(err.Error(), "cannot read") {
		t.Errorf("missing file: err = %v", err)
	}
	if _, err := config.Load(config.Sources{File: writeFile(t, "")}); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

func TestEveryKeyHasEnvAndDoc(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range config.Keys() {
		if k.Doc == "" {
			t.Errorf("key %s has no doc", k.Name)
		}
		if seen[k.Env] {
			t.Errorf("env %s used twice", k.Env)
		}
		seen[k.Env] = true
	}
	if got := envOf("server.tls.certFile"); got != "COSTWARDEN_SERVER_TLS_CERT_FILE" {
		t.Errorf("env of server.tls.certFile = %s", got)
	}
}

func envOf(key string) string {
	for _, k := range config.Keys() {
		if k.Name == key {
			return k.Env
		}
	}
	return ""
}

func TestSecretNeverPrints(t *testing.T) {
	s := config.NewSecret([]byte("s3cret-value"))
	j, _ := json.Marshal(struct{ S config.Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), string(j)} {
		if strings.Contains(out, "s3cret") {
			t.Errorf("secret printed: %s", out)
		}
	}
	if string(s.Reveal()) != "s3cret-value" {
		t.Error("Reveal lost the value")
	}
}

func TestDurationsAndMaps(t *testing.T) {
	cfg, err := config.Load(config.Sources{Flags: map[string]string{"auth.tokenTTL": "48h", "allocation.businessLabels": "team=owner-team,product=app.kubernetes.io/part-of"}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth.TokenTTL != 48*time.Hour || cfg.Allocation.BusinessLabels["product"] != "app.kubernetes.io/part-of" {
		t.Errorf("got ttl %s labels %v", cfg.Auth.TokenTTL, cfg.Allocation.BusinessLabels)
	}
	if _, err := config.Load(config.Sources{Flags: map[string]string{"allocation.businessLabels": "colour=x"}}); err == nil {
		t.Error("unknown business key accepted")
	}
}

// TestDocsUpToDate keeps docs/configuration.md's generated table equal to the code.
func TestDocsUpToDate(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "configuration.md")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- keys:begin -->\n", "<!-- keys:end -->"
	doc := string(b)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the %q ... %q markers", path, begin, end)
	}
	want := config.Markdown()
	if doc[i+len(begin):j] == want {
		return
	}
	if *update {
		doc = doc[:i+len(begin)] + want + doc[j:]
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date; run go test ./internal/config -update", path)
}
