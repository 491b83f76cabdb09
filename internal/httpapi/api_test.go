package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/httpapi"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/query/querytest"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
)

var day0 = time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)

type apiFixture struct {
	api     *httpapi.API
	handler http.Handler
}

func newAPI(t *testing.T) *apiFixture {
	t.Helper()
	ctx := context.Background()
	env := querytest.New(t)
	cats, err := pricing.BundledCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	env.Pricer, err = pricing.NewPricer(pricing.Config{Custom: pricing.DefaultCustom(), Catalogs: cats})
	if err != nil {
		t.Fatal(err)
	}
	c := querytest.Cluster(t, "prod", 40)
	if _, _, err := env.Fill(ctx, c, day0, day0.Add(30*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// One more hour of a second cluster whose node type no catalog knows.
	o := &cost.Observation{Cluster: "edge", Window: cost.NewWindow(day0, day0.Add(time.Hour)), Resolution: time.Minute,
		Nodes: []cost.Node{{Name: "odd-1", Provider: "aws", InstanceType: "z9.mega", Region: "us-east-1", CPUCores: 2, RAMBytes: 8 << 30, Present: cost.AllSlots(60)}}}
	set, err := allocation.Compute(o, env.Pricer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Sets.Put(ctx, set); err != nil {
		t.Fatal(err)
	}
	api := &httpapi.API{
		Query:           query.NewService(env.Sets),
		Settings:        query.Settings{Location: time.UTC},
		Recommendations: query.RecommendationSettings{CPUPercentile: 95, CPUHeadroom: 15, RAMHeadroom: 15, MinHours: 12},
		Now:             func() time.Time { return day0.Add(30 * time.Hour) },
		Log:             slog.New(slog.DiscardHandler),
	}
	// Requests go through the real route table and guard, as an administrator.
	h, err := server.Handler(server.Options{Routes: api.Routes(), Auth: adminAuth{}, Log: api.Log, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &apiFixture{api: api, handler: h}
}

// adminAuth authenticates every request as an unrestricted administrator.
type adminAuth struct{}

func (adminAuth) AuthenticateRequest(*http.Request) (*auth.Principal, error) {
	return &auth.Principal{Tenant: "default", ID: "u_test", Kind: auth.KindUser, Name: "tester", Role: rbac.Admin, State: auth.StateActive}, nil
}

func (f *apiFixture) get(t *testing.T, path string, q string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, httptest.NewRequest("GET", path+"?"+q, nil))
	return rec.Code, rec.Body.Bytes()
}

const window = "window=2026-03-09T00:00:00Z,2026-03-10T06:00:00Z"

func TestAllocationParametersAndWarnings(t *testing.T) {
	f := newAPI(t)
	code, body := f.get(t, "/allocation", window+"&aggregate=namespace&shareIdle=true&shareNamespaces=kube-system&filter="+url.QueryEscape(`cluster:"prod" + namespace!:"monitoring"`))
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var resp struct {
		Data     []map[string]map[string]any `json:"data"`
		Warnings []string                    `json:"warnings"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	rows := resp.Data[0]
	if _, ok := rows["monitoring"]; ok || len(rows) < 3 {
		t.Errorf("filtered rows %v", keys(rows))
	}
	if _, ok := rows["kube-system"]; ok {
		t.Error("the shared namespace kept its own row")
	}
	shared := 0.0
	for _, r := range rows {
		shared += r["sharedCost"].(float64)
	}
	if shared <= 0 {
		t.Error("no row reports sharedCost")
	}
	// The unknown node type is flagged, not silently zero.
	code, body = f.get(t, "/allocation", window+"&aggregate=cluster")
	if code != 200 || !strings.Contains(string(body), `z9.mega`) || !strings.Contains(string(body), `"warnings"`) {
		t.Errorf("unknown instance type not flagged: %d %s", code, body[:min(400, len(body))])
	}
}

func TestBadInputIsA400NamingTheField(t *testing.T) {
	f := newAPI(t)
	for _, c := range []struct{ path, q, field, contains string }{
		{"/allocation", window + "&aggregate=planet", "aggregate", "unknown aggregation key"},
		{"/allocation", window + "&filter=" + url.QueryEscape(`namespace:"a" |`), "filter", "position 16"},
		{"/allocation", window + "&filter=" + url.QueryEscape(`namespace~"a"`), "filter", "position 10"},
		{"/allocation", "window=2026-03-10T00:00:00Z,2026-03-09T00:00:00Z", "window", "not after its start"},
		{"/allocation", window + "&step=3d", "step", "longer than the window"},
		{"/allocation", window + "&shareSplit=sometimes", "shareSplit", "weighted or even"},
		{"/allocation", window + "&shareCost=-1", "shareCost", "non-negative"},
		{"/assets", "window=7d&filter=x", "filter", "unknown parameter"},
		{"/api/v1/recommendations", "window=7d&aggregate=namespace", "aggregate", "only aggregate=controller"},
		{"/api/v1/recommendations", "window=soon", "window", "unrecognised window"},
		{"/api/v1/recommendations", "filter=" + url.QueryEscape(`(pod:"x"`), "filter", "expected ')'"},
	} {
		code, body := f.get(t, c.path, c.q)
		var eb server.ErrorBody
		_ = json.Unmarshal(body, &eb)
		if code != 400 || eb.Field != c.field || !strings.Contains(eb.Message, c.contains) {
			t.Errorf("%s?%s: %d %s, want 400 naming %s with %q", c.path, c.q, code, body, c.field, c.contains)
		}
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestAssetsMatchAllocation: the assets of a window cost what its allocations cost,
// and nodes carry their price split, spot flag and source.
func TestAssetsMatchAllocation(t *testing.T) {
	f := newAPI(t)
	code, body := f.get(t, "/assets", window)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var as struct {
		Data []map[string]map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &as); err != nil {
		t.Fatal(err)
	}
	assets, nodes, spot, catalog := 0.0, 0, 0, 0
	for _, a := range as.Data[0] {
		assets += a["totalCost"].(float64)
		if a["type"] == "Node" {
			nodes++
			if a["preemptible"].(float64) == 1 {
				spot++
			}
			if strings.HasPrefix(a["priceSource"].(string), "aws/") {
				catalog++
			}
			split := a["cpuCost"].(float64) + a["ramCost"].(float64) + a["gpuCost"].(float64)
			if math.Abs(split-a["totalCost"].(float64)) > 1e-5 {
				t.Errorf("node %v: split %.6f != total %v", a["properties"], split, a["totalCost"])
			}
		}
	}
	code, body = f.get(t, "/allocation", window+"&aggregate=cluster")
	if code != 200 {
		t.Fatal(code)
	}
	var al struct {
		Data []map[string]map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &al); err != nil {
		t.Fatal(err)
	}
	alloc := 0.0
	for _, r := range al.Data[0] {
		alloc += r["totalCost"].(float64)
	}
	if nodes < 3 || spot == 0 || catalog == 0 || math.Abs(alloc-assets) > 1e-4*assets {
		t.Errorf("assets %.6f (%d nodes, %d spot, %d catalog-priced) vs allocation %.6f", assets, nodes, spot, catalog, alloc)
	}
}

func TestRecommendationsEndpoint(t *testing.T) {
	f := newAPI(t)
	code, body := f.get(t, "/api/v1/recommendations", "window=30h")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var resp struct {
		Data []struct {
			Name        string
			Recommended struct{ CPUCores, RAMBytes, MonthlyCost float64 }
			Current     struct{ CPUCores, RAMBytes, MonthlyCost float64 }
			Observed    struct{ CPUCoresPercentile, CPUCoresPeak, RAMBytesPeak float64 }
			Saving      float64 `json:"monthlySaving"`
		} `json:"data"`
		Skipped []struct{ Name string } `json:"skipped"`
		Total   float64                 `json:"monthlySaving"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) < 5 || resp.Total <= 0 {
		t.Fatalf("%d recommendations, total saving %v: %s", len(resp.Data), resp.Total, body[:min(500, len(body))])
	}
	for _, r := range resp.Data {
		if r.Recommended.RAMBytes < r.Observed.RAMBytesPeak || r.Recommended.CPUCores <= 0 {
			t.Errorf("%s: recommended %+v below the observed %+v", r.Name, r.Recommended, r.Observed)
		}
		if math.Abs(r.Current.MonthlyCost-r.Recommended.MonthlyCost-r.Saving) > 1e-5 {
			t.Errorf("%s: saving %v != %v - %v", r.Name, r.Saving, r.Current.MonthlyCost, r.Recommended.MonthlyCost)
		}
	}
	// The nightly batch runs too briefly for 12 container-hours.
	if len(resp.Skipped) == 0 {
		t.Error("no workload was skipped for lack of data")
	}

	// Per-request overrides: more headroom recommends more, so it saves less.
	code, body = f.get(t, "/api/v1/recommendations", "window=30h&ramHeadroom=100&cpuHeadroom=100&cpuPercentile=99")
	if code != 200 {
		t.Fatalf("overrides: %d %s", code, body)
	}
	var roomy struct {
		Total    float64 `json:"monthlySaving"`
		Settings struct {
			CPUPercentile float64 `json:"cpuPercentile"`
			RAMHeadroom   float64 `json:"ramHeadroomPercent"`
		} `json:"settings"`
	}
	if err := json.Unmarshal(body, &roomy); err != nil {
		t.Fatal(err)
	}
	if roomy.Total >= resp.Total || roomy.Settings.CPUPercentile != 99 || roomy.Settings.RAMHeadroom != 100 {
		t.Errorf("overrides: saving %v (default %v), settings %+v", roomy.Total, resp.Total, roomy.Settings)
	}
	for _, q := range []string{"cpuPercentile=0", "cpuPercentile=101", "ramHeadroom=-1", "minHours=abc", "cpuHeadroom=NaN"} {
		code, body := f.get(t, "/api/v1/recommendations", "window=30h&"+q)
		field, _, _ := strings.Cut(q, "=")
		if code != 400 || !strings.Contains(string(body), field) {
			t.Errorf("%s: %d %s, want 400 naming %s", q, code, body, field)
		}
	}
}
