package allocation

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/costwarden/costwarden/internal/cost"
)

// ShareSplit says how shared cost is split over the rows that receive it.
type ShareSplit uint8

// Share splits (COST_MODEL.md section 6).
const (
	SplitWeighted ShareSplit = iota // in proportion to each row's cost excluding idle and shared cost
	SplitEven                       // equally
)

func (s ShareSplit) String() string {
	if s == SplitEven {
		return "even"
	}
	return "weighted"
}

// LabelValue is one `key:value` of shareLabels.
type LabelValue struct{ Key, Value string }

// HoursPerMonth prorates monthly amounts (shareCost) to hours.
const HoursPerMonth = 730

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
	// tested too (they carry cluster and node only). FilterKey is the filter's
	// canonical text (Filter.String); it keys cached partial results, and a Filter
	// without a FilterKey disables that cache.
	Filter    func(*cost.Allocation) bool
	FilterKey string
	// Scope is the caller's access scope (RBAC): rows it rejects are never shown,
	// aggregated or named. Like Filter, it does not change what a visible row's share
	// of idle or shared cost is (shares are computed against every row of the
	// cluster). nil = all. ScopeKey identifies the scope for caching, like FilterKey.
	Scope    func(*cost.Allocation) bool
	ScopeKey string
	// ScopeCoversCluster reports whether the caller may see the whole cluster; only
	// then are its idle and shared-cost rows shown. nil = every cluster.
	ScopeCoversCluster func(cluster string) bool

	// ShareNamespaces and ShareLabels mark rows as shared: their cost is removed
	// from their own rows and distributed over the other rows of their cluster.
	ShareNamespaces []string
	ShareLabels     []LabelValue
	// ShareCost is a fixed overhead in $ per month (ShareCost/730 per hour of the
	// result window), distributed over every row.
	ShareCost  float64
	ShareSplit ShareSplit
}

// sharing reports whether any shared cost is configured.
func (q *Query) sharing() bool {
	return len(q.ShareNamespaces) > 0 || len(q.ShareLabels) > 0 || q.ShareCost > 0
}

// isShared reports whether a non-idle row is marked shared.
func (q *Query) isShared(a *cost.Allocation) bool {
	p := a.Properties
	if p == nil {
		return false
	}
	for _, ns := range q.ShareNamespaces {
		if p.Namespace == ns {
			return true
		}
	}
	for _, lv := range q.ShareLabels {
		if v, ok := lookupLabelOK(p.Labels, lv.Key); ok && v == lv.Value {
			return true
		}
	}
	return false
}

// Fingerprint identifies everything about q that changes a result, for caching
// partial results. ok is false when the query cannot be identified (a Filter or
// Scope without its key).
func (q *Query) Fingerprint() (string, bool) {
	if (q.Filter != nil && q.FilterKey == "") || (q.Scope != nil && q.ScopeKey == "") || q.ScopeCoversCluster != nil && q.ScopeKey == "" {
		return "", false
	}
	var b strings.Builder
	for _, k := range q.Aggregate {
		b.WriteString(k.String())
		if k.Kind == KeyBusiness {
			b.WriteString("=" + k.Label)
		}
		b.WriteByte(',')
	}
	fmt.Fprintf(&b, "|%t|%t|%t|%q|%q|", q.Idle, q.ShareIdle, q.IdleByNode, q.FilterKey, q.ScopeKey)
	ns := slices.Clone(q.ShareNamespaces)
	slices.Sort(ns)
	fmt.Fprintf(&b, "%q|", ns)
	for _, lv := range q.ShareLabels {
		fmt.Fprintf(&b, "%q=%q,", lv.Key, lv.Value)
	}
	b.WriteString("|" + strconv.FormatFloat(q.ShareCost, 'g', -1, 64) + "|" + q.ShareSplit.String())
	return b.String(), true
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
// in the window with Add (or whole sets with AddSet, or other aggregators' state with
// Merge), then call Result once. It keeps one row per group, so memory grows with the
// number of groups, not with the number of rows fed.
//
// Its state is a sum: aggregating sets one by one and merging the aggregators gives
// the result of aggregating all rows together. That is what lets the query layer
// cache one aggregator per stored set and combine them.
type Aggregator struct {
	q      Query
	window cost.Window

	groups map[string]*group
	// Per idle scope (cluster, or cluster/node): idle cost and the non-idle cost of
	// all rows (filtered or not), per resource; shares are computed against every
	// row so that a filter does not change what a row's share of idle is.
	idle      map[scopeID]*idleScope
	idleOrder []scopeID
	// Per cluster, when sharing is configured: the shared pool and the weight of
	// every group (visible or not) that receives shared cost.
	share    map[string]*shareScope
	warnings map[string]struct{}
	// Rows fed (for cache sizing).
	rows int

	// Hot-path caches. gen counts the sets fed: a group skips narrowing its labels
	// against a map it already narrowed against in the same set (decoded sets share
	// one map per distinct label set, and a map's address is only trusted while its
	// set is being fed).
	gen       uint32
	lastScope *idleScope
	lastID    scopeID
	ctrlNames map[[2]string]string
}

type scopeID struct{ cluster, node string }

type group struct {
	row *cost.Allocation
	// per idle scope: this group's CPU, RAM, GPU cost (for idle sharing)
	scopes []scopeSum
	// label maps (Labels, Annotations, NamespaceLabels, NamespaceAnnotations) the
	// row was last narrowed against, in set generation gen
	seen [4]uintptr
	gen  uint32
}

type scopeSum struct {
	id  scopeID
	sum [3]float64
}

func addScopeSum(ss []scopeSum, id scopeID, v [3]float64) []scopeSum {
	for i := range ss {
		if ss[i].id == id {
			for r := 0; r < 3; r++ {
				ss[i].sum[r] += v[r]
			}
			return ss
		}
	}
	return append(ss, scopeSum{id: id, sum: v})
}

type idleScope struct {
	cluster, node string
	idle          [3]float64 // CPU, RAM, GPU idle cost
	alloc         [3]float64 // CPU, RAM, GPU cost of non-idle rows
	idleRow       *cost.Allocation
	visible       bool // the idle row passes the filter and the scope
}

type shareScope struct {
	// pool is the cost of the shared rows (without their idle share, which is
	// added at Result from poolIdle).
	pool     float64
	poolIdle []scopeSum
	// weights: group name -> cost excluding idle and shared cost, of every
	// non-shared row of the cluster (visible or not).
	weights map[string]float64
	props   *cost.Properties // cluster-level properties for a leftover row
}

// NewAggregator starts a result for window w.
func NewAggregator(w cost.Window, q Query) *Aggregator {
	return &Aggregator{
		q: q, window: w,
		groups:   map[string]*group{},
		idle:     map[scopeID]*idleScope{},
		share:    map[string]*shareScope{},
		warnings: map[string]struct{}{},
	}
}

func (g *Aggregator) scope(p *cost.Properties) (scopeID, *idleScope) {
	id := scopeID{cluster: p.Cluster}
	if g.q.IdleByNode {
		id.node = p.Node
	}
	if g.lastScope != nil && id == g.lastID {
		return g.lastID, g.lastScope
	}
	s := g.idle[id]
	if s == nil {
		id = scopeID{cluster: strings.Clone(id.cluster), node: strings.Clone(id.node)}
		s = &idleScope{cluster: id.cluster, node: id.node}
		g.idle[id] = s
		g.idleOrder = append(g.idleOrder, id)
	}
	g.lastID, g.lastScope = id, s
	return id, s
}

func (g *Aggregator) shareScopeOf(cluster string) *shareScope {
	s := g.share[cluster]
	if s == nil {
		cluster = strings.Clone(cluster)
		s = &shareScope{weights: map[string]float64{}, props: &cost.Properties{Cluster: cluster}}
		g.share[cluster] = s
	}
	return s
}

// NextSet tells the aggregator that the rows fed next come from another set. AddSet
// calls it; callers feeding rows with Add call it between sets.
func (g *Aggregator) NextSet() {
	g.gen++
	g.lastScope = nil
}

// AddSet feeds every row of a stored set.
func (g *Aggregator) AddSet(s *cost.Set) {
	g.NextSet()
	for _, a := range s.Allocations {
		g.Add(a)
	}
	g.AddWarnings(s.Warnings)
}

// AddWarnings records a set's warnings (AddSet does it for whole sets).
func (g *Aggregator) AddWarnings(ws []string) {
	for _, w := range ws {
		if _, ok := g.warnings[w]; !ok {
			g.warnings[strings.Clone(w)] = struct{}{}
		}
	}
}

// SetWindow sets the window of the result (an aggregator fed one stored window can
// become the result of the step that holds it).
func (g *Aggregator) SetWindow(w cost.Window) { g.window = w }

// Rows is the number of rows fed so far.
func (g *Aggregator) Rows() int { return g.rows }

// Groups is the number of groups held (a measure of the aggregator's size).
func (g *Aggregator) Groups() int {
	n := len(g.groups)
	for _, s := range g.share {
		n += len(s.weights)
	}
	return n
}

func costsOf(a *cost.Allocation) [3]float64 {
	return [3]float64{a.CPUCost - a.CPUCostIdle, a.RAMCost - a.RAMCostIdle, a.GPUCost - a.GPUCostIdle}
}

// Add feeds one row. The row is not retained or modified.
func (g *Aggregator) Add(a *cost.Allocation) {
	g.rows++
	props := a.Properties
	if props == nil {
		props = &cost.Properties{}
	}
	id, sc := g.scope(props)
	pass := g.q.Filter == nil || g.q.Filter(a)
	if a.Kind == cost.KindIdle {
		// Idle belongs to the whole cluster: only a scope covering it may see it.
		if g.q.ScopeCoversCluster != nil && !g.q.ScopeCoversCluster(props.Cluster) {
			pass = false
		}
		sc.idle[0] += a.CPUCost
		sc.idle[1] += a.RAMCost
		sc.idle[2] += a.GPUCost
		if pass {
			sc.visible = true
		}
		if sc.idleRow == nil {
			sc.idleRow = &cost.Allocation{Name: cost.IdleName, Kind: cost.KindIdle, Properties: detachProps(props)}
			if !g.q.IdleByNode {
				sc.idleRow.Properties.Node, sc.idleRow.Properties.ProviderID = "", ""
			}
		}
		sc.idleRow.Add(a)
		return
	}
	c := costsOf(a)
	for r := 0; r < 3; r++ {
		sc.alloc[r] += c[r]
	}
	sharing := g.q.sharing()
	if sharing && g.q.isShared(a) {
		// A shared row leaves its own group: its cost (and, with shareIdle, its idle
		// share) goes to the pool of its cluster.
		ss := g.shareScopeOf(props.Cluster)
		ss.pool += a.TotalCost() - a.CPUCostIdle - a.RAMCostIdle - a.GPUCostIdle
		if g.q.ShareIdle {
			ss.poolIdle = addScopeSum(ss.poolIdle, id, c)
		}
		return
	}
	name := g.groupName(a)
	if sharing {
		ss := g.shareScopeOf(props.Cluster)
		w := a.TotalCost() - a.CPUCostIdle - a.RAMCostIdle - a.GPUCostIdle - a.SharedCost
		if _, ok := ss.weights[name]; ok {
			ss.weights[name] += w
		} else {
			ss.weights[strings.Clone(name)] = w
		}
	}
	if !pass || (g.q.Scope != nil && !g.q.Scope(a)) {
		return
	}
	gr := g.groups[name]
	if gr == nil {
		// Rows may come from a decoder that reuses them and whose strings share one
		// buffer per stored set: keep nothing of theirs.
		name = strings.Clone(name)
		row := detach(a)
		row.Name = name
		if len(g.q.Aggregate) > 0 {
			row.Kind = cost.KindContainer
			// An aggregated row ran from its earliest start to its latest end, even
			// when it holds one row (a stored day's row may have gaps).
			row.RunningMinutes = row.End.Sub(row.Start).Minutes()
		}
		gr = &group{row: row}
		g.groups[name] = gr
	} else {
		g.addRow(gr, a)
	}
	if g.q.ShareIdle {
		gr.scopes = addScopeSum(gr.scopes, id, c)
	}
}

// groupName is groupName with the controller key's name interned: building
// "kind:name" for every row would allocate.
func (g *Aggregator) groupName(a *cost.Allocation) string {
	keys := g.q.Aggregate
	if len(keys) == 1 && keys[0].Kind == KeyController && a.Properties != nil && a.Properties.Controller != "" && a.Properties.ControllerKind != "" {
		k := [2]string{a.Properties.ControllerKind, a.Properties.Controller}
		if n, ok := g.ctrlNames[k]; ok {
			return n
		}
		if g.ctrlNames == nil {
			g.ctrlNames = map[[2]string]string{}
		}
		n := strings.Clone(k[0]) + ":" + strings.Clone(k[1])
		g.ctrlNames[[2]string{strings.Clone(k[0]), strings.Clone(k[1])}] = n
		return n
	}
	return groupName(keys, a)
}

func mapID(m map[string]string) uintptr {
	if m == nil {
		return 0
	}
	return reflect.ValueOf(m).Pointer()
}

// addRow adds a fed row into its group, narrowing only against label maps the group
// has not met yet in this set.
func (g *Aggregator) addRow(gr *group, b *cost.Allocation) {
	dst, src := gr.row.Properties, b.Properties
	if dst == nil || src == nil {
		g.addToRow(gr.row, b)
		return
	}
	ids := [4]uintptr{mapID(src.Labels), mapID(src.Annotations), mapID(src.NamespaceLabels), mapID(src.NamespaceAnnotations)}
	if gr.gen == g.gen && gr.seen == ids && ids != [4]uintptr{} {
		// Same label maps as last time: intersecting again changes nothing.
		narrowScalars(dst, src)
		g.sumRow(gr.row, b)
		return
	}
	gr.gen, gr.seen = g.gen, ids
	g.addToRow(gr.row, b)
}

// sumRow is addToRow without narrowing.
func (g *Aggregator) sumRow(dst, b *cost.Allocation) {
	minutes := dst.RunningMinutes
	dst.Add(b)
	if len(g.q.Aggregate) == 0 {
		dst.RunningMinutes = minutes + b.RunningMinutes
	}
	if dst.Kind != b.Kind {
		dst.Kind = cost.KindContainer
	}
}

// addToRow adds b into the group row dst.
func (g *Aggregator) addToRow(dst, b *cost.Allocation) {
	narrow(dst.Properties, b.Properties)
	minutes := dst.RunningMinutes
	dst.Add(b)
	if len(g.q.Aggregate) == 0 {
		// Without aggregation a group is one container (or one unmounted or
		// load-balancer row) seen in several stored windows: its running time is
		// the sum of its running times, not the span.
		dst.RunningMinutes = minutes + b.RunningMinutes
	}
	if dst.Kind != b.Kind {
		dst.Kind = cost.KindContainer
	}
}

// Merge adds the state of o (an aggregator of the same query over other rows) into
// g. o is not modified and shares no mutable state with g afterwards.
func (g *Aggregator) Merge(o *Aggregator) {
	g.rows += o.rows
	for name, og := range o.groups {
		gr := g.groups[name]
		if gr == nil {
			g.groups[name] = &group{row: og.row.Clone(), scopes: slices.Clone(og.scopes)}
			continue
		}
		g.addToRow(gr.row, og.row)
		for _, s := range og.scopes {
			gr.scopes = addScopeSum(gr.scopes, s.id, s.sum)
		}
	}
	for _, id := range o.idleOrder {
		os := o.idle[id]
		s := g.idle[id]
		if s == nil {
			s = &idleScope{cluster: os.cluster, node: os.node}
			g.idle[id] = s
			g.idleOrder = append(g.idleOrder, id)
		}
		for r := 0; r < 3; r++ {
			s.idle[r] += os.idle[r]
			s.alloc[r] += os.alloc[r]
		}
		s.visible = s.visible || os.visible
		if os.idleRow != nil {
			if s.idleRow == nil {
				s.idleRow = os.idleRow.Clone()
			} else {
				s.idleRow.Add(os.idleRow)
			}
		}
	}
	for cl, os := range o.share {
		s := g.shareScopeOf(cl)
		s.pool += os.pool
		for _, p := range os.poolIdle {
			s.poolIdle = addScopeSum(s.poolIdle, p.id, p.sum)
		}
		for name, w := range os.weights {
			s.weights[name] += w
		}
	}
	for w := range o.warnings {
		g.warnings[w] = struct{}{}
	}
}

// idleShare is the idle cost, per resource, that a row with per-scope costs ss
// receives.
func (g *Aggregator) idleShare(ss []scopeSum) [3]float64 {
	var share [3]float64
	for _, s := range ss {
		sc := g.idle[s.id]
		if sc == nil {
			continue
		}
		for r := 0; r < 3; r++ {
			if sc.alloc[r] > 0 {
				share[r] += sc.idle[r] * s.sum[r] / sc.alloc[r]
			}
		}
	}
	return share
}

func (g *Aggregator) clusterVisible(cluster string) bool {
	return g.q.ScopeCoversCluster == nil || g.q.ScopeCoversCluster(cluster)
}

// Result finishes the window. Call it once; the aggregator must not be used after.
func (g *Aggregator) Result() *Result {
	res := &Result{Window: g.window}
	clusters := map[string]bool{}
	for _, k := range g.idleOrder {
		clusters[g.idle[k].cluster] = true
	}
	for c := range g.share {
		clusters[c] = true
	}
	multiCluster := len(clusters) > 1

	if g.q.ShareIdle {
		for _, gr := range g.groups {
			share := g.idleShare(gr.scopes)
			gr.row.CPUCost += share[0]
			gr.row.CPUCostIdle += share[0]
			gr.row.RAMCost += share[1]
			gr.row.RAMCostIdle += share[1]
			gr.row.GPUCost += share[2]
			gr.row.GPUCostIdle += share[2]
		}
	}
	var leftovers []*cost.Allocation
	if g.q.sharing() {
		leftovers = g.distributeShared(multiCluster)
	}
	for _, gr := range g.groups {
		res.Allocations = append(res.Allocations, gr.row)
	}
	res.Allocations = append(res.Allocations, leftovers...)
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

// distributeShared gives every visible group its part of each cluster's shared pool
// and of the fixed overhead, and returns rows for what no group could receive.
func (g *Aggregator) distributeShared(multiCluster bool) []*cost.Allocation {
	var leftovers []*cost.Allocation
	leftover := func(cluster string, amount float64) {
		if amount == 0 {
			return
		}
		name := cost.SharedName
		props := &cost.Properties{Cluster: cluster}
		if cluster == "" {
			props = &cost.Properties{}
		} else if multiCluster {
			name = cluster + "/" + cost.SharedName
		}
		for _, l := range leftovers {
			if l.Name == name {
				l.SharedCost += amount
				return
			}
		}
		leftovers = append(leftovers, &cost.Allocation{Name: name, Kind: cost.KindShared, Properties: props, SharedCost: amount})
	}
	split := func(amount float64, weights map[string]float64) bool {
		if len(weights) == 0 {
			return false
		}
		// Sum in name order: the same inputs give the same bits, run after run.
		names := slices.Sorted(maps.Keys(weights))
		total := 0.0
		for _, name := range names {
			total += weights[name]
		}
		even := g.q.ShareSplit == SplitEven || total <= 0
		for _, name := range names {
			w := weights[name]
			gr := g.groups[name]
			if gr == nil {
				continue // a group this caller does not see still takes its part
			}
			if even {
				gr.row.SharedCost += amount / float64(len(weights))
			} else {
				gr.row.SharedCost += amount * w / total
			}
		}
		return true
	}
	clusters := make([]string, 0, len(g.share))
	for c := range g.share {
		clusters = append(clusters, c)
	}
	sort.Strings(clusters)
	global := map[string]float64{}
	for _, cl := range clusters {
		ss := g.share[cl]
		pool := ss.pool
		if g.q.ShareIdle {
			s := g.idleShare(ss.poolIdle)
			pool += s[0] + s[1] + s[2]
		}
		if pool != 0 && !split(pool, ss.weights) && g.clusterVisible(cl) {
			leftover(cl, pool)
		}
		for name, w := range ss.weights {
			global[name] += w
		}
	}
	if g.q.ShareCost > 0 {
		amount := g.q.ShareCost / HoursPerMonth * g.window.Hours()
		visible := true
		for _, cl := range clusters {
			visible = visible && g.clusterVisible(cl)
		}
		if !split(amount, global) && visible {
			leftover("", amount)
		}
	}
	return leftovers
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

// detach returns a deep copy of a that shares no memory with it, strings included:
// a group row must not keep a decoded set's string table alive.
func detach(a *cost.Allocation) *cost.Allocation {
	c := *a
	c.Name = strings.Clone(a.Name)
	c.Properties = detachProps(a.Properties)
	return &c
}

func detachProps(p *cost.Properties) *cost.Properties {
	if p == nil {
		return nil
	}
	c := &cost.Properties{
		Cluster: strings.Clone(p.Cluster), Node: strings.Clone(p.Node), Namespace: strings.Clone(p.Namespace),
		ControllerKind: strings.Clone(p.ControllerKind), Controller: strings.Clone(p.Controller),
		Pod: strings.Clone(p.Pod), Container: strings.Clone(p.Container), ProviderID: strings.Clone(p.ProviderID),
		Labels: detachMap(p.Labels), Annotations: detachMap(p.Annotations),
		NamespaceLabels: detachMap(p.NamespaceLabels), NamespaceAnnotations: detachMap(p.NamespaceAnnotations),
	}
	if len(p.Services) > 0 {
		c.Services = make([]string, len(p.Services))
		for i, s := range p.Services {
			c.Services[i] = strings.Clone(s)
		}
	}
	return c
}

func detachMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[strings.Clone(k)] = strings.Clone(v)
	}
	return c
}

// SizeEstimate is roughly how many bytes the aggregator holds (for cache budgets).
func (g *Aggregator) SizeEstimate() int {
	n := 512
	for name, gr := range g.groups {
		n += 700 + 2*len(name) + 48*len(gr.scopes) + propsSize(gr.row.Properties)
	}
	for _, s := range g.idle {
		n += 900
		if s.idleRow != nil {
			n += propsSize(s.idleRow.Properties)
		}
	}
	for _, s := range g.share {
		n += 200 + 48*len(s.poolIdle)
		for name := range s.weights {
			n += 64 + len(name)
		}
	}
	for w := range g.warnings {
		n += 32 + len(w)
	}
	return n
}

func propsSize(p *cost.Properties) int {
	if p == nil {
		return 0
	}
	n := len(p.Cluster) + len(p.Node) + len(p.Namespace) + len(p.ControllerKind) + len(p.Controller) + len(p.Pod) + len(p.Container) + len(p.ProviderID)
	for _, s := range p.Services {
		n += 16 + len(s)
	}
	for _, m := range []map[string]string{p.Labels, p.Annotations, p.NamespaceLabels, p.NamespaceAnnotations} {
		for k, v := range m {
			n += 48 + len(k) + len(v)
		}
	}
	return n
}
