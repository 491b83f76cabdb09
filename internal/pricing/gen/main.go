// Command gen writes costwarden's bundled price catalogs (internal/pricing/catalogs)
// from published sources, so they can be refreshed:
//
//   - AWS (-aws): the on-demand price table that the Karpenter AWS provider generates
//     into its Go module (pkg/providers/pricing/zz_generated.pricing_aws.go of
//     github.com/aws/karpenter-provider-aws). Fetch the module with
//     `go mod download -json github.com/aws/karpenter-provider-aws@VERSION` and pass
//     -aws-module with the version so it is recorded.
//   - AWS regions besides us-east-1 (-aws-ec2instances): an ec2instances.info
//     snapshot (instances.json, scraped from AWS's published price list), such as the
//     one embedded in the github.com/cristim/ec2-instances-info module, or an excerpt
//     in its layout (sources/aws-ec2instances.json). Only instance types whose
//     us-east-1 price in the snapshot equals Karpenter's current one are carried.
//   - GCP (-gcp): pricing.yml of github.com/Cyclenerd/google-cloud-pricing-cost-calculator
//     (generated from Google's Cloud Billing Catalog API), or an excerpt of it in the
//     same layout (sources/gcp-pricing.yml). Sizes of a covered family that the source
//     does not list in a region are derived from the family's published per-vCPU,
//     per-GiB and per-GPU rates there, after those rates reproduce every published size;
//     the catalog records which entries are derived.
//   - Azure (-azure): pkg/providers/pricing/zz_generated.pricing.go of
//     github.com/Azure/karpenter-provider-azure (generated from the Azure Retail Prices
//     API), or an excerpt of it in the same layout (sources/azure-pricing.go.txt). A
//     series whose sizes disagree on the per-vCPU price in a region is left out there.
//   - -published: list prices transcribed into a CSV, one row per region and instance
//     type, each with its source URL and retrieval date.
//
// -gcp-source and -azure-source name the repository and commit the file comes from,
// -gcp-regions and -azure-regions the regions to keep. sources/README.md has the exact
// command that wrote the bundled catalogs.
//
// It reads only the files it is given and writes one JSON catalog per provider. It
// owns the conversion; pricing reads the result.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/costwarden/costwarden/internal/pricing"
)

// The six regions bundled for each cloud: the largest regions of each provider.
const (
	defaultGCPRegions   = "us-central1,us-east1,us-west1,europe-west1,europe-west4,asia-southeast1"
	defaultAzureRegions = "eastus,eastus2,westus2,westeurope,northeurope,southeastasia"
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
	ec2 := fs.String("aws-ec2instances", "", "instances.json of ec2instances.info, or an excerpt in its layout: adds -aws-regions to the -aws catalog")
	ec2Source := fs.String("aws-ec2instances-source", "", "where the -aws-ec2instances file comes from (recorded as the source)")
	ec2Published := fs.String("aws-ec2instances-published", "", "when the -aws-ec2instances snapshot was taken (recorded)")
	awsRegions := fs.String("aws-regions", defaultAWSRegions, "comma-separated AWS regions to add from -aws-ec2instances")
	gcp := fs.String("gcp", "", "pricing.yml of Cyclenerd/google-cloud-pricing-cost-calculator, or an excerpt in its layout")
	gcpSource := fs.String("gcp-source", "", "repository, path and commit the -gcp file comes from (recorded as the source)")
	gcpRegions := fs.String("gcp-regions", defaultGCPRegions, "comma-separated GCP regions to keep")
	azure := fs.String("azure", "", "zz_generated.pricing.go of the Karpenter Azure provider, or an excerpt in its layout")
	azureSource := fs.String("azure-source", "", "repository, path and commit the -azure file comes from (recorded as the source)")
	azureRegions := fs.String("azure-regions", defaultAzureRegions, "comma-separated Azure regions to keep")
	retrieved := fs.String("retrieved", "", "date the sources were read (YYYY-MM-DD)")
	published := fs.String("published", "", "CSV of published list prices")
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
		if *ec2 != "" {
			if *ec2Source == "" || *ec2Published == "" {
				return errors.New("-aws-ec2instances-source and -aws-ec2instances-published are required with -aws-ec2instances (where and when the snapshot comes from)")
			}
			snap, err := os.ReadFile(*ec2)
			if err != nil {
				return err
			}
			if err := AddEC2Instances(c, snap, *ec2Source, *ec2Published, *retrieved, splitList(*awsRegions)); err != nil {
				return fmt.Errorf("%s: %w", *ec2, err)
			}
		}
		cats = append(cats, c)
	}
	if *gcp != "" {
		if *gcpSource == "" {
			return errors.New("-gcp-source is required with -gcp (where the file comes from)")
		}
		src, err := os.ReadFile(*gcp)
		if err != nil {
			return err
		}
		c, err := FromCyclenerd(src, *gcpSource, *retrieved, splitList(*gcpRegions))
		if err != nil {
			return fmt.Errorf("%s: %w", *gcp, err)
		}
		cats = append(cats, c)
	}
	if *azure != "" {
		if *azureSource == "" {
			return errors.New("-azure-source is required with -azure (where the file comes from)")
		}
		src, err := os.ReadFile(*azure)
		if err != nil {
			return err
		}
		c, err := FromAzureKarpenter(src, *azureSource, *retrieved, splitList(*azureRegions))
		if err != nil {
			return fmt.Errorf("%s: %w", *azure, err)
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
	if *ec2 != "" && *aws == "" {
		return errors.New("-aws-ec2instances needs -aws: the snapshot is checked against Karpenter's current us-east-1 prices")
	}
	if len(cats) == 0 {
		return errors.New("nothing to do: give -aws, -gcp, -azure and/or -published")
	}
	for _, c := range cats {
		if err := c.Validate(); err != nil {
			return err
		}
		b, err := Marshal(c)
		if err != nil {
			return err
		}
		path := filepath.Join(*out, c.Provider+".json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		n := 0
		for _, r := range c.Regions {
			n += len(r)
		}
		fmt.Fprintf(log, "gen: wrote %s: %d regions, %d instance types, %d prices\n", path, len(c.Regions), len(c.InstanceTypes), n)
	}
	return nil
}

// Marshal renders a catalog as the bundled JSON files are written.
func Marshal(c *pricing.Catalog) ([]byte, error) {
	b, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
