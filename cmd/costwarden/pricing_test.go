package main

import (
	"strings"
	"testing"
)

func TestPricingShow(t *testing.T) {
	code, out, errOut := runCLI(t, nil, "pricing", "show", "--instance-type", "m5.xlarge", "--region", "us-east-1")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	for _, want := range []string{"aws m5.xlarge in us-east-1 (on-demand)", "4 vCPU, 16 GiB", "list price:   USD 0.192000/hour",
		"hourly price: USD 0.192000/hour", "karpenter-provider-aws", "cpu  0.031247 per core-hour x 4 cores = 0.124988", "ram  0.004188 per GiB-hour"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A negotiated discount from the environment applies.
	code, out, _ = runCLI(t, []string{"COSTWARDEN_PRICING_DISCOUNTS_NEGOTIATED=10"}, "pricing", "show", "--instance-type", "m5.xlarge", "--region", "us-east-1")
	if code != 0 || !strings.Contains(out, "hourly price: USD 0.172800/hour") || !strings.Contains(out, "discount:     10.00%") {
		t.Errorf("with a 10%% discount: %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"pricing", "show", "--instance-type", "m5.xlarge", "--region", "mars-1"},
		{"pricing", "show", "--instance-type", "z9.mega", "--region", "us-east-1"},
		{"pricing", "show", "--region", "us-east-1"},
		{"pricing", "show", "--instance-type", "n2-standard-4", "--region", "us-south1"},
	} {
		if code, _, errOut := runCLI(t, nil, args...); code == 0 || errOut == "" {
			t.Errorf("%v: code %d, stderr %q; want a failure with a message", args, code, errOut)
		}
	}
}
