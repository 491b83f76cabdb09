package pricing_test

import (
	"math"
	"strings"
	"testing"

	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
)

func bundled(t *testing.T) map[string]*pricing.Catalog {
	t.Helper()
	cats, err := pricing.BundledCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	return cats
}

func TestBundledCatalogsAreValidAndSourced(t *testing.T) {
	cats := bundled(t)
	aws := cats["aws"]
	if aws == nil {
		t.Fatal("no AWS catalog bundled")
	}
	for _, c := range cats {
		if err := c.Validate(); err != nil {
			t.Error(err)
		}
		for _, r := range c.RegionNames() {
			if s := c.SourceFor(r); s.Source == "" || s.Retrieved == "" {
				t.Errorf("%s %s: no source recorded", c.ID(), r)
			}
		}
	}
	// Published facts from the source: spot checks of each family.
	for _, c := range []struct {
		it    string
		price float64
		shape pricing.Shape
	}{
		{"m5.xlarge", 0.192, pricing.Shape{Family: "general-purpose", VCPUs: 4, MemoryGiB: 16}},
		{"m6i.2xlarge", 0.384, pricing.Shape{Family: "general-purpose", VCPUs: 8, MemoryGiB: 32}},
		{"c5.2xlarge", 0.34, pricing.Shape{Family: "compute", VCPUs: 8, MemoryGiB: 16}},
		{"r6i.2xlarge", 0.504, pricing.Shape{Family: "memory", VCPUs: 8, MemoryGiB: 64}},
		{"g5.xlarge", 1.006, pricing.Shape{Family: "gpu", VCPUs: 4, MemoryGiB: 16, GPUs: 1, GPUModel: "NVIDIA A10G"}},
	} {
		p, s, ok := aws.Lookup("us-east-1", c.it)
		if !ok || p.OnDemand != c.price || s != c.shape {
			t.Errorf("%s: %+v %+v %v, want %v %+v", c.it, p, s, ok, c.price, c.shape)
		}
	}
	families := map[string]int{}
	for _, s := range aws.InstanceTypes {
		families[s.Family]++
	}
	for _, f := range []string{"general-purpose", "compute", "memory", "gpu"} {
		if families[f] < 5 {
			t.Errorf("AWS catalog has %d %s types", families[f], f)
		}
	}
}

func TestParseCatalogRejectsBadFiles(t *testing.T) {
	for name, js := range map[string]string{
		"no source":   `{"provider":"x","version":"1","currency":"USD","sources":[],"instanceTypes":{},"regions":{}}`,
		"unsourced":   `{"provider":"x","version":"1","currency":"USD","sources":[{"regions":["a"],"source":"s","retrieved":"d"}],"instanceTypes":{"t":{"family":"gpu","vcpu":1,"memoryGiB":1}},"regions":{"b":{"t":{"onDemand":1}}}}`,
		"no shape":    `{"provider":"x","version":"1","currency":"USD","sources":[{"regions":["a"],"source":"s","retrieved":"d"}],"instanceTypes":{},"regions":{"a":{"t":{"onDemand":1}}}}`,
		"negative":    `{"provider":"x","version":"1","currency":"USD","sources":[{"regions":["a"],"source":"s","retrieved":"d"}],"instanceTypes":{"t":{"family":"gpu","vcpu":1,"memoryGiB":1}},"regions":{"a":{"t":{"onDemand":-1}}}}`,
		"spot > od":   `{"provider":"x","version":"1","currency":"USD","sources":[{"regions":["a"],"source":"s","retrieved":"d"}],"instanceTypes":{"t":{"family":"gpu","vcpu":1,"memoryGiB":1}},"regions":{"a":{"t":{"onDemand":1,"spot":2}}}}`,
		"extra field": `{"provider":"x","version":"1","currency":"USD","bogus":1}`,
	} {
		if _, err := pricing.ParseCatalog([]byte(js)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func pricer(t *testing.T, cfg pricing.Config) *pricing.Pricer {
	t.Helper()
	if cfg.Custom == (pricing.Custom{}) {
		cfg.Custom = pricing.DefaultCustom()
	}
	p, err := pricing.NewPricer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const gib = 1 << 30

func awsNode(it string, cores, ramGiB, gpus float64, labels map[string]string) *cost.Node {
	return &cost.Node{Name: "n", ProviderID: "aws:///us-east-1a/i-1", InstanceType: it, CPUCores: cores, RAMBytes: ramGiB * gib, GPUs: gpus, Labels: labels,
		Region: "us-east-1"}
}

func TestCatalogPriceSplitSumsToListPrice(t *testing.T) {
	p := pricer(t, pricing.Config{Catalogs: bundled(t)})
	for _, c := range []struct {
		n    *cost.Node
		list float64
	}{
		{awsNode("m5.xlarge", 4, 16, 0, nil), 0.192},
		{awsNode("g5.xlarge", 4, 16, 1, nil), 1.006},
		{awsNode("r6i.2xlarge", 8, 64, 0, nil), 0.504},
	} {
		np := p.Node(c.n)
		if got := np.Hourly(c.n.CPUCores, c.n.RAMBytes, c.n.GPUs); math.Abs(got-c.list) > 1e-12 || np.Warning != "" || np.Spot || !strings.HasPrefix(np.Source, "aws/") {
			t.Errorf("%s: hourly %.9f (%+v), want %v from the catalog", c.n.InstanceType, got, np, c.list)
		}
		// The split follows the custom weights: cpu/ram rate ratio is theirs.
		cu := pricing.DefaultCustom()
		if r := np.CPU / np.RAM; math.Abs(r-cu.CPU/cu.RAM) > 1e-9 {
			t.Errorf("%s: cpu/ram = %v, want %v", c.n.InstanceType, r, cu.CPU/cu.RAM)
		}
	}
}

func TestSpotDetectionFromLabels(t *testing.T) {
	for _, l := range []map[string]string{
		{"karpenter.sh/capacity-type": "spot"},
		{"eks.amazonaws.com/capacityType": "SPOT"},
		{"cloud.google.com/gke-spot": "true"},
		{"cloud.google.com/gke-preemptible": "true"},
		{"kubernetes.azure.com/scalesetpriority": "spot"},
		{"label_eks_amazonaws_com_capacity_type": "SPOT"},
	} {
		if !pricing.IsSpot(l) {
			t.Errorf("%v: not spot", l)
		}
	}
	for _, l := range []map[string]string{nil, {"karpenter.sh/capacity-type": "on-demand"}, {"eks.amazonaws.com/capacityType": "ON_DEMAND"}, {"cloud.google.com/gke-spot": "false"}, {"kubernetes.azure.com/scalesetpriority": "regular"}} {
		if pricing.IsSpot(l) {
			t.Errorf("%v: spot", l)
		}
	}
	id := pricing.Identify(&cost.Node{ProviderID: "gce://proj/europe-west1-b/n1", Labels: map[string]string{
		"node.kubernetes.io/instance-type": "n2-standard-4", "topology.kubernetes.io/region": "europe-west1", "cloud.google.com/gke-spot": "true"}})
	if id != (pricing.NodeIdentity{Provider: "gcp", Region: "europe-west1", InstanceType: "n2-standard-4", Spot: true}) {
		t.Errorf("identity from labels = %+v", id)
	}
	// A spot AWS node: AWS publishes no spot list price, so custom spot rates apply.
	p := pricer(t, pricing.Config{Catalogs: bundled(t)})
	np := p.Node(awsNode("m5.xlarge", 4, 16, 0, map[string]string{"karpenter.sh/capacity-type": "spot"}))
	cu := pricing.DefaultCustom()
	if !np.Spot || np.CPU != cu.SpotCPU || np.RAM != cu.SpotRAM || !strings.HasPrefix(np.Source, "custom-spot") || np.Warning != "" {
		t.Errorf("spot m5.xlarge = %+v", np)
	}
}

func TestDiscounts(t *testing.T) {
	p := pricer(t, pricing.Config{Catalogs: bundled(t), Discounts: map[string]float64{"aws": 0.2}, Negotiated: 0.1})
	n := awsNode("m5.xlarge", 4, 16, 0, nil)
	np := p.Node(n)
	want := 0.192 * 0.8 * 0.9
	if got := np.Hourly(4, 16*gib, 0); math.Abs(got-want) > 1e-12 || math.Abs(np.Discount-0.28) > 1e-12 || np.List != 0.192 {
		t.Errorf("discounted m5.xlarge = %.9f (%+v), want %.9f with discount 0.28", got, np, want)
	}
	if _, err := pricing.NewPricer(pricing.Config{Custom: pricing.DefaultCustom(), Discounts: map[string]float64{"aws": 1.5}}); err == nil || !strings.Contains(err.Error(), "discounts.aws") {
		t.Errorf("discount 150%%: err = %v", err)
	}
}

func TestUnknownInstanceTypeFallsBackWithWarning(t *testing.T) {
	p := pricer(t, pricing.Config{Catalogs: bundled(t)})
	for _, n := range []*cost.Node{
		awsNode("x9z.huge", 4, 16, 0, nil),
		{ProviderID: "aws:///eu-west-9a/i-2", InstanceType: "m5.xlarge", Region: "eu-west-9", CPUCores: 4, RAMBytes: 16 * gib},
		{ProviderID: "azure:///subscriptions/x", InstanceType: "Standard_D4s_v5", Region: "brazilsouth", CPUCores: 4, RAMBytes: 16 * gib},
		{ProviderID: "gce://p/us-south1-a/n", InstanceType: "n2-standard-4", Region: "us-south1", CPUCores: 4, RAMBytes: 16 * gib},
	} {
		np := p.Node(n)
		cu := pricing.DefaultCustom()
		if np.Warning == "" || np.Source != "custom" || np.CPU != cu.CPU || np.RAM != cu.RAM {
			t.Errorf("%s in %q: %+v, want custom prices with a warning", n.InstanceType, n.Region, np)
		}
	}
	// On-premises nodes (no provider) use custom prices silently: that is the
	// air-gapped default, not a failure.
	if np := p.Node(&cost.Node{CPUCores: 4}); np.Warning != "" || np.Source != "custom" {
		t.Errorf("on-prem node: %+v", np)
	}
}

func TestStorageClassPrices(t *testing.T) {
	p := pricer(t, pricing.Config{StorageClasses: map[string]float64{"gp3": 0.08, "io2": 0.125}})
	if got := p.VolumeHourly("gp3", 100*gib); math.Abs(got-100*0.08/730) > 1e-15 {
		t.Errorf("gp3 100 GiB = %v", got)
	}
	if got := p.VolumeHourly("standard", 100*gib); math.Abs(got-100*pricing.DefaultCustom().Storage/730) > 1e-15 {
		t.Errorf("unlisted class = %v, want the custom storage price", got)
	}
}
