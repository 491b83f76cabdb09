package allocation_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
)

const gib = 1 << 30

var hour0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

// obsBuilder builds small observations for the worked examples.
type obsBuilder struct {
	obs *cost.Observation
}

func newObs(minutes int) *obsBuilder {
	w := cost.NewWindow(hour0, hour0.Add(time.Duration(minutes)*time.Minute))
	return &obsBuilder{obs: &cost.Observation{Cluster: "c1", Window: w, Resolution: time.Minute}}
}

func (b *obsBuilder) node(name string, cores, ramGiB float64) {
	n := b.obs.Slots()
	b.obs.Nodes = append(b.obs.Nodes, cost.Node{Name: name, CPUCores: cores, RAMBytes: ramGiB * gib, Present: cost.AllSlots(n), CapacityType: cost.CapacityOnDemand})
}

// container adds pod ns/pod on node with one container "app" running in [from, to)
// minutes with constant requests and usage.
func (b *obsBuilder) container(ns, pod, node string, reqCPU, reqRAMGiB, useCPU, useRAMGiB float64, from, to int) {
	n := b.obs.Slots()
	b.obs.Pods = append(b.obs.Pods, cost.Pod{Namespace: ns, Name: pod, Node: node, UID: ns + "/" + pod})
	run := cost.NewSlots(n)
	run.SetRange(from, to)
	b.obs.Containers = append(b.obs.Containers, cost.Container{
		Pod: len(b.obs.Pods) - 1, Name: "app", Running: run,
		CPURequest: []float64{reqCPU}, RAMRequest: []float64{reqRAMGiB * gib},
		CPUUsage: []float64{useCPU}, RAMUsage: []float64{useRAMGiB * gib},
	})
}

func pricer(t testing.TB, cpu, ram float64) *pricing.Pricer {
	t.Helper()
	p, err := pricing.New(pricing.Custom{CPU: cpu, RAM: ram})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func byName(rows []*cost.Allocation) map[string]*cost.Allocation {
	m := map[string]*cost.Allocation{}
	for _, r := range rows {
		m[r.Name] = r
	}
	return m
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-6 {
		t.Errorf("%s = %.9f, want %.6f", what, got, want)
	}
}

func e1(t *testing.T) *cost.Set {
	b := newObs(60)
	b.node("n1", 4, 16)
	b.container("a", "a1", "n1", 1, 2, 0.5, 3, 0, 60)
	b.container("b", "b1", "n1", 0.5, 4, 1.5, 1, 0, 30)
	set, err := allocation.Compute(b.obs, pricer(t, 0.03, 0.004))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestExampleE1(t *testing.T) {
	set := e1(t)
	rows := byName(set.Allocations)
	a, bb := rows["c1/n1/a/a1/app"], rows["c1/n1/b/b1/app"]
	idle := rows[cost.IdleName]
	if a == nil || bb == nil || idle == nil {
		t.Fatalf("rows = %v, want a1, b1 and idle", rows)
	}
	for _, c := range []struct {
		name                         string
		row                          *cost.Allocation
		coreH, cpuCost, gibH, ramCst float64
		total                        float64
	}{
		{"a/a1/app", a, 1.0, 0.03, 3.0, 0.012, 0.042},
		{"b/b1/app", bb, 0.75, 0.0225, 2.0, 0.008, 0.0305},
		{"__idle__", idle, 2.25, 0.0675, 11.0, 0.044, 0.1115},
	} {
		near(t, c.name+" cpuCoreHours", c.row.CPUCoreHours, c.coreH)
		near(t, c.name+" cpuCost", c.row.CPUCost, c.cpuCost)
		near(t, c.name+" ramGiBHours", c.row.RAMByteHours/gib, c.gibH)
		near(t, c.name+" ramCost", c.row.RAMCost, c.ramCst)
		near(t, c.name+" totalCost", c.row.TotalCost(), c.total)
	}
	near(t, "sum", set.AllocatedCost(), 0.184)
	near(t, "node cost", set.TotalCost(), 0.184)
	near(t, "a cpuEfficiency", a.CPUEfficiency(), 0.5)
	near(t, "a ramEfficiency", a.RAMEfficiency(), 1.5)
	near(t, "a totalEfficiency", a.TotalEfficiency(), 0.785714)
	near(t, "b minutes", bb.RunningMinutes, 30)
	near(t, "b cpuCoreRequestAverage", bb.CPUCoreRequestAverage(), 0.5)
	near(t, "b cpuCoreUsageAverage", bb.CPUCoreUsageAverage(), 1.5)

	keys, err := allocation.ParseAggregate("namespace", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := allocation.Run(set.Window, []*cost.Set{set}, allocation.Query{Aggregate: keys, Idle: true, ShareIdle: true})
	if err != nil {
		t.Fatal(err)
	}
	got := byName(res.Allocations)
	near(t, "shareIdle a", got["a"].TotalCost(), 0.106971)
	near(t, "shareIdle b", got["b"].TotalCost(), 0.077029)
	if _, ok := got[cost.IdleName]; ok {
		t.Errorf("shareIdle result still has an idle row: %+v", got[cost.IdleName])
	}
	near(t, "shareIdle total", res.Total(), 0.184)
	near(t, "shareIdle a efficiency unchanged", got["a"].TotalEfficiency(), 0.785714)
}

func TestExampleE1AggregateNamespaceWithIdle(t *testing.T) {
	set := e1(t)
	keys, _ := allocation.ParseAggregate("namespace", nil)
	res, err := allocation.Run(set.Window, []*cost.Set{set}, allocation.Query{Aggregate: keys, Idle: true})
	if err != nil {
		t.Fatal(err)
	}
	got := byName(res.Allocations)
	if len(got) != 3 {
		t.Fatalf("rows = %d (%v), want a, b, __idle__", len(got), got)
	}
	near(t, "a", got["a"].TotalCost(), 0.042)
	near(t, "b", got["b"].TotalCost(), 0.0305)
	near(t, "idle", got[cost.IdleName].TotalCost(), 0.1115)
	if got["a"].Properties.Namespace != "a" || got["a"].Properties.Pod != "a1" {
		t.Errorf("a properties = %+v, want namespace a and pod a1 kept", got["a"].Properties)
	}
	res, _ = allocation.Run(set.Window, []*cost.Set{set}, allocation.Query{Aggregate: keys, Idle: false})
	if _, ok := byName(res.Allocations)[cost.IdleName]; ok {
		t.Error("idle=false kept the idle row")
	}
}

func TestExampleE2Reconciliation(t *testing.T) {
	b := newObs(60)
	b.node("n1", 2, 8)
	b.container("a", "x", "n1", 1.5, 2, 1.0, 1, 0, 60)
	b.container("b", "y", "n1", 0.25, 1, 0.75, 1, 0, 60)
	set, err := allocation.Compute(b.obs, pricer(t, 0.04, 0.005))
	if err != nil {
		t.Fatal(err)
	}
	rows := byName(set.Allocations)
	x, y, idle := rows["c1/n1/a/x/app"], rows["c1/n1/b/y/app"], rows[cost.IdleName]
	near(t, "x cores", x.CPUCoreHours, 1.333333)
	near(t, "x cpuCost", x.CPUCost, 0.053333)
	near(t, "y cores", y.CPUCoreHours, 0.666667)
	near(t, "y cpuCost", y.CPUCost, 0.026667)
	near(t, "idle cpu", idle.CPUCost, 0)
	near(t, "x ramCost", x.RAMCost, 0.010)
	near(t, "y ramCost", y.RAMCost, 0.005)
	near(t, "idle ramGiB", idle.RAMByteHours/gib, 5)
	near(t, "idle ramCost", idle.RAMCost, 0.025)
	near(t, "x total", x.TotalCost(), 0.063333)
	near(t, "y total", y.TotalCost(), 0.031667)
	near(t, "idle total", idle.TotalCost(), 0.025)
	near(t, "sum", set.AllocatedCost(), 0.12)
	if idle.CPUCoreHours < 0 {
		t.Errorf("idle CPU = %v, must never be negative", idle.CPUCoreHours)
	}
}

// randomObservation builds a random but valid cluster-hour: nodes that come and go,
// pods with random requests and usage that often overcommit.
func randomObservation(r *rand.Rand) *cost.Observation {
	slots := 60
	o := &cost.Observation{Cluster: "c", Window: cost.NewWindow(hour0, hour0.Add(time.Hour)), Resolution: time.Minute}
	nNodes := 1 + r.IntN(5)
	for i := 0; i < nNodes; i++ {
		pres := cost.NewSlots(slots)
		from, to := r.IntN(20), 40+r.IntN(21)
		pres.SetRange(from, to)
		ct := cost.CapacityOnDemand
		if r.IntN(3) == 0 {
			ct = cost.CapacitySpot
		}
		o.Nodes = append(o.Nodes, cost.Node{
			Name: "n" + string(rune('a'+i)), CPUCores: float64(2 + r.IntN(30)), RAMBytes: float64(4+r.IntN(60)) * gib,
			GPUs: float64(r.IntN(2)), Present: pres, CapacityType: ct,
		})
	}
	for p := 0; p < 3+r.IntN(40); p++ {
		ni := r.IntN(nNodes)
		node := &o.Nodes[ni]
		o.Pods = append(o.Pods, cost.Pod{Namespace: "ns" + string(rune('a'+r.IntN(4))), Name: "p" + string(rune('A'+p%26)) + string(rune('a'+p/26)), Node: node.Name})
		for c := 0; c < 1+r.IntN(3); c++ {
			run := cost.NewSlots(slots)
			// Mostly while the node is present; sometimes beyond it (bad data).
			from, to := node.Present.First(), node.Present.Last()+1
			if r.IntN(10) == 0 {
				from, to = 0, slots
			}
			a := from + r.IntN(max(1, to-from))
			run.SetRange(a, to)
			cu := make([]float64, slots)
			ru := make([]float64, slots)
			for s := range cu {
				cu[s] = r.Float64() * 4
				ru[s] = r.Float64() * 8 * gib
			}
			o.Containers = append(o.Containers, cost.Container{
				Pod: len(o.Pods) - 1, Name: "c" + string(rune('0'+c)), Running: run,
				CPURequest: []float64{r.Float64() * 3}, RAMRequest: []float64{r.Float64() * 6 * gib},
				GPURequest: []float64{float64(r.IntN(2)) * 0.5}, CPUUsage: cu, RAMUsage: ru,
			})
		}
	}
	return o
}

// TestPropertyNodeBalance: for every node, its container allocations plus its idle
// equal its cost (invariant 9), and idle is never negative.
func TestPropertyNodeBalance(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	p := pricer(t, 0.031, 0.0042)
	for i := 0; i < 300; i++ {
		o := randomObservation(r)
		set, err := allocation.Compute(o, p)
		if err != nil {
			t.Fatal(err)
		}
		perNode := map[string]float64{}
		for _, a := range set.Allocations {
			if a.Kind == cost.KindIdle {
				if a.CPUCoreHours < 0 || a.RAMByteHours < 0 || a.GPUHours < 0 {
					t.Fatalf("case %d: negative idle on %s: %+v", i, a.Properties.Node, a)
				}
			}
			perNode[a.Properties.Node] += a.CPUCost + a.RAMCost + a.GPUCost
		}
		// Containers that ran on a node while it was absent are costed outside the
		// node's balance (and flagged); subtract them by recomputing with those
		// slots removed.
		clean := withoutOrphans(o)
		cset, err := allocation.Compute(clean, p)
		if err != nil {
			t.Fatal(err)
		}
		perNode = map[string]float64{}
		for _, a := range cset.Allocations {
			perNode[a.Properties.Node] += a.CPUCost + a.RAMCost + a.GPUCost
		}
		for _, n := range cset.Nodes {
			got, want := perNode[n.Name], n.TotalCost()
			if math.Abs(got-want) > 1e-9*math.Max(1, want) {
				t.Fatalf("case %d node %s: allocations+idle = %.12f, node cost = %.12f", i, n.Name, got, want)
			}
		}
		if len(set.Warnings) == 0 && len(clean.Containers) > 0 && differs(o, clean) {
			t.Fatalf("case %d: containers ran on absent nodes but no warning was given", i)
		}
	}
}

func differs(a, b *cost.Observation) bool {
	for i := range a.Containers {
		if a.Containers[i].Running.Count() != b.Containers[i].Running.Count() {
			return true
		}
	}
	return false
}

func withoutOrphans(o *cost.Observation) *cost.Observation {
	c := *o
	c.Containers = make([]cost.Container, len(o.Containers))
	nodes := map[string]*cost.Node{}
	for i := range o.Nodes {
		nodes[o.Nodes[i].Name] = &o.Nodes[i]
	}
	for i, con := range o.Containers {
		con.Running = append(cost.Slots(nil), con.Running...)
		n := nodes[o.Pods[con.Pod].Node]
		for s := 0; s < o.Slots(); s++ {
			if !n.Present.Has(s) {
				con.Running.Clear(s)
			}
		}
		c.Containers[i] = con
	}
	return &c
}

// TestPropertyAggregationKeepsTotals: aggregating and sharing idle never change the
// grand total; a filter's total never exceeds the unfiltered one.
func TestPropertyAggregationKeepsTotals(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	p := pricer(t, 0.031, 0.0042)
	for i := 0; i < 200; i++ {
		set, err := allocation.Compute(randomObservation(r), p)
		if err != nil {
			t.Fatal(err)
		}
		want := set.AllocatedCost()
		for _, agg := range []string{"", "namespace", "node", "cluster,namespace", "pod", "label:app"} {
			keys, err := allocation.ParseAggregate(agg, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, share := range []bool{false, true} {
				for _, byNode := range []bool{false, true} {
					res, err := allocation.Run(set.Window, []*cost.Set{set}, allocation.Query{Aggregate: keys, Idle: true, ShareIdle: share, IdleByNode: byNode})
					if err != nil {
						t.Fatal(err)
					}
					if got := res.Total(); math.Abs(got-want) > 1e-9*math.Max(1, want) {
						t.Fatalf("case %d aggregate=%q shareIdle=%v idleByNode=%v: total %.12f, want %.12f", i, agg, share, byNode, got, want)
					}
				}
			}
			filtered, _ := allocation.Run(set.Window, []*cost.Set{set}, allocation.Query{Aggregate: keys, Idle: true, ShareIdle: true,
				Filter: func(a *cost.Allocation) bool { return a.Properties.Namespace == "nsa" }})
			if filtered.Total() > want+1e-9 {
				t.Fatalf("case %d: filtered total %.9f exceeds total %.9f", i, filtered.Total(), want)
			}
		}
	}
}

func TestParseAggregateErrors(t *testing.T) {
	for _, bad := range []string{"namespac", "label:", "label:a b", "annotation:<x>", "namespace,foo"} {
		if _, err := allocation.ParseAggregate(bad, nil); err == nil {
			t.Errorf("ParseAggregate(%q) succeeded, want an error", bad)
		}
	}
	keys, err := allocation.ParseAggregate("team", map[string]string{"team": "owner-team"})
	if err != nil || len(keys) != 1 || keys[0].Label != "owner-team" {
		t.Errorf("business key mapping: keys=%+v err=%v", keys, err)
	}
}

// TestScopeHidesRowsButKeepsShares: a caller scoped to namespace a sees only a, with
// the same idle share it would have without the scope, and no idle row unless its
// scope covers the cluster.
func TestScopeHidesRowsButKeepsShares(t *testing.T) {
	set := e1(t)
	keys, _ := allocation.ParseAggregate("namespace", nil)
	inA := func(a *cost.Allocation) bool { return a.Properties.Namespace == "a" }
	res, err := allocation.Run(set.Window, []*cost.Set{set}, allocation.Query{Aggregate: keys, Idle: true, ShareIdle: true,
		Scope: inA, ScopeCoversCluster: func(string) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	got := byName(res.Allocations)
	if len(got) != 1 || got["a"] == nil {
		t.Fatalf("scoped result = %v, want only a", got)
	}
	near(t, "scoped shareIdle a", got["a"].TotalCost(), 0.106971)
	res, _ = allocation.Run(set.Window, []*cost.Set{set}, allocation.Query{Aggregate: keys, Idle: true, Scope: inA,
		ScopeCoversCluster: func(string) bool { return false }})
	if _, ok := byName(res.Allocations)[cost.IdleName]; ok {
		t.Error("idle shown to a caller whose scope does not cover the cluster")
	}
	res, _ = allocation.Run(set.Window, []*cost.Set{set}, allocation.Query{Aggregate: keys, Idle: true, Scope: inA,
		ScopeCoversCluster: func(string) bool { return true }})
	if _, ok := byName(res.Allocations)[cost.IdleName]; !ok {
		t.Error("idle hidden from a caller whose scope covers the cluster")
	}
}
