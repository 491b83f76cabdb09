package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/costwarden/costwarden/internal/pricing"
)

// defaultAWSRegions are the AWS regions added to us-east-1 from the
// ec2instances.info snapshot: with us-east-1, the six largest.
const defaultAWSRegions = "us-east-2,us-west-2,eu-west-1,eu-central-1,ap-southeast-1"

// ec2Instance is the part of an ec2instances.info record (instances.json) the
// generator reads: Linux, shared-tenancy on-demand prices by region, as strings.
type ec2Instance struct {
	InstanceType string `json:"instance_type"`
	Pricing      map[string]struct {
		Linux struct {
			OnDemand string `json:"ondemand"`
		} `json:"linux"`
	} `json:"pricing"`
}

// AddEC2Instances adds regions to an AWS catalog built from Karpenter's table
// (which has us-east-1 only) from an ec2instances.info snapshot (instances.json,
// scraped from AWS's published price list), or an excerpt in its layout.
//
// The snapshot is older than the Karpenter table, so an instance type is carried
// to other regions only when the snapshot's us-east-1 price equals the current
// us-east-1 price to a millionth of a dollar: AWS has not repriced it since. Types
// that were repriced (or that the snapshot lacks) stay us-east-1 only, and the
// source note names them.
func AddEC2Instances(c *pricing.Catalog, src []byte, source, published, retrieved string, regions []string) error {
	if c.Provider != "aws" {
		return fmt.Errorf("ec2instances: the catalog is %s's, not AWS's", c.Provider)
	}
	current := c.Regions["us-east-1"]
	if len(current) == 0 {
		return errors.New("ec2instances: the catalog has no us-east-1 prices to check the snapshot against")
	}
	var recs []ec2Instance
	if err := json.Unmarshal(src, &recs); err != nil {
		return fmt.Errorf("ec2instances: %w", err)
	}
	price := func(r ec2Instance, region string) (float64, bool, error) {
		p, ok := r.Pricing[region]
		if !ok || p.Linux.OnDemand == "" {
			return 0, false, nil
		}
		v, err := strconv.ParseFloat(p.Linux.OnDemand, 64)
		if err != nil || v <= 0 || math.IsInf(v, 0) {
			return 0, false, fmt.Errorf("ec2instances: %s in %s: price %q is not a positive number", r.InstanceType, region, p.Linux.OnDemand)
		}
		return v, true, nil
	}
	byType := map[string]ec2Instance{}
	for _, r := range recs {
		byType[r.InstanceType] = r
	}
	var repriced, absent []string
	added := 0
	for _, it := range slices.Sorted(func(yield func(string) bool) {
		for k := range current {
			if !yield(k) {
				return
			}
		}
	}) {
		r, ok := byType[it]
		if !ok {
			absent = append(absent, it)
			continue
		}
		then, ok, err := price(r, "us-east-1")
		if err != nil {
			return err
		}
		if !ok {
			absent = append(absent, it)
			continue
		}
		if math.Abs(then-current[it].OnDemand) > 1e-6 {
			repriced = append(repriced, fmt.Sprintf("%s (%g then, %g now)", it, then, current[it].OnDemand))
			continue
		}
		for _, region := range regions {
			v, ok, err := price(r, region)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if c.Regions[region] == nil {
				c.Regions[region] = map[string]pricing.Price{}
			}
			c.Regions[region][it] = pricing.Price{OnDemand: v}
			added++
		}
	}
	if added == 0 {
		return errors.New("ec2instances: the snapshot priced no covered instance type in the regions asked for")
	}
	var got []string
	for _, region := range regions {
		if len(c.Regions[region]) > 0 {
			got = append(got, region)
		}
	}
	note := "Carried only for instance types whose us-east-1 price in this snapshot equals the current us-east-1 price above (not repriced since)."
	if len(repriced) > 0 {
		note += " Repriced since, so us-east-1 only: " + strings.Join(repriced, ", ") + "."
	}
	if len(absent) > 0 {
		note += " Not in the snapshot (newer than it), so us-east-1 only: " + strings.Join(absent, ", ") + "."
	}
	c.Sources = append(c.Sources, pricing.Source{Regions: got, Source: source, Published: published, Retrieved: retrieved, Note: note})
	return nil
}
