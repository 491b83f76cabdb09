package httpapi

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/server"
)

var errNotConfigured = errors.New("not configured on this server")

// exportRequest parses an export's query: the /allocation parameters, scoped
// exactly as /allocation is.
func (a *API) exportRequest(r *http.Request, focus bool) (*query.AllocationRequest, bool, error) {
	v := cloneValues(r.URL.Query())
	if focus {
		// FOCUS charge periods must lie inside one billing period (a calendar
		// month): daily by default, never longer than a day.
		if v.Get("accumulate") == "true" {
			return nil, false, &query.ParamError{Param: "accumulate", Message: "a FOCUS export has one charge period per step (at most 1d); accumulate is not possible"}
		}
		if v.Get("step") == "" {
			v.Set("step", "1d")
		}
	}
	req, err := query.ParseAllocation(v, a.Now(), a.Settings)
	if err != nil {
		return nil, false, err
	}
	if focus && (req.Step == 0 || req.Step > 24*time.Hour) {
		return nil, false, &query.ParamError{Param: "step", Message: "a FOCUS export needs charge periods of at most 1d (they must fall within one billing month)"}
	}
	scoped, err := a.scopeAllocation(r, &req.Query)
	return req, scoped, err
}

// exportCSV streams any allocation query as CSV, one row per allocation and step.
func (a *API) exportCSV(w http.ResponseWriter, r *http.Request) {
	req, _, err := a.exportRequest(r, false)
	if err == nil {
		var results []*allocation.Result
		if results, err = a.Query.Allocation(r.Context(), req); err == nil {
			if err = a.recordExport(r, "csv"); err != nil {
				a.refuseUnaudited(w, r, err)
				return
			}
			a.streamCSV(w, r, "costwarden-allocation", csvHeader, results, func(cw *csv.Writer, res *allocation.Result, al *cost.Allocation) error {
				return cw.Write(csvRow(res, al))
			})
			return
		}
	}
	a.writeError(w, r, err)
}

// streamCSV writes the rows of results as they are produced, flushing in
// chunks, so a long export starts arriving at once and never sits whole in memory.
func (a *API) streamCSV(w http.ResponseWriter, r *http.Request, name string, header []string, results []*allocation.Result,
	row func(*csv.Writer, *allocation.Result, *cost.Allocation) error) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+"-"+a.Now().UTC().Format("20060102T150405Z")+`.csv"`)
	bw := bufio.NewWriterSize(w, 64<<10)
	cw := csv.NewWriter(bw)
	n := 0
	err := cw.Write(header)
	for i, res := range results {
		for _, al := range res.Allocations {
			if err != nil {
				break
			}
			err = row(cw, res, al)
			n++
		}
		results[i] = nil
		cw.Flush()
		if err == nil {
			err = cw.Error()
		}
	}
	cw.Flush()
	if err == nil {
		err = bw.Flush()
	}
	p := principal(r)
	who := ""
	if p != nil {
		who = p.ID
	}
	// The audit trail (internal/audit) records exports through this log event
	// until it hooks in; the parameters are the query, never the data.
	a.Log.InfoContext(r.Context(), "export", "request_id", server.RequestID(r.Context()), "principal", who, "format", name, "rows", n, "query", r.URL.RawQuery, "error", errString(err))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var csvHeader = []string{"windowStart", "windowEnd", "name", "cluster", "node", "namespace", "controllerKind", "controller", "pod", "container",
	"cpuCoreHours", "cpuCoreRequestAverage", "cpuCoreUsageAverage", "cpuCost", "ramByteHours", "ramByteRequestAverage", "ramByteUsageAverage", "ramCost",
	"gpuHours", "gpuCost", "pvByteHours", "pvCost", "loadBalancerCost", "sharedCost", "totalCost", "cpuEfficiency", "ramEfficiency", "totalEfficiency"}

func fnum(v float64) string {
	if v != v || v > 1e300 || v < -1e300 {
		return "0"
	}
	s := strconv.FormatFloat(v, 'f', 6, 64)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" || s == "" {
		s = "0"
	}
	return s
}

// cell makes a text value safe for spreadsheets: a cell a spreadsheet would
// read as a formula (=, +, -, @, tab, CR) is prefixed with an apostrophe, so a
// crafted label cannot run in finance's copy of Excel.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func csvRow(res *allocation.Result, al *cost.Allocation) []string {
	p := al.Properties
	if p == nil {
		p = &cost.Properties{}
	}
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	return []string{ts(res.Window.Start), ts(res.Window.End), cell(al.Name), cell(p.Cluster), cell(p.Node), cell(p.Namespace), cell(p.ControllerKind),
		cell(p.Controller), cell(p.Pod), cell(p.Container),
		fnum(al.CPUCoreHours), fnum(al.CPUCoreRequestAverage()), fnum(al.CPUCoreUsageAverage()), fnum(al.CPUCost),
		fnum(al.RAMByteHours), fnum(al.RAMBytesRequestAverage()), fnum(al.RAMBytesUsageAverage()), fnum(al.RAMCost),
		fnum(al.GPUHours), fnum(al.GPUCost), fnum(al.PVByteHours), fnum(al.PVCost), fnum(al.LoadBalancerCost), fnum(al.SharedCost),
		fnum(al.TotalCost()), fnum(al.CPUEfficiency()), fnum(al.RAMEfficiency()), fnum(al.TotalEfficiency())}
}

// FocusColumns are the columns of the FOCUS export, in order: the FOCUS 1.2
// mandatory columns, the conditional ones this data fills (resource, SKU,
// region, tags), FOCUS 1.3's split-cost allocation columns, then x_ columns
// of our own (the specification reserves that prefix for extensions).
var FocusColumns = []string{
	"BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
	"ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
	"ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
	"InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName",
	"RegionId", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "SkuId", "SubAccountId", "SubAccountName", "Tags",
	"AllocatedMethodId", "AllocatedResourceId", "AllocatedResourceName", "AllocatedTags",
	"x_Cluster", "x_Namespace", "x_ControllerKind", "x_Controller", "x_Pod", "x_Container", "x_Efficiency",
}

// focusComponent is one priced resource of an allocation row: each becomes one
// FOCUS charge (a SKU with its own quantity and unit).
type focusComponent struct {
	sku, unit, service, category, desc string
	qty, cost                          float64
}

func focusComponents(al *cost.Allocation) []focusComponent {
	hours := al.Hours()
	cs := []focusComponent{
		{"cpu", "Core-Hours", "Kubernetes Compute", "Compute", "CPU core-hours allocated (max of request and usage)", al.CPUCoreHours, al.CPUCost},
		{"ram", "GiB-Hours", "Kubernetes Compute", "Compute", "Memory GiB-hours allocated (max of request and usage)", al.RAMByteHours / (1 << 30), al.RAMCost},
		{"gpu", "GPU-Hours", "Kubernetes Compute", "Compute", "GPU-hours requested", al.GPUHours, al.GPUCost},
		{"pv", "GiB-Hours", "Kubernetes Persistent Volumes", "Storage", "Persistent volume GiB-hours mounted", al.PVByteHours / (1 << 30), al.PVCost},
		{"loadbalancer", "Hours", "Kubernetes Load Balancers", "Networking", "Share of LoadBalancer services", hours, al.LoadBalancerCost},
		{"shared", "Hours", "Kubernetes Shared Costs", "Other", "Share of shared namespaces, labels and fixed overhead", hours, al.SharedCost},
	}
	out := cs[:0]
	for _, c := range cs {
		if c.cost != 0 || (c.qty != 0 && c.sku != "loadbalancer" && c.sku != "shared") {
			out = append(out, c)
		}
	}
	return out
}

// AllocatedMethodID names costwarden's split of node, volume and load-balancer
// costs over workloads (docs/cost-model.md), FOCUS 1.3's AllocatedMethodId.
const AllocatedMethodID = "costwarden-max-request-usage-v1"

// exportFOCUS streams the query as a FOCUS 1.2 cost-and-usage dataset (CSV),
// one charge per allocation row, step and priced resource.
func (a *API) exportFOCUS(w http.ResponseWriter, r *http.Request) {
	req, _, err := a.exportRequest(r, true)
	if err == nil {
		var results []*allocation.Result
		if results, err = a.Query.Allocation(r.Context(), req); err == nil {
			account := a.Tenant
			if account == "" {
				account = "default"
			}
			if err = a.recordExport(r, "focus"); err != nil {
				a.refuseUnaudited(w, r, err)
				return
			}
			a.streamCSV(w, r, "costwarden-focus", FocusColumns, results, func(cw *csv.Writer, res *allocation.Result, al *cost.Allocation) error {
				for _, row := range a.focusRows(account, res, al) {
					if err := cw.Write(row); err != nil {
						return err
					}
				}
				return nil
			})
			return
		}
	}
	a.writeError(w, r, err)
}

func (a *API) focusRows(account string, res *allocation.Result, al *cost.Allocation) [][]string {
	p := al.Properties
	if p == nil {
		p = &cost.Properties{}
	}
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
	start := res.Window.Start.UTC()
	bpStart := time.Date(start.Year(), start.Month(), 1, 0, 0, 0, 0, time.UTC)
	bpEnd := bpStart.AddDate(0, 1, 0)
	idle := al.Kind == cost.KindIdle || al.Name == cost.IdleName
	unalloc := idle || al.Name == cost.UnmountedName || al.Name == cost.UnallocatedName
	resourceID := "k8s://" + al.Name
	if p.Cluster != "" && !strings.HasPrefix(al.Name, p.Cluster+"/") {
		resourceID = "k8s://" + p.Cluster + "/" + al.Name
	}
	resType := "Kubernetes Workload"
	if idle {
		resType = "Kubernetes Idle Capacity"
	}
	tags := focusTags(p)
	allocID, allocName := resourceID, al.Name
	if unalloc {
		// The unallocated part of the split: FOCUS 1.3 wants no allocated resource.
		allocID, allocName = "", ""
	}
	var out [][]string
	for _, c := range focusComponents(al) {
		price := ""
		if c.qty > 0 {
			price = fnum(c.cost / c.qty)
		}
		desc := c.desc
		if idle {
			desc = "Unallocated capacity: " + strings.ToLower(c.desc[:1]) + c.desc[1:]
		}
		out = append(out, []string{
			fnum(c.cost), account, "costwarden " + account, a.currency(), ts(bpEnd), ts(bpStart),
			"Usage", "", desc, "Usage-Based", ts(res.Window.End), ts(res.Window.Start),
			fnum(c.qty), c.unit, fnum(c.cost), price, fnum(c.cost),
			"costwarden", fnum(c.cost), price, fnum(c.qty), c.unit, "Kubernetes", "costwarden",
			"", cell(resourceID), cell(al.Name), resType, c.category, c.service, c.sku, cell(p.Cluster), cell(p.Cluster), tags,
			AllocatedMethodID, cell(allocID), cell(allocName), "",
			cell(p.Cluster), cell(p.Namespace), cell(p.ControllerKind), cell(p.Controller), cell(p.Pod), cell(p.Container), fnum(al.TotalEfficiency()),
		})
	}
	return out
}

// focusTags carries the row's Kubernetes identity and labels as FOCUS Tags:
// labels as user-defined tags (keys as given), identity under the
// provider-defined prefix "k8s.costwarden/".
func focusTags(p *cost.Properties) string {
	m := map[string]string{}
	for k, v := range p.NamespaceLabels {
		m[k] = v
	}
	for k, v := range p.Labels {
		m[k] = v
	}
	for k, v := range map[string]string{"cluster": p.Cluster, "namespace": p.Namespace, "controllerKind": p.ControllerKind,
		"controller": p.Controller, "pod": p.Pod, "container": p.Container, "node": p.Node} {
		if v != "" {
			m["k8s.costwarden/"+k] = v
		}
	}
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(m[k])
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.String()
}

// recordExport records a cost export (cost data leaving the installation)
// before any of it is written: an export that cannot be audited is refused.
func (a *API) recordExport(r *http.Request, format string) error {
	if a.Audit == nil {
		return nil
	}
	p := principal(r)
	ev := audit.Event{Action: audit.CostExport, Outcome: audit.Success, SourceIP: server.SourceIP(r), RequestID: server.RequestID(r.Context()),
		Target: r.URL.Path, Details: map[string]string{"format": format, "query": r.URL.RawQuery}}
	if p != nil {
		ev.Actor = server.ActorOf(p)
		if p.TokenID != "" {
			ev.Detail("token", p.TokenID)
		}
	}
	return a.Audit.Record(r.Context(), ev)
}

func (a *API) refuseUnaudited(w http.ResponseWriter, r *http.Request, err error) {
	a.Log.ErrorContext(r.Context(), "refusing an export: the audit trail cannot be written", "request_id", server.RequestID(r.Context()), "error", err)
	server.WriteError(w, r, http.StatusServiceUnavailable, "the audit trail cannot be written; the export was refused", "")
}
