package main

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"

	"github.com/costwarden/costwarden/internal/pricing"
)

// awsFamilies are the families the catalog covers, with their kind and GiB per vCPU
// (as AWS publishes them for every size of the family).
var awsFamilies = map[string]struct {
	kind   string
	gibPer float64
}{
	"m5": {"general-purpose", 4}, "m5a": {"general-purpose", 4}, "m6i": {"general-purpose", 4}, "m6a": {"general-purpose", 4},
	"m6g": {"general-purpose", 4}, "m7i": {"general-purpose", 4}, "m7a": {"general-purpose", 4}, "m7g": {"general-purpose", 4},
	"c5": {"compute", 2}, "c5a": {"compute", 2}, "c6i": {"compute", 2}, "c6a": {"compute", 2}, "c6g": {"compute", 2},
	"c7i": {"compute", 2}, "c7a": {"compute", 2}, "c7g": {"compute", 2},
	"r5": {"memory", 8}, "r5a": {"memory", 8}, "r6i": {"memory", 8}, "r6a": {"memory", 8}, "r6g": {"memory", 8},
	"r7i": {"memory", 8}, "r7a": {"memory", 8}, "r7g": {"memory", 8},
}

// awsGPUShapes are AWS's published shapes of the GPU instance types covered
// (vCPUs, GiB, GPUs, GPU model).
var awsGPUShapes = map[string]pricing.Shape{
	"g4dn.xlarge": {VCPUs: 4, MemoryGiB: 16, GPUs: 1, GPUModel: "NVIDIA T4"}, "g4dn.2xlarge": {VCPUs: 8, MemoryGiB: 32, GPUs: 1, GPUModel: "NVIDIA T4"},
	"g4dn.4xlarge": {VCPUs: 16, MemoryGiB: 64, GPUs: 1, GPUModel: "NVIDIA T4"}, "g4dn.8xlarge": {VCPUs: 32, MemoryGiB: 128, GPUs: 1, GPUModel: "NVIDIA T4"},
	"g4dn.12xlarge": {VCPUs: 48, MemoryGiB: 192, GPUs: 4, GPUModel: "NVIDIA T4"}, "g4dn.16xlarge": {VCPUs: 64, MemoryGiB: 256, GPUs: 1, GPUModel: "NVIDIA T4"},
	"g4dn.metal": {VCPUs: 96, MemoryGiB: 384, GPUs: 8, GPUModel: "NVIDIA T4"},
	"g5.xlarge":  {VCPUs: 4, MemoryGiB: 16, GPUs: 1, GPUModel: "NVIDIA A10G"}, "g5.2xlarge": {VCPUs: 8, MemoryGiB: 32, GPUs: 1, GPUModel: "NVIDIA A10G"},
	"g5.4xlarge": {VCPUs: 16, MemoryGiB: 64, GPUs: 1, GPUModel: "NVIDIA A10G"}, "g5.8xlarge": {VCPUs: 32, MemoryGiB: 128, GPUs: 1, GPUModel: "NVIDIA A10G"},
	"g5.12xlarge": {VCPUs: 48, MemoryGiB: 192, GPUs: 4, GPUModel: "NVIDIA A10G"}, "g5.16xlarge": {VCPUs: 64, MemoryGiB: 256, GPUs: 1, GPUModel: "NVIDIA A10G"},
	"g5.24xlarge": {VCPUs: 96, MemoryGiB: 384, GPUs: 4, GPUModel: "NVIDIA A10G"}, "g5.48xlarge": {VCPUs: 192, MemoryGiB: 768, GPUs: 8, GPUModel: "NVIDIA A10G"},
	"g6.xlarge": {VCPUs: 4, MemoryGiB: 16, GPUs: 1, GPUModel: "NVIDIA L4"}, "g6.2xlarge": {VCPUs: 8, MemoryGiB: 32, GPUs: 1, GPUModel: "NVIDIA L4"},
	"g6.4xlarge": {VCPUs: 16, MemoryGiB: 64, GPUs: 1, GPUModel: "NVIDIA L4"}, "g6.8xlarge": {VCPUs: 32, MemoryGiB: 128, GPUs: 1, GPUModel: "NVIDIA L4"},
	"g6.12xlarge": {VCPUs: 48, MemoryGiB: 192, GPUs: 4, GPUModel: "NVIDIA L4"}, "g6.16xlarge": {VCPUs: 64, MemoryGiB: 256, GPUs: 1, GPUModel: "NVIDIA L4"},
	"g6.24xlarge": {VCPUs: 96, MemoryGiB: 384, GPUs: 4, GPUModel: "NVIDIA L4"}, "g6.48xlarge": {VCPUs: 192, MemoryGiB: 768, GPUs: 8, GPUModel: "NVIDIA L4"},
	"p3.2xlarge": {VCPUs: 8, MemoryGiB: 61, GPUs: 1, GPUModel: "NVIDIA V100"}, "p3.8xlarge": {VCPUs: 32, MemoryGiB: 244, GPUs: 4, GPUModel: "NVIDIA V100"},
	"p3.16xlarge":  {VCPUs: 64, MemoryGiB: 488, GPUs: 8, GPUModel: "NVIDIA V100"},
	"p4d.24xlarge": {VCPUs: 96, MemoryGiB: 1152, GPUs: 8, GPUModel: "NVIDIA A100"},
	"p5.48xlarge":  {VCPUs: 192, MemoryGiB: 2048, GPUs: 8, GPUModel: "NVIDIA H100"},
}

var sizeRe = regexp.MustCompile(`^([a-z0-9]+)\.(medium|large|xlarge|(\d+)xlarge)$`)

// awsShape derives the shape of a covered instance type, or reports false.
func awsShape(it string) (pricing.Shape, bool) {
	if s, ok := awsGPUShapes[it]; ok {
		s.Family = "gpu"
		return s, true
	}
	m := sizeRe.FindStringSubmatch(it)
	if m == nil {
		return pricing.Shape{}, false // metal and other irregular sizes are left out
	}
	fam, ok := awsFamilies[m[1]]
	if !ok {
		return pricing.Shape{}, false
	}
	var vcpu float64
	switch m[2] {
	case "medium":
		vcpu = 1
	case "large":
		vcpu = 2
	case "xlarge":
		vcpu = 4
	default:
		n, _ := strconv.Atoi(m[3])
		vcpu = float64(4 * n)
	}
	return pricing.Shape{Family: fam.kind, VCPUs: vcpu, MemoryGiB: vcpu * fam.gibPer}, true
}

var generatedRe = regexp.MustCompile(`generated at (\S+) for`)

// FromKarpenter reads Karpenter's generated Go price table (a map literal of region
// -> instance type -> $/hour) and keeps the covered families.
func FromKarpenter(src []byte, module, retrieved string) (*pricing.Catalog, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "zz_generated.pricing_aws.go", src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	published := ""
	if m := generatedRe.FindSubmatch(src); m != nil {
		published = string(m[1])
	}
	c := &pricing.Catalog{Provider: "aws", Currency: "USD", InstanceTypes: map[string]pricing.Shape{}, Regions: map[string]map[string]pricing.Price{}}
	var lit *ast.CompositeLit
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Names) == 1 && strings.HasPrefix(vs.Names[0].Name, "InitialOnDemandPrices") && len(vs.Values) == 1 {
			lit, _ = vs.Values[0].(*ast.CompositeLit)
		}
		return lit == nil
	})
	if lit == nil {
		return nil, errors.New("no InitialOnDemandPrices map literal in the AWS source")
	}
	for _, e := range lit.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			return nil, fmt.Errorf("%s: unexpected element", fset.Position(e.Pos()))
		}
		region, err := stringLit(kv.Key)
		if err != nil {
			return nil, err
		}
		types, ok := kv.Value.(*ast.CompositeLit)
		if !ok {
			return nil, fmt.Errorf("%s: region %s is not a map literal", fset.Position(kv.Pos()), region)
		}
		prices := map[string]pricing.Price{}
		for _, te := range types.Elts {
			tkv, ok := te.(*ast.KeyValueExpr)
			if !ok {
				return nil, fmt.Errorf("%s: unexpected element", fset.Position(te.Pos()))
			}
			it, err := stringLit(tkv.Key)
			if err != nil {
				return nil, err
			}
			bl, ok := tkv.Value.(*ast.BasicLit)
			if !ok || bl.Kind != token.FLOAT && bl.Kind != token.INT {
				return nil, fmt.Errorf("%s: price of %s is not a number", fset.Position(tkv.Pos()), it)
			}
			v, err := strconv.ParseFloat(bl.Value, 64)
			if err != nil {
				return nil, err
			}
			shape, ok := awsShape(it)
			if !ok || v <= 0 {
				continue
			}
			c.InstanceTypes[it] = shape
			prices[it] = pricing.Price{OnDemand: v}
		}
		if len(prices) > 0 {
			c.Regions[region] = prices
		}
	}
	regions := c.RegionNames()
	c.Version = retrieved
	if published != "" {
		c.Version = published[:min(10, len(published))]
	}
	c.Sources = []pricing.Source{{
		Regions: regions, Source: module + " pkg/providers/pricing/zz_generated.pricing_aws.go (Karpenter's generated on-demand prices, Linux, shared tenancy)",
		Published: published, Retrieved: retrieved,
	}}
	return c, nil
}

func stringLit(e ast.Expr) (string, error) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", fmt.Errorf("expected a string literal, got %T", e)
	}
	return strconv.Unquote(bl.Value)
}
