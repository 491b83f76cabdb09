package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/costwarden/costwarden/internal/pricing"
)

// TestBundledAWSRegionsRegenerate: the bundled aws.json's regions besides
// us-east-1 are exactly what AddEC2Instances makes of sources/aws-ec2instances.json
// on top of its us-east-1 (Karpenter's table, which needs the module to rebuild).
func TestBundledAWSRegionsRegenerate(t *testing.T) {
	path := filepath.Join("..", "catalogs", "aws.json")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bundled := readCatalog(t, path)
	if len(bundled.Sources) != 2 {
		t.Fatalf("aws.json has %d sources, want Karpenter's and the snapshot's", len(bundled.Sources))
	}
	snapSrc := bundled.Sources[1]
	base := readCatalog(t, path)
	base.Sources = base.Sources[:1]
	base.Regions = map[string]map[string]pricing.Price{"us-east-1": base.Regions["us-east-1"]}
	snap, err := os.ReadFile(filepath.Join("sources", "aws-ec2instances.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := AddEC2Instances(base, snap, snapSrc.Source, snapSrc.Published, snapSrc.Retrieved, splitList(defaultAWSRegions)); err != nil {
		t.Fatal(err)
	}
	got, err := Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Error("catalogs/aws.json differs from what the generator writes from sources/aws-ec2instances.json; regenerate it (sources/README.md)")
	}
	if len(base.Regions) != 6 {
		t.Errorf("aws.json has %d regions, want 6", len(base.Regions))
	}
	// Published figures: m5.xlarge is $0.214 an hour in eu-west-1, $0.192 in us-west-2.
	for _, c := range []struct {
		region, it string
		want       float64
	}{{"eu-west-1", "m5.xlarge", 0.214}, {"us-west-2", "m5.xlarge", 0.192}, {"eu-central-1", "c5.large", 0.097}} {
		if p, _, ok := base.Lookup(c.region, c.it); !ok || p.OnDemand != c.want {
			t.Errorf("%s %s = %+v %v, want %v", c.region, c.it, p, ok, c.want)
		}
	}
	// p4d.24xlarge was repriced after the snapshot: us-east-1 only.
	if _, _, ok := base.Lookup("eu-west-1", "p4d.24xlarge"); ok {
		t.Error("p4d.24xlarge (repriced since the snapshot) is priced in eu-west-1")
	}
	if !strings.Contains(snapSrc.Note, "p4d.24xlarge") {
		t.Errorf("the snapshot's note does not name the repriced type: %s", snapSrc.Note)
	}
}

func TestAddEC2InstancesChecksAgainstCurrentPrices(t *testing.T) {
	cat := func() *pricing.Catalog {
		return &pricing.Catalog{Provider: "aws", Currency: "USD",
			InstanceTypes: map[string]pricing.Shape{"m5.large": {Family: "general-purpose", VCPUs: 2, MemoryGiB: 8}, "c5.large": {Family: "compute", VCPUs: 2, MemoryGiB: 4},
				"m7i.large": {Family: "general-purpose", VCPUs: 2, MemoryGiB: 8}},
			Regions: map[string]map[string]pricing.Price{"us-east-1": {"m5.large": {OnDemand: 0.096}, "c5.large": {OnDemand: 0.085}, "m7i.large": {OnDemand: 0.1008}}}}
	}
	snap := `[{"instance_type":"m5.large","pricing":{"us-east-1":{"linux":{"ondemand":"0.096"}},"eu-west-1":{"linux":{"ondemand":"0.107"}}}},
	 {"instance_type":"c5.large","pricing":{"us-east-1":{"linux":{"ondemand":"0.09"}},"eu-west-1":{"linux":{"ondemand":"0.096"}}}},
	 {"instance_type":"t3.large","pricing":{"eu-west-1":{"linux":{"ondemand":"0.0912"}}}}]`
	c := cat()
	if err := AddEC2Instances(c, []byte(snap), "snap", "2022-11-30", "2026-11-26", []string{"eu-west-1", "us-west-2"}); err != nil {
		t.Fatal(err)
	}
	if p := c.Regions["eu-west-1"]; len(p) != 1 || p["m5.large"].OnDemand != 0.107 {
		t.Errorf("eu-west-1 = %+v, want only m5.large at 0.107 (c5.large was repriced, m7i.large and t3.large are not carried)", p)
	}
	if _, ok := c.Regions["us-west-2"]; ok {
		t.Error("a region the snapshot does not price was added")
	}
	note := c.Sources[len(c.Sources)-1]
	if len(note.Regions) != 1 || note.Regions[0] != "eu-west-1" || !strings.Contains(note.Note, "c5.large (0.09 then, 0.085 now)") || !strings.Contains(note.Note, "m7i.large") {
		t.Errorf("source %+v", note)
	}
	for name, bad := range map[string]string{
		"not JSON":      `{`,
		"bad price":     `[{"instance_type":"m5.large","pricing":{"us-east-1":{"linux":{"ondemand":"0.096"}},"eu-west-1":{"linux":{"ondemand":"cheap"}}}}]`,
		"nothing added": `[{"instance_type":"m5.large","pricing":{"us-east-1":{"linux":{"ondemand":"0.2"}}}}]`,
	} {
		if err := AddEC2Instances(cat(), []byte(bad), "snap", "p", "r", []string{"eu-west-1"}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	gcp := cat()
	gcp.Provider = "gcp"
	if err := AddEC2Instances(gcp, []byte(snap), "snap", "p", "r", []string{"eu-west-1"}); err == nil {
		t.Error("a GCP catalog accepted EC2 prices")
	}
	if err := run([]string{"-retrieved", "2026-11-26", "-aws-ec2instances", "x.json", "-out", t.TempDir()}, os.Stderr); err == nil {
		t.Error("-aws-ec2instances without -aws accepted")
	}
}
