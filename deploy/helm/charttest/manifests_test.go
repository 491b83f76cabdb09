package charttest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

var update = flag.Bool("update", false, "rewrite deploy/manifests from the chart (make manifests)")

// namespaceDoc is the namespace the plain manifests install into, with the
// restricted Pod Security Standard enforced by the API server itself.
const namespaceDoc = `apiVersion: v1
kind: Namespace
metadata:
  name: costwarden
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
    pod-security.kubernetes.io/audit: restricted
    pod-security.kubernetes.io/warn: restricted
`

// manifest renders one preset as the plain-manifest file users without Helm apply.
func manifest(t *testing.T, p preset) string {
	r := mustRender(t, p.values(t))
	var b strings.Builder
	fmt.Fprintf(&b, `# costwarden: plain Kubernetes manifests for the %q preset.
# Generated from deploy/helm/costwarden with deploy/helm/examples/%s by
# "make manifests" (release %q, namespace %q). Do not edit: change the chart or
# the preset and regenerate. Before "kubectl apply -f", create the Secrets the
# preset names and replace its example addresses (docs/install.md, "Without Helm").
---
`, p.name, p.file, releaseName, namespace)
	b.WriteString(namespaceDoc)
	for _, d := range r.docs {
		b.WriteString("---\n")
		b.WriteString(d.text)
	}
	return b.String()
}

// TestManifestsAreCurrent: deploy/manifests holds exactly the chart's rendering of
// each example preset; `make manifests` (go test -run TestManifestsAreCurrent
// -update) rewrites them.
func TestManifestsAreCurrent(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "deploy", "manifests")
	want := map[string]bool{}
	for _, p := range presets {
		if p.file == "" || p.name+".yaml" != p.file {
			continue
		}
		name := p.name + ".yaml"
		want[name] = true
		text := manifest(t, p)
		path := filepath.Join(dir, name)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (run make manifests)", err)
			continue
		}
		if string(got) != text {
			t.Errorf("%s is out of date with the chart: run make manifests", path)
		}
		// The file itself decodes strictly, namespace included.
		dec := strictDecoder(scheme(t))
		for _, part := range splitDocs(string(got)) {
			obj, _, err := dec.Decode([]byte(part), nil, nil)
			if err != nil {
				t.Errorf("%s: %v", path, err)
				continue
			}
			if ns, ok := obj.(*corev1.Namespace); ok && ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("%s: namespace does not enforce restricted", path)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] && e.Name() != "README.md" {
			t.Errorf("%s/%s is not generated from a preset", dir, e.Name())
		}
	}
}
