package app_test

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/collect/kubemetrics"
	"github.com/costwarden/costwarden/internal/collect/prom/promtest"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/cost"
)

// e1 is COST_MODEL.md's example E1 as an observation of the hour starting at h.
func e1(h time.Time) *cost.Observation {
	const gib = 1 << 30
	n := 60
	half := cost.NewSlots(n)
	half.SetRange(0, 30)
	obs := &cost.Observation{Cluster: "e1", Window: cost.NewWindow(h, h.Add(time.Hour)), Resolution: time.Minute,
		Nodes:      []cost.Node{{Name: "n1", CPUCores: 4, RAMBytes: 16 * gib, Present: cost.AllSlots(n)}},
		Namespaces: []cost.Namespace{{Name: "a"}, {Name: "b"}},
		Pods: []cost.Pod{
			{Namespace: "a", Name: "a1", UID: "00000000-0000-0000-0000-0000000000a1", Node: "n1"},
			{Namespace: "b", Name: "b1", UID: "00000000-0000-0000-0000-0000000000b1", Node: "n1"},
		},
	}
	series := func(v float64, run cost.Slots) []float64 {
		out := make([]float64, n)
		for s := range out {
			if run.Has(s) {
				out[s] = v
			}
		}
		return out
	}
	obs.Containers = []cost.Container{
		{Pod: 0, Name: "app", Running: cost.AllSlots(n), CPURequest: []float64{1}, RAMRequest: []float64{2 * gib},
			CPUUsage: series(0.5, cost.AllSlots(n)), RAMUsage: series(3*gib, cost.AllSlots(n))},
		{Pod: 1, Name: "app", Running: half, CPURequest: []float64{0.5}, RAMRequest: []float64{4 * gib},
			CPUUsage: series(1.5, half), RAMUsage: series(1*gib, half)},
	}
	return obs
}

// TestExampleE1ThroughTheAPI: E1 as kube-state-metrics and cAdvisor series in a real
// Prometheus; costwarden closes the hour and /allocation gives COST_MODEL.md's
// numbers, including the shared-idle split.
func TestExampleE1ThroughTheAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	h := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	w := kubemetrics.NewWriter("")
	if err := w.Add(e1(h)); err != nil {
		t.Fatal(err)
	}
	var om bytes.Buffer
	if _, err := w.WriteTo(&om); err != nil {
		t.Fatal(err)
	}
	srv := promtest.Start(t, promtest.Options{OpenMetrics: omBytes(om.Bytes())})
	cfg, err := config.Load(config.Sources{Flags: map[string]string{
		"dataDir": t.TempDir(), "server.listen": "127.0.0.1:0", "server.internalListen": "127.0.0.1:0",
		"collect.prometheus.url": srv.URL, "collect.prometheus.clusterName": "e1", "collect.prometheus.backfill": "0h",
		"pricing.custom.cpu": "0.03", "pricing.custom.ram": "0.004", "server.shutdownTimeout": "5s",
	}})
	if err != nil {
		t.Fatal(err)
	}
	tok := makeToken(t, cfg)
	r := serveAt(t, cfg, func() time.Time { return h.Add(70 * time.Minute) })
	waitFor(t, "the hour to be closed", time.Minute, func() bool {
		code, _ := r.get(t, "/readyz", "")
		return code == 200
	})
	rows := func(q string) map[string]map[string]interface{} {
		code, body := r.get(t, "/allocation?window=2026-11-02T09:00:00Z,2026-11-02T10:00:00Z&"+q, tok)
		if code != 200 {
			t.Fatalf("%s: %d %s", q, code, body)
		}
		var ar allocResp
		if err := json.Unmarshal(body, &ar); err != nil || len(ar.Data) != 1 {
			t.Fatalf("%s: %v %s", q, err, body)
		}
		return ar.Data[0]
	}
	check := func(what string, got interface{}, want float64) {
		t.Helper()
		if g, _ := got.(float64); math.Abs(g-want) > 1e-6 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	ns := rows("aggregate=namespace")
	check("a totalCost", ns["a"]["totalCost"], 0.042)
	check("b totalCost", ns["b"]["totalCost"], 0.0305)
	check("b cpuCoreHours", ns["b"]["cpuCoreHours"], 0.75)
	check("idle totalCost", ns[cost.IdleName]["totalCost"], 0.1115)
	check("a cpuEfficiency", ns["a"]["cpuEfficiency"], 0.5)
	check("a totalEfficiency", ns["a"]["totalEfficiency"], 0.785714)
	shared := rows("aggregate=namespace&shareIdle=true")
	check("a with shared idle", shared["a"]["totalCost"], 0.106971)
	check("b with shared idle", shared["b"]["totalCost"], 0.077029)
	if _, ok := shared[cost.IdleName]; ok {
		t.Error("shareIdle left an __idle__ row")
	}
}
