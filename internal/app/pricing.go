package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
)

// setMemoryLimit applies runtime.memoryLimitBytes unless GOMEMLIMIT is set.
func setMemoryLimit(cfg config.Config, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" || cfg.Runtime.MemoryLimitBytes <= 0 {
		return
	}
	debug.SetMemoryLimit(cfg.Runtime.MemoryLimitBytes)
	log.Debug("soft memory limit set", "bytes", cfg.Runtime.MemoryLimitBytes)
}

// newPricer builds the pricer the configuration asks for: custom prices, the bundled
// catalogs (unless pricing.catalog.enabled is false), discounts and storage classes.
func newPricer(cfg config.Config) (*pricing.Pricer, error) {
	pc := pricing.Config{
		Custom:     customPrices(cfg.Pricing.Custom),
		Discounts:  map[string]float64{"aws": cfg.Pricing.Discounts.AWS / 100, "gcp": cfg.Pricing.Discounts.GCP / 100, "azure": cfg.Pricing.Discounts.Azure / 100},
		Negotiated: cfg.Pricing.Discounts.Negotiated / 100,
	}
	if len(cfg.Pricing.StorageClasses) > 0 {
		pc.StorageClasses = map[string]float64{}
		for class, v := range cfg.Pricing.StorageClasses {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return nil, fmt.Errorf("pricing.storageClasses.%s: %w", class, err)
			}
			pc.StorageClasses[class] = f
		}
	}
	if cfg.Pricing.Catalog.Enabled {
		cats, err := pricing.BundledCatalogs()
		if err != nil {
			return nil, err
		}
		pc.Catalogs = cats
	}
	return pricing.NewPricer(pc)
}

// PriceQuery names an instance for `costwarden pricing show`.
type PriceQuery struct {
	Provider, Region, InstanceType string
	Spot                           bool
}

// PricingShow prints an instance type's hourly price and its CPU/RAM/GPU split as
// costwarden applies it (catalog, discounts, custom weights).
func PricingShow(_ context.Context, cfg config.Config, env Env, q PriceQuery) error {
	cfg.Pricing.Catalog.Enabled = true
	p, err := newPricer(cfg)
	if err != nil {
		return err
	}
	prov := q.Provider
	if prov == "" {
		// Instance type names tell the cloud apart well enough to default it.
		switch {
		case strings.HasPrefix(q.InstanceType, "Standard_"):
			prov = "azure"
		case strings.Count(q.InstanceType, "-") >= 2:
			prov = "gcp"
		default:
			prov = "aws"
		}
	}
	cat := p.Catalog(prov)
	if cat == nil {
		return fmt.Errorf("no bundled price catalog for provider %q (bundled: %s)", prov, bundledNames())
	}
	_, shape, ok := cat.Lookup(q.Region, q.InstanceType)
	if !ok {
		return fmt.Errorf("%s in region %q is not in the %s catalog (regions: %s); nodes of that type are priced with custom prices and flagged",
			q.InstanceType, q.Region, cat.ID(), strings.Join(cat.RegionNames(), ", "))
	}
	capType := cost.CapacityOnDemand
	if q.Spot {
		capType = cost.CapacitySpot
	}
	n := &cost.Node{Provider: prov, Region: q.Region, InstanceType: q.InstanceType, CapacityType: capType,
		CPUCores: shape.VCPUs, RAMBytes: shape.MemoryGiB * pricing.GiB, GPUs: shape.GPUs}
	np := p.Node(n)
	total := np.Hourly(n.CPUCores, n.RAMBytes, n.GPUs)
	w := env.Stdout
	fmt.Fprintf(w, "%s %s in %s (%s)\n", prov, q.InstanceType, q.Region, capType)
	fmt.Fprintf(w, "  shape:        %g vCPU, %g GiB", shape.VCPUs, shape.MemoryGiB)
	if shape.GPUs > 0 {
		fmt.Fprintf(w, ", %g GPU (%s)", shape.GPUs, shape.GPUModel)
	}
	fmt.Fprintf(w, ", family %s\n", shape.Family)
	fmt.Fprintf(w, "  price source: %s\n", np.Source)
	src := cat.SourceFor(q.Region)
	fmt.Fprintf(w, "  catalog:      %s (source: %s; published %s; retrieved %s)\n", cat.ID(), src.Source, orUnknown(src.Published), src.Retrieved)
	if np.List > 0 {
		fmt.Fprintf(w, "  list price:   %s %.6f/hour\n", cfg.Pricing.Currency, np.List)
	}
	fmt.Fprintf(w, "  discount:     %.2f%%\n", np.Discount*100)
	fmt.Fprintf(w, "  hourly price: %s %.6f/hour (%s %.2f per 730-hour month)\n", cfg.Pricing.Currency, total, cfg.Pricing.Currency, total*pricing.HoursPerMonth)
	fmt.Fprintf(w, "  split (weights: custom cpu %.6f, ram %.6f, gpu %.6f):\n", cfg.Pricing.Custom.CPU, cfg.Pricing.Custom.RAM, cfg.Pricing.Custom.GPU)
	fmt.Fprintf(w, "    cpu  %.6f per core-hour x %g cores = %.6f\n", np.CPU, shape.VCPUs, np.CPU*shape.VCPUs)
	fmt.Fprintf(w, "    ram  %.6f per GiB-hour  x %g GiB   = %.6f\n", np.RAM, shape.MemoryGiB, np.RAM*shape.MemoryGiB)
	fmt.Fprintf(w, "    gpu  %.6f per GPU-hour  x %g GPUs  = %.6f\n", np.GPU, shape.GPUs, np.GPU*shape.GPUs)
	if np.Warning != "" {
		fmt.Fprintf(w, "  warning: %s\n", np.Warning)
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func bundledNames() string {
	cats, err := pricing.BundledCatalogs()
	if err != nil {
		return err.Error()
	}
	var names []string
	for _, c := range cats {
		names = append(names, c.ID())
	}
	return strings.Join(names, ", ")
}
