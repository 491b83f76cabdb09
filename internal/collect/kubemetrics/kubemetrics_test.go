package kubemetrics_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/collect/kubemetrics"
	"github.com/costwarden/costwarden/internal/cost"
)

func TestSanitizeLabel(t *testing.T) {
	for in, want := range map[string]string{
		"app.kubernetes.io/name": "label_app_kubernetes_io_name",
		"team":                   "label_team",
		"a-b_c9":                 "label_a_b_c9",
	} {
		if got := kubemetrics.SanitizeLabel("label_", in); got != want {
			t.Errorf("SanitizeLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDescribeNode(t *testing.T) {
	n := cost.Node{ProviderID: "gce://proj/europe-west1-b/n1", Labels: map[string]string{
		"node.kubernetes.io/instance-type": "e2-standard-4", "topology.kubernetes.io/region": "europe-west1",
		"topology.kubernetes.io/zone": "europe-west1-b", "cloud.google.com/gke-spot": "true"}}
	kubemetrics.DescribeNode(&n)
	if n.Provider != "gcp" || n.InstanceType != "e2-standard-4" || n.Region != "europe-west1" || n.Zone != "europe-west1-b" || n.CapacityType != cost.CapacitySpot {
		t.Errorf("%+v", n)
	}
	od := cost.Node{ProviderID: "azure:///subscriptions/x", Labels: map[string]string{"kubernetes.azure.com/scalesetpriority": "regular"}}
	kubemetrics.DescribeNode(&od)
	if od.Provider != "azure" || od.CapacityType != cost.CapacityOnDemand {
		t.Errorf("%+v", od)
	}
}

func obs(start time.Time, running bool) *cost.Observation {
	n := 2
	o := &cost.Observation{Cluster: "c", Window: cost.NewWindow(start, start.Add(2*time.Minute)), Resolution: time.Minute,
		Nodes: []cost.Node{{Name: "n1", CPUCores: 2, RAMBytes: 4, Present: cost.AllSlots(n)}},
		Pods:  []cost.Pod{{Namespace: "ns", Name: "p", UID: "u1", Node: "n1", Labels: map[string]string{"app.kubernetes.io/name": "x \"q\""}}},
	}
	r := cost.NewSlots(n)
	if running {
		r = cost.AllSlots(n)
	}
	o.Containers = []cost.Container{{Pod: 0, Name: "c", Running: r, CPURequest: []float64{0.5}, RAMRequest: []float64{1}, CPUUsage: []float64{0.25, 0.5}, RAMUsage: []float64{3, 3}}}
	return o
}

// TestWriterCountersAndFamilies: families are written whole, in order, with escaped
// label values; the CPU counter starts at 0, grows by usage × slot, and ends with a
// sample at the end of the last running slot; windows must come in order.
func TestWriterCountersAndFamilies(t *testing.T) {
	t0 := time.Unix(1800000000, 0).UTC()
	w := kubemetrics.NewWriter("")
	if err := w.Add(obs(t0, true)); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(obs(t0.Add(2*time.Minute), false)); err != nil {
		t.Fatal(err)
	}
	if err := w.Add(obs(t0, true)); err == nil || !strings.Contains(err.Error(), "before the previous one ended") {
		t.Errorf("an out-of-order window was accepted: %v", err)
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	cpu := `container_cpu_usage_seconds_total{namespace="ns",pod="p",container="c",id="/kubepods/podu1/c"}`
	for _, want := range []string{
		cpu + " 0 1800000000\n", cpu + " 15 1800000060\n", cpu + " 45 1800000120\n",
		`label_app_kubernetes_io_name="x \"q\""`,
		"# TYPE container_cpu_usage_seconds counter\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "# TYPE kube_node_info") != 1 || !strings.HasSuffix(out, "# EOF\n") {
		t.Errorf("families not written once each, or no EOF:\n%s", out)
	}
	if strings.Index(out, "kube_node_info{") > strings.Index(out, "kube_pod_info{") {
		t.Error("families out of order")
	}
}
