package kube

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"

	"github.com/costwarden/costwarden/internal/cost"
)

type event struct {
	op  string
	obj runtime.Object
}

// recorded reads testdata/events.yaml: "--- op" lines, each followed by an object.
func recorded(t *testing.T) []event {
	t.Helper()
	b, err := os.ReadFile("testdata/events.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []event
	for _, part := range strings.Split(string(b), "\n--- ")[1:] {
		op, doc, _ := strings.Cut(part, "\n")
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("event %q: %v", op, err)
		}
		out = append(out, event{op: strings.TrimSpace(op), obj: obj})
	}
	return out
}

func replay(t *testing.T, c *fake.Clientset, events []event) {
	t.Helper()
	for _, e := range events {
		gvk := e.obj.GetObjectKind().GroupVersionKind()
		gvr, _ := meta.UnsafeGuessKindToResource(gvk)
		m, err := meta.Accessor(e.obj)
		if err != nil {
			t.Fatal(err)
		}
		switch e.op {
		case "add":
			err = c.Tracker().Create(gvr, e.obj, m.GetNamespace())
		case "update":
			err = c.Tracker().Update(gvr, e.obj, m.GetNamespace())
		case "delete":
			err = c.Tracker().Delete(gvr, m.GetNamespace(), m.GetName())
		default:
			t.Fatalf("unknown op %q", e.op)
		}
		if err != nil {
			t.Fatalf("%s %s %s: %v", e.op, gvk.Kind, m.GetName(), err)
		}
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeClock) Add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// started starts the inventory and waits until every informer's watch is open, so
// no replayed event falls between list and watch.
func started(t *testing.T, c *fake.Clientset, in *Inventory) {
	t.Helper()
	var watches atomic.Int32
	c.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		w, err := c.Tracker().Watch(a.GetResource(), a.GetNamespace())
		watches.Add(1)
		return true, w, err
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := in.Run(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for watches.Load() < 8 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 8 watches started", watches.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// observation is what Prometheus alone gives for the recorded cluster: sanitised
// label keys, owners as far as kube-state-metrics resolves them, no selectors.
func observation() *cost.Observation {
	return &cost.Observation{
		Cluster: "c", Window: cost.NewWindow(time.Unix(0, 0), time.Unix(3600, 0)), Resolution: time.Minute,
		Nodes:      []cost.Node{{Name: "ip-10-0-1-7.ec2.internal", CPUCores: 4, RAMBytes: 16 << 30}},
		Namespaces: []cost.Namespace{{Name: "payments", Labels: map[string]string{"team": "payments", "app_kubernetes_io_part_of": "shop"}}},
		Pods: []cost.Pod{
			{Namespace: "payments", Name: "payments-api-7d9f8c6b5-x2x9z", UID: "11111111-2222-3333-4444-555555555555", Labels: map[string]string{"app_kubernetes_io_name": "payments-api"}},
			{Namespace: "payments", Name: "nightly-report-29895047-abcde", UID: "66666666-2222-3333-4444-555555555555", ControllerKind: "job", Controller: "nightly-report-29895047"},
			{Namespace: "payments", Name: "gone-long-ago", UID: "99999999-2222-3333-4444-555555555555", Labels: map[string]string{"app_kubernetes_io_name": "old"}},
		},
		Services: []cost.Service{{Namespace: "payments", Name: "payments-public"}},
		Volumes:  []cost.PersistentVolume{{Name: "pvc-0a1b"}},
	}
}

// TestRecordedEventsEnrichObservations replays recorded informer events through the
// fake clientset: the inventory follows adds, updates and deletes, and applies real
// label keys, owners (Deployment via ReplicaSet, CronJob via Job), selectors, node
// labels and storage classes to what Prometheus observed. Deleted objects are kept
// for DeletedRetention.
func TestRecordedEventsEnrichObservations(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC)}
	c := fake.NewClientset()
	in := New(c, Options{DeletedRetention: time.Hour, Now: clk.Now})
	started(t, c, in)
	events := recorded(t)
	replay(t, c, events)
	eventually(t, "every event is seen", func() bool { return in.Health().Events >= len(events) })
	if h := in.Health(); !h.Synced || h.Pods != 2 || h.Nodes != 1 {
		t.Errorf("health %+v", h)
	}

	obs := observation()
	st := in.Apply(obs)
	if st.Pods != 2 || st.Services != 1 || st.Nodes != 1 || st.Namespaces != 1 || st.Volumes != 1 {
		t.Errorf("applied %+v", st)
	}
	api, job, old := obs.Pods[0], obs.Pods[1], obs.Pods[2]
	if api.ControllerKind != "deployment" || api.Controller != "payments-api" || api.Labels["app.kubernetes.io/name"] != "payments-api" || api.Labels["team"] != "payments-core" {
		t.Errorf("api pod: %+v", api)
	}
	if len(api.Claims) != 1 || api.Claims[0] != "data-payments-api" || api.Annotations["prometheus.io/scrape"] != "true" {
		t.Errorf("api pod claims/annotations: %+v", api)
	}
	if job.ControllerKind != "cronjob" || job.Controller != "nightly-report" {
		t.Errorf("the deleted job pod is resolved from its tombstone: %s/%s", job.ControllerKind, job.Controller)
	}
	// A pod the API never saw keeps its values, with keys the API knows restored.
	if old.Labels["app.kubernetes.io/name"] != "old" || len(old.Labels) != 1 {
		t.Errorf("unknown pod labels: %v", old.Labels)
	}
	if sel := obs.Services[0].Selector; len(sel) != 1 || sel["app.kubernetes.io/name"] != "payments-api" {
		t.Errorf("selector %v", sel)
	}
	n := obs.Nodes[0]
	if n.CapacityType != cost.CapacitySpot || n.InstanceType != "m6i.xlarge" || n.Region != "us-east-1" || n.Zone != "us-east-1a" || n.Provider != "aws" || n.ProviderID != "aws:///us-east-1a/i-0abc" {
		t.Errorf("node %+v", n)
	}
	if ns := obs.Namespaces[0]; ns.Labels["app.kubernetes.io/part-of"] != "shop" || ns.Annotations["owner.example.com/contact"] != "#payments" {
		t.Errorf("namespace %+v", ns)
	}
	if obs.Volumes[0].StorageClass != "gp3" {
		t.Errorf("volume %+v", obs.Volumes[0])
	}

	// After the retention, the deleted pod's metadata is forgotten.
	clk.Add(2 * time.Hour)
	_, err := c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "later"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the purge", func() bool { return in.Health().Pods == 1 })
	obs = observation()
	in.Apply(obs)
	if obs.Pods[1].ControllerKind != "job" {
		t.Errorf("an expired tombstone still applies: %s", obs.Pods[1].ControllerKind)
	}
}

// TestForbiddenListIsReported: without the documented RBAC the informers cannot
// list; the inventory reports the API's refusal and Run gives up when asked to stop,
// naming the RBAC documentation.
func TestForbiddenListIsReported(t *testing.T) {
	c := fake.NewClientset()
	c.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("costwarden cannot list pods"))
	})
	in := New(c, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := in.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "docs/collectors.md") {
		t.Fatalf("Run: %v, want an error pointing at the RBAC documentation", err)
	}
	if h := in.Health(); h.Synced || !strings.Contains(h.LastError, "forbidden") {
		t.Errorf("health %+v", h)
	}
}

func TestClientConfigErrors(t *testing.T) {
	if _, err := Client(Config{Kubeconfig: "/nonexistent/kubeconfig"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/kubeconfig") {
		t.Errorf("missing kubeconfig: %v", err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := Client(Config{}); err == nil || !strings.Contains(err.Error(), "collect.kubernetes.kubeconfig") {
		t.Errorf("outside a cluster: %v", err)
	}
}
