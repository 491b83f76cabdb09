package httpapi

import (
	"math"
	"strconv"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
)

// num is a number serialised with at most 6 decimal places (COST_MODEL.md: sums are
// computed before rounding; only serialisation rounds).
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	return n.appendJSON(nil), nil
}

// appendJSON appends the number as MarshalJSON writes it.
func (n num) appendJSON(dst []byte) []byte {
	v := float64(n)
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) { // zero: most cost fields of most rows
		return append(dst, '0')
	}
	start := len(dst)
	b := strconv.AppendFloat(dst, v, 'f', 6, 64)
	// Trim trailing zeros for readability: 0.042000 -> 0.042, 2.000000 -> 2.
	i := len(b)
	for i > start && b[i-1] == '0' {
		i--
	}
	if i > start && b[i-1] == '.' {
		i--
	}
	b = b[:i]
	if string(b[start:]) == "-0" {
		b = append(b[:start], '0')
	}
	return b
}

type windowJSON struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

type propertiesJSON struct {
	Cluster              string            `json:"cluster,omitempty"`
	Node                 string            `json:"node,omitempty"`
	Container            string            `json:"container,omitempty"`
	Controller           string            `json:"controller,omitempty"`
	ControllerKind       string            `json:"controllerKind,omitempty"`
	Namespace            string            `json:"namespace,omitempty"`
	Pod                  string            `json:"pod,omitempty"`
	Services             []string          `json:"services,omitempty"`
	ProviderID           string            `json:"providerID,omitempty"`
	Labels               map[string]string `json:"labels,omitempty"`
	Annotations          map[string]string `json:"annotations,omitempty"`
	NamespaceLabels      map[string]string `json:"namespaceLabels,omitempty"`
	NamespaceAnnotations map[string]string `json:"namespaceAnnotations,omitempty"`
}

// allocationJSON uses OpenCost's field names.
type allocationJSON struct {
	Name                  string          `json:"name"`
	Properties            *propertiesJSON `json:"properties"`
	Window                windowJSON      `json:"window"`
	Start                 time.Time       `json:"start"`
	End                   time.Time       `json:"end"`
	Minutes               num             `json:"minutes"`
	CPUCores              num             `json:"cpuCores"`
	CPUCoreRequestAverage num             `json:"cpuCoreRequestAverage"`
	CPUCoreUsageAverage   num             `json:"cpuCoreUsageAverage"`
	CPUCoreHours          num             `json:"cpuCoreHours"`
	CPUCost               num             `json:"cpuCost"`
	CPUCostAdjustment     num             `json:"cpuCostAdjustment"`
	CPUCostIdle           num             `json:"cpuCostIdle"`
	CPUEfficiency         num             `json:"cpuEfficiency"`
	GPUCount              num             `json:"gpuCount"`
	GPUHours              num             `json:"gpuHours"`
	GPUCost               num             `json:"gpuCost"`
	GPUCostAdjustment     num             `json:"gpuCostAdjustment"`
	GPUCostIdle           num             `json:"gpuCostIdle"`
	LoadBalancerCost      num             `json:"loadBalancerCost"`
	LBCostAdjustment      num             `json:"loadBalancerCostAdjustment"`
	PVBytes               num             `json:"pvBytes"`
	PVByteHours           num             `json:"pvByteHours"`
	PVCost                num             `json:"pvCost"`
	PVCostAdjustment      num             `json:"pvCostAdjustment"`
	RAMBytes              num             `json:"ramBytes"`
	RAMByteRequestAverage num             `json:"ramByteRequestAverage"`
	RAMByteUsageAverage   num             `json:"ramByteUsageAverage"`
	RAMByteHours          num             `json:"ramByteHours"`
	RAMCost               num             `json:"ramCost"`
	RAMCostAdjustment     num             `json:"ramCostAdjustment"`
	RAMCostIdle           num             `json:"ramCostIdle"`
	RAMEfficiency         num             `json:"ramEfficiency"`
	ExternalCost          num             `json:"externalCost"`
	SharedCost            num             `json:"sharedCost"`
	TotalCost             num             `json:"totalCost"`
	TotalEfficiency       num             `json:"totalEfficiency"`
}

func newPropertiesJSON(p *cost.Properties) *propertiesJSON {
	if p == nil {
		return &propertiesJSON{}
	}
	return &propertiesJSON{
		Cluster: p.Cluster, Node: p.Node, Container: p.Container, Controller: p.Controller,
		ControllerKind: p.ControllerKind, Namespace: p.Namespace, Pod: p.Pod, Services: p.Services,
		ProviderID: p.ProviderID, Labels: p.Labels, Annotations: p.Annotations,
		NamespaceLabels: p.NamespaceLabels, NamespaceAnnotations: p.NamespaceAnnotations,
	}
}

func newAllocationJSON(a *cost.Allocation) *allocationJSON {
	return &allocationJSON{
		Name:                  a.Name,
		Properties:            newPropertiesJSON(a.Properties),
		Window:                windowJSON{a.Window.Start, a.Window.End},
		Start:                 a.Start,
		End:                   a.End,
		Minutes:               num(a.RunningMinutes),
		CPUCores:              num(a.CPUCores()),
		CPUCoreRequestAverage: num(a.CPUCoreRequestAverage()),
		CPUCoreUsageAverage:   num(a.CPUCoreUsageAverage()),
		CPUCoreHours:          num(a.CPUCoreHours),
		CPUCost:               num(a.CPUCost),
		CPUCostIdle:           num(a.CPUCostIdle),
		CPUEfficiency:         num(a.CPUEfficiency()),
		GPUCount:              num(a.GPUs()),
		GPUHours:              num(a.GPUHours),
		GPUCost:               num(a.GPUCost),
		GPUCostIdle:           num(a.GPUCostIdle),
		LoadBalancerCost:      num(a.LoadBalancerCost),
		PVBytes:               num(a.PVBytes()),
		PVByteHours:           num(a.PVByteHours),
		PVCost:                num(a.PVCost),
		RAMBytes:              num(a.RAMBytes()),
		RAMByteRequestAverage: num(a.RAMBytesRequestAverage()),
		RAMByteUsageAverage:   num(a.RAMBytesUsageAverage()),
		RAMByteHours:          num(a.RAMByteHours),
		RAMCost:               num(a.RAMCost),
		RAMCostIdle:           num(a.RAMCostIdle),
		RAMEfficiency:         num(a.RAMEfficiency()),
		SharedCost:            num(a.SharedCost),
		TotalCost:             num(a.TotalCost()),
		TotalEfficiency:       num(a.TotalEfficiency()),
	}
}

type assetPropsJSON struct {
	Category   string `json:"category"`
	Provider   string `json:"provider,omitempty"`
	ProviderID string `json:"providerID,omitempty"`
	Cluster    string `json:"cluster"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace,omitempty"`
}

type nodeJSON struct {
	Type         string            `json:"type"`
	Properties   assetPropsJSON    `json:"properties"`
	Labels       map[string]string `json:"labels,omitempty"`
	Window       windowJSON        `json:"window"`
	Start        time.Time         `json:"start"`
	End          time.Time         `json:"end"`
	Minutes      num               `json:"minutes"`
	NodeType     string            `json:"nodeType"`
	Region       string            `json:"region,omitempty"`
	Zone         string            `json:"zone,omitempty"`
	CPUCores     num               `json:"cpuCores"`
	RAMBytes     num               `json:"ramBytes"`
	GPUCount     num               `json:"gpuCount"`
	CPUCoreHours num               `json:"cpuCoreHours"`
	RAMByteHours num               `json:"ramByteHours"`
	GPUHours     num               `json:"GPUHours"`
	Preemptible  num               `json:"preemptible"`
	Discount     num               `json:"discount"`
	CPUCost      num               `json:"cpuCost"`
	RAMCost      num               `json:"ramCost"`
	GPUCost      num               `json:"gpuCost"`
	HourlyCPU    num               `json:"cpuPricePerCoreHour"`
	HourlyRAM    num               `json:"ramPricePerGiBHour"`
	HourlyGPU    num               `json:"gpuPricePerHour"`
	PriceSource  string            `json:"priceSource"`
	Warning      string            `json:"warning,omitempty"`
	Adjustment   num               `json:"adjustment"`
	TotalCost    num               `json:"totalCost"`
}

func newNodeJSON(n *cost.NodeAsset) *nodeJSON {
	pre := 0.0
	if n.Spot {
		pre = 1
	}
	return &nodeJSON{
		Type:         "Node",
		Properties:   assetPropsJSON{Category: "Compute", Provider: n.Provider, ProviderID: n.ProviderID, Cluster: n.Cluster, Name: n.Name},
		Labels:       n.Labels,
		Window:       windowJSON{n.Window.Start, n.Window.End},
		Start:        n.Start,
		End:          n.End,
		Minutes:      num(n.Minutes),
		NodeType:     n.InstanceType,
		Region:       n.Region,
		Zone:         n.Zone,
		CPUCores:     num(n.CPUCores),
		RAMBytes:     num(n.RAMBytes),
		GPUCount:     num(n.GPUs),
		CPUCoreHours: num(n.CPUCoreHours),
		RAMByteHours: num(n.RAMByteHours),
		GPUHours:     num(n.GPUHours),
		Preemptible:  num(pre),
		Discount:     num(n.Discount),
		CPUCost:      num(n.CPUCost),
		RAMCost:      num(n.RAMCost),
		GPUCost:      num(n.GPUCost),
		HourlyCPU:    num(n.HourlyCPU),
		HourlyRAM:    num(n.HourlyRAM),
		HourlyGPU:    num(n.HourlyGPU),
		PriceSource:  n.PriceSource,
		Warning:      n.PriceWarning,
		TotalCost:    num(n.TotalCost()),
	}
}

type diskJSON struct {
	Type         string         `json:"type"`
	Properties   assetPropsJSON `json:"properties"`
	Window       windowJSON     `json:"window"`
	Start        time.Time      `json:"start"`
	End          time.Time      `json:"end"`
	Minutes      num            `json:"minutes"`
	StorageClass string         `json:"storageClass"`
	Bytes        num            `json:"bytes"`
	ByteHours    num            `json:"byteHours"`
	TotalCost    num            `json:"totalCost"`
}

func newDiskJSON(d *cost.DiskAsset) *diskJSON {
	return &diskJSON{Type: "Disk", Properties: assetPropsJSON{Category: "Storage", ProviderID: d.ProviderID, Cluster: d.Cluster, Name: d.Name},
		Window: windowJSON{d.Window.Start, d.Window.End}, Start: d.Start, End: d.End, Minutes: num(d.Minutes),
		StorageClass: d.StorageClass, Bytes: num(d.Bytes), ByteHours: num(d.ByteHours), TotalCost: num(d.Cost)}
}

type lbJSON struct {
	Type       string         `json:"type"`
	Properties assetPropsJSON `json:"properties"`
	Window     windowJSON     `json:"window"`
	Start      time.Time      `json:"start"`
	End        time.Time      `json:"end"`
	Minutes    num            `json:"minutes"`
	TotalCost  num            `json:"totalCost"`
}

func newLBJSON(l *cost.LoadBalancerAsset) *lbJSON {
	return &lbJSON{Type: "LoadBalancer", Properties: assetPropsJSON{Category: "Network", Cluster: l.Cluster, Name: l.Name, Namespace: l.Namespace},
		Window: windowJSON{l.Window.Start, l.Window.End}, Start: l.Start, End: l.End, Minutes: num(l.Minutes), TotalCost: num(l.Cost)}
}
