package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/costwarden/costwarden/internal/pricing"
)

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
