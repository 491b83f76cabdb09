package allocation

import (
	"fmt"
	"sort"

	"github.com/costwarden/costwarden/internal/cost"
)

// Query says how to turn stored rows into a result (COST_MODEL.md sections 5, 6, 8).
type Query struct {
	Aggregate []Key
	// Idle includes __idle__ rows (OpenCost's idle=true, the default).
	Idle bool
	// ShareIdle distributes each resource's idle cost over the non-idle rows of the
	// same cluster (or node, with IdleByNode) in proportion to their cost of that
	// resource.
	ShareIdle  bool
	IdleByNode bool
	// Filter keeps rows for which it returns true; nil keeps every row. Idle rows are
	// tested too (they carry cluster and node only).
	Filter func(*cost.Allocation) bool
	// Scope is the caller's access scope (RBAC): rows it rejects are never shown,
	// aggregated or named. Like Filter, it does not change what a visible row's share
	// of idle is (shares are computed against every row of the cluster). nil = all.
	Scope func(*cost.Allocation) bool
	// ScopeCoversCluster reports whether the caller may see the whole cluster; only
	// then are its idle (and shared-cost) rows shown. nil = every cluster.
	ScopeCoversCluster func(cluster string) bool
}

// Result is the answer for one window: rows sorted by name.
type Result struct {
	Window      cost.Window
	Allocations []*cost.Allocation
	Warnings    []string
}

// Total is the sum of TotalCost over the result's rows.
func (r *Result) Total() float64 {
	t := 0.0
	for _, a := range r.Allocations {
		t += a.TotalCost()
	}
	return t
}

// Aggregator accumulates rows of one result window. Feed it every row of every set
// in the window with Add, then call Result. It keeps one row per group, so memory
// grows with the number of groups, not with the number of rows fed.
type Aggregator struct {
	q      Query
	window cost.Window

	groups map[string]*group
	// Per idle scope (cluster, or cluster/node): idle cost and the non-idle cost of
	// all rows (filtered or not), per resource; shares are computed against every
	// row so that a filter does not change what a row's share of idle is.
	idle      map[string]*idleScope
	idleOrder []string
	warnings  map[string]struct{}
}

type group struct {
	row *cost.Allocation
	// per idle scope: this group's CPU, RAM, GPU cost (for idle sharing)
	scopes map[string]*[3]float64
}

type idleScope struct {
	cluster, node string
	idle          [3]float64 // CPU, RAM, GPU idle cost
	alloc         [3]float64 // CPU, RAM, GPU cost of non-idle rows
	idleRow       *cost.Allocation
	visible       bool // the idle row passes the filter
}

// NewAggregator starts a result for window w.
func NewAggregator(w cost.Window, q Query) *Aggregator {
	return &Aggregator{
		q: q, window: w,
		groups:   map[string]*group{},
		idle:     map[string]*idleScope{},
		warnings: map[string]struct{}{},
	}
}

func (g *Aggregator) scopeKey(p *cost.Properties) (string, string, string) {
	if g.q.IdleByNode {
		return p.Cluster + "/" + p.Node, p.Cluster, p.Node
	}
	return p.Cluster, p.Cluster, ""
}

func (g *Aggregator) scope(p *cost.Properties) (string, *idleScope) {
	key, cluster, node := g.scopeKey(p)
	s := g.idle[key]
	if s == nil {
		s = &idleScope{cluster: cluster, node: node}
		g.idle[key] = s
		g.idleOrder = append(g.idleOrder, key)
	}
	return key, s
}

// AddSet feeds every row of a stored set.
func (g *Aggregator) AddSet(s *cost.Set) {
	for _, a := range s.Allocations {
		g.Add(a)
	}
	for _, w := range s.Warnings {
		g.warnings[w] = struct{}{}
	}
}

// Add feeds one row. The row is not retained or modified.
func (g *Aggregator) Add(a *cost.Allocation) {
	key, sc := g.scope(a.Properties)
	pass := g.q.Filter == nil || g.q.Filter(a)
	if a.Kind == cost.KindIdle {
		// Idle belongs to the whole cluster: only a scope covering it may see it.
		if g.q.ScopeCoversCluster != nil && !g.q.ScopeCoversCluster(a.Properties.Cluster) {
			pass = false
		}
		sc.idle[0] += a.CPUCost
		sc.idle[1] += a.RAMCost
		sc.idle[2] += a.GPUCost
		if pass {
			sc.visible = true
		}
		if sc.idleRow == nil {
			sc.idleRow = &cost.Allocation{Name: cost.IdleName, Kind: cost.KindIdle, Properties: a.Properties.Clone()}
			if !g.q.IdleByNode {
				sc.idleRow.Properties.Node, sc.idleRow.Properties.ProviderID = "", ""
			}
		}
		sc.idleRow.Add(a)
		return
	}
	sc.alloc[0] += a.CPUCost - a.CPUCostIdle
	sc.alloc[1] += a.RAMCost - a.RAMCostIdle
	sc.alloc[2] += a.GPUCost - a.GPUCostIdle
	if !pass || (g.q.Scope != nil && !g.q.Scope(a)) {
		return
	}
	name := groupName(g.q.Aggregate, a)
	gr := g.groups[name]
	if gr == nil {
		row := a.Clone()
		row.Name = name
		if len(g.q.Aggregate) > 0 {
			row.Kind = cost.KindContainer
		}
		gr = &group{row: row}
		g.groups[name] = gr
	} else {
		narrow(gr.row.Properties, a.Properties)
		gr.row.Add(a)
		if gr.row.Kind != a.Kind {
			gr.row.Kind = cost.KindContainer
		}
	}
	if g.q.ShareIdle {
		if gr.scopes == nil {
			gr.scopes = map[string]*[3]float64{}
		}
		c := gr.scopes[key]
		if c == nil {
			c = new([3]float64)
			gr.scopes[key] = c
		}
		c[0] += a.CPUCost - a.CPUCostIdle
		c[1] += a.RAMCost - a.RAMCostIdle
		c[2] += a.GPUCost - a.GPUCostIdle
	}
}

// Result finishes the window.
func (g *Aggregator) Result() *Result {
	res := &Result{Window: g.window}
	multiCluster := false
	clusters := map[string]bool{}
	for _, k := range g.idleOrder {
		clusters[g.idle[k].cluster] = true
	}
	multiCluster = len(clusters) > 1

	if g.q.ShareIdle {
		for _, gr := range g.groups {
			for key, c := range gr.scopes {
				sc := g.idle[key]
				share := [3]float64{}
				for r := 0; r < 3; r++ {
					if sc.alloc[r] > 0 {
						share[r] = sc.idle[r] * c[r] / sc.alloc[r]
					}
				}
				gr.row.CPUCost += share[0]
				gr.row.CPUCostIdle += share[0]
				gr.row.RAMCost += share[1]
				gr.row.RAMCostIdle += share[1]
				gr.row.GPUCost += share[2]
				gr.row.GPUCostIdle += share[2]
			}
		}
	}
	for _, gr := range g.groups {
		res.Allocations = append(res.Allocations, gr.row)
	}
	if g.q.Idle || g.q.ShareIdle {
		for _, key := range g.idleOrder {
			sc := g.idle[key]
			if sc.idleRow == nil || !sc.visible {
				continue
			}
			row := sc.idleRow
			if g.q.ShareIdle {
				// Idle of a resource nobody in the scope uses cannot be shared; it
				// stays on the idle row so that totals are unchanged.
				rest := &cost.Allocation{Name: row.Name, Kind: row.Kind, Properties: row.Properties, Window: row.Window, Start: row.Start, End: row.End, RunningMinutes: row.RunningMinutes}
				if sc.alloc[0] <= 0 {
					rest.CPUCost, rest.CPUCoreHours = row.CPUCost, row.CPUCoreHours
				}
				if sc.alloc[1] <= 0 {
					rest.RAMCost, rest.RAMByteHours = row.RAMCost, row.RAMByteHours
				}
				if sc.alloc[2] <= 0 {
					rest.GPUCost, rest.GPUHours = row.GPUCost, row.GPUHours
				}
				if rest.TotalCost() == 0 {
					continue
				}
				row = rest
			}
			switch {
			case g.q.IdleByNode:
				row.Name = sc.cluster + "/" + sc.node + "/" + cost.IdleName
			case multiCluster:
				row.Name = sc.cluster + "/" + cost.IdleName
			default:
				row.Name = cost.IdleName
			}
			res.Allocations = append(res.Allocations, row)
		}
	}
	sort.Slice(res.Allocations, func(i, j int) bool { return res.Allocations[i].Name < res.Allocations[j].Name })
	for w := range g.warnings {
		res.Warnings = append(res.Warnings, w)
	}
	sort.Strings(res.Warnings)
	for _, a := range res.Allocations {
		a.Window = g.window
	}
	return res
}

// Run aggregates the given sets into one result for window w. The sets must lie in w.
func Run(w cost.Window, sets []*cost.Set, q Query) (*Result, error) {
	g := NewAggregator(w, q)
	for _, s := range sets {
		if !w.Covers(s.Window) {
			return nil, fmt.Errorf("set %s lies outside the result window %s", s.Window, w)
		}
		g.AddSet(s)
	}
	return g.Result(), nil
}
