package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/costwarden/costwarden/internal/pricing"
)

const karpenterSample = `package pricing

// generated at 2026-07-20T13:44:30Z for us-east-1

import ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

var InitialOnDemandPricesAWS = map[string]map[ec2types.InstanceType]float64{
	// us-east-1
	"us-east-1": {
		// m5 family
		"m5.large": 0.096000, "m5.xlarge": 0.192000, "m5.metal": 4.608000,
		// g5 family
		"g5.xlarge": 1.006000,
		// t3 family (not covered)
		"t3.large": 0.083200,
	},
}
`

func TestFromKarpenter(t *testing.T) {
	c, err := FromKarpenter([]byte(karpenterSample), "github.com/aws/karpenter-provider-aws@v1.15.1", "2026-11-25")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r := c.Regions["us-east-1"]
	if len(r) != 3 || r["m5.xlarge"].OnDemand != 0.192 || r["g5.xlarge"].OnDemand != 1.006 {
		t.Errorf("prices = %+v, want m5.large, m5.xlarge and g5.xlarge (metal and t3 are not covered)", r)
	}
	if s := c.InstanceTypes["m5.large"]; s != (pricing.Shape{Family: "general-purpose", VCPUs: 2, MemoryGiB: 8}) {
		t.Errorf("m5.large shape %+v", s)
	}
	if c.Version != "2026-07-20" || c.Sources[0].Published != "2026-07-20T13:44:30Z" || !strings.Contains(c.Sources[0].Source, "karpenter-provider-aws@v1.15.1") {
		t.Errorf("provenance: version %q sources %+v", c.Version, c.Sources)
	}
	if _, err := FromKarpenter([]byte("package x\nvar y = 1\n"), "m", "d"); err == nil {
		t.Error("a source without the price map was accepted")
	}
}

func TestFromPublishedAndRun(t *testing.T) {
	dir := t.TempDir()
	csv := "# transcribed list prices\n" + strings.Join(publishedColumns, ",") + "\n" +
		"gcp,us-central1,n2-standard-4,general-purpose,4,16,0,,0.194236,0.0475,https://cloud.google.com/compute/vm-instance-pricing,2026-11-25,2026-11-25\n" +
		"gcp,europe-west1,n2-standard-4,general-purpose,4,16,0,,0.213704,,https://cloud.google.com/compute/vm-instance-pricing,2026-11-25,2026-11-25\n"
	in := filepath.Join(dir, "published.csv")
	if err := os.WriteFile(in, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-published", in, "-retrieved", "2026-11-25", "-out", dir}, os.Stderr); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "gcp.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := pricing.ParseCatalog(b)
	if err != nil {
		t.Fatal(err)
	}
	if p, _, ok := c.Lookup("us-central1", "n2-standard-4"); !ok || p.OnDemand != 0.194236 || p.Spot != 0.0475 {
		t.Errorf("us-central1 n2-standard-4 = %+v %v", p, ok)
	}
	if len(c.Sources) != 1 || len(c.Sources[0].Regions) != 2 {
		t.Errorf("sources %+v", c.Sources)
	}
	bad := strings.Replace(csv, "n2-standard-4,general-purpose,4,16,0,,0.213704", "n2-standard-4,general-purpose,8,16,0,,0.213704", 1)
	if _, err := FromPublished(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("conflicting shapes: err = %v", err)
	}
	if err := run([]string{"-out", dir}, os.Stderr); err == nil {
		t.Error("run without -retrieved succeeded")
	}
}
