package httpapi_test

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func parseFloat(s string) (float64, error) { return strconv.ParseFloat(s, 64) }

// focusRule is one column's rules from the FOCUS specification (cost and usage
// dataset, columns/*.md): data type, whether null is allowed, allowed values.
type focusRule struct {
	typ      string // decimal, datetime, string, json, currency
	nullable bool
	allowed  []string
}

// focusSpec holds the FOCUS 1.2 mandatory columns (and the conditional ones the
// export fills) with their rules, and FOCUS 1.3's allocation columns.
var focusSpec = map[string]focusRule{
	// Mandatory in 1.2.
	"BilledCost":         {typ: "decimal"},
	"EffectiveCost":      {typ: "decimal"},
	"ListCost":           {typ: "decimal"},
	"ContractedCost":     {typ: "decimal"},
	"BillingAccountId":   {typ: "string"},
	"BillingAccountName": {typ: "string", nullable: true},
	"BillingCurrency":    {typ: "currency"},
	"BillingPeriodStart": {typ: "datetime"},
	"BillingPeriodEnd":   {typ: "datetime"},
	"ChargePeriodStart":  {typ: "datetime"},
	"ChargePeriodEnd":    {typ: "datetime"},
	"ChargeCategory":     {typ: "string", allowed: []string{"Usage", "Purchase", "Tax", "Credit", "Adjustment"}},
	"ChargeClass":        {typ: "string", nullable: true, allowed: []string{"Correction"}},
	"ChargeDescription":  {typ: "string", nullable: true},
	"PricingQuantity":    {typ: "decimal", nullable: true},
	"PricingUnit":        {typ: "string", nullable: true},
	"InvoiceIssuerName":  {typ: "string"},
	"ProviderName":       {typ: "string"},
	"PublisherName":      {typ: "string"},
	"ServiceCategory": {typ: "string", allowed: []string{"AI and Machine Learning", "Analytics", "Business Applications", "Compute", "Databases",
		"Developer Tools", "Multicloud", "Identity", "Integration", "Internet of Things", "Management and Governance", "Media", "Migration",
		"Mobile", "Networking", "Security", "Storage", "Web", "Other"}},
	"ServiceName": {typ: "string"},
	// Conditional columns the export fills.
	"ChargeFrequency":     {typ: "string", nullable: true, allowed: []string{"One-Time", "Recurring", "Usage-Based"}},
	"ConsumedQuantity":    {typ: "decimal", nullable: true},
	"ConsumedUnit":        {typ: "string", nullable: true},
	"ContractedUnitPrice": {typ: "decimal", nullable: true},
	"ListUnitPrice":       {typ: "decimal", nullable: true},
	"ResourceId":          {typ: "string", nullable: true},
	"ResourceName":        {typ: "string", nullable: true},
	"ResourceType":        {typ: "string", nullable: true},
	"SkuId":               {typ: "string", nullable: true},
	"SubAccountId":        {typ: "string", nullable: true},
	"SubAccountName":      {typ: "string", nullable: true},
	"RegionId":            {typ: "string", nullable: true},
	"Tags":                {typ: "json", nullable: true},
	// 1.3 split cost allocation.
	"AllocatedMethodId":     {typ: "string", nullable: true},
	"AllocatedResourceId":   {typ: "string", nullable: true},
	"AllocatedResourceName": {typ: "string", nullable: true},
	"AllocatedTags":         {typ: "json", nullable: true},
}

var (
	mandatory12 = []string{"BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
		"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory", "ChargeClass", "ChargeDescription",
		"PricingQuantity", "PricingUnit", "InvoiceIssuerName", "ProviderName", "PublisherName", "ServiceCategory", "ServiceName"}
	// FOCUS DateTimeFormat: ISO 8601 in UTC, "YYYY-MM-DDTHH:mm:ssZ".
	focusTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)
	// Column IDs are PascalCase; custom columns start with x_.
	pascal = regexp.MustCompile(`^(x_)?[A-Z][A-Za-z0-9]*$`)
	// FOCUS NumericFormat: plain decimal, no thousands separators or symbols.
	decimal = regexp.MustCompile(`^-?\d+(\.\d+)?$`)
)

// TestFOCUSExportFollowsSpecColumnRules checks a FOCUS export of the fixture
// against the specification's column rules, row by row, and checks that its
// billed cost is the allocation total of the same query.
func TestFOCUSExportFollowsSpecColumnRules(t *testing.T) {
	f := newFull(t)
	code, body, hdr := f.get(t, f.admin, "/api/v1/export/focus?"+window+"&aggregate=namespace,controller&shareNamespaces=kube-system")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") {
		t.Fatalf("%d %s", code, body[:min(300, len(body))])
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := recs[0]
	col := map[string]int{}
	for i, h := range header {
		if !pascal.MatchString(h) {
			t.Errorf("column %q is neither PascalCase nor x_-prefixed", h)
		}
		if _, known := focusSpec[h]; !known && !strings.HasPrefix(h, "x_") {
			t.Errorf("column %q is not a FOCUS column and lacks the x_ prefix", h)
		}
		col[h] = i
	}
	for _, m := range mandatory12 {
		if _, ok := col[m]; !ok {
			t.Errorf("mandatory FOCUS 1.2 column %s missing", m)
		}
	}
	for _, c := range []string{"ResourceId", "ResourceName", "Tags", "AllocatedMethodId", "AllocatedResourceId", "AllocatedResourceName", "AllocatedTags"} {
		if _, ok := col[c]; !ok {
			t.Errorf("column %s missing", c)
		}
	}
	if len(recs) < 50 {
		t.Fatalf("only %d rows", len(recs)-1)
	}
	billed, idleRows, allocated := 0.0, 0, 0
	ts := func(r []string, c string) time.Time {
		v, _ := time.Parse(time.RFC3339, r[col[c]])
		return v
	}
	for n, r := range recs[1:] {
		where := "row " + strconv.Itoa(n+2)
		for name, rule := range focusSpec {
			i, ok := col[name]
			if !ok {
				continue
			}
			v := r[i]
			if v == "" {
				if !rule.nullable {
					t.Errorf("%s: %s is null", where, name)
				}
				continue
			}
			switch rule.typ {
			case "decimal":
				if !decimal.MatchString(v) {
					t.Errorf("%s: %s = %q is not a decimal", where, name, v)
				}
			case "datetime":
				if !focusTime.MatchString(v) {
					t.Errorf("%s: %s = %q is not YYYY-MM-DDTHH:mm:ssZ", where, name, v)
				}
			case "currency":
				if !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(v) {
					t.Errorf("%s: %s = %q is not an ISO 4217 code", where, name, v)
				}
			case "json":
				var m map[string]any
				if err := json.Unmarshal([]byte(v), &m); err != nil {
					t.Errorf("%s: %s = %q is not a JSON object", where, name, v)
				}
			}
			if len(rule.allowed) > 0 && !slices.Contains(rule.allowed, v) {
				t.Errorf("%s: %s = %q is not an allowed value", where, name, v)
			}
			if strings.TrimSpace(v) != v {
				t.Errorf("%s: %s = %q has surrounding space (StringHandling)", where, name, v)
			}
		}
		cs, ce, bs, be := ts(r, "ChargePeriodStart"), ts(r, "ChargePeriodEnd"), ts(r, "BillingPeriodStart"), ts(r, "BillingPeriodEnd")
		if !cs.Before(ce) || cs.Before(bs) || ce.After(be) || bs.Day() != 1 || !be.Equal(bs.AddDate(0, 1, 0)) {
			t.Errorf("%s: charge period %s..%s outside billing period %s..%s", where, cs, ce, bs, be)
		}
		// PricingUnit is present exactly when PricingQuantity is; Usage needs both.
		if (r[col["PricingQuantity"]] == "") != (r[col["PricingUnit"]] == "") || r[col["ChargeCategory"]] == "Usage" && r[col["PricingQuantity"]] == "" {
			t.Errorf("%s: PricingQuantity %q with PricingUnit %q", where, r[col["PricingQuantity"]], r[col["PricingUnit"]])
		}
		// ContractedCost = ContractedUnitPrice × PricingQuantity (rounded to 6 places).
		if p := r[col["ContractedUnitPrice"]]; p != "" {
			up, _ := parseFloat(p)
			q, _ := parseFloat(r[col["PricingQuantity"]])
			cc, _ := parseFloat(r[col["ContractedCost"]])
			if math.Abs(up*q-cc) > 1e-6*math.Max(1, q)+1e-6 {
				t.Errorf("%s: ContractedCost %v != %v × %v", where, cc, up, q)
			}
		}
		// Unallocated (idle) charges have no allocated resource; allocated ones do.
		method, ares := r[col["AllocatedMethodId"]], r[col["AllocatedResourceId"]]
		if method == "" {
			t.Errorf("%s: AllocatedMethodId null on a split-cost charge", where)
		}
		if strings.Contains(r[col["ResourceName"]], "__idle__") {
			idleRows++
			if ares != "" {
				t.Errorf("%s: idle charge with AllocatedResourceId %q", where, ares)
			}
		} else if ares != "" {
			allocated++
		}
		b, _ := parseFloat(r[col["BilledCost"]])
		billed += b
		if tags := r[col["Tags"]]; tags != "" && !strings.Contains(r[col["ResourceName"]], "__") {
			var m map[string]string
			_ = json.Unmarshal([]byte(tags), &m)
			if m["k8s.costwarden/namespace"] == "" || m["k8s.costwarden/controller"] == "" {
				t.Errorf("%s: Tags %s lack the namespace and controller", where, tags)
			}
		}
	}
	if idleRows == 0 || allocated == 0 {
		t.Errorf("%d idle and %d allocated charges", idleRows, allocated)
	}
	_, body, _ = f.get(t, f.admin, "/api/v1/allocations?"+window+"&aggregate=namespace,controller&shareNamespaces=kube-system")
	var p allocPage
	_ = json.Unmarshal(body, &p)
	want := p.Totals["totalCost"].(float64)
	if math.Abs(billed-want) > 1e-3 {
		t.Errorf("FOCUS BilledCost sums to %.6f; the allocation total is %.6f", billed, want)
	}
	// A charge period must lie within one billing month.
	for _, q := range []string{"&step=2d", "&accumulate=true"} {
		code, body, _ := f.get(t, f.admin, "/api/v1/export/focus?"+window+q)
		if code != 400 {
			t.Errorf("FOCUS export with %s: %d %s", q, code, body)
		}
	}
}
