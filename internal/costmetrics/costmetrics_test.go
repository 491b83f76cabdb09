package costmetrics

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func exported() map[string]bool {
	ch := make(chan *prometheus.Desc, 32)
	(&Collector{}).Describe(ch)
	close(ch)
	out := map[string]bool{}
	re := regexp.MustCompile(`fqName: "([a-z_]+)"`)
	for d := range ch {
		out[re.FindStringSubmatch(d.String())[1]] = true
	}
	return out
}

// TestGrafanaDashboardReadsExportedSeries: the provided dashboard uses only
// series the exporter produces, and OpenCost's eight are all exported.
func TestGrafanaDashboardReadsExportedSeries(t *testing.T) {
	names := exported()
	for _, n := range []string{"node_cpu_hourly_cost", "node_ram_hourly_cost", "node_gpu_hourly_cost", "node_total_hourly_cost", "pv_hourly_cost",
		"container_cpu_allocation", "container_memory_allocation_bytes", "kubecost_load_balancer_cost"} {
		if !names[n] {
			t.Errorf("%s is not exported", n)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "costwarden-cost.json"))
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\b((?:node|pv|container|kubecost)_[a-z_]+)\b`).FindAllStringSubmatch(string(b), -1) {
		used[m[1]] = true
		if !names[m[1]] {
			t.Errorf("the dashboard reads %s, which is not exported", m[1])
		}
	}
	if len(used) < 8 {
		t.Errorf("the dashboard reads only %v", used)
	}
}

func TestRequireToken(t *testing.T) {
	h := RequireToken("s3cret-token-0123456789", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	for _, c := range []struct {
		auth string
		want int
	}{
		{"", 401}, {"Bearer", 401}, {"Bearer ", 401}, {"Basic s3cret-token-0123456789", 401}, {"Bearer s3cret-token-012345678", 401},
		{"Bearer s3cret-token-0123456789x", 401}, {"Bearer s3cret-token-0123456789", 200}, {"bearer s3cret-token-0123456789", 200},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		h.ServeHTTP(rec, req)
		if rec.Code != c.want || (c.want == 401 && rec.Body.String() == "ok") {
			t.Errorf("Authorization %q: %d, want %d", c.auth, rec.Code, c.want)
		}
	}
}

func TestReadToken(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"short": "abc\n", "spaces": "abc def ghi jkl mno\n", "empty": ""} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := ReadToken(p); err == nil || !strings.Contains(err.Error(), "server.metricsTokenFile") {
			t.Errorf("%s token accepted: %v", name, err)
		}
	}
	p := filepath.Join(dir, "good")
	os.WriteFile(p, []byte("0123456789abcdef0123\n"), 0o600)
	if tok, err := ReadToken(p); err != nil || tok != "0123456789abcdef0123" {
		t.Errorf("good token: %q %v", tok, err)
	}
	if _, err := ReadToken(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}
