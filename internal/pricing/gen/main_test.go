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

const (
	gcpSource   = "github.com/Cyclenerd/google-cloud-pricing-cost-calculator@0166a59ebba7c36f2cc8c931d9f258dcebc44776 pricing.yml (generated from Google's Cloud Billing Catalog API)"
	azureSource = "github.com/Azure/karpenter-provider-azure@0499866a0874e27363395146ad4ecf5dac208e6d pkg/providers/pricing/zz_generated.pricing.go (generated from the Azure Retail Prices API)"
)

// TestBundledCatalogsRegenerate runs the generator on the committed source excerpts, as
// sources/README.md documents, and requires the bundled GCP and Azure catalogs to be
// exactly its output: the JSON is generated, not edited.
func TestBundledCatalogsRegenerate(t *testing.T) {
	dir := t.TempDir()
	bundledGCP := readCatalog(t, filepath.Join("..", "catalogs", "gcp.json"))
	args := []string{"-retrieved", bundledGCP.Sources[0].Retrieved, "-out", dir,
		"-gcp", filepath.Join("sources", "gcp-pricing.yml"), "-gcp-source", gcpSource,
		"-azure", filepath.Join("sources", "azure-pricing.go.txt"), "-azure-source", azureSource}
	if err := run(args, os.Stderr); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"gcp", "azure"} {
		got, err := os.ReadFile(filepath.Join(dir, p+".json"))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("..", "catalogs", p+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("catalogs/%s.json differs from what the generator writes from sources/; regenerate it (sources/README.md)", p)
		}
	}
	// End to end: published figures of the sources come out of the catalogs.
	gcp := readCatalog(t, filepath.Join(dir, "gcp.json"))
	if p, s, ok := gcp.Lookup("us-central1", "n2-standard-4"); !ok || p.OnDemand != 0.194236 || p.Spot != 0.059952 || s.VCPUs != 4 || s.MemoryGiB != 16 {
		t.Errorf("gcp us-central1 n2-standard-4 = %+v %+v %v", p, s, ok)
	}
	if p, _, ok := gcp.Lookup("europe-west4", "g2-standard-24"); !ok || p.OnDemand != 2.102975132 || p.Spot != 0.753416 {
		t.Errorf("gcp europe-west4 g2-standard-24 = %+v %v", p, ok)
	}
	// A derived entry: g2-standard-8 is not in the excerpt. us-central1's published G2
	// sizes give 0.036698004 per vCPU (with its 4 GiB) and 0.560040239 per L4, and
	// reproduce all five published G2 prices there.
	if p, _, ok := gcp.Lookup("us-central1", "g2-standard-8"); !ok || p.OnDemand != 0.853624271 {
		t.Errorf("gcp us-central1 g2-standard-8 (derived) = %+v %v", p, ok)
	}
	az := readCatalog(t, filepath.Join(dir, "azure.json"))
	if p, s, ok := az.Lookup("eastus", "Standard_D4s_v5"); !ok || p.OnDemand != 0.192 || s.VCPUs != 4 || s.MemoryGiB != 16 {
		t.Errorf("azure eastus Standard_D4s_v5 = %+v %+v %v", p, s, ok)
	}
	if p, _, ok := az.Lookup("northeurope", "Standard_NC6s_v3"); !ok || p.OnDemand != 3.305 {
		t.Errorf("azure northeurope Standard_NC6s_v3 = %+v %v", p, ok)
	}
}

func readCatalog(t *testing.T, path string) *pricing.Catalog {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pricing.ParseCatalog(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A figure mistranscribed by a millionth breaks the series' fit and stops the generator.
func TestCyclenerdMistranscriptionDetected(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("sources", "gcp-pricing.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromCyclenerd(src, gcpSource, "2026-11-25", []string{"us-central1"}); err != nil {
		t.Fatalf("the committed excerpt does not fit: %v", err)
	}
	bad := strings.Replace(string(src), "hour: 0.776944", "hour: 0.776945", 1) // n2-standard-16, us-central1
	if bad == string(src) {
		t.Fatal("the figure to alter is not in the excerpt")
	}
	_, err = FromCyclenerd([]byte(bad), gcpSource, "2026-11-25", []string{"us-central1"})
	if err == nil || !strings.Contains(err.Error(), "series n2") || !strings.Contains(err.Error(), "mistranscribed") {
		t.Errorf("altered n2-standard-16: err = %v", err)
	}
}

const cyclenerdSample = `about:
  generated: Thu Mar  6 03:53:56 2025
compute:
  instance:
    c2-standard-16:
      cost:
        r1:
          hour: 0.835232
          hour_spot: 0.141088
      cpu: 16
      ram: 64
    c2-standard-30:
      cost:
        r1:
          hour: 1.56606
          hour_spot: 0.26454
      cpu: 30
      ram: 120
    c2-standard-4:
      cost:
        r1:
          hour: 0.208808
          hour_spot: 0.035272
      cpu: 4
      ram: 16
    e2-medium:
      cost:
        r1:
          hour: 0.03350571
          hour_spot: 0.013396
      cpu: 1
      ram: 4
    g2-standard-4:
      cost:
        r1:
          hour: 0.706832255
      cpu: 4
      l4: 1
      ram: 16
    t2a-standard-1:
      cost:
        r1:
          hour: 0.0385
      cpu: 1
      ram: 4
`

func TestFromCyclenerd(t *testing.T) {
	c, err := FromCyclenerd([]byte(cyclenerdSample), "sample", "2026-11-25", []string{"r1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Version != "2025-03-06" || c.Sources[0].Published != "2025-03-06T03:53:56Z" || c.Sources[0].Source != "sample" {
		t.Errorf("provenance: %q %+v", c.Version, c.Sources)
	}
	r := c.Regions["r1"]
	// Published: taken as they are. Not covered (t2a): left out.
	if r["c2-standard-4"] != (pricing.Price{OnDemand: 0.208808, Spot: 0.035272}) || r["g2-standard-4"].OnDemand != 0.706832255 {
		t.Errorf("published prices: %+v", r)
	}
	if _, ok := r["t2a-standard-1"]; ok {
		t.Error("an uncovered machine type was kept")
	}
	// e2-medium exposes 2 vCPUs though it is billed as one.
	if s := c.InstanceTypes["e2-medium"]; s.VCPUs != 2 || s.MemoryGiB != 4 {
		t.Errorf("e2-medium shape %+v", s)
	}
	// c2-standard-8 and -60 are derived from three published C2 sizes: 0.052202/vCPU.
	if r["c2-standard-8"] != (pricing.Price{OnDemand: 0.417616, Spot: 0.070544}) || r["c2-standard-60"].OnDemand != 3.13212 {
		t.Errorf("derived C2: %+v %+v", r["c2-standard-8"], r["c2-standard-60"])
	}
	if !strings.Contains(c.Sources[0].Note, "r1: c2-standard-60, c2-standard-8") {
		t.Errorf("derived entries not recorded: %q", c.Sources[0].Note)
	}
	// One G2 size cannot determine per-vCPU and per-GPU rates, and one E2 size
	// (e2-medium) cannot be checked against two more: neither series is derived.
	for _, it := range []string{"g2-standard-8", "e2-standard-2"} {
		if _, ok := r[it]; ok {
			t.Errorf("%s was derived from too few published sizes", it)
		}
	}

	for name, mutate := range map[string]func(string) string{
		"cpu differs from the table": func(s string) string {
			return strings.Replace(s, "      cpu: 30\n", "      cpu: 32\n", 1)
		},
		"not linear": func(s string) string { return strings.Replace(s, "hour: 1.56606", "hour: 1.57", 1) },
		"bad date":   func(s string) string { return strings.Replace(s, "Thu Mar  6", "Thursday", 1) },
		"no types":   func(string) string { return "about:\n  generated: Thu Mar  6 03:53:56 2025\n" },
	} {
		if _, err := FromCyclenerd([]byte(mutate(cyclenerdSample)), "s", "d", []string{"r1"}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := FromCyclenerd([]byte(cyclenerdSample), "s", "d", []string{"nowhere-1"}); err == nil {
		t.Error("a region without prices was accepted")
	}
}

const azureSample = `package pricing

// generated at 2023-12-18T14:34:50Z

var initialOnDemandPrices = map[string]map[string]float64{}

func init() {
	// r1
	initialOnDemandPrices["r1"] = map[string]float64{
		"Basic_A0":             0.018000,
		"Standard_D2as_v5":     0.178000,
		"Standard_D2s_v5":      0.096000,
		"Standard_D4as_v5":     0.172000,
		"Standard_D4s_v5":      0.192000,
		"Standard_DS2_v2":      0.146000,
		"Standard_DS3_v2":      0.293000,
		"Standard_E96s_v5":     6.048000,
		"Standard_NC4as_T4_v3": 0.526000,
	}
	// r2
	initialOnDemandPrices["r2"] = map[string]float64{
		"Standard_D2s_v5": 0.115000,
	}
}
`

func TestFromAzureKarpenter(t *testing.T) {
	c, err := FromAzureKarpenter([]byte(azureSample), "sample", "2026-11-25", []string{"r1", "r2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Version != "2023-12-18" || c.Sources[0].Published != "2023-12-18T14:34:50Z" || len(c.Sources[0].Regions) != 2 {
		t.Errorf("provenance: %q %+v", c.Version, c.Sources)
	}
	r := c.Regions["r1"]
	if len(r) != 6 || r["Standard_D4s_v5"].OnDemand != 0.192 || r["Standard_DS3_v2"].OnDemand != 0.293 || r["Standard_NC4as_T4_v3"].OnDemand != 0.526 {
		t.Errorf("r1 prices: %+v", r)
	}
	// Dasv5's two sizes disagree on the per-vCPU price (0.089 and 0.043): left out.
	if _, ok := r["Standard_D2as_v5"]; ok || !strings.Contains(c.Sources[0].Note, "r1: Dasv5") {
		t.Errorf("inconsistent Dasv5 kept or not noted: %+v %q", r, c.Sources[0].Note)
	}
	for it, want := range map[string]pricing.Shape{
		"Standard_DS3_v2":      {Family: "general-purpose", VCPUs: 4, MemoryGiB: 14},
		"Standard_E96s_v5":     {Family: "memory", VCPUs: 96, MemoryGiB: 672},
		"Standard_NC4as_T4_v3": {Family: "gpu", VCPUs: 4, MemoryGiB: 28, GPUs: 1, GPUModel: "NVIDIA T4"},
	} {
		if s := c.InstanceTypes[it]; s != want {
			t.Errorf("%s shape %+v, want %+v", it, s, want)
		}
	}
	if _, err := FromAzureKarpenter([]byte(azureSample), "s", "d", []string{"r3"}); err == nil {
		t.Error("a region missing from the source was accepted")
	}
	if _, err := FromAzureKarpenter([]byte("package x\nvar y = 1\n"), "s", "d", []string{"r1"}); err == nil {
		t.Error("a source without the price table was accepted")
	}
	if _, err := FromAzureKarpenter([]byte(strings.Replace(azureSample, "0.096000", `"x"`, 1)), "s", "d", []string{"r1"}); err == nil {
		t.Error("a non-numeric price was accepted")
	}
}

func TestRunNeedsSourcesNamed(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"-retrieved", "2026-11-25", "-out", dir, "-gcp", filepath.Join("sources", "gcp-pricing.yml")},
		{"-retrieved", "2026-11-25", "-out", dir, "-azure", filepath.Join("sources", "azure-pricing.go.txt")},
		{"-retrieved", "2026-11-25", "-out", dir},
	} {
		if err := run(args, os.Stderr); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
