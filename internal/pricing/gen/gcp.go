package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/costwarden/costwarden/internal/pricing"
)

// gcpType is one machine type of Google's published machine-type tables
// (cloud.google.com/compute/docs/general-purpose-machines, compute-optimized-machines,
// memory-optimized-machines, gpus): the catalog's shape, and what is billed.
type gcpType struct {
	series string // e2, n2, n2d, c2, g2, a2: the machine series whose SKUs price it
	shape  pricing.Shape
	// billedVCPUs is the vCPU count the price is for, when it differs from the vCPUs
	// the machine exposes (shared-core e2-medium: 2 vCPUs, billed as 1).
	billedVCPUs float64
	gpuKey      string // the pricing.yml key holding the GPU count (l4, a100)
}

func (t gcpType) billed() fitRow {
	cpu := t.shape.VCPUs
	if t.billedVCPUs > 0 {
		cpu = t.billedVCPUs
	}
	return fitRow{cpu: cpu, ram: t.shape.MemoryGiB, gpu: t.shape.GPUs}
}

// gcpTypes are the machine types the GCP catalog covers: general-purpose E2, N2 and
// N2D standard, compute-optimized C2, memory N2 highmem, and GPU G2 (L4) and A2 (A100).
// GCP's "GB" of machine memory is GiB (its SKUs are priced per GiB-hour).
func gcpTypes() map[string]gcpType {
	out := map[string]gcpType{
		"e2-medium": {series: "e2", shape: pricing.Shape{Family: "general-purpose", VCPUs: 2, MemoryGiB: 4}, billedVCPUs: 1},
	}
	add := func(series, prefix, kind string, gibPer float64, sizes []int, memory map[int]float64) {
		for _, n := range sizes {
			gib := gibPer * float64(n)
			if m, ok := memory[n]; ok {
				gib = m
			}
			out[prefix+strconv.Itoa(n)] = gcpType{series: series, shape: pricing.Shape{Family: kind, VCPUs: float64(n), MemoryGiB: gib}}
		}
	}
	add("e2", "e2-standard-", "general-purpose", 4, []int{2, 4, 8, 16, 32}, nil)
	add("n2", "n2-standard-", "general-purpose", 4, []int{2, 4, 8, 16, 32, 48, 64, 80, 96, 128}, nil)
	add("n2d", "n2d-standard-", "general-purpose", 4, []int{2, 4, 8, 16, 32, 48, 64, 80, 96, 128, 224}, nil)
	add("c2", "c2-standard-", "compute", 4, []int{4, 8, 16, 30, 60}, nil)
	add("n2", "n2-highmem-", "memory", 8, []int{2, 4, 8, 16, 32, 48, 64, 80, 96, 128}, map[int]float64{128: 864})
	// G2: 4 GiB per vCPU and one to eight NVIDIA L4.
	for n, gpus := range map[int]float64{4: 1, 8: 1, 12: 1, 16: 1, 24: 2, 32: 1, 48: 4, 96: 8} {
		out["g2-standard-"+strconv.Itoa(n)] = gcpType{series: "g2", gpuKey: "l4", shape: pricing.Shape{
			Family: "gpu", VCPUs: float64(n), MemoryGiB: 4 * float64(n), GPUs: gpus, GPUModel: "NVIDIA L4"}}
	}
	// A2 high-GPU: per A100 40GB, 12 vCPUs and 85 GiB.
	for _, g := range []int{1, 2, 4, 8} {
		out["a2-highgpu-"+strconv.Itoa(g)+"g"] = gcpType{series: "a2", gpuKey: "a100", shape: pricing.Shape{
			Family: "gpu", VCPUs: 12 * float64(g), MemoryGiB: 85 * float64(g), GPUs: float64(g), GPUModel: "NVIDIA A100 40GB"}}
	}
	return out
}

// cyclenerdFile is the part of pricing.yml the generator reads.
type cyclenerdFile struct {
	About struct {
		Generated string `yaml:"generated"`
	} `yaml:"about"`
	Compute struct {
		Instance map[string]cyclenerdType `yaml:"instance"`
	} `yaml:"compute"`
}

type cyclenerdType struct {
	Cost map[string]struct {
		Hour     float64 `yaml:"hour"`
		HourSpot float64 `yaml:"hour_spot"`
	} `yaml:"cost"`
	CPU   float64        `yaml:"cpu"`
	RAM   float64        `yaml:"ram"`
	Other map[string]any `yaml:",inline"` // GPU counts (a100, l4, ...) and more
}

// FromCyclenerd reads Cyclenerd's pricing.yml (or an excerpt in its layout) and keeps
// the covered machine types in the given regions. Published on-demand (hour) and spot
// (hour_spot) prices are taken as they are; a covered size the source does not list in
// a region is derived from the series' per-resource rates there, which must reproduce
// every published size of the series in that region (and at least two more sizes than
// the rates it has), else the generator stops.
func FromCyclenerd(src []byte, source, retrieved string, regions []string) (*pricing.Catalog, error) {
	var f cyclenerdFile
	if err := yaml.Unmarshal(src, &f); err != nil {
		return nil, err
	}
	if len(f.Compute.Instance) == 0 {
		return nil, errors.New("no compute.instance machine types in the GCP source")
	}
	published := ""
	if f.About.Generated != "" {
		t, err := time.Parse("Mon Jan _2 15:04:05 2006", f.About.Generated)
		if err != nil {
			return nil, fmt.Errorf("about.generated: %w", err)
		}
		published = t.UTC().Format(time.RFC3339)
	}
	types := gcpTypes()
	// The source's own counts must agree with the published machine-type tables.
	for name, t := range types {
		st, ok := f.Compute.Instance[name]
		if !ok {
			continue
		}
		b := t.billed()
		gpus := 0.0
		if t.gpuKey != "" {
			gpus, _ = toFloat(st.Other[t.gpuKey])
		}
		if st.CPU != b.cpu || st.RAM != b.ram || gpus != b.gpu {
			return nil, fmt.Errorf("%s: source says cpu %v, ram %v, gpus %v; the machine-type table says %v, %v, %v",
				name, st.CPU, st.RAM, gpus, b.cpu, b.ram, b.gpu)
		}
	}
	c := &pricing.Catalog{Provider: "gcp", Currency: "USD", InstanceTypes: map[string]pricing.Shape{}, Regions: map[string]map[string]pricing.Price{}}
	series := map[string][]string{}
	for name, t := range types {
		series[t.series] = append(series[t.series], name)
	}
	var derivedNotes []string
	for _, region := range regions {
		prices := map[string]pricing.Price{}
		var derived []string
		for _, s := range sortedKeys(series) {
			names := series[s]
			slices.Sort(names)
			var pubOD, pubSpot, all []fitRow
			var missing []string
			for _, name := range names {
				row := types[name].billed()
				all = append(all, row)
				cost, ok := f.Compute.Instance[name].Cost[region]
				if !ok || cost.Hour <= 0 {
					missing = append(missing, name)
					continue
				}
				p := pricing.Price{OnDemand: cost.Hour, Spot: cost.HourSpot}
				prices[name] = p
				od := row
				od.price = cost.Hour
				pubOD = append(pubOD, od)
				if cost.HourSpot > 0 {
					sp := row
					sp.price = cost.HourSpot
					pubSpot = append(pubSpot, sp)
				}
			}
			if len(pubOD) == 0 {
				continue // the series is not offered (or not transcribed) in this region
			}
			odFit, err := checkedFit(pubOD, all, region, s, "on-demand")
			if err != nil {
				return nil, err
			}
			var spotFit *linearFit
			if len(pubSpot) > 0 {
				if spotFit, err = checkedFit(pubSpot, all, region, s, "spot"); err != nil {
					return nil, err
				}
			}
			for _, name := range missing {
				if odFit == nil {
					continue // too few published sizes to derive and check it: left out
				}
				row := types[name].billed()
				p := pricing.Price{OnDemand: odFit.price(row)}
				if spotFit != nil {
					p.Spot = spotFit.price(row)
				}
				prices[name] = p
				derived = append(derived, name)
			}
		}
		if len(prices) == 0 {
			return nil, fmt.Errorf("region %s: no covered machine type priced in the source", region)
		}
		for name := range prices {
			c.InstanceTypes[name] = types[name].shape
		}
		c.Regions[region] = prices
		if len(derived) > 0 {
			slices.Sort(derived)
			derivedNotes = append(derivedNotes, region+": "+strings.Join(derived, ", "))
		}
	}
	c.Version = retrieved
	if published != "" {
		c.Version = published[:10]
	}
	note := "On-demand is the source's hour price, spot its hour_spot price (Spot VMs), Linux, per machine type and region."
	if len(derivedNotes) > 0 {
		note += " Derived, not published in the transcribed excerpt (each computed from its machine series' per-vCPU, per-GiB " +
			"and per-GPU rates in the region, fitted to and reproducing every published size of the series there to a millionth): " +
			strings.Join(derivedNotes, "; ") + "."
	}
	c.Sources = []pricing.Source{{
		Regions: c.RegionNames(), Source: source, Published: published, Retrieved: retrieved, Note: note,
	}}
	return c, nil
}

// checkedFit fits the series' rates and checks them against every published size, so
// that a source that is not linear, or a mistranscribed figure, stops the generator.
// It returns nil (derive nothing) unless the rates rest on at least two more published
// sizes than there are rates, all reproduced.
func checkedFit(published, all []fitRow, region, series, what string) (*linearFit, error) {
	l, err := fit(published, all)
	if err != nil {
		return nil, nil // the published sizes do not determine the rates: derive nothing
	}
	if len(published) <= len(l.rates) {
		return nil, nil // nothing left over to check the rates against: derive nothing
	}
	for _, x := range published {
		if got := l.price(x); !agrees(got, x.price) {
			return nil, fmt.Errorf("%s series %s (%s): published %v for %v vCPU / %v GiB / %v GPU, but the series' rates give %v: "+
				"the source is not linear here (or was mistranscribed)", region, series, what, x.price, x.cpu, x.ram, x.gpu, got)
		}
	}
	if len(published) < len(l.rates)+2 {
		return nil, nil // derived prices must be checked against two sizes beyond the rates
	}
	return l, nil
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
