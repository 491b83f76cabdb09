package allocation

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
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
	out := &cost.Set{Window: w, Resolution: res}
	for i, s := range sets {
		if i == 0 {
			out.Cluster = s.Cluster
		} else if s.Cluster != out.Cluster {
			return nil, fmt.Errorf("merging sets of clusters %q and %q", out.Cluster, s.Cluster)
		}
		if !w.Covers(s.Window) {
			return nil, fmt.Errorf("set %s lies outside the merged window %s", s.Window, w)
		}
	}
	m := newMerger()
	for _, s := range sets {
		out.Partial = out.Partial || s.Partial
		for _, a := range s.Allocations {
			m.allocation(a)
		}
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
				m.warn[wn] = true
				out.Warnings = append(out.Warnings, wn)
			}
		}
	}
	out.Allocations = m.rows
	out.Nodes, out.Disks, out.LoadBalancers = m.nodes, m.disks, m.lbs
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
	return out, nil
}

type merger struct {
	byKey map[string]*cost.Allocation
	rows  []*cost.Allocation
	// canonical label-set strings, by map identity: decoded sets share one map per
	// distinct label set, and every input set stays alive during the merge, so an
	// address is never reused for another map.
	canon map[uintptr]string

	nodeIdx, diskIdx, lbIdx map[string]int
	nodes                   []*cost.NodeAsset
	disks                   []*cost.DiskAsset
	lbs                     []*cost.LoadBalancerAsset
	warn                    map[string]bool
	sb                      strings.Builder
}

func newMerger() *merger {
	return &merger{byKey: map[string]*cost.Allocation{}, canon: map[uintptr]string{}, nodeIdx: map[string]int{}, diskIdx: map[string]int{}, lbIdx: map[string]int{}, warn: map[string]bool{}}
}

func (m *merger) writeMap(b *strings.Builder, lm map[string]string) {
	if len(lm) == 0 {
		b.WriteByte(1)
		return
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
	b.WriteString(c)
	b.WriteByte(1)
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
	for _, lm := range []map[string]string{p.Labels, p.Annotations, p.NamespaceLabels, p.NamespaceAnnotations} {
		m.writeMap(b, lm)
	}
	return b.String()
}

func (m *merger) allocation(a *cost.Allocation) {
	k := m.key(a)
	r := m.byKey[k]
	if r == nil {
		r = a.Clone()
		m.byKey[k] = r
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
	c.Labels = maps.Clone(n.Labels)
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
