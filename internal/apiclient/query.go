package apiclient

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Query is one `costwarden query` request.
type Query struct {
	Window    string
	Aggregate string
	Filter    string
	// Extra are further parameters passed as they are (idle, shareIdle, ...).
	Extra  url.Values
	Output string // table, json or csv
}

func (q Query) values() url.Values {
	v := url.Values{}
	for k, vs := range q.Extra {
		v[k] = vs
	}
	v.Set("window", q.Window)
	if q.Aggregate != "" {
		v.Set("aggregate", q.Aggregate)
	}
	if q.Filter != "" {
		v.Set("filter", q.Filter)
	}
	return v
}

// ValidOutput checks --output.
func ValidOutput(o string) error {
	switch o {
	case "table", "json", "csv":
		return nil
	}
	return fmt.Errorf("--output: %q is not table, json or csv", o)
}

type allocRow struct {
	Name             string  `json:"name"`
	CPUCost          float64 `json:"cpuCost"`
	RAMCost          float64 `json:"ramCost"`
	GPUCost          float64 `json:"gpuCost"`
	PVCost           float64 `json:"pvCost"`
	LoadBalancerCost float64 `json:"loadBalancerCost"`
	SharedCost       float64 `json:"sharedCost"`
	TotalCost        float64 `json:"totalCost"`
	TotalEfficiency  float64 `json:"totalEfficiency"`
}

type allocPage struct {
	Window   struct{ Start, End string } `json:"window"`
	Currency string                      `json:"currency"`
	Count    int                         `json:"count"`
	Data     []json.RawMessage           `json:"data"`
	Totals   json.RawMessage             `json:"totals"`
	Next     string                      `json:"next"`
	Warnings []string                    `json:"warnings"`
}

// Allocation prints allocations: every page of /api/v1/allocations as a table
// or JSON, or the server's CSV export streamed as it is.
func (c *Client) Allocation(ctx context.Context, q Query, out io.Writer) error {
	if q.Output == "csv" {
		body, err := c.open(ctx, "/api/v1/export/csv", q.values())
		if err != nil {
			return err
		}
		defer body.Close()
		_, err = io.Copy(out, body)
		return err
	}
	var rows []json.RawMessage
	var first allocPage
	v := q.values()
	v.Set("limit", "5000")
	for page := 0; ; page++ {
		var p allocPage
		if err := c.getJSON(ctx, "/api/v1/allocations", v, &p); err != nil {
			return err
		}
		if page == 0 {
			first = p
		}
		rows = append(rows, p.Data...)
		if p.Next == "" {
			break
		}
		v.Set("cursor", p.Next)
	}
	if q.Output == "json" {
		first.Data, first.Next = rows, ""
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(first)
	}
	t := &Table{Head: []string{strings.ToUpper(orDefault(q.Aggregate, "container")), "CPU", "RAM", "GPU", "PV", "LB", "SHARED", "TOTAL", "EFFICIENCY"}, Numeric: []bool{false, true, true, true, true, true, true, true, true}}
	m := money(first.Currency)
	for _, raw := range rows {
		var r allocRow
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		eff := pct(r.TotalEfficiency)
		if r.Name == "__idle__" {
			eff = "-"
		}
		t.Rows = append(t.Rows, []string{r.Name, m(r.CPUCost), m(r.RAMCost), m(r.GPUCost), m(r.PVCost), m(r.LoadBalancerCost), m(r.SharedCost), m(r.TotalCost), eff})
	}
	var tot allocRow
	_ = json.Unmarshal(first.Totals, &tot)
	t.Foot = []string{"TOTAL", m(tot.CPUCost), m(tot.RAMCost), m(tot.GPUCost), m(tot.PVCost), m(tot.LoadBalancerCost), m(tot.SharedCost), m(tot.TotalCost), pct(tot.TotalEfficiency)}
	fmt.Fprintf(out, "window %s .. %s, %d rows\n\n", first.Window.Start, first.Window.End, len(rows))
	t.Write(out)
	for _, w := range first.Warnings {
		fmt.Fprintf(out, "\nwarning: %s\n", w)
	}
	return nil
}

type assetRow struct {
	Type         string  `json:"type"`
	Cluster      string  `json:"cluster"`
	Namespace    string  `json:"namespace"`
	Name         string  `json:"name"`
	InstanceType string  `json:"instanceType"`
	StorageClass string  `json:"storageClass"`
	Spot         *bool   `json:"spot"`
	CPUCost      float64 `json:"cpuCost"`
	RAMCost      float64 `json:"ramCost"`
	GPUCost      float64 `json:"gpuCost"`
	Hours        float64 `json:"hours"`
	TotalCost    float64 `json:"totalCost"`
}

// Assets prints nodes, disks and load balancers.
func (c *Client) Assets(ctx context.Context, q Query, typ string, out io.Writer) error {
	v := url.Values{"window": {q.Window}, "limit": {"5000"}}
	if typ != "" {
		v.Set("type", typ)
	}
	var all []json.RawMessage
	var first struct {
		Window   struct{ Start, End string } `json:"window"`
		Currency string                      `json:"currency"`
		Totals   map[string]float64          `json:"totals"`
		Count    int                         `json:"count"`
		Data     []json.RawMessage           `json:"data"`
		Next     string                      `json:"next"`
	}
	for page := 0; ; page++ {
		var p = first
		p.Data = nil
		if err := c.getJSON(ctx, "/api/v1/assets", v, &p); err != nil {
			return err
		}
		if page == 0 {
			first = p
		}
		all = append(all, p.Data...)
		if p.Next == "" {
			break
		}
		v.Set("cursor", p.Next)
	}
	if q.Output == "json" {
		first.Data, first.Next = all, ""
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(first)
	}
	m := money(first.Currency)
	t := &Table{Head: []string{"TYPE", "CLUSTER", "NAME", "INSTANCE/CLASS", "SPOT", "CPU", "RAM", "GPU", "HOURS", "TOTAL"},
		Numeric: []bool{false, false, false, false, false, true, true, true, true, true}}
	for _, raw := range all {
		var a assetRow
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		name, kind, spot := a.Name, a.InstanceType, ""
		if a.Namespace != "" {
			name = a.Namespace + "/" + a.Name
		}
		if a.Type == "Disk" {
			kind = a.StorageClass
		}
		if a.Spot != nil && *a.Spot {
			spot = "yes"
		}
		cpu, ram, gpu := "", "", ""
		if a.Type == "Node" {
			cpu, ram, gpu = m(a.CPUCost), m(a.RAMCost), m(a.GPUCost)
		}
		t.Rows = append(t.Rows, []string{a.Type, a.Cluster, name, kind, spot, cpu, ram, gpu, strconv.FormatFloat(a.Hours, 'f', 1, 64), m(a.TotalCost)})
	}
	t.Foot = []string{"TOTAL", "", "", "", "", "", "", "", "", m(first.Totals["total"])}
	if q.Output == "csv" {
		return t.CSV(out)
	}
	fmt.Fprintf(out, "window %s .. %s, %d assets (nodes %s, disks %s, load balancers %s)\n\n", first.Window.Start, first.Window.End, len(all),
		m(first.Totals["nodes"]), m(first.Totals["disks"]), m(first.Totals["loadBalancers"]))
	t.Write(out)
	return nil
}

// Recommendations prints right-sizing advice with monthly savings.
func (c *Client) Recommendations(ctx context.Context, q Query, out io.Writer) error {
	v := q.values()
	if q.Aggregate == "" {
		v.Set("aggregate", "controller")
	}
	var r struct {
		Data []struct {
			Namespace, Controller, ControllerKind, Container string
			Replicas                                         float64
			Current                                          struct{ CPUCores, RAMBytes, MonthlyCost float64 }
			Recommended                                      struct{ CPUCores, RAMBytes, MonthlyCost float64 }
			MonthlySaving                                    float64 `json:"monthlySaving"`
		} `json:"data"`
		Skipped       []json.RawMessage `json:"skipped"`
		MonthlySaving float64           `json:"monthlySaving"`
	}
	var raw json.RawMessage
	if err := c.getJSON(ctx, "/api/v1/recommendations", v, &raw); err != nil {
		return err
	}
	if q.Output == "json" {
		_, err := out.Write(append(raw, '\n'))
		return err
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	m := money("USD")
	t := &Table{Head: []string{"NAMESPACE", "WORKLOAD", "CONTAINER", "CPU NOW", "CPU ADVISED", "MEM NOW", "MEM ADVISED", "NOW/MONTH", "ADVISED/MONTH", "SAVING/MONTH"},
		Numeric: []bool{false, false, false, true, true, true, true, true, true, true}}
	for _, x := range r.Data {
		t.Rows = append(t.Rows, []string{x.Namespace, x.ControllerKind + "/" + x.Controller, x.Container,
			strconv.FormatFloat(x.Current.CPUCores, 'f', 3, 64), strconv.FormatFloat(x.Recommended.CPUCores, 'f', 3, 64),
			mib(x.Current.RAMBytes), mib(x.Recommended.RAMBytes), m(x.Current.MonthlyCost), m(x.Recommended.MonthlyCost), m(x.MonthlySaving)})
	}
	t.Foot = []string{"TOTAL", "", "", "", "", "", "", "", "", m(r.MonthlySaving)}
	if q.Output == "csv" {
		return t.CSV(out)
	}
	t.Write(out)
	if len(r.Skipped) > 0 {
		fmt.Fprintf(out, "\n%d workload containers have too little data for advice yet.\n", len(r.Skipped))
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func money(currency string) func(float64) string {
	sym := currency + " "
	if currency == "" || currency == "USD" {
		sym = "$"
	}
	return func(v float64) string {
		s := strconv.FormatFloat(v, 'f', 2, 64)
		if s == "-0.00" {
			s = "0.00"
		}
		return sym + group(s)
	}
}

// group puts thousands separators into a decimal string.
func group(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

func pct(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }

func mib(v float64) string { return strconv.FormatFloat(v/(1<<20), 'f', 0, 64) + "Mi" }

// Table is an aligned text table: text columns left, numbers right, a rule
// under the head and above the footer.
type Table struct {
	Head    []string
	Numeric []bool
	Rows    [][]string
	Foot    []string
}

// Write prints the table.
func (t *Table) Write(w io.Writer) {
	width := make([]int, len(t.Head))
	all := append([][]string{t.Head}, t.Rows...)
	if t.Foot != nil {
		all = append(all, t.Foot)
	}
	for _, r := range all {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(r []string) {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if t.Numeric[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	rule := func() {
		total := 0
		for _, x := range width {
			total += x
		}
		fmt.Fprintln(w, strings.Repeat("─", total+2*(len(width)-1)))
	}
	line(t.Head)
	rule()
	for _, r := range t.Rows {
		line(r)
	}
	if t.Foot != nil {
		rule()
		line(t.Foot)
	}
}

// CSV prints the table as CSV (with the footer as a last row).
func (t *Table) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write(t.Head)
	for _, r := range t.Rows {
		_ = cw.Write(r)
	}
	if t.Foot != nil {
		_ = cw.Write(t.Foot)
	}
	cw.Flush()
	return cw.Error()
}
