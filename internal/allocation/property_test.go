package allocation_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
)

func total(t *testing.T, sets []*cost.Set, q allocation.Query) float64 {
	t.Helper()
	w := sets[0].Window
	for _, s := range sets {
		w = w.Union(s.Window)
	}
	res, err := allocation.Run(w, sets, q)
	if err != nil {
		t.Fatal(err)
	}
	return res.Total()
}

// TestPropertySharingKeepsTotals: shared namespaces and labels, with any split and
// with or without idle sharing, never change the grand total; shareCost adds exactly
// its prorated amount.
func TestPropertySharingKeepsTotals(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	p := pricer(t, 0.031, 0.0042)
	for i := 0; i < 150; i++ {
		o := randomObservation(r)
		for p := range o.Pods {
			o.Pods[p].Labels = map[string]string{"app": []string{"web", "db", "proxy"}[r.IntN(3)]}
		}
		set, err := allocation.Compute(o, p)
		if err != nil {
			t.Fatal(err)
		}
		want := set.AllocatedCost()
		for _, agg := range []string{"", "namespace", "label:app", "node,namespace"} {
			keys, _ := allocation.ParseAggregate(agg, nil)
			for _, q := range []allocation.Query{
				{ShareNamespaces: []string{"nsa"}},
				{ShareNamespaces: []string{"nsa", "nsb"}, ShareSplit: allocation.SplitEven},
				{ShareLabels: []allocation.LabelValue{{Key: "app", Value: "proxy"}}, ShareIdle: true},
				{ShareNamespaces: []string{"nsa", "nsb", "nsc", "nsd"}, ShareIdle: true, IdleByNode: true},
			} {
				q.Aggregate, q.Idle = keys, true
				if got := total(t, []*cost.Set{set}, q); math.Abs(got-want) > 1e-9*math.Max(1, want) {
					t.Fatalf("case %d aggregate=%q %+v: total %.12f, want %.12f", i, agg, q, got, want)
				}
			}
			q := allocation.Query{Aggregate: keys, Idle: true, ShareCost: 730, ShareNamespaces: []string{"nsb"}}
			if got := total(t, []*cost.Set{set}, q); math.Abs(got-(want+1)) > 1e-9*math.Max(1, want) {
				t.Fatalf("case %d: shareCost $730/month over an hour added %.12f, want 1", i, got-want)
			}
		}
	}
}

// TestPropertyMergeIsExact: aggregating per set and merging the aggregators, or
// merging hourly sets into a daily one first, gives the same result as aggregating
// every row at once.
func TestPropertyMergeIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	p := pricer(t, 0.031, 0.0042)
	for i := 0; i < 40; i++ {
		var hours []*cost.Set
		base := randomObservation(r)
		for h := 0; h < 4; h++ {
			o := *base
			o.Window = cost.NewWindow(hour0.Add(time.Duration(h)*time.Hour), hour0.Add(time.Duration(h+1)*time.Hour))
			if h%2 == 1 {
				// Labels change between hours for some pods: rows must stay apart.
				o.Pods = append([]cost.Pod(nil), base.Pods...)
				for k := range o.Pods {
					if k%3 == 0 {
						o.Pods[k].Labels = map[string]string{"changed": "yes"}
					}
				}
			}
			set, err := allocation.Compute(&o, p)
			if err != nil {
				t.Fatal(err)
			}
			hours = append(hours, set)
		}
		w := cost.NewWindow(hour0, hour0.Add(4*time.Hour))
		merged, err := allocation.MergeSets(w, cost.Daily, hours)
		if err != nil {
			t.Fatal(err)
		}
		for _, agg := range []string{"", "namespace", "label:changed", "pod"} {
			keys, _ := allocation.ParseAggregate(agg, nil)
			q := allocation.Query{Aggregate: keys, Idle: true, ShareIdle: i%2 == 0, ShareNamespaces: []string{"nsc"}}
			all, _ := allocation.Run(w, hours, q)
			viaDay, _ := allocation.Run(w, []*cost.Set{merged}, q)
			g := allocation.NewAggregator(w, q)
			for _, s := range hours {
				part := allocation.NewAggregator(s.Window, q)
				part.AddSet(s)
				g.Merge(part)
			}
			viaMerge := g.Result()
			for name, other := range map[string]*allocation.Result{"daily set": viaDay, "merged aggregators": viaMerge} {
				if len(other.Allocations) != len(all.Allocations) {
					t.Fatalf("case %d %q via %s: %d rows, want %d", i, agg, name, len(other.Allocations), len(all.Allocations))
				}
				for k, a := range all.Allocations {
					b := other.Allocations[k]
					if a.Name != b.Name || math.Abs(a.TotalCost()-b.TotalCost()) > 1e-9 || math.Abs(a.RunningMinutes-b.RunningMinutes) > 1e-9 ||
						math.Abs(a.CPUCoreHours-b.CPUCoreHours) > 1e-9 || a.CPUUsageMax != b.CPUUsageMax {
						t.Fatalf("case %d %q via %s: row %s %.12f %v min, want %s %.12f %v min", i, agg, name, b.Name, b.TotalCost(), b.RunningMinutes, a.Name, a.TotalCost(), a.RunningMinutes)
					}
				}
			}
		}
	}
}
