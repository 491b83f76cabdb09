package cost

import (
	"maps"
	"slices"
	"time"
)

// Reserved allocation names, as OpenCost spells them.
const (
	IdleName        = "__idle__"
	UnmountedName   = "__unmounted__"
	UnallocatedName = "__unallocated__"
	SharedName      = "__shared__"
)

// Kind says what an allocation row stands for.
type Kind uint8

// Allocation kinds.
const (
	KindContainer    Kind = iota // a running container
	KindIdle                     // unallocated capacity of one node
	KindUnmounted                // storage nobody mounts
	KindLoadBalancer             // a load balancer whose pods are unknown
	KindShared                   // a fixed shared overhead (shareCost)
)

// Properties describe what an allocation belongs to. Rows with fewer known
// properties (idle, aggregated rows) leave the others empty.
type Properties struct {
	Cluster              string
	Node                 string
	Namespace            string
	ControllerKind       string
	Controller           string
	Pod                  string
	Container            string
	ProviderID           string
	Services             []string
	Labels               map[string]string
	Annotations          map[string]string
	NamespaceLabels      map[string]string
	NamespaceAnnotations map[string]string
}

// Clone returns a deep copy.
func (p *Properties) Clone() *Properties {
	if p == nil {
		return nil
	}
	c := *p
	c.Services = slices.Clone(p.Services)
	c.Labels = maps.Clone(p.Labels)
	c.Annotations = maps.Clone(p.Annotations)
	c.NamespaceLabels = maps.Clone(p.NamespaceLabels)
	c.NamespaceAnnotations = maps.Clone(p.NamespaceAnnotations)
	return &c
}

// Allocation is the cost of one row over a window. Quantities are stored as
// integrals (core-hours, byte-hours); averages are derived by dividing by the running
// hours, so rows add up exactly.
type Allocation struct {
	Name       string
	Kind       Kind
	Properties *Properties
	Window     Window    // the query (or stored) window the row belongs to
	Start      time.Time // first running instant within Window
	End        time.Time // last running instant within Window
	// RunningMinutes is the time the row was running. For a single container it is
	// the sum of its running intervals; aggregated rows report End-Start.
	RunningMinutes float64

	CPUCoreHours        float64 // allocated (max(request, usage), reconciled)
	CPURequestCoreHours float64
	CPUUsageCoreHours   float64
	CPUCost             float64
	CPUCostIdle         float64 // part of CPUCost that is shared idle

	RAMByteHours        float64
	RAMRequestByteHours float64
	RAMUsageByteHours   float64
	RAMCost             float64
	RAMCostIdle         float64

	GPUHours        float64
	GPURequestHours float64
	GPUCost         float64
	GPUCostIdle     float64

	PVByteHours      float64
	PVCost           float64
	LoadBalancerCost float64
	SharedCost       float64

	// Peaks of the per-sample usage while running (cores, bytes): what right-sizing
	// must never recommend below. Aggregated rows keep the largest.
	CPUUsageMax float64
	RAMUsageMax float64
}

// TotalCost is the sum of every cost component, including shared idle and shared cost.
func (a *Allocation) TotalCost() float64 {
	return a.CPUCost + a.RAMCost + a.GPUCost + a.PVCost + a.LoadBalancerCost + a.SharedCost
}

// Hours the row ran (RunningMinutes/60).
func (a *Allocation) Hours() float64 { return a.RunningMinutes / 60 }

func avg(integral, hours float64) float64 {
	if hours <= 0 {
		return 0
	}
	return integral / hours
}

// CPUCoreRequestAverage is the average requested cores while running.
func (a *Allocation) CPUCoreRequestAverage() float64 { return avg(a.CPURequestCoreHours, a.Hours()) }

// CPUCoreUsageAverage is the average used cores while running.
func (a *Allocation) CPUCoreUsageAverage() float64 { return avg(a.CPUUsageCoreHours, a.Hours()) }

// CPUCores is the average allocated cores while running.
func (a *Allocation) CPUCores() float64 { return avg(a.CPUCoreHours, a.Hours()) }

// RAMBytes is the average allocated bytes while running.
func (a *Allocation) RAMBytes() float64 { return avg(a.RAMByteHours, a.Hours()) }

// RAMBytesRequestAverage is the average requested bytes while running.
func (a *Allocation) RAMBytesRequestAverage() float64 { return avg(a.RAMRequestByteHours, a.Hours()) }

// RAMBytesUsageAverage is the average working-set bytes while running.
func (a *Allocation) RAMBytesUsageAverage() float64 { return avg(a.RAMUsageByteHours, a.Hours()) }

// GPUs is the average allocated GPUs while running.
func (a *Allocation) GPUs() float64 { return avg(a.GPUHours, a.Hours()) }

// PVBytes is the average mounted volume bytes while running.
func (a *Allocation) PVBytes() float64 { return avg(a.PVByteHours, a.Hours()) }

func efficiency(usage, request float64) float64 {
	if request <= 0 {
		if usage <= 0 {
			return 0
		}
		return 1
	}
	return usage / request
}

// CPUEfficiency is usage over request (COST_MODEL.md section 7).
func (a *Allocation) CPUEfficiency() float64 {
	return efficiency(a.CPUUsageCoreHours, a.CPURequestCoreHours)
}

// RAMEfficiency is usage over request (COST_MODEL.md section 7).
func (a *Allocation) RAMEfficiency() float64 {
	return efficiency(a.RAMUsageByteHours, a.RAMRequestByteHours)
}

// TotalEfficiency weights CPU and RAM efficiency by the row's own CPU and RAM cost.
// Shared idle is excluded from the weights so that sharing idle does not change how
// efficient a workload is.
func (a *Allocation) TotalEfficiency() float64 {
	cpu := a.CPUCost - a.CPUCostIdle
	ram := a.RAMCost - a.RAMCostIdle
	if cpu+ram <= 0 {
		return 0
	}
	return (a.CPUEfficiency()*cpu + a.RAMEfficiency()*ram) / (cpu + ram)
}

// Add accumulates b's quantities and costs into a. Window, Start and End widen to
// cover both; RunningMinutes becomes the span End-Start when the rows are distinct
// (aggregation), so averages mean "over the time the row existed".
func (a *Allocation) Add(b *Allocation) {
	a.Window = a.Window.Union(b.Window)
	if a.Start.IsZero() || (!b.Start.IsZero() && b.Start.Before(a.Start)) {
		a.Start = b.Start
	}
	if b.End.After(a.End) {
		a.End = b.End
	}
	a.CPUCoreHours += b.CPUCoreHours
	a.CPURequestCoreHours += b.CPURequestCoreHours
	a.CPUUsageCoreHours += b.CPUUsageCoreHours
	a.CPUCost += b.CPUCost
	a.CPUCostIdle += b.CPUCostIdle
	a.RAMByteHours += b.RAMByteHours
	a.RAMRequestByteHours += b.RAMRequestByteHours
	a.RAMUsageByteHours += b.RAMUsageByteHours
	a.RAMCost += b.RAMCost
	a.RAMCostIdle += b.RAMCostIdle
	a.GPUHours += b.GPUHours
	a.GPURequestHours += b.GPURequestHours
	a.GPUCost += b.GPUCost
	a.GPUCostIdle += b.GPUCostIdle
	a.PVByteHours += b.PVByteHours
	a.PVCost += b.PVCost
	a.LoadBalancerCost += b.LoadBalancerCost
	a.SharedCost += b.SharedCost
	a.CPUUsageMax = max(a.CPUUsageMax, b.CPUUsageMax)
	a.RAMUsageMax = max(a.RAMUsageMax, b.RAMUsageMax)
	a.RunningMinutes = a.End.Sub(a.Start).Minutes()
}

// Clone returns a copy that shares no mutable state with a (Properties deep-copied).
func (a *Allocation) Clone() *Allocation {
	c := *a
	c.Properties = a.Properties.Clone()
	return &c
}
