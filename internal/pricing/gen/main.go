// Command gen writes costwarden's bundled price catalogs (internal/pricing/catalogs)
// from published sources, so they can be refreshed:
//
//   - AWS: the on-demand price table that the Karpenter AWS provider generates into
//     its Go module (pkg/providers/pricing/zz_generated.pricing_aws.go of
//     github.com/aws/karpenter-provider-aws). Pass the file with -aws; fetch the
//     module with `go mod download -json github.com/aws/karpenter-provider-aws@VERSION`
//     and pass -aws-module with the version so it is recorded.
//   - GCP, Azure: published list prices transcribed into a CSV (-published), one row
//     per region and instance type, each with its source URL and retrieval date.
//
// It reads only the files it is given and writes one JSON catalog per provider. It
// owns the conversion; pricing reads the result.
package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/costwarden/costwarden/internal/pricing"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(args []string, log io.Writer) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	aws := fs.String("aws", "", "zz_generated.pricing_aws.go of the Karpenter AWS provider")
	awsModule := fs.String("aws-module", "", "module@version the -aws file comes from (recorded as the source)")
	retrieved := fs.String("retrieved", "", "date the sources were read (YYYY-MM-DD)")
	published := fs.String("published", "", "CSV of published list prices (GCP, Azure)")
	out := fs.String("out", "internal/pricing/catalogs", "directory to write <provider>.json into")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *retrieved == "" {
		return errors.New("-retrieved is required (the date the sources were read)")
	}
	var cats []*pricing.Catalog
	if *aws != "" {
		src, err := os.ReadFile(*aws)
		if err != nil {
			return err
		}
		c, err := FromKarpenter(src, *awsModule, *retrieved)
		if err != nil {
			return err
		}
		cats = append(cats, c)
	}
	if *published != "" {
		f, err := os.Open(*published)
		if err != nil {
			return err
		}
		cs, err := FromPublished(f)
		f.Close()
		if err != nil {
			return err
		}
		cats = append(cats, cs...)
	}
	if len(cats) == 0 {
		return errors.New("nothing to do: give -aws and/or -published")
	}
	for _, c := range cats {
		if err := c.Validate(); err != nil {
			return err
		}
		b, err := json.MarshalIndent(c, "", " ")
		if err != nil {
			return err
		}
		path := filepath.Join(*out, c.Provider+".json")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			return err
		}
		n := 0
		for _, r := range c.Regions {
			n += len(r)
		}
		fmt.Fprintf(log, "gen: wrote %s: %d regions, %d prices\n", path, len(c.Regions), n)
	}
	return nil
}

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

// publishedColumns is the header of the -published CSV.
var publishedColumns = []string{"provider", "region", "instanceType", "family", "vcpu", "memoryGiB", "gpus", "gpuModel", "onDemand", "spot", "source", "retrieved", "version"}

// FromPublished reads transcribed list prices: one row per (provider, region,
// instance type) with its shape, on-demand and (optional) spot price, and source.
func FromPublished(r io.Reader) ([]*pricing.Catalog, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	head, err := cr.Read()
	if err != nil {
		return nil, err
	}
	if !slices.Equal(head, publishedColumns) {
		return nil, fmt.Errorf("published CSV header %v, want %v", head, publishedColumns)
	}
	cats := map[string]*pricing.Catalog{}
	type srcKey struct{ provider, source, retrieved string }
	srcRegions := map[srcKey]map[string]bool{}
	line := 1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			return nil, err
		}
		num := func(i int) (float64, error) {
			if rec[i] == "" {
				return 0, nil
			}
			v, err := strconv.ParseFloat(rec[i], 64)
			if err != nil {
				return 0, fmt.Errorf("line %d: %s: %w", line, publishedColumns[i], err)
			}
			return v, nil
		}
		var vals [5]float64
		for k, i := range []int{4, 5, 6, 8, 9} {
			if vals[k], err = num(i); err != nil {
				return nil, err
			}
		}
		prov, region, it := rec[0], rec[1], rec[2]
		c := cats[prov]
		if c == nil {
			c = &pricing.Catalog{Provider: prov, Currency: "USD", Version: rec[12], InstanceTypes: map[string]pricing.Shape{}, Regions: map[string]map[string]pricing.Price{}}
			cats[prov] = c
		}
		if rec[12] > c.Version {
			c.Version = rec[12]
		}
		shape := pricing.Shape{Family: rec[3], VCPUs: vals[0], MemoryGiB: vals[1], GPUs: vals[2], GPUModel: rec[7]}
		if old, ok := c.InstanceTypes[it]; ok && old != shape {
			return nil, fmt.Errorf("line %d: %s %s: shape %+v differs from an earlier row's %+v", line, prov, it, shape, old)
		}
		c.InstanceTypes[it] = shape
		if c.Regions[region] == nil {
			c.Regions[region] = map[string]pricing.Price{}
		}
		c.Regions[region][it] = pricing.Price{OnDemand: vals[3], Spot: vals[4]}
		k := srcKey{prov, rec[10], rec[11]}
		if srcRegions[k] == nil {
			srcRegions[k] = map[string]bool{}
		}
		srcRegions[k][region] = true
	}
	keys := make([]srcKey, 0, len(srcRegions))
	for k := range srcRegions {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b srcKey) int { return strings.Compare(a.provider+a.source, b.provider+b.source) })
	for _, k := range keys {
		var regions []string
		for r := range srcRegions[k] {
			regions = append(regions, r)
		}
		slices.Sort(regions)
		cats[k.provider].Sources = append(cats[k.provider].Sources, pricing.Source{Regions: regions, Source: k.source, Retrieved: k.retrieved})
	}
	var out []*pricing.Catalog
	for _, p := range []string{"aws", "gcp", "azure"} {
		if c := cats[p]; c != nil {
			out = append(out, c)
			delete(cats, p)
		}
	}
	if len(cats) > 0 {
		return nil, fmt.Errorf("unknown providers in published CSV: %v", cats)
	}
	return out, nil
}
