package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSimExportFeedsPromtool: `costwarden sim export --format openmetrics` writes a
// document promtool turns into TSDB blocks.
func TestSimExportFeedsPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is needed: install the Debian package prometheus (scripts/ensure-tools.sh)")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "demo.om")
	code, _, errOut := runCLI(t, nil, "sim", "export", "--window", "2026-11-02T10:00:00Z,2026-11-02T12:00:00Z", "--pods", "20", "--cluster-name", "acme", "-o", file)
	if code != 0 {
		t.Fatalf("sim export: %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, "sim export written") {
		t.Errorf("no progress on stderr: %s", errOut)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"# TYPE kube_pod_container_status_running gauge", "# TYPE container_cpu_usage_seconds counter", "kube_node_info{node=", "# EOF\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("export lacks %q", want)
		}
	}
	out, err := exec.Command(promtool, "tsdb", "create-blocks-from", "openmetrics", file, filepath.Join(dir, "data")).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool refused the export: %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "data")); len(entries) == 0 {
		t.Error("promtool created no block")
	}
}

func TestSimExportBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"sim", "export"}, `"window" not set`},
		{[]string{"sim", "export", "--window", "junk"}, "--window"},
		{[]string{"sim", "export", "--window", "2h", "--format", "csv"}, "--format"},
		{[]string{"sim", "export", "--window", "2h", "--pods", "3"}, "Pods must be between"},
		{[]string{"sim", "export", "--window", "2h", "--resolution", "7m"}, "--resolution"},
	} {
		code, out, errOut := runCLI(t, nil, c.args...)
		if code == 0 || !strings.Contains(errOut, c.says) || out != "" {
			t.Errorf("%v: code %d stderr %q stdout %d bytes; want failure mentioning %q", c.args, code, errOut, len(out), c.says)
		}
	}
}

// TestServePrometheusFlags: --prometheus and --cluster-name set their keys; bad
// values stop serve before it starts, naming the key.
func TestServePrometheusFlags(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := runCLI(t, nil, "serve", "--data-dir", dir, "--prometheus", "ftp://prom:9090", "--cluster-name", "prod")
	if code == 0 || !strings.Contains(errOut, "collect.prometheus.url") {
		t.Errorf("bad --prometheus: code %d\n%s", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "serve", "--data-dir", dir, "--prometheus", "http://127.0.0.1:9")
	if code == 0 || !strings.Contains(errOut, "collect.prometheus.clusterName") || !strings.Contains(errOut, "--cluster-name") {
		t.Errorf("--prometheus without --cluster-name: code %d\n%s", code, errOut)
	}
	code, _, errOut = runCLI(t, nil, "serve", "--data-dir", dir, "--kubernetes")
	if code == 0 || !strings.Contains(errOut, "collect.kubernetes.enabled") {
		t.Errorf("--kubernetes alone: code %d\n%s", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused configuration created files: %v", entries)
	}
}
