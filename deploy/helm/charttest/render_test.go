package charttest

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	serializerjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

const (
	releaseName = "costwarden"
	namespace   = "costwarden"
)

func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func chartDir(t testing.TB) string { return filepath.Join(repoRoot(t), "deploy", "helm", "costwarden") }

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir(t))
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	return c
}

// readValues reads a values file as Helm does.
func readValues(t testing.TB, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := chartutil.ReadValues(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v.AsMap()
}

// rendered is one release rendered as `helm template` would.
type rendered struct {
	manifest string
	notes    string
	docs     []doc
}

// doc is one rendered object: its source template, its text and its decoded value.
type doc struct {
	source string
	text   string
	obj    runtime.Object
}

// renderChart renders the chart with vals through Helm's install action in
// client-only dry-run mode (what `helm template` does): schema validation,
// templates, fail messages, NOTES. It does not decode.
func renderChart(t testing.TB, vals map[string]any) (*rendered, error) {
	t.Helper()
	cfg := &action.Configuration{Log: func(string, ...any) {}}
	in := action.NewInstall(cfg)
	in.DryRun = true
	in.ClientOnly = true
	in.Replace = true
	in.ReleaseName = releaseName
	in.Namespace = namespace
	in.KubeVersion = &chartutil.KubeVersion{Version: "v1.33.0", Major: "1", Minor: "33"}
	rel, err := in.Run(loadChart(t), vals)
	if err != nil {
		return nil, err
	}
	r := &rendered{manifest: rel.Manifest, notes: rel.Info.Notes}
	for _, part := range splitDocs(rel.Manifest) {
		r.docs = append(r.docs, doc{source: sourceOf(part), text: part})
	}
	return r, nil
}

var sourceLine = regexp.MustCompile(`(?m)^# Source: (\S+)`)

func sourceOf(text string) string {
	if m := sourceLine.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return "?"
}

// splitDocs cuts a multi-document YAML stream into its non-empty documents.
func splitDocs(manifest string) []string {
	var out []string
	for _, part := range regexp.MustCompile(`(?m)^---\s*$`).Split(manifest, -1) {
		body := strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(part, ""))
		if body != "" {
			out = append(out, strings.TrimSpace(part)+"\n")
		}
	}
	return out
}

// scheme knows every built-in Kubernetes type and cert-manager's Certificate.
func scheme(t testing.TB) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := certmanagerv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// strictDecoder decodes YAML into the registered Go type of its apiVersion/kind and
// fails on unknown and duplicate fields.
func strictDecoder(s *runtime.Scheme) runtime.Decoder {
	return serializerjson.NewSerializerWithOptions(serializerjson.DefaultMetaFactory, s, s,
		serializerjson.SerializerOptions{Yaml: true, Strict: true})
}

// mustRender renders vals and decodes every object strictly; any failure ends the test.
func mustRender(t testing.TB, vals map[string]any) *rendered {
	t.Helper()
	r, err := renderChart(t, vals)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	dec := strictDecoder(scheme(t))
	for i := range r.docs {
		obj, gvk, err := dec.Decode([]byte(r.docs[i].text), nil, nil)
		if err != nil {
			t.Fatalf("%s does not decode strictly into its Kubernetes type: %v\n%s", r.docs[i].source, err, r.docs[i].text)
		}
		if gvk.Kind == "" || gvk.Version == "" {
			t.Fatalf("%s has no kind or apiVersion", r.docs[i].source)
		}
		r.docs[i].obj = obj
	}
	return r
}

func (r *rendered) kinds() []string {
	var ks []string
	for _, d := range r.docs {
		gvk := d.obj.GetObjectKind().GroupVersionKind()
		ks = append(ks, gvk.Kind)
	}
	sort.Strings(ks)
	return ks
}

func (r *rendered) deployment(t testing.TB) *appsv1.Deployment {
	t.Helper()
	var found *appsv1.Deployment
	for _, d := range r.docs {
		if dep, ok := d.obj.(*appsv1.Deployment); ok {
			if found != nil {
				t.Fatal("more than one Deployment")
			}
			found = dep
		}
	}
	if found == nil {
		t.Fatal("no Deployment rendered")
	}
	return found
}

func (r *rendered) configMap(t testing.TB) *corev1.ConfigMap {
	t.Helper()
	for _, d := range r.docs {
		if cm, ok := d.obj.(*corev1.ConfigMap); ok {
			return cm
		}
	}
	t.Fatal("no ConfigMap rendered")
	return nil
}

func (r *rendered) networkPolicies() []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, d := range r.docs {
		if np, ok := d.obj.(*networkingv1.NetworkPolicy); ok {
			out = append(out, np)
		}
	}
	return out
}

func (r *rendered) certificate() *certmanagerv1.Certificate {
	for _, d := range r.docs {
		if c, ok := d.obj.(*certmanagerv1.Certificate); ok {
			return c
		}
	}
	return nil
}

// set returns a copy of vals with the dotted path p set to v (creating maps).
func set(vals map[string]any, p string, v any) map[string]any {
	out := deepCopy(vals).(map[string]any)
	parts := strings.Split(p, ".")
	m := out
	for _, k := range parts[:len(parts)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
	return out
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// TestStrictDecodingCanFail: the decoder the preset tests use refuses a misspelt
// field and a duplicated one in a rendered object, so their decoding is a real check.
func TestStrictDecodingCanFail(t *testing.T) {
	r := mustRender(t, presets[0].values(t))
	var text string
	for _, d := range r.docs {
		if d.obj.GetObjectKind().GroupVersionKind().Kind == "Deployment" {
			text = d.text
		}
	}
	dec := strictDecoder(scheme(t))
	for name, broken := range map[string]string{
		"misspelt field":   strings.Replace(text, "\n  replicas: 1\n", "\n  replicas: 1\n  replicaz: 3\n", 1),
		"duplicated field": strings.Replace(text, "\n  replicas: 1\n", "\n  replicas: 1\n  replicas: 2\n", 1),
	} {
		if broken == text {
			t.Fatalf("%s: the Deployment has no replicas line to break", name)
		}
		if _, _, err := dec.Decode([]byte(broken), nil, nil); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}
