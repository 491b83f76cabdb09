// Package pricing turns a node, a volume or a load balancer into hourly prices:
// custom prices (always available, the air-gapped default), and later bundled cloud
// catalogs, spot prices and discounts.
//
// It owns price lookup and the split of a node's price into CPU, RAM and GPU parts
// (COST_MODEL.md section 2). It must not do I/O at query time: catalogs are loaded
// once, and this package imports no network, database or file-system code.
package pricing

import (
	"errors"
	"fmt"
	"math"

	"github.com/costwarden/costwarden/internal/cost"
)

// GiB is 2^30 bytes, the unit of RAM and storage prices.
const GiB = 1 << 30

// HoursPerMonth converts monthly prices (storage) to hourly: hourly = monthly / 730.
const HoursPerMonth = 730

// Custom holds the custom prices of COST_MODEL.md section 2.
type Custom struct {
	CPU          float64 // $ per core-hour
	RAM          float64 // $ per GiB-hour
	GPU          float64 // $ per GPU-hour
	Storage      float64 // $ per GiB-month
	LoadBalancer float64 // $ per hour
	SpotCPU      float64 // $ per core-hour on spot nodes; 0 = same as CPU
	SpotRAM      float64 // $ per GiB-hour on spot nodes; 0 = same as RAM
}

// DefaultCustom are list-price-like defaults, close to the on-demand price of a
// general-purpose cloud core and GiB, so a fresh install shows plausible numbers.
func DefaultCustom() Custom {
	return Custom{
		CPU:          0.031611,
		RAM:          0.004237,
		GPU:          0.95,
		Storage:      0.04,
		LoadBalancer: 0.025,
		SpotCPU:      0.006655,
		SpotRAM:      0.000892,
	}
}

// Validate reports the first invalid field by its config name.
func (c Custom) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"cpu", c.CPU}, {"ram", c.RAM}, {"gpu", c.GPU}, {"storage", c.Storage},
		{"loadBalancer", c.LoadBalancer}, {"spotCPU", c.SpotCPU}, {"spotRAM", c.SpotRAM},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("%s: must be a finite, non-negative price, got %v", f.name, f.v)
		}
	}
	if c.CPU == 0 && c.RAM == 0 && c.GPU == 0 {
		return errors.New("cpu, ram, gpu: at least one must be positive, or every node costs nothing")
	}
	return nil
}

// NodePrice is the hourly price of one node, split by resource.
type NodePrice struct {
	CPU float64 // $ per core-hour on this node
	RAM float64 // $ per GiB-hour on this node
	GPU float64 // $ per GPU-hour on this node
	// Discount is the fraction already applied to the rates above (0.1 = 10 %).
	Discount float64
	Spot     bool
	Source   string // "custom" or a catalog id
	Warning  string // non-empty when the price could not be determined exactly
}

// Hourly is the node's whole hourly price at the given capacity.
func (p NodePrice) Hourly(cores, ramBytes, gpus float64) float64 {
	return cores*p.CPU + ramBytes/GiB*p.RAM + gpus*p.GPU
}

// Pricer prices the parts of a cluster. It is safe for concurrent use and pure.
type Pricer struct {
	custom Custom
}

// New returns a Pricer using custom prices.
func New(custom Custom) (*Pricer, error) {
	if err := custom.Validate(); err != nil {
		return nil, fmt.Errorf("pricing.custom.%w", err)
	}
	return &Pricer{custom: custom}, nil
}

// Custom returns the custom prices in use.
func (p *Pricer) Custom() Custom { return p.custom }

// Node returns the node's hourly rates.
func (p *Pricer) Node(n *cost.Node) NodePrice {
	c := p.custom
	np := NodePrice{CPU: c.CPU, RAM: c.RAM, GPU: c.GPU, Source: "custom"}
	if n.CapacityType == cost.CapacitySpot {
		np.Spot = true
		if c.SpotCPU > 0 {
			np.CPU = c.SpotCPU
		}
		if c.SpotRAM > 0 {
			np.RAM = c.SpotRAM
		}
	}
	return np
}

// VolumeHourly is the hourly price of a volume of the given size and storage class.
func (p *Pricer) VolumeHourly(storageClass string, bytes float64) float64 {
	return bytes / GiB * p.custom.Storage / HoursPerMonth
}

// LoadBalancerHourly is the hourly price of one LoadBalancer service.
func (p *Pricer) LoadBalancerHourly() float64 { return p.custom.LoadBalancer }
