package httpapi

import (
	"cmp"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/query"
)

// allocationSortFields are the columns /api/v1/allocations sorts by.
var allocationSortFields = []string{"name", "totalCost", "cpuCost", "ramCost", "gpuCost", "pvCost", "loadBalancerCost", "sharedCost",
	"cpuEfficiency", "ramEfficiency", "totalEfficiency"}

func sortValue(a *cost.Allocation, field string) float64 {
	switch field {
	case "cpuCost":
		return a.CPUCost
	case "ramCost":
		return a.RAMCost
	case "gpuCost":
		return a.GPUCost
	case "pvCost":
		return a.PVCost
	case "loadBalancerCost":
		return a.LoadBalancerCost
	case "sharedCost":
		return a.SharedCost
	case "cpuEfficiency":
		return a.CPUEfficiency()
	case "ramEfficiency":
		return a.RAMEfficiency()
	case "totalEfficiency":
		return a.TotalEfficiency()
	}
	return a.TotalCost()
}

// seriesJSON is the cost of the largest rows per step, for stacked charts.
type seriesJSON struct {
	Steps []windowJSON    `json:"steps"`
	Rows  []seriesRowJSON `json:"rows"`
}

type seriesRowJSON struct {
	Name  string `json:"name"`
	Costs []num  `json:"costs"`
}

type allocationsResponse struct {
	Code      int               `json:"code"`
	Window    windowJSON        `json:"window"`
	Currency  string            `json:"currency"`
	Count     int               `json:"count"`
	Data      []*allocationJSON `json:"data"`
	Totals    *allocationJSON   `json:"totals"`
	Next      string            `json:"next,omitempty"`
	Series    *seriesJSON       `json:"series,omitempty"`
	Warnings  []string          `json:"warnings,omitempty"`
	Scoped    bool              `json:"scoped"`
	Aggregate string            `json:"aggregate"`
}

// allocationsV1 is /allocation for people and programs that page: rows summed
// over the whole window, sorted and paged, with totals, and (with step) the
// cost of the largest rows per step for a stacked chart.
func (a *API) allocationsV1(r *http.Request) (any, error) {
	v := cloneValues(r.URL.Query())
	pg, err := parsePage(v, 100, 5000)
	if err != nil {
		return nil, err
	}
	field, desc, err := parseSort(v, "-totalCost", allocationSortFields)
	if err != nil {
		return nil, err
	}
	top := 8
	if s := v.Get("seriesTop"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 50 {
			return nil, &query.ParamError{Param: "seriesTop", Message: "must be a whole number from 1 to 50"}
		}
		top = n
	}
	v.Del("seriesTop")
	if v.Has("accumulate") {
		return nil, &query.ParamError{Param: "accumulate", Message: "not used here: rows are always summed over the window (use step for a series)"}
	}
	req, err := query.ParseAllocation(v, a.Now(), a.Settings)
	if err != nil {
		return nil, err
	}
	scoped, err := a.scopeAllocation(r, &req.Query)
	if err != nil {
		return nil, err
	}
	results, err := a.Query.Allocation(r.Context(), req)
	if err != nil {
		return nil, err
	}
	rows, warnings := mergeSteps(results)
	if scoped {
		warnings = nil
	}
	slices.SortFunc(rows, func(x, y *cost.Allocation) int {
		var c int
		if field == "name" {
			c = strings.Compare(x.Name, y.Name)
		} else {
			c = cmp.Compare(sortValue(x, field), sortValue(y, field))
		}
		if desc {
			c = -c
		}
		return cmp.Or(c, strings.Compare(x.Name, y.Name))
	})
	total := &cost.Allocation{Name: "total", Window: req.Window}
	for _, al := range rows {
		total.Add(al)
	}
	lo, hi, next := pg.bounds(len(rows))
	resp := &allocationsResponse{Code: http.StatusOK, Window: windowJSON{req.Window.Start, req.Window.End}, Currency: a.currency(),
		Count: len(rows), Data: make([]*allocationJSON, 0, hi-lo), Totals: newAllocationJSON(total), Next: next, Warnings: warnings,
		Scoped: scoped, Aggregate: v.Get("aggregate")}
	for _, al := range rows[lo:hi] {
		resp.Data = append(resp.Data, newAllocationJSON(al))
	}
	if req.Step > 0 {
		resp.Series = series(results, rows, top)
	}
	return resp, nil
}

func (a *API) currency() string {
	if a.Currency == "" {
		return "USD"
	}
	return a.Currency
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// mergeSteps sums each row over the steps of a result.
func mergeSteps(results []*allocation.Result) ([]*cost.Allocation, []string) {
	byName := map[string]*cost.Allocation{}
	var order []string
	var warnings []string
	seen := map[string]bool{}
	for _, res := range results {
		for _, w := range res.Warnings {
			if !seen[w] {
				seen[w] = true
				warnings = append(warnings, w)
			}
		}
		for _, al := range res.Allocations {
			if m := byName[al.Name]; m != nil {
				m.Add(al)
				continue
			}
			byName[al.Name] = al.Clone()
			order = append(order, al.Name)
		}
	}
	rows := make([]*cost.Allocation, 0, len(order))
	for _, n := range order {
		rows = append(rows, byName[n])
	}
	return rows, warnings
}

// otherName is the series row of everything outside the largest rows.
const otherName = "__other__"

func series(results []*allocation.Result, rows []*cost.Allocation, top int) *seriesJSON {
	byCost := slices.Clone(rows)
	slices.SortFunc(byCost, func(x, y *cost.Allocation) int {
		return cmp.Or(cmp.Compare(y.TotalCost(), x.TotalCost()), strings.Compare(x.Name, y.Name))
	})
	index := map[string]int{}
	s := &seriesJSON{}
	for i, al := range byCost {
		if i >= top {
			break
		}
		index[al.Name] = i
		s.Rows = append(s.Rows, seriesRowJSON{Name: al.Name, Costs: make([]num, len(results))})
	}
	other := -1
	if len(byCost) > top {
		other = len(s.Rows)
		s.Rows = append(s.Rows, seriesRowJSON{Name: otherName, Costs: make([]num, len(results))})
	}
	for step, res := range results {
		s.Steps = append(s.Steps, windowJSON{res.Window.Start, res.Window.End})
		for _, al := range res.Allocations {
			i, ok := index[al.Name]
			if !ok {
				i = other
			}
			if i >= 0 {
				s.Rows[i].Costs[step] += num(al.TotalCost())
			}
		}
	}
	return s
}

type dayJSON struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Total num       `json:"total"`
	Idle  num       `json:"idle"`
}

type moverJSON struct {
	Name          string `json:"name"`
	Current       num    `json:"current"`
	Previous      num    `json:"previous"`
	Change        num    `json:"change"`
	ChangePercent *num   `json:"changePercent"`
}

type efficiencyJSON struct {
	CPU   num `json:"cpu"`
	RAM   num `json:"ram"`
	Total num `json:"total"`
}

type overviewResponse struct {
	Code        int            `json:"code"`
	Currency    string         `json:"currency"`
	Month       windowJSON     `json:"month"`
	MonthToDate num            `json:"monthToDate"`
	DailyRate   num            `json:"dailyRate"`
	Forecast    num            `json:"forecast"`
	IdleCost    *num           `json:"idleCost"`
	IdleShare   *num           `json:"idleShare"`
	Efficiency  efficiencyJSON `json:"efficiency"`
	Trend       []dayJSON      `json:"trend"`
	TopMovers   []moverJSON    `json:"topMovers"`
	Top         []moverJSON    `json:"top"`
	Scoped      bool           `json:"scoped"`
}

// overview answers the dashboard's first page in one query: the last 30 days
// (and the whole month so far) by namespace and day, within the caller's scope.
func (a *API) overview(r *http.Request) (any, error) {
	if len(r.URL.Query()) > 0 {
		for k := range r.URL.Query() {
			return nil, &query.ParamError{Param: k, Message: "unknown parameter (the overview takes none)"}
		}
	}
	loc := a.Settings.Location
	if loc == nil {
		loc = time.UTC
	}
	now := a.Now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
	monthEnd := monthStart.AddDate(0, 1, 0)
	start := today.AddDate(0, 0, -29)
	if monthStart.Before(start) {
		start = monthStart
	}
	v := url.Values{"window": {start.UTC().Format(time.RFC3339) + "," + now.UTC().Format(time.RFC3339)}, "aggregate": {"namespace"}, "step": {"24h"}}
	req, err := query.ParseAllocation(v, a.Now(), a.Settings)
	if err != nil {
		return nil, err
	}
	scoped, err := a.scopeAllocation(r, &req.Query)
	if err != nil {
		return nil, err
	}
	results, err := a.Query.Allocation(r.Context(), req)
	if err != nil {
		return nil, err
	}
	resp := &overviewResponse{Code: http.StatusOK, Currency: a.currency(), Month: windowJSON{monthStart, monthEnd}, Scoped: scoped,
		Trend: []dayJSON{}, TopMovers: []moverJSON{}, Top: []moverJSON{}}
	var mtd, idle, last7 float64
	days7 := 0 // complete days of the last 7 that hold data
	var eff cost.Allocation
	cur, prev, month := map[string]float64{}, map[string]float64{}, map[string]float64{}
	for _, res := range results {
		d := dayJSON{Start: res.Window.Start, End: res.Window.End}
		inMonth := !res.Window.Start.Before(monthStart)
		complete := !res.Window.End.After(today)
		age := int(today.Sub(res.Window.Start).Hours() / 24) // 1 = yesterday
		for _, al := range res.Allocations {
			c := al.TotalCost()
			d.Total += num(c)
			if al.Kind == cost.KindIdle || al.Name == cost.IdleName {
				d.Idle += num(c)
				if inMonth {
					idle += c
				}
				continue
			}
			if inMonth {
				eff.Add(al)
				month[al.Name] += c
			}
			switch {
			case complete && age >= 1 && age <= 7:
				cur[al.Name] += c
			case complete && age >= 8 && age <= 14:
				prev[al.Name] += c
			}
		}
		if inMonth {
			mtd += float64(d.Total)
		}
		if complete && age >= 1 && age <= 7 && d.Total > 0 {
			last7 += float64(d.Total)
			days7++
		}
		if !res.Window.Start.Before(today.AddDate(0, 0, -29)) {
			resp.Trend = append(resp.Trend, d)
		}
	}
	resp.MonthToDate = num(mtd)
	rate := 0.0
	if days7 > 0 {
		rate = last7 / float64(days7)
	}
	resp.DailyRate = num(rate)
	resp.Forecast = num(mtd + rate*monthEnd.Sub(now).Hours()/24)
	if !scoped {
		ic := num(idle)
		resp.IdleCost = &ic
		if mtd > 0 {
			s := num(idle / mtd)
			resp.IdleShare = &s
		}
	}
	resp.Efficiency = efficiencyJSON{CPU: num(eff.CPUEfficiency()), RAM: num(eff.RAMEfficiency()), Total: num(eff.TotalEfficiency())}
	names := map[string]bool{}
	for n := range cur {
		names[n] = true
	}
	for n := range prev {
		names[n] = true
	}
	for n := range names {
		m := moverJSON{Name: n, Current: num(cur[n]), Previous: num(prev[n]), Change: num(cur[n] - prev[n])}
		if prev[n] > 0 {
			p := num((cur[n] - prev[n]) / prev[n] * 100)
			m.ChangePercent = &p
		}
		resp.TopMovers = append(resp.TopMovers, m)
	}
	slices.SortFunc(resp.TopMovers, func(x, y moverJSON) int {
		return cmp.Or(cmp.Compare(math.Abs(float64(y.Change)), math.Abs(float64(x.Change))), strings.Compare(x.Name, y.Name))
	})
	resp.TopMovers = resp.TopMovers[:min(5, len(resp.TopMovers))]
	for n, c := range month {
		resp.Top = append(resp.Top, moverJSON{Name: n, Current: num(c)})
	}
	slices.SortFunc(resp.Top, func(x, y moverJSON) int {
		return cmp.Or(cmp.Compare(y.Current, x.Current), strings.Compare(x.Name, y.Name))
	})
	resp.Top = resp.Top[:min(8, len(resp.Top))]
	return resp, nil
}
