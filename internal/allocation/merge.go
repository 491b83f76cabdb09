package allocation

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
)

// MergeSets combines consecutive stored sets of one cluster (normally the 24 hourly
// sets of a day) into one set for window w at resolution res. Rows for the same thing
// are merged: a container with the same name and the same properties, the idle row of
// one node, an unmounted or load-balancer row with the same name, and the assets of one
// node, disk or load balancer. Rows whose properties changed between windows (labels
// edited mid-day, a service added) are kept apart, so that any aggregation of the
// merged set equals the same aggregation of the sets it came from.
//
// The inputs are not modified. Warnings are deduplicated; the result is partial if
// any input is.
func MergeSets(w cost.Window, res cost.Resolution, sets []*cost.Set) (*cost.Set, error) {
	m := NewMerger(w, res)
	for _, s := range sets {
		for _, a := range s.Allocations {
			m.AddRow(a)
		}
		if err := m.EndSet(s); err != nil {
			return nil, err
		}
	}
	return m.Set(), nil
}

// Merger is MergeSets one row at a time, for callers that stream stored sets instead
// of decoding them whole: feed a set's rows with AddRow, then its header (window,
// assets, warnings) with EndSet, then the next set. Rows are copied (strings
// included) when kept, so a decoder may reuse them.
type Merger struct {
	out *cost.Set
	n   int
	*merger
}

// NewMerger starts a merged set for window w at resolution res.
func NewMerger(w cost.Window, res cost.Resolution) *Merger {
	return &Merger{out: &cost.Set{Window: w, Resolution: res}, merger: newMerger()}
}

// AddRow adds one allocation row of the current set.
func (m *Merger) AddRow(a *cost.Allocation) { m.allocation(a) }

// EndSet finishes the current set with its header: cluster, window, flags, assets and
// warnings (its Allocations are ignored: feed them with AddRow).
func (m *Merger) EndSet(s *cost.Set) error {
	// Label maps of the next set may reuse the addresses of this one's.
	clear(m.canon)
	if m.n == 0 {
		m.out.Cluster = s.Cluster
	} else if s.Cluster != m.out.Cluster {
		return fmt.Errorf("merging sets of clusters %q and %q", m.out.Cluster, s.Cluster)
	}
	m.n++
	if !m.out.Window.Covers(s.Window) {
		return fmt.Errorf("set %s lies outside the merged window %s", s.Window, m.out.Window)
	}
	m.out.Partial = m.out.Partial || s.Partial
	for _, n := range s.Nodes {
		m.node(n)
	}
	for _, d := range s.Disks {
		m.disk(d)
	}
	for _, l := range s.LoadBalancers {
		m.lb(l)
	}
	for _, wn := range s.Warnings {
		if !m.warn[wn] {
			wn = strings.Clone(wn)
			m.warn[wn] = true
			m.out.Warnings = append(m.out.Warnings, wn)
		}
	}
	return nil
}

// Set returns the merged set.
func (m *Merger) Set() *cost.Set {
	out := m.out
	out.Allocations = m.rows
	out.Nodes, out.Disks, out.LoadBalancers = m.nodes, m.disks, m.lbs
	w := out.Window
	for _, a := range out.Allocations {
		a.Window = w
	}
	for _, n := range out.Nodes {
		n.Window = w
	}
	for _, d := range out.Disks {
		d.Window = w
	}
	for _, l := range out.LoadBalancers {
		l.Window = w
	}
	return out
}

type merger struct {
	byKey map[string]*cost.Allocation
	rows  []*cost.Allocation
	// canonical label-set strings, by map identity: decoded sets share one map per
	// distinct label set, and every input set stays alive during the merge, so an
	// address is never reused for another map.
	canon map[uintptr]string
	// kept label maps by canonical string: rows with equal labels share one copy.
	maps map[string]map[string]string
	ids  map[string]int

	nodeIdx, diskIdx, lbIdx map[string]int
	nodes                   []*cost.NodeAsset
	disks                   []*cost.DiskAsset
	lbs                     []*cost.LoadBalancerAsset
	warn                    map[string]bool
	sb                      strings.Builder
}

func newMerger() *merger {
	return &merger{byKey: map[string]*cost.Allocation{}, canon: map[uintptr]string{}, maps: map[string]map[string]string{}, ids: map[string]int{}, nodeIdx: map[string]int{}, diskIdx: map[string]int{}, lbIdx: map[string]int{}, warn: map[string]bool{}}
}

// labelID numbers distinct label sets by content (0 = none).
func (m *merger) labelID(lm map[string]string) int {
	if len(lm) == 0 {
		return 0
	}
	c := m.canonOf(lm)
	id, ok := m.ids[c]
	if !ok {
		id = len(m.ids) + 1
		m.ids[strings.Clone(c)] = id
	}
	return id
}

// canonOf is a label set's canonical string, computed once per decoded map.
func (m *merger) canonOf(lm map[string]string) string {
	if len(lm) == 0 {
		return ""
	}
	ptr := reflect.ValueOf(lm).Pointer()
	c, ok := m.canon[ptr]
	if !ok {
		var cb strings.Builder
		for _, k := range slices.Sorted(maps.Keys(lm)) {
			cb.WriteString(k)
			cb.WriteByte(0)
			cb.WriteString(lm[k])
			cb.WriteByte(0)
		}
		c = cb.String()
		m.canon[ptr] = c
	}
	return c
}

// key identifies a row up to its numbers: everything aggregation or filtering can
// read from it.
func (m *merger) key(a *cost.Allocation) string {
	b := &m.sb
	b.Reset()
	b.WriteByte(byte(a.Kind))
	b.WriteString(a.Name)
	b.WriteByte(0)
	p := a.Properties
	if p == nil {
		return b.String()
	}
	for _, s := range []string{p.Cluster, p.Node, p.Namespace, p.ControllerKind, p.Controller, p.Pod, p.Container, p.ProviderID} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, s := range p.Services {
		b.WriteString(s)
		b.WriteByte(0)
	}
	b.WriteByte(1)
	if a.Kind == cost.KindIdle {
		return b.String()
	}
	// Label sets enter the key as small ids of their canonical form: keys stay
	// short however many labels a pod has.
	for _, lm := range []map[string]string{p.Labels, p.Annotations, p.NamespaceLabels, p.NamespaceAnnotations} {
		b.WriteString(strconv.Itoa(m.labelID(lm)))
		b.WriteByte(1)
	}
	return b.String()
}

// keep returns the kept copy of a decoded label set: one per distinct set, so a
// day's rows share maps as the decoded hours do. Kept maps are read-only.
func (m *merger) keep(orig map[string]string) map[string]string {
	if orig == nil {
		return nil
	}
	c := m.canonOf(orig)
	if kept, ok := m.maps[c]; ok {
		return kept
	}
	kept := detachMap(orig)
	m.maps[strings.Clone(c)] = kept
	return kept
}

func (m *merger) allocation(a *cost.Allocation) {
	k := m.key(a)
	r := m.byKey[k]
	if r == nil {
		c := *a
		c.Name = strings.Clone(a.Name)
		if op := a.Properties; op != nil {
			p := *op
			p.Labels, p.Annotations, p.NamespaceLabels, p.NamespaceAnnotations = nil, nil, nil, nil
			p = *detachProps(&p)
			p.Labels, p.Annotations = m.keep(op.Labels), m.keep(op.Annotations)
			p.NamespaceLabels, p.NamespaceAnnotations = m.keep(op.NamespaceLabels), m.keep(op.NamespaceAnnotations)
			c.Properties = &p
		}
		r = &c
		m.byKey[strings.Clone(k)] = r
		m.rows = append(m.rows, r)
		return
	}
	minutes := r.RunningMinutes + a.RunningMinutes
	r.Add(a)
	// The same row in consecutive windows: it ran for the sum of its running times.
	r.RunningMinutes = minutes
}

func (m *merger) node(n *cost.NodeAsset) {
	k := n.Cluster + "\x00" + n.Name
	if i, ok := m.nodeIdx[k]; ok {
		a := m.nodes[i]
		a.Start, a.End = minTime(a.Start, n.Start), maxTime(a.End, n.End)
		a.Minutes += n.Minutes
		a.CPUCoreHours += n.CPUCoreHours
		a.RAMByteHours += n.RAMByteHours
		a.GPUHours += n.GPUHours
		a.CPUCost += n.CPUCost
		a.RAMCost += n.RAMCost
		a.GPUCost += n.GPUCost
		a.CPUCostAdjustment += n.CPUCostAdjustment
		a.RAMCostAdjust += n.RAMCostAdjust
		return
	}
	c := *n
	c.Cluster, c.Name, c.ProviderID, c.Provider = strings.Clone(n.Cluster), strings.Clone(n.Name), strings.Clone(n.ProviderID), strings.Clone(n.Provider)
	c.InstanceType, c.Region, c.Zone = strings.Clone(n.InstanceType), strings.Clone(n.Region), strings.Clone(n.Zone)
	c.PriceSource, c.PriceWarning = strings.Clone(n.PriceSource), strings.Clone(n.PriceWarning)
	c.Labels = detachMap(n.Labels)
	m.nodeIdx[k] = len(m.nodes)
	m.nodes = append(m.nodes, &c)
}

func (m *merger) disk(d *cost.DiskAsset) {
	k := d.Cluster + "\x00" + d.Name
	if i, ok := m.diskIdx[k]; ok {
		a := m.disks[i]
		a.Start, a.End = minTime(a.Start, d.Start), maxTime(a.End, d.End)
		a.Minutes += d.Minutes
		a.ByteHours += d.ByteHours
		a.Cost += d.Cost
		return
	}
	c := *d
	c.Cluster, c.Name, c.StorageClass, c.ProviderID = strings.Clone(d.Cluster), strings.Clone(d.Name), strings.Clone(d.StorageClass), strings.Clone(d.ProviderID)
	m.diskIdx[k] = len(m.disks)
	m.disks = append(m.disks, &c)
}

func (m *merger) lb(l *cost.LoadBalancerAsset) {
	k := l.Cluster + "\x00" + l.Namespace + "\x00" + l.Name
	if i, ok := m.lbIdx[k]; ok {
		a := m.lbs[i]
		a.Start, a.End = minTime(a.Start, l.Start), maxTime(a.End, l.End)
		a.Minutes += l.Minutes
		a.Cost += l.Cost
		return
	}
	c := *l
	c.Cluster, c.Namespace, c.Name = strings.Clone(l.Cluster), strings.Clone(l.Namespace), strings.Clone(l.Name)
	m.lbIdx[k] = len(m.lbs)
	m.lbs = append(m.lbs, &c)
}

// SortSet orders a set's rows and assets by name (stable output for tests and
// encoding).
func SortSet(s *cost.Set) {
	sort.SliceStable(s.Allocations, func(i, j int) bool { return s.Allocations[i].Name < s.Allocations[j].Name })
	sort.SliceStable(s.Nodes, func(i, j int) bool { return s.Nodes[i].Name < s.Nodes[j].Name })
	sort.SliceStable(s.Disks, func(i, j int) bool { return s.Disks[i].Name < s.Disks[j].Name })
	sort.SliceStable(s.LoadBalancers, func(i, j int) bool {
		return s.LoadBalancers[i].Namespace+"/"+s.LoadBalancers[i].Name < s.LoadBalancers[j].Namespace+"/"+s.LoadBalancers[j].Name
	})
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
