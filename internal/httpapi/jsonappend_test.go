package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
)

// plainAllocation has allocationJSON's fields and none of its methods:
// json.Marshal encodes it by reflection, the reference for appendJSON.
type plainAllocation allocationJSON

func randomString(r *rand.Rand) string {
	pieces := []string{"a", "web-frontend", "<", ">", "&", `"`, `\`, "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f",
		"é", "日本", "\u2028", "\u2029", "\xff", "\xe2\x80", "🙂", " ", "/", "=", "kube-system"}
	var b []byte
	for n := r.IntN(6); n > 0; n-- {
		b = append(b, pieces[r.IntN(len(pieces))]...)
	}
	return string(b)
}

func randomNum(r *rand.Rand) num {
	switch r.IntN(10) {
	case 0:
		return num(math.NaN())
	case 1:
		return num(math.Inf(1 - 2*r.IntN(2)))
	case 2:
		return num(math.Copysign(0, -1))
	case 3:
		return num(-1e-9 * r.Float64())
	case 4:
		return num(r.NormFloat64() * 1e15)
	case 5:
		return num(r.IntN(1000))
	default:
		return num(r.NormFloat64() * math.Pow(10, float64(r.IntN(12)-6)))
	}
}

func randomMap(r *rand.Rand) map[string]string {
	if r.IntN(2) == 0 {
		return nil
	}
	m := map[string]string{}
	for n := r.IntN(4); n > 0; n-- {
		m[randomString(r)] = randomString(r)
	}
	return m
}

func randomTime(r *rand.Rand) time.Time {
	t := time.Unix(r.Int64N(4e9), r.Int64N(1e9)*int64(r.IntN(2)))
	zones := []*time.Location{time.UTC, time.FixedZone("", -7*3600), time.FixedZone("X", 5*3600+1800)}
	return t.In(zones[r.IntN(len(zones))])
}

func randomAllocationJSON(r *rand.Rand) *allocationJSON {
	a := &allocationJSON{Name: randomString(r), Window: windowJSON{randomTime(r), randomTime(r)}, Start: randomTime(r), End: randomTime(r)}
	if r.IntN(5) > 0 {
		p := &propertiesJSON{Cluster: randomString(r), Node: randomString(r), Container: randomString(r), Controller: randomString(r),
			ControllerKind: randomString(r), Namespace: randomString(r), Pod: randomString(r), ProviderID: randomString(r),
			Labels: randomMap(r), Annotations: randomMap(r), NamespaceLabels: randomMap(r), NamespaceAnnotations: randomMap(r)}
		for n := r.IntN(3); n > 0; n-- {
			p.Services = append(p.Services, randomString(r))
		}
		a.Properties = p
	}
	for _, f := range []*num{&a.Minutes, &a.CPUCores, &a.CPUCoreRequestAverage, &a.CPUCoreUsageAverage, &a.CPUCoreHours, &a.CPUCost,
		&a.CPUCostAdjustment, &a.CPUCostIdle, &a.CPUEfficiency, &a.GPUCount, &a.GPUHours, &a.GPUCost, &a.GPUCostAdjustment, &a.GPUCostIdle,
		&a.LoadBalancerCost, &a.LBCostAdjustment, &a.PVBytes, &a.PVByteHours, &a.PVCost, &a.PVCostAdjustment, &a.RAMBytes,
		&a.RAMByteRequestAverage, &a.RAMByteUsageAverage, &a.RAMByteHours, &a.RAMCost, &a.RAMCostAdjustment, &a.RAMCostIdle,
		&a.RAMEfficiency, &a.ExternalCost, &a.SharedCost, &a.TotalCost, &a.TotalEfficiency} {
		*f = randomNum(r)
	}
	return a
}

// TestAllocationJSONMatchesEncodingJSON: the hand-written row encoder writes
// byte for byte what encoding/json writes for the same row, on random rows
// with every escaping case (HTML characters, controls, invalid UTF-8, U+2028),
// NaN, infinities, negative zero, time zones and empty optional fields.
func TestAllocationJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	prefix := []byte("prefix:")
	for i := range 20000 {
		a := randomAllocationJSON(r)
		want, err := json.Marshal((*plainAllocation)(a))
		if err != nil {
			t.Fatal(err)
		}
		got, err := a.appendJSON(append([]byte(nil), prefix...))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[len(prefix):], want) || !bytes.HasPrefix(got, prefix) {
			t.Fatalf("row %d:\n got %s\nwant %s", i, got, want)
		}
		viaMarshal, err := json.Marshal(a) // MarshalJSON, then encoding/json's validation
		if err != nil || !bytes.Equal(viaMarshal, want) {
			t.Fatalf("row %d: json.Marshal = %s, %v", i, viaMarshal, err)
		}
		name, _ := json.Marshal(a.Name)
		if got := appendJSONString(nil, a.Name); !bytes.Equal(got, name) {
			t.Fatalf("string %q: got %s, want %s", a.Name, got, name)
		}
	}
	// A year beyond four digits is refused, as time.Time's MarshalJSON refuses it.
	bad := &allocationJSON{Start: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := bad.appendJSON(nil); err == nil {
		t.Error("year 10000 encoded")
	}
}

// BenchmarkAllocationStream: writing a week of hourly steps by controller
// (168 steps × 1,200 rows), the response that dominates the 7d step=1h query.
func BenchmarkAllocationStream(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var rows []*cost.Allocation
	for i := range 1200 {
		rows = append(rows, &cost.Allocation{
			Name: fmt.Sprintf("cluster-one/ns-%d/deployment:app-%d", i%40, i),
			Properties: &cost.Properties{Cluster: "cluster-one", Namespace: fmt.Sprintf("ns-%d", i%40), ControllerKind: "deployment",
				Controller: fmt.Sprintf("app-%d", i)},
			Window: cost.NewWindow(start, start.Add(time.Hour)), Start: start, End: start.Add(time.Hour), RunningMinutes: 60,
			CPUCoreHours: r.Float64(), CPURequestCoreHours: r.Float64(), CPUUsageCoreHours: r.Float64(), CPUCost: r.Float64(),
			RAMByteHours: r.Float64() * 1e10, RAMRequestByteHours: r.Float64() * 1e10, RAMUsageByteHours: r.Float64() * 1e10, RAMCost: r.Float64(),
			PVByteHours: r.Float64() * 1e9, PVCost: r.Float64(), SharedCost: r.Float64(),
		})
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		s := newAllocationStream(nil)
		for range 168 {
			s.results = append(s.results, &allocation.Result{Allocations: rows})
		}
		var buf countingWriter
		if err := s.WriteJSON(&buf); err != nil {
			b.Fatal(err)
		}
		size = int(buf)
	}
	b.ReportMetric(float64(size), "bytes/response")
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
