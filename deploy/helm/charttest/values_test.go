package charttest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint/support"
	corev1 "k8s.io/api/core/v1"

	"github.com/costwarden/costwarden/internal/config"
)

// TestBadValuesAreRefused renders every file in testdata/bad: each must be refused,
// by the schema or by the chart's own checks, with a message containing every
// "# want:" line of the file (the value's path and what is allowed).
func TestBadValuesAreRefused(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("only %d bad values files", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for _, m := range regexp.MustCompile(`(?m)^# want: (.*)$`).FindAllStringSubmatch(string(b), -1) {
				wants = append(wants, m[1])
			}
			if len(wants) == 0 {
				t.Fatal("no # want: line")
			}
			_, err = renderChart(t, readValues(t, f))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
		})
	}
}

const sentinel = "S3ntinel-not-for-rendering-4c1f"

// pemHeader is split so that the secret scanner does not take this test input for a key.
const pemHeader = "-----BEGIN " + "PRIVATE KEY-----"

// TestInlineSecretsAreRefused: a secret handed to the chart as a value, wherever one
// might try, is refused; and no refusal repeats it.
func TestInlineSecretsAreRefused(t *testing.T) {
	base := map[string]any{"keys": map[string]any{"secret": map[string]any{"name": "costwarden-kek"}}}
	for path, v := range map[string]any{
		"keys.secret.value":                     sentinel,
		"keys.secret.data":                      map[string]any{"kek": sentinel},
		"keys.awskms.secretAccessKey":           sentinel,
		"tls.key":                               sentinel,
		"tls":                                   map[string]any{"mode": "existingSecret", "existingSecret": pemHeader + sentinel},
		"storage.postgres.password":             sentinel,
		"storage.postgres.passwordSecret":       sentinel,
		"auth.oidc.clientSecret":                sentinel,
		"metrics.token":                         sentinel,
		"collect.prometheus.bearerToken":        sentinel,
		"collect.prometheus.basicAuth.password": sentinel,
		"config.auth.oidc":                      map[string]any{"clientSecret": sentinel},
		"config.server":                         map[string]any{"metricsTokenFile": "/" + sentinel},
		"secrets":                               map[string]any{"kek": sentinel},
		"collect.prometheus.url":                "https://admin:" + sentinel + "@prometheus:9090",
		"keys.secret.name":                      pemHeader + sentinel,
		"agent.joinToken":                       "cwj1.t.a." + sentinel + ".pin",
		"agent.joinTokenSecret":                 "cwj1.t.a." + sentinel + ".pin",
		"agent.joinTokenSecret.name":            "cwj1.T.A." + sentinel,
		"agent":                                 map[string]any{"joinTokenSecret": map[string]any{"name": "cwj1.default.a1." + strings.ToLower(sentinel) + ".pin", "key": "token"}},
		"agent.servers":                         []any{"https://agent:" + sentinel + "@central:8444"},
		"audit.syslog.ca":                       "-----BEGIN CERTIFICATE-----" + sentinel,
	} {
		_, err := renderChart(t, set(base, path, v))
		if err == nil {
			t.Errorf("%s: an inline secret was accepted", path)
			continue
		}
		if strings.Contains(err.Error(), sentinel) {
			t.Errorf("%s: the refusal repeats the secret: %v", path, err)
		}
	}
}

// TestNoSecretValueIsRendered: no preset renders a Secret, a key, a password or a
// token; the configuration names files only, which costwarden's loader checks.
func TestNoSecretValueIsRendered(t *testing.T) {
	// A key named like a secret with a scalar value on its line (nested maps such as
	// keys.secret or privateKey settings, and *File keys, are fine).
	secretish := regexp.MustCompile(`(?i)-----BEGIN|\b(password|secret|token|apikey|privatekey|credentials?)[ \t]*:[ \t]*[^\s{]`)
	for _, p := range presets {
		r := mustRender(t, p.values(t))
		for _, d := range r.docs {
			if s, ok := d.obj.(*corev1.Secret); ok {
				t.Errorf("%s: renders Secret %s", p.name, s.Name)
			}
			if m := secretish.FindString(d.text); m != "" {
				t.Errorf("%s: %s contains %q", p.name, d.source, m)
			}
		}
	}
}

// TestLint runs Helm's linter (strict: warnings fail) over every preset.
func TestLint(t *testing.T) {
	for _, p := range presets {
		l := action.NewLint()
		l.Strict = true
		l.Namespace = namespace
		l.KubeVersion = &chartutil.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}
		res := l.Run([]string{chartDir(t)}, p.values(t))
		for _, m := range res.Messages {
			if m.Severity > support.InfoSev {
				t.Errorf("%s: helm lint: %s", p.name, m)
			}
		}
		for _, err := range res.Errors {
			t.Errorf("%s: helm lint: %v", p.name, err)
		}
	}
}

// TestConfigValuesAreCostwardenKeys: every key that values.yaml's config section
// may pass through exists in costwarden's configuration, and none of them is one
// the chart sets itself (addresses, files, drivers): renaming or removing a key in
// internal/config fails here rather than at a user's pod start.
func TestConfigValuesAreCostwardenKeys(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir(t), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	var passthrough []string
	var walk func(prefix string, raw json.RawMessage)
	walk = func(prefix string, raw json.RawMessage) {
		var node struct {
			Type       any                        `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(raw, &node); err != nil {
			t.Fatal(err)
		}
		if node.Properties == nil {
			passthrough = append(passthrough, prefix)
			return
		}
		for k, v := range node.Properties {
			if prefix == "" {
				walk(k, v)
			} else {
				walk(prefix+"."+k, v)
			}
		}
	}
	walk("", schema.Properties["config"])
	keys := map[string]bool{}
	for _, k := range config.Keys() {
		keys[k.Name] = true
	}
	sort.Strings(passthrough)
	if len(passthrough) < 40 {
		t.Fatalf("only %d pass-through keys found: %v", len(passthrough), passthrough)
	}
	managed := map[string]bool{}
	for _, p := range presets {
		_, raw := checkConfig(t, mustRender(t, p.values(t)))
		collectLeaves("", raw, managed)
	}
	delete(managed, "log.level") // the presets' own config values
	delete(managed, "log.format")
	delete(managed, "pricing.catalog.enabled")
	for _, k := range passthrough {
		if !keys[k] {
			t.Errorf("config.%s is in values.schema.json but is not a costwarden configuration key", k)
		}
		if managed[k] {
			t.Errorf("config.%s may be passed through, but the chart sets it itself", k)
		}
		if strings.HasSuffix(k, "File") || strings.HasSuffix(k, ".file") {
			t.Errorf("config.%s names a file: files come from mounted Secrets only", k)
		}
	}
}

func collectLeaves(prefix string, m map[string]any, out map[string]bool) {
	for k, v := range m {
		full := k
		if prefix != "" {
			full = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok {
			collectLeaves(full, sub, out)
			continue
		}
		out[full] = true
	}
}
