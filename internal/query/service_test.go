package query_test

import (
	"context"
	"math"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/query/querytest"
	"github.com/costwarden/costwarden/internal/rollup"
)

// monday is a UTC midnight: the fixture stores three whole days from it.
var monday = time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)

type fixture struct {
	env     *querytest.Env
	hourly  *query.Service // reads hourly windows only
	rollups *query.Service // reads daily windows where they answer exactly
	job     *rollup.Job
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	env := querytest.New(t)
	c := querytest.Cluster(t, "prod-eu", 60)
	// prod-eu: three whole days, and 6 hours before and 5 after them.
	if _, _, err := env.Fill(ctx, c, monday.Add(-6*time.Hour), monday.Add(3*24*time.Hour+5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// A second cluster, one day only.
	c2 := querytest.Cluster(t, "staging", 25)
	if _, _, err := env.Fill(ctx, c2, monday.Add(24*time.Hour), monday.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		env:     env,
		hourly:  query.NewServiceWithOptions(env.Sets, query.Options{NoRollups: true}),
		rollups: query.NewServiceWithOptions(env.Sets, query.Options{CacheBytes: 64 << 20}),
		job:     rollup.New(env.Sets, rollup.Options{Now: func() time.Time { return monday.Add(5 * 24 * time.Hour) }}),
	}
	n, err := f.job.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("rolled up %d days, want 4 (3 of prod-eu, 1 of staging)", n)
	}
	return f
}

func request(t *testing.T, q string) *query.AllocationRequest {
	t.Helper()
	v, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	req, err := query.ParseAllocation(v, monday.Add(4*24*time.Hour), query.Settings{Location: time.UTC})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return req
}

func relEq(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// sameResults compares two answers field by field, numbers to 1e-9 relative (sums are
// taken in a different order).
func sameResults(t *testing.T, what string, got, want []*allocation.Result) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d steps, want %d", what, len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Window != w.Window || len(g.Allocations) != len(w.Allocations) {
			t.Fatalf("%s step %d: window %s with %d rows, want %s with %d", what, i, g.Window, len(g.Allocations), w.Window, len(w.Allocations))
		}
		if !reflect.DeepEqual(g.Warnings, w.Warnings) {
			t.Errorf("%s step %d: warnings %v, want %v", what, i, g.Warnings, w.Warnings)
		}
		for j := range w.Allocations {
			ga, wa := g.Allocations[j], w.Allocations[j]
			if ga.Name != wa.Name || ga.Kind != wa.Kind || !ga.Start.Equal(wa.Start) || !ga.End.Equal(wa.End) || !reflect.DeepEqual(ga.Properties, wa.Properties) {
				t.Fatalf("%s step %d row %d: %s %v %s..%s %+v, want %s %v %s..%s %+v", what, i, j, ga.Name, ga.Kind, ga.Start, ga.End, ga.Properties, wa.Name, wa.Kind, wa.Start, wa.End, wa.Properties)
			}
			gv, wv := reflect.ValueOf(*ga), reflect.ValueOf(*wa)
			for f := 0; f < gv.NumField(); f++ {
				if gv.Field(f).Kind() == reflect.Float64 && !relEq(gv.Field(f).Float(), wv.Field(f).Float()) {
					t.Errorf("%s step %d row %s: %s = %.12g, want %.12g", what, i, ga.Name, gv.Type().Field(f).Name, gv.Field(f).Float(), wv.Field(f).Float())
				}
			}
		}
	}
}

// TestRollupsGiveTheSameNumbers: every query answers the same from daily windows as
// from the hours they were built from, whatever the aggregation, sharing, filter or
// step; and the daily windows are really used.
func TestRollupsGiveTheSameNumbers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	from, to := monday.Add(-6*time.Hour), monday.Add(3*24*time.Hour+5*time.Hour)
	win := from.Format(time.RFC3339) + "," + to.Format(time.RFC3339)
	for _, q := range []string{
		"window=" + win,
		"window=" + win + "&aggregate=namespace&shareIdle=true",
		"window=" + win + "&aggregate=cluster,namespace&idleByNode=true&shareIdle=true",
		"window=" + win + "&aggregate=controller&filter=" + url.QueryEscape(`namespace!:"kube-system" | label[app]~:"web"`),
		"window=" + win + "&aggregate=team&shareNamespaces=kube-system,monitoring&shareIdle=true",
		"window=" + win + "&aggregate=label:app&shareLabels=" + url.QueryEscape("app:ingress-nginx") + "&shareCost=730&shareSplit=even",
		"window=" + win + "&aggregate=service",
		"window=" + win + "&aggregate=node&step=1d",
		"window=" + win + "&aggregate=namespace&step=6h",
		"window=" + win + "&aggregate=pod&step=1d&accumulate=true",
		"window=" + monday.Format(time.RFC3339) + "," + monday.Add(48*time.Hour).Format(time.RFC3339) + "&aggregate=namespace&idle=false",
	} {
		req := request(t, q)
		want, err := f.hourly.Allocation(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.rollups.Allocation(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		sameResults(t, q, got, want)
		// Asked again, the answer comes from the cache and is identical.
		again, err := f.rollups.Allocation(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again, got) {
			t.Errorf("%s: cached answer differs", q)
		}
	}
	if st := f.rollups.CacheStats(); st.Hits == 0 || st.Entries == 0 {
		t.Errorf("cache stats %+v: the repeated queries were not served from the cache", st)
	}
	days := query.PlannedResolutions(ctx, t, f.rollups, request(t, "window="+win))
	if days[cost.Daily] != 4 || days[cost.Hourly] != 11 {
		t.Errorf("planned windows %v, want 4 daily (3 + 1 of the second cluster) and 11 hourly (6 before, 5 after)", days)
	}
	if days := query.PlannedResolutions(ctx, t, f.hourly, request(t, "window="+win)); days[cost.Daily] != 0 {
		t.Errorf("NoRollups planned %v", days)
	}
}

// TestRestoredHourMakesItsDayStale: an hour stored again after its day was built
// (gap repair) is newer than the day, so queries read the hours (seeing the new
// numbers) until the job rebuilds the day.
func TestRestoredHourMakesItsDayStale(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	req := request(t, "window="+monday.Format(time.RFC3339)+","+monday.Add(72*time.Hour).Format(time.RFC3339)+"&aggregate=namespace")
	before, err := f.rollups.Allocation(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// Re-store 10:00 of the second day with doubled prices.
	h := monday.Add(34 * time.Hour)
	c := querytest.Cluster(t, "prod-eu", 60)
	dear, err := pricing.New(pricing.Custom{CPU: 2 * 0.031611, RAM: 2 * 0.004237, GPU: 1.9, Storage: 0.08, LoadBalancer: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	f.env.Pricer = dear
	set, err := f.env.Hour(ctx, c, h)
	if err != nil {
		t.Fatal(err)
	}
	f.env.SetNow(time.Now().Add(time.Second))
	if _, err := f.env.Sets.Put(ctx, set); err != nil {
		t.Fatal(err)
	}
	due, err := f.job.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || !due[0].Day.Equal(monday.Add(24*time.Hour)) || !due[0].Stale || due[0].Cluster != "prod-eu" {
		t.Fatalf("pending = %+v, want day 2 of prod-eu, stale", due)
	}
	if days := query.PlannedResolutions(ctx, t, f.rollups, req); days[cost.Daily] != 3 || days[cost.Hourly] != 24 {
		t.Errorf("with a stale day planned %v, want 3 daily (2 of prod-eu, 1 of staging) and 24 hourly", days)
	}
	want, err := f.hourly.Allocation(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.rollups.Allocation(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	sameResults(t, "stale day", got, want)
	if got[0].Total() <= before[0].Total() {
		t.Errorf("total %.4f after re-storing a dearer hour, was %.4f", got[0].Total(), before[0].Total())
	}
	if n, err := f.job.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("rebuilt %d days (err %v), want 1", n, err)
	}
	if days := query.PlannedResolutions(ctx, t, f.rollups, req); days[cost.Daily] != 4 || days[cost.Hourly] != 0 {
		t.Errorf("after the rebuild planned %v, want 4 daily", days)
	}
	got, err = f.rollups.Allocation(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	sameResults(t, "rebuilt day", got, want)
	if n, _ := f.job.RunOnce(ctx); n != 0 {
		t.Errorf("a second run rebuilt %d days, want 0", n)
	}
}

// TestFilterNeverExceedsTotal and scope: filtered answers are subsets.
func TestFilteredIsSubset(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	base := "window=" + monday.Format(time.RFC3339) + "," + monday.Add(48*time.Hour).Format(time.RFC3339) + "&aggregate=namespace&shareIdle=true"
	all, err := f.rollups.Allocation(ctx, request(t, base))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]*cost.Allocation{}
	for _, a := range all[0].Allocations {
		rows[a.Name] = a
	}
	for _, flt := range []string{`namespace:"payments"`, `namespace!:"payments"`, `cluster:"staging" | namespace<~:"pay"`, `(namespace:"payments" | namespace:"checkout") + cluster:"prod-eu"`} {
		res, err := f.rollups.Allocation(ctx, request(t, base+"&filter="+url.QueryEscape(flt)))
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Total() > all[0].Total()+1e-9 {
			t.Errorf("%s: total %.6f exceeds unfiltered %.6f", flt, res[0].Total(), all[0].Total())
		}
		for _, a := range res[0].Allocations {
			if a.Kind == cost.KindIdle {
				continue
			}
			u := rows[a.Name]
			if u == nil || a.TotalCost() > u.TotalCost()+1e-9 {
				t.Errorf("%s: row %s (%.6f) is not a part of the unfiltered answer", flt, a.Name, a.TotalCost())
			}
		}
	}
	// Filtering on one namespace keeps its exact numbers (shares do not change).
	one, _ := f.rollups.Allocation(ctx, request(t, base+"&filter="+url.QueryEscape(`namespace:"payments"`)))
	if len(one[0].Allocations) != 1 || !relEq(one[0].Allocations[0].TotalCost(), rows["payments"].TotalCost()) {
		t.Errorf("filtered payments = %+v, want exactly the unfiltered payments row %.6f", one[0].Allocations, rows["payments"].TotalCost())
	}
}

func TestParseAllocationShareAndFilterErrors(t *testing.T) {
	now := time.Date(2026, 3, 11, 15, 30, 0, 0, time.UTC)
	for _, c := range []struct{ query, param, contains string }{
		{`window=7d&filter=namespace:"a`, "filter", "position 11: unterminated"},
		{`window=7d&filter=planet:"a"`, "filter", "unknown field"},
		{`window=7d&filter=namespace:"a"%2B`, "filter", "position 15"},
		{`window=7d&filter=namespace:"a"+cluster:"b"`, "filter", "position 15: expected '+', '|'"},
		{`window=7d&filter=(namespace:"a"`, "filter", "expected ')'"},
		{`window=7d&shareSplit=fair`, "shareSplit", "weighted or even"},
		{`window=7d&shareCost=-5`, "shareCost", "non-negative"},
		{`window=7d&shareCost=NaN`, "shareCost", "non-negative"},
		{`window=7d&shareLabels=app`, "shareLabels", "key:value"},
		{`window=7d&shareNamespaces=a b`, "shareNamespaces", "not a namespace"},
	} {
		v, _ := url.ParseQuery(c.query)
		_, err := query.ParseAllocation(v, now, query.Settings{Location: time.UTC})
		pe, ok := query.IsParamError(err)
		if !ok || pe.Param != c.param || !strings.Contains(pe.Message, c.contains) {
			t.Errorf("%s: err = %v, want a ParamError for %s containing %q", c.query, err, c.param, c.contains)
		}
	}
	v, _ := url.ParseQuery(`window=7d&filter=namespace:"a","b"&shareNamespaces=kube-system,monitoring&shareLabels=app:proxy&shareCost=100&shareSplit=even`)
	req, err := query.ParseAllocation(v, now, query.Settings{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	q := req.Query
	if q.Filter == nil || q.FilterKey != `namespace:"a","b"` || len(q.ShareNamespaces) != 2 || q.ShareLabels[0] != (allocation.LabelValue{Key: "app", Value: "proxy"}) ||
		q.ShareCost != 100 || q.ShareSplit != allocation.SplitEven {
		t.Errorf("parsed %+v", q)
	}
}
