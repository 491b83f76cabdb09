package main

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/costwarden/costwarden/internal/pricing"
)

// azureSeries is a VM series the Azure catalog covers, with its sizes as Microsoft's
// published size tables (learn.microsoft.com/azure/virtual-machines/sizes) give them.
type azureSeries struct {
	name   string // Dsv5
	kind   string
	format string // size name with %d for the vCPU count
	sizes  []int  // vCPU counts
	gibPer float64
	memory map[int]float64 // sizes whose memory is not gibPer per vCPU
	// names maps size numbers in names to vCPUs where they differ (Dv2: D3 has 4).
	names map[int]int
}

var dv2Names = map[int]int{1: 1, 2: 2, 3: 4, 4: 8, 5: 16}

// azureSeriesTable lists the general-purpose (D), compute (F) and memory (E) series the
// catalog covers.
var azureSeriesTable = []azureSeries{
	{name: "Dv5", kind: "general-purpose", format: "Standard_D%d_v5", sizes: []int{2, 4, 8, 16, 32, 48, 64, 96}, gibPer: 4},
	{name: "Dsv5", kind: "general-purpose", format: "Standard_D%ds_v5", sizes: []int{2, 4, 8, 16, 32, 48, 64, 96}, gibPer: 4},
	{name: "Ddsv5", kind: "general-purpose", format: "Standard_D%dds_v5", sizes: []int{2, 4, 8, 16, 32, 48, 64, 96}, gibPer: 4},
	{name: "Dasv5", kind: "general-purpose", format: "Standard_D%das_v5", sizes: []int{2, 4, 8, 16, 32, 48, 64, 96}, gibPer: 4},
	{name: "Dsv4", kind: "general-purpose", format: "Standard_D%ds_v4", sizes: []int{2, 4, 8, 16, 32, 48, 64}, gibPer: 4},
	{name: "Ddsv4", kind: "general-purpose", format: "Standard_D%dds_v4", sizes: []int{2, 4, 8, 16, 32, 48, 64}, gibPer: 4},
	{name: "Dsv3", kind: "general-purpose", format: "Standard_D%ds_v3", sizes: []int{2, 4, 8, 16, 32, 48, 64}, gibPer: 4},
	{name: "Dv2", kind: "general-purpose", format: "Standard_D%d_v2", sizes: []int{1, 2, 3, 4, 5}, gibPer: 3.5, names: dv2Names},
	{name: "DSv2", kind: "general-purpose", format: "Standard_DS%d_v2", sizes: []int{1, 2, 3, 4, 5}, gibPer: 3.5, names: dv2Names},
	{name: "Fsv2", kind: "compute", format: "Standard_F%ds_v2", sizes: []int{2, 4, 8, 16, 32, 48, 64, 72}, gibPer: 2},
	{name: "Ev5", kind: "memory", format: "Standard_E%d_v5", sizes: []int{2, 4, 8, 16, 20, 32, 48, 64, 96}, gibPer: 8, memory: map[int]float64{96: 672}},
	{name: "Esv5", kind: "memory", format: "Standard_E%ds_v5", sizes: []int{2, 4, 8, 16, 20, 32, 48, 64, 96}, gibPer: 8, memory: map[int]float64{96: 672}},
	{name: "Edsv5", kind: "memory", format: "Standard_E%dds_v5", sizes: []int{2, 4, 8, 16, 20, 32, 48, 64, 96}, gibPer: 8, memory: map[int]float64{96: 672}},
	{name: "Easv5", kind: "memory", format: "Standard_E%das_v5", sizes: []int{2, 4, 8, 16, 20, 32, 48, 64, 96}, gibPer: 8, memory: map[int]float64{96: 672}},
	{name: "Esv4", kind: "memory", format: "Standard_E%ds_v4", sizes: []int{2, 4, 8, 16, 20, 32, 48, 64}, gibPer: 8, memory: map[int]float64{64: 504}},
}

// azureGPUShapes are the GPU sizes covered (NCasT4_v3, NCv3, NC A100 v4, ND A100 v4,
// ND H100 v5, NDv2, NVadsA10 v5), from Microsoft's published size tables.
var azureGPUShapes = map[string]pricing.Shape{
	"Standard_NC4as_T4_v3":      {VCPUs: 4, MemoryGiB: 28, GPUs: 1, GPUModel: "NVIDIA T4"},
	"Standard_NC8as_T4_v3":      {VCPUs: 8, MemoryGiB: 56, GPUs: 1, GPUModel: "NVIDIA T4"},
	"Standard_NC16as_T4_v3":     {VCPUs: 16, MemoryGiB: 110, GPUs: 1, GPUModel: "NVIDIA T4"},
	"Standard_NC64as_T4_v3":     {VCPUs: 64, MemoryGiB: 440, GPUs: 4, GPUModel: "NVIDIA T4"},
	"Standard_NC6s_v3":          {VCPUs: 6, MemoryGiB: 112, GPUs: 1, GPUModel: "NVIDIA V100"},
	"Standard_NC12s_v3":         {VCPUs: 12, MemoryGiB: 224, GPUs: 2, GPUModel: "NVIDIA V100"},
	"Standard_NC24s_v3":         {VCPUs: 24, MemoryGiB: 448, GPUs: 4, GPUModel: "NVIDIA V100"},
	"Standard_NC24rs_v3":        {VCPUs: 24, MemoryGiB: 448, GPUs: 4, GPUModel: "NVIDIA V100"},
	"Standard_NC24ads_A100_v4":  {VCPUs: 24, MemoryGiB: 220, GPUs: 1, GPUModel: "NVIDIA A100 80GB"},
	"Standard_NC48ads_A100_v4":  {VCPUs: 48, MemoryGiB: 440, GPUs: 2, GPUModel: "NVIDIA A100 80GB"},
	"Standard_NC96ads_A100_v4":  {VCPUs: 96, MemoryGiB: 880, GPUs: 4, GPUModel: "NVIDIA A100 80GB"},
	"Standard_ND96asr_v4":       {VCPUs: 96, MemoryGiB: 900, GPUs: 8, GPUModel: "NVIDIA A100 40GB"},
	"Standard_ND96amsr_A100_v4": {VCPUs: 96, MemoryGiB: 1900, GPUs: 8, GPUModel: "NVIDIA A100 80GB"},
	"Standard_ND96isr_H100_v5":  {VCPUs: 96, MemoryGiB: 1900, GPUs: 8, GPUModel: "NVIDIA H100"},
	"Standard_ND40rs_v2":        {VCPUs: 40, MemoryGiB: 672, GPUs: 8, GPUModel: "NVIDIA V100 32GB"},
	"Standard_NV36ads_A10_v5":   {VCPUs: 36, MemoryGiB: 440, GPUs: 1, GPUModel: "NVIDIA A10"},
	"Standard_NV72ads_A10_v5":   {VCPUs: 72, MemoryGiB: 880, GPUs: 2, GPUModel: "NVIDIA A10"},
}

// azureSize is one covered size name with its series (empty for GPU sizes) and shape.
type azureSize struct {
	series string
	shape  pricing.Shape
}

func azureSizes() map[string]azureSize {
	out := map[string]azureSize{}
	for _, s := range azureSeriesTable {
		for _, n := range s.sizes {
			vcpu := n
			if v, ok := s.names[n]; ok {
				vcpu = v
			}
			gib := s.gibPer * float64(vcpu)
			if m, ok := s.memory[vcpu]; ok {
				gib = m
			}
			out[fmt.Sprintf(s.format, n)] = azureSize{series: s.name, shape: pricing.Shape{Family: s.kind, VCPUs: float64(vcpu), MemoryGiB: gib}}
		}
	}
	for name, sh := range azureGPUShapes {
		sh.Family = "gpu"
		out[name] = azureSize{shape: sh}
	}
	return out
}

// azureConsistency is how far (relative) a size's per-vCPU price may stray from its
// series' median in the region before the series is left out there: Azure prices a
// series' sizes in proportion to their vCPUs, and the source sometimes carries another
// meter's price (Windows, a promotion) for some sizes.
const azureConsistency = 0.01

// FromAzureKarpenter reads the Karpenter Azure provider's generated price table (an
// init function assigning initialOnDemandPrices[region] = map of size -> $/hour), or an
// excerpt of it, and keeps the covered sizes in the given regions.
func FromAzureKarpenter(src []byte, source, retrieved string, regions []string) (*pricing.Catalog, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "zz_generated.pricing.go", src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	published := ""
	if m := azureGeneratedRe.FindSubmatch(src); m != nil {
		published = string(m[1])
	}
	all := map[string]map[string]float64{}
	ast.Inspect(f, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
			return true
		}
		ix, ok := as.Lhs[0].(*ast.IndexExpr)
		if !ok {
			return true
		}
		if id, ok := ix.X.(*ast.Ident); !ok || id.Name != "initialOnDemandPrices" {
			return true
		}
		region, err1 := stringLit(ix.Index)
		lit, ok := as.Rhs[0].(*ast.CompositeLit)
		if err1 != nil || !ok {
			err = fmt.Errorf("%s: unexpected assignment to initialOnDemandPrices", fset.Position(as.Pos()))
			return false
		}
		prices := map[string]float64{}
		for _, e := range lit.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				err = fmt.Errorf("%s: unexpected element", fset.Position(e.Pos()))
				return false
			}
			name, err1 := stringLit(kv.Key)
			bl, ok := kv.Value.(*ast.BasicLit)
			if err1 != nil || !ok || (bl.Kind != token.FLOAT && bl.Kind != token.INT) {
				err = fmt.Errorf("%s: expected \"size\": price", fset.Position(kv.Pos()))
				return false
			}
			v, err1 := strconv.ParseFloat(bl.Value, 64)
			if err1 != nil {
				err = err1
				return false
			}
			prices[name] = v
		}
		all[region] = prices
		return false
	})
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, errors.New("no initialOnDemandPrices[region] assignments in the Azure source")
	}
	sizes := azureSizes()
	c := &pricing.Catalog{Provider: "azure", Currency: "USD", InstanceTypes: map[string]pricing.Shape{}, Regions: map[string]map[string]pricing.Price{}}
	var dropNotes []string
	for _, region := range regions {
		src, ok := all[region]
		if !ok {
			return nil, fmt.Errorf("region %s is not in the Azure source", region)
		}
		prices := map[string]pricing.Price{}
		perVCPU := map[string][]float64{}
		for name, p := range src {
			sz, ok := sizes[name]
			if !ok || !(p > 0) {
				continue
			}
			prices[name] = pricing.Price{OnDemand: p}
			if sz.series != "" {
				perVCPU[sz.series] = append(perVCPU[sz.series], p/sz.shape.VCPUs)
			}
		}
		var dropped []string
		for _, s := range sortedKeys(perVCPU) {
			if consistent(perVCPU[s]) {
				continue
			}
			dropped = append(dropped, s)
			for name := range prices {
				if sizes[name].series == s {
					delete(prices, name)
				}
			}
		}
		if len(prices) == 0 {
			return nil, fmt.Errorf("region %s: no covered size priced in the Azure source", region)
		}
		for name := range prices {
			c.InstanceTypes[name] = sizes[name].shape
		}
		c.Regions[region] = prices
		if len(dropped) > 0 {
			dropNotes = append(dropNotes, region+": "+strings.Join(dropped, ", "))
		}
	}
	c.Version = retrieved
	if published != "" {
		c.Version = published[:min(10, len(published))]
	}
	note := "Pay-as-you-go Linux prices per VM size and region; Azure publishes spot prices that follow capacity, so none are listed."
	if len(dropNotes) > 0 {
		note += " Left out because the source's sizes of the series disagree on the per-vCPU price by more than 1 % " +
			"(the source carries another meter's price for some sizes): " + strings.Join(dropNotes, "; ") + "."
	}
	c.Sources = []pricing.Source{{Regions: c.RegionNames(), Source: source, Published: published, Retrieved: retrieved, Note: note}}
	return c, nil
}

// consistent reports whether per-vCPU prices agree with their median within
// azureConsistency.
func consistent(v []float64) bool {
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	for _, x := range s {
		if math.Abs(x-med) > azureConsistency*med {
			return false
		}
	}
	return true
}

var azureGeneratedRe = regexp.MustCompile(`generated at (\S+)`)
