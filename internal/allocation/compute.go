// Package allocation is the cost engine: from an observation of a cluster and its
// prices it computes what every container costs, what each node leaves idle, and it
// answers queries over stored results (aggregate, share idle and shared costs,
// filter). The formulas are COST_MODEL.md's; the worked examples there are tests here.
//
// It is pure computation. It must not import net, database, client-go, the store or
// anything that does I/O (an architecture test enforces this), so every number it
// produces can be reproduced from its inputs alone.
package allocation

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
)

// Compute allocates the observed window's node, volume and load-balancer costs to
// containers (COST_MODEL.md sections 2-5) and returns the resulting set: one row per
// container that ran, one __idle__ row per node, and rows for storage and load
// balancers nobody uses. For every node and slot, the node's allocations plus its
// idle equal its cost.
func Compute(obs *cost.Observation, pricer *pricing.Pricer) (*cost.Set, error) {
	if err := obs.Validate(); err != nil {
		return nil, err
	}
	c := newComputation(obs, pricer)
	c.nodes()
	c.volumes()
	c.loadBalancers()
	return c.result(), nil
}

type computation struct {
	obs    *cost.Observation
	pricer *pricing.Pricer
	slots  int
	sh     float64 // slot length in hours

	nodeIdx  map[string]int
	prices   []pricing.NodePrice
	podNode  []int   // pod index -> node index, -1 unknown
	podCons  [][]int // pod index -> container indices
	nsMeta   map[string]*cost.Namespace
	rows     []*cost.Allocation // one per container, nil until it runs
	extra    []*cost.Allocation // idle, unmounted, load-balancer rows
	assets   []*cost.NodeAsset
	disks    []*cost.DiskAsset
	lbs      []*cost.LoadBalancerAsset
	warnings []string
	orphaned int // container-slots on a node that is unknown or absent
}

func newComputation(obs *cost.Observation, pricer *pricing.Pricer) *computation {
	c := &computation{
		obs:     obs,
		pricer:  pricer,
		slots:   obs.Slots(),
		sh:      obs.SlotHours(),
		nodeIdx: make(map[string]int, len(obs.Nodes)),
		prices:  make([]pricing.NodePrice, len(obs.Nodes)),
		podNode: make([]int, len(obs.Pods)),
		podCons: make([][]int, len(obs.Pods)),
		nsMeta:  make(map[string]*cost.Namespace, len(obs.Namespaces)),
		rows:    make([]*cost.Allocation, len(obs.Containers)),
	}
	for i := range obs.Nodes {
		c.nodeIdx[obs.Nodes[i].Name] = i
		c.prices[i] = pricer.Node(&obs.Nodes[i])
	}
	for i := range obs.Namespaces {
		c.nsMeta[obs.Namespaces[i].Name] = &obs.Namespaces[i]
	}
	for i := range obs.Pods {
		if n, ok := c.nodeIdx[obs.Pods[i].Node]; ok {
			c.podNode[i] = n
		} else {
			c.podNode[i] = -1
		}
	}
	for i := range obs.Containers {
		p := obs.Containers[i].Pod
		c.podCons[p] = append(c.podCons[p], i)
	}
	return c
}

// row returns the container's allocation row, creating it on first use.
func (c *computation) row(ci int) *cost.Allocation {
	if r := c.rows[ci]; r != nil {
		return r
	}
	con := &c.obs.Containers[ci]
	pod := &c.obs.Pods[con.Pod]
	props := &cost.Properties{
		Cluster:        c.obs.Cluster,
		Node:           pod.Node,
		Namespace:      pod.Namespace,
		ControllerKind: pod.ControllerKind,
		Controller:     pod.Controller,
		Pod:            pod.Name,
		Container:      con.Name,
		Labels:         pod.Labels,
		Annotations:    pod.Annotations,
	}
	if n := c.podNode[con.Pod]; n >= 0 {
		props.ProviderID = c.obs.Nodes[n].ProviderID
	}
	if ns := c.nsMeta[pod.Namespace]; ns != nil {
		props.NamespaceLabels = ns.Labels
		props.NamespaceAnnotations = ns.Annotations
	}
	r := &cost.Allocation{
		Name:       strings.Join([]string{c.obs.Cluster, pod.Node, pod.Namespace, pod.Name, con.Name}, "/"),
		Kind:       cost.KindContainer,
		Properties: props,
		Window:     c.obs.Window,
	}
	c.rows[ci] = r
	return r
}

// nodes allocates CPU, RAM and GPU of every node, slot by slot.
func (c *computation) nodes() {
	obs := c.obs
	byNode := make([][]int, len(obs.Nodes))
	var orphans []int
	for ci := range obs.Containers {
		if n := c.podNode[obs.Containers[ci].Pod]; n >= 0 {
			byNode[n] = append(byNode[n], ci)
		} else {
			orphans = append(orphans, ci)
		}
	}
	// Scratch: allocated quantity per container of the node, per resource.
	var allocCPU, allocRAM, allocGPU []float64
	for ni := range obs.Nodes {
		node := &obs.Nodes[ni]
		price := c.prices[ni]
		cons := byNode[ni]
		if cap(allocCPU) < len(cons) {
			allocCPU = make([]float64, len(cons))
			allocRAM = make([]float64, len(cons))
			allocGPU = make([]float64, len(cons))
		}
		allocCPU, allocRAM, allocGPU = allocCPU[:len(cons)], allocRAM[:len(cons)], allocGPU[:len(cons)]
		ramGiBRate := price.RAM / pricing.GiB
		var idleCPU, idleRAM, idleGPU float64 // quantity-hours
		present := 0
		for s := 0; s < c.slots; s++ {
			if !node.Present.Has(s) {
				// Containers reported on an absent node cannot be reconciled against
				// its capacity; they are costed at the node's rates and flagged.
				for _, ci := range cons {
					if obs.Containers[ci].Running.Has(s) {
						c.orphanSlot(ci, s, price)
					}
				}
				continue
			}
			present++
			var sumCPU, sumRAM, sumGPU float64
			for k, ci := range cons {
				con := &obs.Containers[ci]
				if !con.Running.Has(s) {
					allocCPU[k], allocRAM[k], allocGPU[k] = -1, 0, 0
					continue
				}
				allocCPU[k] = max(cost.At(con.CPURequest, s), cost.At(con.CPUUsage, s))
				allocRAM[k] = max(cost.At(con.RAMRequest, s), cost.At(con.RAMUsage, s))
				allocGPU[k] = cost.At(con.GPURequest, s)
				sumCPU += allocCPU[k]
				sumRAM += allocRAM[k]
				sumGPU += allocGPU[k]
			}
			fCPU, fRAM, fGPU := scale(sumCPU, node.CPUCores), scale(sumRAM, node.RAMBytes), scale(sumGPU, node.GPUs)
			for k, ci := range cons {
				if allocCPU[k] < 0 {
					continue
				}
				c.charge(ci, s, allocCPU[k]*fCPU, allocRAM[k]*fRAM, allocGPU[k]*fGPU, price)
			}
			idleCPU += idleOf(node.CPUCores, sumCPU, fCPU) * c.sh
			idleRAM += idleOf(node.RAMBytes, sumRAM, fRAM) * c.sh
			idleGPU += idleOf(node.GPUs, sumGPU, fGPU) * c.sh
		}
		if present == 0 {
			continue
		}
		c.nodeAsset(ni, present, price)
		first, last := node.Present.First(), node.Present.Last()
		c.extra = append(c.extra, &cost.Allocation{
			Name: cost.IdleName,
			Kind: cost.KindIdle,
			Properties: &cost.Properties{
				Cluster: obs.Cluster, Node: node.Name, ProviderID: node.ProviderID,
			},
			Window:         obs.Window,
			Start:          c.slotStart(first),
			End:            c.slotStart(last + 1),
			RunningMinutes: float64(present) * c.obs.Resolution.Minutes(),
			CPUCoreHours:   clampZero(idleCPU),
			RAMByteHours:   clampZero(idleRAM),
			GPUHours:       clampZero(idleGPU),
			CPUCost:        clampZero(idleCPU) * price.CPU,
			RAMCost:        clampZero(idleRAM) * ramGiBRate,
			GPUCost:        clampZero(idleGPU) * price.GPU,
		})
	}
	for _, ci := range orphans {
		con := &obs.Containers[ci]
		price := c.pricer.Node(&cost.Node{})
		for s := 0; s < c.slots; s++ {
			if con.Running.Has(s) {
				c.orphanSlot(ci, s, price)
			}
		}
	}
	if c.orphaned > 0 {
		c.warnings = append(c.warnings, fmt.Sprintf(
			"%d container-minutes ran on nodes with no capacity data; they are priced at the node's (or custom) rates without reconciliation", int(float64(c.orphaned)*c.obs.Resolution.Minutes())))
	}
}

// clampZero removes the -1e-17 noise that subtraction can leave; idle is never
// negative by construction (allocations are scaled to capacity).
func clampZero(v float64) float64 {
	if v < 0 && v > -1e-9 {
		return 0
	}
	return v
}

// orphanSlot charges slot s of a container whose node has no capacity data then:
// max(request, usage) at the node's rates, without reconciliation.
func (c *computation) orphanSlot(ci, s int, price pricing.NodePrice) {
	con := &c.obs.Containers[ci]
	cpu := max(cost.At(con.CPURequest, s), cost.At(con.CPUUsage, s))
	ram := max(cost.At(con.RAMRequest, s), cost.At(con.RAMUsage, s))
	c.charge(ci, s, cpu, ram, cost.At(con.GPURequest, s), price)
	c.orphaned++
}

// charge adds one slot of container ci to its row: the allocated quantities (already
// reconciled), the request and usage integrals, and their cost at the node's rates.
func (c *computation) charge(ci, s int, cpu, ram, gpu float64, price pricing.NodePrice) {
	con := &c.obs.Containers[ci]
	r := c.row(ci)
	c.markRunning(r, s)
	r.CPUCoreHours += cpu * c.sh
	r.RAMByteHours += ram * c.sh
	r.GPUHours += gpu * c.sh
	r.CPURequestCoreHours += cost.At(con.CPURequest, s) * c.sh
	cpuUse, ramUse := cost.At(con.CPUUsage, s), cost.At(con.RAMUsage, s)
	r.CPUUsageCoreHours += cpuUse * c.sh
	r.CPUUsageMax = max(r.CPUUsageMax, cpuUse)
	r.RAMUsageMax = max(r.RAMUsageMax, ramUse)
	r.RAMRequestByteHours += cost.At(con.RAMRequest, s) * c.sh
	r.RAMUsageByteHours += ramUse * c.sh
	r.GPURequestHours += cost.At(con.GPURequest, s) * c.sh
	r.CPUCost += cpu * price.CPU * c.sh
	r.RAMCost += ram / pricing.GiB * price.RAM * c.sh
	r.GPUCost += gpu * price.GPU * c.sh
}

// idleOf is the capacity left in one slot. When allocations were scaled down to the
// capacity nothing is left, exactly (capacity - sum*capacity/sum can round below 0).
func idleOf(capacity, sum, factor float64) float64 {
	if factor < 1 {
		return 0
	}
	return capacity - sum
}

// scale is the reconciliation factor: 1, or capacity/sum when the sum exceeds it.
func scale(sum, capacity float64) float64 {
	if sum > capacity && sum > 0 {
		return capacity / sum
	}
	return 1
}

func (c *computation) slotStart(s int) time.Time {
	return c.obs.Window.Start.Add(c.obs.Resolution * time.Duration(s))
}

// markRunning extends a row's running span by slot s (slots are visited in order
// per node, but a row may be marked from several passes, so compare).
func (c *computation) markRunning(r *cost.Allocation, s int) {
	st, en := c.slotStart(s), c.slotStart(s+1)
	if r.Start.IsZero() || st.Before(r.Start) {
		r.Start = st
	}
	if en.After(r.End) {
		r.End = en
	}
	r.RunningMinutes += c.obs.Resolution.Minutes()
}

func (c *computation) nodeAsset(ni, present int, price pricing.NodePrice) {
	node := &c.obs.Nodes[ni]
	h := float64(present) * c.sh
	c.assets = append(c.assets, &cost.NodeAsset{
		Cluster:      c.obs.Cluster,
		Name:         node.Name,
		ProviderID:   node.ProviderID,
		Provider:     node.Provider,
		InstanceType: node.InstanceType,
		Region:       node.Region,
		Zone:         node.Zone,
		Spot:         price.Spot,
		Labels:       node.Labels,
		Window:       c.obs.Window,
		Start:        c.slotStart(node.Present.First()),
		End:          c.slotStart(node.Present.Last() + 1),
		Minutes:      h * 60,
		CPUCores:     node.CPUCores,
		RAMBytes:     node.RAMBytes,
		GPUs:         node.GPUs,
		CPUCoreHours: node.CPUCores * h,
		RAMByteHours: node.RAMBytes * h,
		GPUHours:     node.GPUs * h,
		CPUCost:      node.CPUCores * price.CPU * h,
		RAMCost:      node.RAMBytes / pricing.GiB * price.RAM * h,
		GPUCost:      node.GPUs * price.GPU * h,
		Discount:     price.Discount,
		HourlyCPU:    price.CPU,
		HourlyRAM:    price.RAM,
		HourlyGPU:    price.GPU,
		PriceSource:  price.Source,
		PriceWarning: price.Warning,
	})
	if price.Warning != "" {
		c.warnings = append(c.warnings, fmt.Sprintf("node %s: %s", node.Name, price.Warning))
	}
}

// runningContainers lists pod p's containers running in slot s.
func (c *computation) runningContainers(p, s int) []int {
	var out []int
	for _, ci := range c.podCons[p] {
		if c.obs.Containers[ci].Running.Has(s) {
			out = append(out, ci)
		}
	}
	return out
}

// spread charges amount (for slot s) evenly over the given pods, and within each pod
// evenly over its running containers. It reports false when no pod runs.
func (c *computation) spread(pods []int, s int, amount float64, add func(r *cost.Allocation, share float64)) bool {
	var live [][]int
	for _, p := range pods {
		if cons := c.runningContainers(p, s); len(cons) > 0 {
			live = append(live, cons)
		}
	}
	if len(live) == 0 {
		return false
	}
	perPod := amount / float64(len(live))
	for _, cons := range live {
		per := perPod / float64(len(cons))
		for _, ci := range cons {
			add(c.row(ci), per)
		}
	}
	return true
}

// volumes charges each bound volume to the running pods that mount its claim
// (COST_MODEL.md section 4), and unused storage to __unmounted__ rows.
func (c *computation) volumes() {
	obs := c.obs
	mounts := map[[2]string][]int{} // (namespace, claim) -> pods
	for p := range obs.Pods {
		for _, cl := range obs.Pods[p].Claims {
			k := [2]string{obs.Pods[p].Namespace, cl}
			mounts[k] = append(mounts[k], p)
		}
	}
	unmounted := map[string]*cost.Allocation{} // namespace ("" = cluster) -> row
	unmountedRow := func(ns string) *cost.Allocation {
		if r := unmounted[ns]; r != nil {
			return r
		}
		name := cost.UnmountedName
		if ns != "" {
			name = ns + "/" + cost.UnmountedName
		}
		r := &cost.Allocation{
			Name: name, Kind: cost.KindUnmounted, Window: obs.Window,
			Properties: &cost.Properties{Cluster: obs.Cluster, Namespace: ns},
		}
		unmounted[ns] = r
		return r
	}
	for vi := range obs.Volumes {
		v := &obs.Volumes[vi]
		hourly := c.pricer.VolumeHourly(v.StorageClass, v.CapacityBytes)
		present := v.Present.Count()
		if present == 0 {
			continue
		}
		c.disks = append(c.disks, &cost.DiskAsset{
			Cluster: obs.Cluster, Name: v.Name, StorageClass: v.StorageClass, ProviderID: v.ProviderID,
			Window: obs.Window, Start: c.slotStart(v.Present.First()), End: c.slotStart(v.Present.Last() + 1),
			Minutes: float64(present) * obs.Resolution.Minutes(), Bytes: v.CapacityBytes,
			ByteHours: v.CapacityBytes * float64(present) * c.sh, Cost: hourly * float64(present) * c.sh,
		})
		pods := mounts[[2]string{v.ClaimNamespace, v.ClaimName}]
		for s := 0; s < c.slots; s++ {
			if !v.Present.Has(s) {
				continue
			}
			amount := hourly * c.sh
			bytesH := v.CapacityBytes * c.sh
			ok := v.ClaimName != "" && c.spread(pods, s, 1, func(r *cost.Allocation, share float64) {
				r.PVCost += amount * share
				r.PVByteHours += bytesH * share
			})
			if ok {
				continue
			}
			ns := ""
			if v.ClaimName != "" {
				ns = v.ClaimNamespace
			}
			r := unmountedRow(ns)
			c.markRunning(r, s)
			r.PVCost += amount
			r.PVByteHours += bytesH
		}
	}
	keys := make([]string, 0, len(unmounted))
	for k := range unmounted {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.extra = append(c.extra, unmounted[k])
	}
}

// loadBalancers charges each LoadBalancer service to the running pods it selects,
// or to a row for the service when its selector is unknown or matches nothing.
func (c *computation) loadBalancers() {
	obs := c.obs
	hourly := c.pricer.LoadBalancerHourly()
	for si := range obs.Services {
		svc := &obs.Services[si]
		present := svc.Present.Count()
		if present == 0 {
			continue
		}
		c.lbs = append(c.lbs, &cost.LoadBalancerAsset{
			Cluster: obs.Cluster, Namespace: svc.Namespace, Name: svc.Name, Window: obs.Window,
			Start: c.slotStart(svc.Present.First()), End: c.slotStart(svc.Present.Last() + 1),
			Minutes: float64(present) * obs.Resolution.Minutes(), Cost: hourly * float64(present) * c.sh,
		})
		var pods []int
		if len(svc.Selector) > 0 {
			for p := range obs.Pods {
				if obs.Pods[p].Namespace == svc.Namespace && matches(svc.Selector, obs.Pods[p].Labels) {
					pods = append(pods, p)
				}
			}
		}
		var own *cost.Allocation
		for s := 0; s < c.slots; s++ {
			if !svc.Present.Has(s) {
				continue
			}
			amount := hourly * c.sh
			if c.spread(pods, s, amount, func(r *cost.Allocation, share float64) {
				r.LoadBalancerCost += share
				addService(r.Properties, svc.Name)
			}) {
				continue
			}
			if own == nil {
				own = &cost.Allocation{
					Name: svc.Namespace + "/" + svc.Name, Kind: cost.KindLoadBalancer, Window: obs.Window,
					Properties: &cost.Properties{Cluster: obs.Cluster, Namespace: svc.Namespace, Services: []string{svc.Name}},
				}
				c.extra = append(c.extra, own)
			}
			c.markRunning(own, s)
			own.LoadBalancerCost += amount
		}
	}
}

func addService(p *cost.Properties, name string) {
	for _, s := range p.Services {
		if s == name {
			return
		}
	}
	p.Services = append(p.Services, name)
}

// matches reports whether labels satisfy an equality selector.
func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if lv, ok := labels[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

func (c *computation) result() *cost.Set {
	set := &cost.Set{
		Cluster:       c.obs.Cluster,
		Window:        c.obs.Window,
		Resolution:    cost.Hourly,
		Nodes:         c.assets,
		Disks:         c.disks,
		LoadBalancers: c.lbs,
		Partial:       c.obs.Partial,
		Warnings:      c.warnings,
	}
	if c.obs.Window.Duration() == cost.Daily.Duration() {
		set.Resolution = cost.Daily
	}
	for _, r := range c.rows {
		if r != nil {
			set.Allocations = append(set.Allocations, r)
		}
	}
	set.Allocations = append(set.Allocations, c.extra...)
	return set
}
