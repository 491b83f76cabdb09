package prom_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/collect/kubemetrics"
	"github.com/costwarden/costwarden/internal/collect/prom"
	"github.com/costwarden/costwarden/internal/collect/prom/promtest"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
)

const gib = 1 << 30

var exampleHour = cost.NewWindow(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC))

// example builds COST_MODEL.md's E1 or E2 as an observation.
func example(name string) *cost.Observation {
	n := 60
	obs := &cost.Observation{Cluster: name, Window: exampleHour, Resolution: time.Minute}
	node := cost.Node{Name: "n1", ProviderID: "aws:///eu-west-1a/i-0123", Labels: map[string]string{"node.kubernetes.io/instance-type": "m5.xlarge"}, Present: cost.AllSlots(n)}
	half := cost.NewSlots(n)
	half.SetRange(0, 30)
	type ctr struct {
		ns, pod                  string
		reqCPU, reqRAM, use, mem float64
		running                  cost.Slots
	}
	var ctrs []ctr
	if name == "e1" {
		node.CPUCores, node.RAMBytes = 4, 16*gib
		ctrs = []ctr{{"a", "a1", 1, 2 * gib, 0.5, 3 * gib, cost.AllSlots(n)}, {"b", "b1", 0.5, 4 * gib, 1.5, 1 * gib, half}}
	} else {
		node.CPUCores, node.RAMBytes = 2, 8*gib
		ctrs = []ctr{{"a", "x", 1.5, 2 * gib, 1.0, 1 * gib, cost.AllSlots(n)}, {"b", "y", 0.25, 1 * gib, 0.75, 1 * gib, cost.AllSlots(n)}}
	}
	obs.Nodes = []cost.Node{node}
	for i, c := range ctrs {
		obs.Namespaces = append(obs.Namespaces, cost.Namespace{Name: c.ns})
		obs.Pods = append(obs.Pods, cost.Pod{Namespace: c.ns, Name: c.pod, UID: "00000000-0000-0000-0000-00000000000" + string(rune('1'+i)), Node: "n1",
			ControllerKind: "deployment", Controller: c.pod + "-app", Labels: map[string]string{"app": c.pod, "pod-template-hash": "5d8f7c"}})
		usage := make([]float64, n)
		mem := make([]float64, n)
		for s := 0; s < n; s++ {
			if c.running.Has(s) {
				usage[s], mem[s] = c.use, c.mem
			}
		}
		obs.Containers = append(obs.Containers, cost.Container{Pod: i, Name: "app", Running: c.running,
			CPURequest: []float64{c.reqCPU}, RAMRequest: []float64{c.reqRAM}, GPURequest: []float64{0}, CPUUsage: usage, RAMUsage: mem})
	}
	return obs
}

// withLabel adds label=value to every series of an OpenMetrics document (what a
// multi-cluster Prometheus's external labels or relabelling do).
func withLabel(om []byte, label, value string) []byte {
	return bytes.ReplaceAll(om, []byte("{"), []byte("{"+label+`="`+value+`",`))
}

func openMetrics(t testing.TB, obs ...*cost.Observation) []byte {
	t.Helper()
	w := kubemetrics.NewWriter("")
	for _, o := range obs {
		if err := w.Add(o); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type rawOM []byte

func (r rawOM) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(r)
	return int64(n), err
}

// concat joins OpenMetrics documents family by family (each family's lines together).
func concat(docs ...[]byte) []byte {
	var order []string
	fams := map[string]*bytes.Buffer{}
	for _, d := range docs {
		cur := ""
		for _, line := range strings.SplitAfter(string(d), "\n") {
			switch {
			case line == "" || line == "# EOF\n":
			case strings.HasPrefix(line, "# HELP "):
				cur = strings.Fields(line)[2]
				if fams[cur] == nil {
					fams[cur] = &bytes.Buffer{}
					order = append(order, cur)
					fams[cur].WriteString(line)
				}
			case strings.HasPrefix(line, "# TYPE "):
				if !strings.Contains(fams[cur].String(), "# TYPE ") {
					fams[cur].WriteString(line)
				}
			default:
				fams[cur].WriteString(line)
			}
		}
	}
	var out bytes.Buffer
	for _, f := range order {
		out.Write(fams[f].Bytes())
	}
	out.WriteString("# EOF\n")
	return out.Bytes()
}

// TestExamplesThroughPrometheus: COST_MODEL.md's E1 and E2, written as
// kube-state-metrics and cAdvisor series for two clusters of one multi-cluster
// Prometheus (told apart by the cluster label), read back and computed, give the
// documented numbers.
func TestExamplesThroughPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	doc := concat(withLabel(openMetrics(t, example("e1")), "cluster", "e1"), withLabel(openMetrics(t, example("e2")), "cluster", "e2"))
	srv := promtest.Start(t, promtest.Options{OpenMetrics: rawOM(doc)})
	rows := func(name string, custom pricing.Custom) map[string]*cost.Allocation {
		src := source(t, srv.URL, func(c *prom.Config) { c.Cluster = name; c.ClusterLabel = "cluster" })
		obs, err := src.Observe(context.Background(), exampleHour, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if obs.Partial || len(obs.Pods) != 2 || len(obs.Nodes) != 1 {
			t.Fatalf("%s: partial=%v, %d pods, %d nodes; want the example's 2 pods on 1 node", name, obs.Partial, len(obs.Pods), len(obs.Nodes))
		}
		p, err := pricing.New(custom)
		if err != nil {
			t.Fatal(err)
		}
		set, err := allocation.Compute(obs, p)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]*cost.Allocation{}
		for _, a := range set.Allocations {
			key := a.Properties.Namespace + "/" + a.Properties.Pod
			if a.Kind == cost.KindIdle {
				key = cost.IdleName
			}
			m[key] = a
			if a.Kind == cost.KindContainer && (a.Properties.ControllerKind != "deployment" || !strings.HasSuffix(a.Properties.Controller, "-app")) {
				t.Errorf("%s: %s owner %s/%s, want the Deployment", name, key, a.Properties.ControllerKind, a.Properties.Controller)
			}
		}
		return m
	}
	check := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 5e-7 {
			t.Errorf("%s = %.6f, want %.6f", what, got, want)
		}
	}
	e1 := rows("e1", pricing.Custom{CPU: 0.03, RAM: 0.004})
	check("E1 a/a1 cpuCoreHours", e1["a/a1"].CPUCoreHours, 1.0)
	check("E1 a/a1 ramGiBHours", e1["a/a1"].RAMByteHours/gib, 3.0)
	check("E1 a/a1 totalCost", e1["a/a1"].TotalCost(), 0.042)
	check("E1 b/b1 cpuCoreHours", e1["b/b1"].CPUCoreHours, 0.75)
	check("E1 b/b1 totalCost", e1["b/b1"].TotalCost(), 0.0305)
	check("E1 idle totalCost", e1[cost.IdleName].TotalCost(), 0.1115)
	check("E1 a/a1 cpuEfficiency", e1["a/a1"].CPUEfficiency(), 0.5)
	check("E1 a/a1 totalEfficiency", e1["a/a1"].TotalEfficiency(), 0.785714)
	e2 := rows("e2", pricing.Custom{CPU: 0.04, RAM: 0.005})
	check("E2 a/x cpuCoreHours", e2["a/x"].CPUCoreHours, 1.333333)
	check("E2 a/x totalCost", e2["a/x"].TotalCost(), 0.063333)
	check("E2 b/y totalCost", e2["b/y"].TotalCost(), 0.031667)
	check("E2 idle totalCost", e2[cost.IdleName].TotalCost(), 0.025)
	check("E2 idle cpuCost", e2[cost.IdleName].CPUCost, 0)
}

// TestHAPairIsDeduplicated: both members of an HA pair hold every series, told apart
// by prometheus_replica. Replica "a" missed ten minutes of scrapes and its values
// are wrong; the collector reads each series once, from the replica with the most
// samples, so the numbers equal the truth instead of doubling.
func TestHAPairIsDeduplicated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	truth := example("e1")
	bad := example("e1")
	for i := range bad.Containers {
		for s := range bad.Containers[i].CPUUsage {
			bad.Containers[i].CPUUsage[s] *= 3
		}
	}
	good := openMetrics(t, truth)
	var holed bytes.Buffer
	for _, line := range strings.SplitAfter(string(openMetrics(t, bad)), "\n") {
		// replica a lost the scrapes of 09:20-09:30
		if f := strings.Fields(line); len(f) >= 3 && !strings.HasPrefix(line, "#") {
			if ts := f[len(f)-1]; ts >= "1793611200" && ts < "1793611800" {
				continue
			}
		}
		holed.WriteString(line)
	}
	doc := concat(withLabel(holed.Bytes(), "prometheus_replica", "a"), withLabel(good, "prometheus_replica", "b"))
	srv := promtest.Start(t, promtest.Options{OpenMetrics: rawOM(doc)})
	src := source(t, srv.URL, func(c *prom.Config) { c.Cluster = "e1"; c.ReplicaLabel = "prometheus_replica" })
	obs, err := src.Observe(context.Background(), exampleHour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := pricing.New(pricing.Custom{CPU: 0.03, RAM: 0.004})
	want, _ := allocation.Compute(truth, p)
	got, err := allocation.Compute(obs, p)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(want.AllocatedCost()-got.AllocatedCost()) > 1e-9 || math.Abs(want.TotalCost()-got.TotalCost()) > 1e-9 {
		t.Errorf("allocated %v (nodes %v), want %v (%v)", got.AllocatedCost(), got.TotalCost(), want.AllocatedCost(), want.TotalCost())
	}
	for i, c := range obs.Containers {
		if c.Running.Count() != truth.Containers[i].Running.Count() || math.Abs(cost.At(c.CPUUsage, 5)-cost.At(truth.Containers[i].CPUUsage, 5)) > 1e-9 {
			t.Errorf("container %d: running %d, cpu %v; want %d, %v", i, c.Running.Count(), cost.At(c.CPUUsage, 5), truth.Containers[i].Running.Count(), cost.At(truth.Containers[i].CPUUsage, 5))
		}
	}
	// Without the replica label configured, the pair's series are distinct and the
	// usage doubles up: the setting matters.
	plain := source(t, srv.URL, func(c *prom.Config) { c.Cluster = "e1" })
	obs2, err := plain.Observe(context.Background(), exampleHour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if u := cost.At(obs2.Containers[0].CPUUsage, 5); math.Abs(u-cost.At(truth.Containers[0].CPUUsage, 5)) < 1e-9 {
		t.Errorf("without replicaLabel the usage is %v, the truth; the test does not exercise de-duplication", u)
	}
}

// TestCounterResetsAndRestarts: a container restarted at 09:30 gets a new cgroup (a
// new cAdvisor series starting at 0), and the other container's counter is reset in
// place at 09:20 (it restarted right after the 09:19 scrape). Usage read back equals
// the truth in every slot, as PromQL's increase() treats resets.
func TestCounterResetsAndRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	truth := example("e1")
	for i := range truth.Containers { // usage varying per minute
		for s := range truth.Containers[i].CPUUsage {
			if truth.Containers[i].Running.Has(s) {
				truth.Containers[i].CPUUsage[s] = 0.1 + 0.01*float64(s%7) + 0.2*float64(i)
			}
		}
	}
	restart := exampleHour.Start.Add(30 * time.Minute).Unix()
	reset := exampleHour.Start.Add(20 * time.Minute).Unix()
	var base1 float64 // a1's counter at the restart
	var base2 float64 // b1's counter at 09:19, where its process restarted
	lines := strings.SplitAfter(string(openMetrics(t, truth)), "\n")
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) == 3 && strings.HasPrefix(line, "container_cpu_usage_seconds_total") {
			ts := parseInt(f[2])
			if strings.Contains(line, `pod="a1"`) && ts == restart {
				base1 = parseFloat(f[1])
			}
			if strings.Contains(line, `pod="b1"`) && ts == reset-60 {
				base2 = parseFloat(f[1])
			}
		}
	}
	var out bytes.Buffer
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) == 3 && strings.HasPrefix(line, "container_cpu_usage_seconds_total") {
			ts, v := parseInt(f[2]), parseFloat(f[1])
			switch {
			case strings.Contains(line, `pod="a1"`) && ts > restart:
				line = strings.Replace(f[0], `/app"`, `/app-restarted"`, 1) + " " + fmt.Sprint(v-base1) + " " + f[2] + "\n"
			case strings.Contains(line, `pod="a1"`) && ts == restart:
				out.WriteString(line) // the old cgroup's last sample
				line = strings.Replace(f[0], `/app"`, `/app-restarted"`, 1) + " 0 " + f[2] + "\n"
			case strings.Contains(line, `pod="b1"`) && ts >= reset:
				line = f[0] + " " + fmt.Sprint(v-base2) + " " + f[2] + "\n"
			}
		}
		out.WriteString(line)
	}
	if base1 == 0 || base2 == 0 || !strings.Contains(out.String(), "app-restarted") {
		t.Fatal("the test did not rewrite the counters")
	}
	srv := promtest.Start(t, promtest.Options{OpenMetrics: rawOM(out.Bytes())})
	obs, err := source(t, srv.URL, func(c *prom.Config) { c.Cluster = "e1" }).Observe(context.Background(), exampleHour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range obs.Containers {
		want := truth.Containers[i]
		for s := 0; s < 60; s++ {
			if !want.Running.Has(s) {
				continue
			}
			if g, w := cost.At(c.CPUUsage, s), cost.At(want.CPUUsage, s); math.Abs(g-w) > 1e-9 {
				t.Errorf("%s minute %d: cpu %v, want %v", obs.Pods[c.Pod].Name, s, g, w)
			}
		}
	}
}

func parseInt(s string) int64 {
	var v int64
	fmt.Sscan(s, &v)
	return v
}

func parseFloat(s string) float64 {
	var v float64
	fmt.Sscan(s, &v)
	return v
}
