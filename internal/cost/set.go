package cost

import "time"

// Resolution of a stored set.
type Resolution uint8

// Stored resolutions.
const (
	Hourly Resolution = 1
	Daily  Resolution = 2
)

// Duration is the length of one window at this resolution.
func (r Resolution) Duration() time.Duration {
	if r == Daily {
		return 24 * time.Hour
	}
	return time.Hour
}

func (r Resolution) String() string {
	if r == Daily {
		return "daily"
	}
	return "hourly"
}

// Set is everything the engine computed for one cluster over one stored window (an
// hour, or a day built from hours): container allocations, idle rows and assets. It
// is the unit that is encoded, sealed and stored.
type Set struct {
	Cluster       string
	Window        Window
	Resolution    Resolution
	Allocations   []*Allocation // containers, idle (one per node), unmounted, load balancers
	Nodes         []*NodeAsset
	Disks         []*DiskAsset
	LoadBalancers []*LoadBalancerAsset
	// Partial is set when the source data for the window was incomplete.
	Partial bool
	// Warnings are user-visible notes about the numbers (for example a node priced
	// with custom prices because its instance type is unknown).
	Warnings []string
}

// NodeAsset is one node's cost over a window, split by resource.
type NodeAsset struct {
	Cluster      string
	Name         string
	ProviderID   string
	Provider     string
	InstanceType string
	Region       string
	Zone         string
	Spot         bool
	Labels       map[string]string
	Window       Window
	Start, End   time.Time
	Minutes      float64 // minutes the node existed

	CPUCores, RAMBytes, GPUs         float64 // capacity
	CPUCoreHours, RAMByteHours       float64 // capacity x time present
	GPUHours                         float64
	CPUCost, RAMCost, GPUCost        float64 // after discount
	Discount                         float64 // fraction, 0.1 = 10 %
	HourlyCPU, HourlyRAM, HourlyGPU  float64 // price per core-, GiB-, GPU-hour actually applied
	PriceSource                      string  // "custom", or the catalog id
	PriceWarning                     string  // non-empty when the price fell back
	CPUCostAdjustment, RAMCostAdjust float64 // reserved for bill reconciliation
}

// TotalCost of the node over the window.
func (n *NodeAsset) TotalCost() float64 { return n.CPUCost + n.RAMCost + n.GPUCost }

// DiskAsset is one persistent volume's cost over a window.
type DiskAsset struct {
	Cluster      string
	Name         string
	StorageClass string
	ProviderID   string
	Window       Window
	Start, End   time.Time
	Minutes      float64
	Bytes        float64
	ByteHours    float64
	Cost         float64
}

// LoadBalancerAsset is one LoadBalancer service's cost over a window.
type LoadBalancerAsset struct {
	Cluster    string
	Namespace  string
	Name       string
	Window     Window
	Start, End time.Time
	Minutes    float64
	Cost       float64
}

// TotalCost is what the set's assets cost: nodes, disks and load balancers.
func (s *Set) TotalCost() float64 {
	t := 0.0
	for _, n := range s.Nodes {
		t += n.TotalCost()
	}
	for _, d := range s.Disks {
		t += d.Cost
	}
	for _, l := range s.LoadBalancers {
		t += l.Cost
	}
	return t
}

// AllocatedCost is the sum of all allocation rows (including idle).
func (s *Set) AllocatedCost() float64 {
	t := 0.0
	for _, a := range s.Allocations {
		t += a.TotalCost()
	}
	return t
}
