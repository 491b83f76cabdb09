package pricing

import (
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// The bundled list-price catalogs, written by internal/pricing/gen.
//
//go:embed catalogs
var bundled embed.FS

// Catalog is one provider's list prices: instance shapes and hourly prices per
// region, with where each price came from (catalogs/*.json; regenerate them with
// `go run ./internal/pricing/gen`).
type Catalog struct {
	Provider string `json:"provider"` // aws, gcp, azure
	// Version names the catalog: the date its prices were published or retrieved.
	Version  string `json:"version"`
	Currency string `json:"currency"`
	// Sources say, per region, where the prices come from and when.
	Sources []Source `json:"sources"`
	// InstanceTypes are the shapes the catalog prices.
	InstanceTypes map[string]Shape `json:"instanceTypes"`
	// Regions maps region -> instance type -> price.
	Regions map[string]map[string]Price `json:"regions"`

	// folded maps lower-cased instance type names to the catalog's spelling, for
	// sources that report Azure sizes in lower case (standard_d4s_v5). Built by
	// ParseCatalog; nil in catalogs built in code.
	folded map[string]string
}

// Source records where prices come from.
type Source struct {
	Regions   []string `json:"regions"`
	Source    string   `json:"source"`
	Published string   `json:"published,omitempty"` // when the provider published them, when known
	Retrieved string   `json:"retrieved"`           // when they were read
	Note      string   `json:"note,omitempty"`
}

// Shape is an instance type's capacity and family.
type Shape struct {
	Family    string  `json:"family"` // general-purpose, compute, memory, gpu
	VCPUs     float64 `json:"vcpu"`
	MemoryGiB float64 `json:"memoryGiB"`
	GPUs      float64 `json:"gpus,omitempty"`
	GPUModel  string  `json:"gpuModel,omitempty"`
}

// Price is an instance type's hourly list price in one region.
type Price struct {
	OnDemand float64 `json:"onDemand"`
	// Spot is the published spot price, where the provider publishes a list price
	// for it (GCP, Azure); 0 when it varies with the market (AWS).
	Spot float64 `json:"spot,omitempty"`
}

// Validate checks a catalog's structure and numbers.
func (c *Catalog) Validate() error {
	if c.Provider == "" || c.Version == "" || c.Currency == "" {
		return fmt.Errorf("catalog: provider, version and currency are required")
	}
	if len(c.Sources) == 0 {
		return fmt.Errorf("catalog %s: no sources recorded", c.Provider)
	}
	covered := map[string]bool{}
	for _, s := range c.Sources {
		if s.Source == "" || s.Retrieved == "" {
			return fmt.Errorf("catalog %s: a source without source or retrieval date", c.Provider)
		}
		for _, r := range s.Regions {
			covered[r] = true
		}
	}
	for region, types := range c.Regions {
		if !covered[region] {
			return fmt.Errorf("catalog %s: region %s has prices but no recorded source", c.Provider, region)
		}
		for it, p := range types {
			if _, ok := c.InstanceTypes[it]; !ok {
				return fmt.Errorf("catalog %s: %s in %s has a price but no shape", c.Provider, it, region)
			}
			if !(p.OnDemand > 0) || p.OnDemand > 1000 || p.Spot < 0 || p.Spot > p.OnDemand {
				return fmt.Errorf("catalog %s: %s in %s: implausible prices %+v", c.Provider, it, region, p)
			}
		}
	}
	for it, s := range c.InstanceTypes {
		if !(s.VCPUs > 0) || !(s.MemoryGiB > 0) || s.GPUs < 0 {
			return fmt.Errorf("catalog %s: %s: implausible shape %+v", c.Provider, it, s)
		}
	}
	return nil
}

// Lookup returns the price and shape of an instance type in a region. Names that
// differ from the catalog's only in case match too (Azure sizes appear lower-cased in
// some sources).
func (c *Catalog) Lookup(region, instanceType string) (Price, Shape, bool) {
	p, ok := c.Regions[region][instanceType]
	if !ok {
		name, known := c.folded[strings.ToLower(instanceType)]
		if !known {
			return Price{}, Shape{}, false
		}
		if p, ok = c.Regions[region][name]; !ok {
			return Price{}, Shape{}, false
		}
		instanceType = name
	}
	return p, c.InstanceTypes[instanceType], true
}

// SourceFor returns the source of a region's prices.
func (c *Catalog) SourceFor(region string) Source {
	for _, s := range c.Sources {
		if slices.Contains(s.Regions, region) {
			return s
		}
	}
	return Source{}
}

// RegionNames lists the catalog's regions, sorted.
func (c *Catalog) RegionNames() []string {
	out := make([]string, 0, len(c.Regions))
	for r := range c.Regions {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// ID names the catalog in price sources: provider/version.
func (c *Catalog) ID() string { return c.Provider + "/" + c.Version }

// BundledCatalogs parses the catalogs compiled into the binary.
func BundledCatalogs() (map[string]*Catalog, error) {
	entries, err := bundled.ReadDir("catalogs")
	if err != nil {
		return nil, err
	}
	out := map[string]*Catalog{}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := bundled.ReadFile("catalogs/" + e.Name())
		if err != nil {
			return nil, err
		}
		c, err := ParseCatalog(b)
		if err != nil {
			return nil, fmt.Errorf("bundled catalog %s: %w", e.Name(), err)
		}
		out[c.Provider] = c
	}
	return out, nil
}

// ParseCatalog parses and validates a catalog file.
func ParseCatalog(b []byte) (*Catalog, error) {
	var c Catalog
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.folded = make(map[string]string, len(c.InstanceTypes))
	for it := range c.InstanceTypes {
		c.folded[strings.ToLower(it)] = it
	}
	return &c, nil
}
