package prom_test

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/collect/kubemetrics"
	"github.com/costwarden/costwarden/internal/collect/prom"
	"github.com/costwarden/costwarden/internal/collect/prom/promtest"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
)

// A Tuesday: the window covers the morning scale-up, rollouts and training runs.
var simStart = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

const simHours = 6

func simCluster(t testing.TB) *sim.Cluster {
	t.Helper()
	cl, err := sim.New(sim.Config{Name: "sim-prom", Pods: 20, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// history writes hours of the simulated cluster as OpenMetrics.
func history(t testing.TB, cl *sim.Cluster, start time.Time, hours int) *kubemetrics.Writer {
	t.Helper()
	w := kubemetrics.NewWriter(t.TempDir())
	t.Cleanup(func() { _ = w.Close() })
	for h := 0; h < hours; h++ {
		hs := start.Add(time.Duration(h) * time.Hour)
		obs, err := cl.Observe(context.Background(), cost.NewWindow(hs, hs.Add(time.Hour)), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(obs); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

var (
	shared     *promtest.Server
	sharedOnce sync.Once
)

// simServer is one Prometheus holding simHours of the simulated cluster, shared by
// the tests of this package.
func simServer(t *testing.T) *promtest.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	sharedOnce.Do(func() {
		shared = promtest.Start(&cleanupLater{T: t}, promtest.Options{OpenMetrics: history(&cleanupLater{T: t}, simCluster(t), simStart, simHours)})
	})
	if shared == nil {
		t.Fatal("the shared Prometheus did not start")
	}
	return shared
}

func source(t testing.TB, url string, mod func(*prom.Config)) *prom.Source {
	t.Helper()
	cfg := prom.Config{URL: url, Cluster: "sim-prom", Timeout: 30 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	s, err := prom.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pricer(t testing.TB) *pricing.Pricer {
	t.Helper()
	p, err := pricing.New(pricing.DefaultCustom())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func relEq(a, b, tol float64) bool {
	if a == b {
		return true
	}
	d := math.Abs(a - b)
	return d <= tol*math.Max(math.Abs(a), math.Abs(b)) || d < 1e-12
}

// compareSets requires every row of want to be in got with the same quantities and
// costs (1e-6 relative), and no extra rows.
func compareSets(t *testing.T, what string, want, got *cost.Set) {
	t.Helper()
	index := func(s *cost.Set) map[string]*cost.Allocation {
		m := map[string]*cost.Allocation{}
		for _, a := range s.Allocations {
			k := a.Name
			if a.Kind == cost.KindIdle {
				k += "/" + a.Properties.Node
			}
			m[k] = a
		}
		return m
	}
	wm, gm := index(want), index(got)
	bad := 0
	for k, w := range wm {
		g := gm[k]
		if g == nil {
			t.Errorf("%s: row %s missing", what, k)
			bad++
			continue
		}
		for _, f := range []struct {
			n    string
			a, b float64
		}{
			{"cpuCoreHours", w.CPUCoreHours, g.CPUCoreHours}, {"cpuUsage", w.CPUUsageCoreHours, g.CPUUsageCoreHours},
			{"cpuRequest", w.CPURequestCoreHours, g.CPURequestCoreHours}, {"ramByteHours", w.RAMByteHours, g.RAMByteHours},
			{"ramUsage", w.RAMUsageByteHours, g.RAMUsageByteHours}, {"gpuHours", w.GPUHours, g.GPUHours},
			{"pvCost", w.PVCost, g.PVCost}, {"lbCost", w.LoadBalancerCost, g.LoadBalancerCost},
			{"totalCost", w.TotalCost(), g.TotalCost()}, {"minutes", w.RunningMinutes, g.RunningMinutes},
		} {
			if !relEq(f.a, f.b, 1e-6) {
				t.Errorf("%s: row %s %s = %v, want %v", what, k, f.n, f.b, f.a)
				bad++
			}
		}
		if w.Properties != nil && g.Properties != nil && (w.Properties.ControllerKind != g.Properties.ControllerKind || w.Properties.Controller != g.Properties.Controller) {
			t.Errorf("%s: row %s controller %s/%s, want %s/%s", what, k, g.Properties.ControllerKind, g.Properties.Controller, w.Properties.ControllerKind, w.Properties.Controller)
		}
		if bad > 20 {
			t.Fatalf("%s: too many differences", what)
		}
	}
	for k := range gm {
		if wm[k] == nil {
			t.Errorf("%s: unexpected row %s", what, k)
		}
	}
	if !relEq(want.TotalCost(), got.TotalCost(), 1e-9) {
		t.Errorf("%s: asset total %v, want %v", what, got.TotalCost(), want.TotalCost())
	}
}

// TestObserveEqualsSimulator: what the collector reads back from a real Prometheus
// holding the simulator's export is, hour by hour, what the simulator observed —
// at 1-minute resolution, and at 5 minutes (CPU averaged over the slot, memory over
// the running minutes).
func TestObserveEqualsSimulator(t *testing.T) {
	srv := simServer(t)
	cl := simCluster(t)
	src := source(t, srv.URL, nil)
	p := pricer(t)
	ctx := context.Background()
	for _, res := range []time.Duration{time.Minute, 5 * time.Minute} {
		for h := 0; h < simHours; h++ {
			w := cost.NewWindow(simStart.Add(time.Duration(h)*time.Hour), simStart.Add(time.Duration(h+1)*time.Hour))
			want, err := cl.Observe(ctx, w, res)
			if err != nil {
				t.Fatal(err)
			}
			got, err := src.Observe(ctx, w, res)
			if err != nil {
				t.Fatalf("%s: %v", w, err)
			}
			if got.Partial {
				t.Errorf("%s at %s: partial, want complete", w, res)
			}
			kubemetrics.Visible(want)
			compareObservations(t, fmt.Sprintf("%s at %s", w, res), want, got)
			ws, err := allocation.Compute(want, p)
			if err != nil {
				t.Fatal(err)
			}
			gs, err := allocation.Compute(got, p)
			if err != nil {
				t.Fatal(err)
			}
			compareSets(t, fmt.Sprintf("%s at %s", w, res), ws, gs)
		}
	}
	h := src.Health()
	if h.LastSuccess.IsZero() || h.LastError != "" || h.Queries == 0 {
		t.Errorf("health after success: %+v", h)
	}
}

// compareObservations checks the inventory the collector rebuilt from the series.
func compareObservations(t *testing.T, what string, want, got *cost.Observation) {
	t.Helper()
	if len(want.Nodes) != len(got.Nodes) {
		t.Errorf("%s: %d nodes, want %d", what, len(got.Nodes), len(want.Nodes))
	}
	gn := map[string]*cost.Node{}
	for i := range got.Nodes {
		gn[got.Nodes[i].Name] = &got.Nodes[i]
	}
	for i := range want.Nodes {
		w := &want.Nodes[i]
		g := gn[w.Name]
		if g == nil {
			t.Errorf("%s: node %s missing", what, w.Name)
			continue
		}
		if g.CPUCores != w.CPUCores || g.RAMBytes != w.RAMBytes || g.GPUs != w.GPUs || g.CapacityType != w.CapacityType ||
			g.InstanceType != w.InstanceType || g.Region != w.Region || g.Zone != w.Zone || g.Provider != w.Provider || g.ProviderID != w.ProviderID {
			t.Errorf("%s: node %s = %+v, want %+v", what, w.Name, *g, *w)
		}
		if g.Present.Count() != w.Present.Count() || g.Present.First() != w.Present.First() {
			t.Errorf("%s: node %s present %d slots from %d, want %d from %d", what, w.Name, g.Present.Count(), g.Present.First(), w.Present.Count(), w.Present.First())
		}
	}
	gp := map[string]*cost.Pod{}
	for i := range got.Pods {
		gp[got.Pods[i].UID] = &got.Pods[i]
	}
	running := 0
	for i := range want.Pods {
		w := &want.Pods[i]
		g := gp[w.UID]
		if g == nil {
			t.Errorf("%s: pod %s/%s missing", what, w.Namespace, w.Name)
			continue
		}
		running++
		if g.Node != w.Node || g.ControllerKind != w.ControllerKind || g.Controller != w.Controller || fmt.Sprint(g.Claims) != fmt.Sprint(w.Claims) {
			t.Errorf("%s: pod %s/%s = node %s %s/%s claims %v, want node %s %s/%s claims %v", what, w.Namespace, w.Name,
				g.Node, g.ControllerKind, g.Controller, g.Claims, w.Node, w.ControllerKind, w.Controller, w.Claims)
		}
		if fmt.Sprint(sortedMap(g.Labels)) != fmt.Sprint(sortedMap(w.Labels)) {
			t.Errorf("%s: pod %s/%s labels %v, want %v", what, w.Namespace, w.Name, g.Labels, w.Labels)
		}
	}
	if running == 0 {
		t.Fatalf("%s: no pods compared", what)
	}
	if len(got.Volumes) != len(want.Volumes) || len(got.Services) != len(want.Services) {
		t.Errorf("%s: %d volumes %d services, want %d %d", what, len(got.Volumes), len(got.Services), len(want.Volumes), len(want.Services))
	}
}

func sortedMap(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// cleanupLater lets a package-wide server outlive the test that started it: its
// cleanups run when the test binary's TestMain ends.
type cleanupLater struct {
	*testing.T
}

func (c *cleanupLater) Cleanup(f func()) { registerCleanup(f) }

func (c *cleanupLater) TempDir() string { return tempDir(c.T) }
