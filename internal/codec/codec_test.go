package codec_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/codec"
	"github.com/costwarden/costwarden/internal/cost"
)

var t0 = time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC)

// fullSet has every field of every row non-zero, so a field the codec forgets fails
// the round trip.
func fullSet() *cost.Set {
	w := cost.NewWindow(t0, t0.Add(time.Hour))
	labels := map[string]string{"app": "web", "team": "payments"}
	p := &cost.Properties{Cluster: "c1", Node: "n1", Namespace: "pay", ControllerKind: "deployment", Controller: "web",
		Pod: "web-1", Container: "app", ProviderID: "aws:///i-1", Services: []string{"lb1", "lb2"},
		Labels: labels, Annotations: map[string]string{"a": "b"}, NamespaceLabels: map[string]string{"team": "payments"},
		NamespaceAnnotations: map[string]string{"x": "y"}}
	a := &cost.Allocation{Name: "c1/n1/pay/web-1/app", Kind: cost.KindContainer, Properties: p, Window: w,
		Start: t0.Add(time.Minute), End: t0.Add(50 * time.Minute), RunningMinutes: 49}
	vals := []*float64{&a.CPUCoreHours, &a.CPURequestCoreHours, &a.CPUUsageCoreHours, &a.CPUCost, &a.CPUCostIdle,
		&a.RAMByteHours, &a.RAMRequestByteHours, &a.RAMUsageByteHours, &a.RAMCost, &a.RAMCostIdle,
		&a.GPUHours, &a.GPURequestHours, &a.GPUCost, &a.GPUCostIdle, &a.PVByteHours, &a.PVCost, &a.LoadBalancerCost, &a.SharedCost,
		&a.CPUUsageMax, &a.RAMUsageMax}
	for i, v := range vals {
		*v = float64(i+1) * 1.25
	}
	idle := &cost.Allocation{Name: cost.IdleName, Kind: cost.KindIdle, Properties: &cost.Properties{Cluster: "c1", Node: "n1"},
		Window: w, Start: t0, End: t0.Add(time.Hour), RunningMinutes: 60, CPUCost: 0.5, RAMCost: 0.25}
	// A second container of the same pod shares the label map (as Compute produces).
	b := a.Clone()
	b.Properties.Container = "sidecar"
	b.Properties.Labels = labels
	b.Name = "c1/n1/pay/web-1/sidecar"
	return &cost.Set{
		Cluster: "c1", Window: w, Resolution: cost.Hourly, Partial: true,
		Allocations: []*cost.Allocation{a, b, idle},
		Nodes: []*cost.NodeAsset{{Cluster: "c1", Name: "n1", ProviderID: "aws:///i-1", Provider: "aws", InstanceType: "m6i.large",
			Region: "us-east-1", Zone: "us-east-1a", Spot: true, Labels: map[string]string{"k": "v"}, Window: w, Start: t0, End: t0.Add(time.Hour),
			Minutes: 60, CPUCores: 2, RAMBytes: 8 << 30, GPUs: 1, CPUCoreHours: 2, RAMByteHours: 8 << 30, GPUHours: 1,
			CPUCost: 0.1, RAMCost: 0.05, GPUCost: 1, Discount: 0.1, HourlyCPU: 0.05, HourlyRAM: 0.00625, HourlyGPU: 1,
			PriceSource: "custom", PriceWarning: "unknown instance type", CPUCostAdjustment: 0.01, RAMCostAdjust: 0.02}},
		Disks: []*cost.DiskAsset{{Cluster: "c1", Name: "pv1", StorageClass: "gp3", ProviderID: "vol-1", Window: w, Start: t0,
			End: t0.Add(time.Hour), Minutes: 60, Bytes: 10 << 30, ByteHours: 10 << 30, Cost: 0.0005}},
		LoadBalancers: []*cost.LoadBalancerAsset{{Cluster: "c1", Namespace: "pay", Name: "lb1", Window: w, Start: t0, End: t0.Add(time.Hour), Minutes: 60, Cost: 0.025}},
		Warnings:      []string{"node n1: unknown instance type"},
	}
}

func TestRoundTrip(t *testing.T) {
	c := codec.New()
	want := fullSet()
	b := c.Encode(want)
	got, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, want)
		for i := range want.Allocations {
			if !reflect.DeepEqual(got.Allocations[i], want.Allocations[i]) {
				t.Errorf("allocation %d:\n got %+v %+v\nwant %+v %+v", i, got.Allocations[i], got.Allocations[i].Properties, want.Allocations[i], want.Allocations[i].Properties)
			}
		}
	}
	empty := &cost.Set{Cluster: "x", Window: want.Window, Resolution: cost.Daily}
	got, err = c.Decode(c.Encode(empty))
	if err != nil || !reflect.DeepEqual(got, empty) {
		t.Errorf("empty set round trip: got %+v err %v", got, err)
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	c := codec.New()
	b := c.Encode(fullSet())
	for _, bad := range [][]byte{nil, {}, {9}, b[:len(b)/2], append([]byte{1}, "not zstd"...)} {
		if _, err := c.Decode(bad); !errors.Is(err, codec.ErrFormat) {
			t.Errorf("Decode(%d bytes) err = %v, want ErrFormat", len(bad), err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	c := codec.New()
	f.Add(c.Encode(fullSet()))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := c.Decode(b)
		if err == nil && s == nil {
			t.Fatal("nil set without error")
		}
	})
}

// TestDecodesVersion1: a set written by format version 1 (before the peak-usage
// fields existed; testdata/v1-fullset.hex is fullSet() encoded by that version) still
// decodes, to the same set with the new fields zero.
func TestDecodesVersion1(t *testing.T) {
	h, err := os.ReadFile("testdata/v1-fullset.hex")
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(string(bytes.TrimSpace(h)))
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 1 {
		t.Fatalf("fixture is version %d, want 1", b[0])
	}
	got, err := codec.New().Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := fullSet()
	for _, a := range want.Allocations {
		a.CPUUsageMax, a.RAMUsageMax = 0, 0
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("version 1 decodes to\n%+v\nwant\n%+v", got, want)
	}
	if v := codec.New().Encode(want)[0]; v != 2 {
		t.Errorf("new sets are written as version %d, want 2", v)
	}
}

// TestStreamMatchesDecode: streaming gives the same rows as Decode, and with names
// off leaves only container names empty.
func TestStreamMatchesDecode(t *testing.T) {
	c := codec.New()
	b := c.Encode(fullSet())
	full, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, names := range []bool{true, false} {
		var rows []*cost.Allocation
		head, err := c.Stream(b, names, func(a *cost.Allocation) { rows = append(rows, a.Clone()) })
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(full.Allocations) || head.Allocations != nil || !reflect.DeepEqual(head.Nodes, full.Nodes) {
			t.Fatalf("names=%v: %d rows (want %d), head %+v", names, len(rows), len(full.Allocations), head)
		}
		for i, r := range rows {
			want := *full.Allocations[i]
			if !names && want.Kind == cost.KindContainer {
				want.Name = ""
			}
			if !reflect.DeepEqual(r, &want) {
				t.Errorf("names=%v row %d:\n got %+v\nwant %+v", names, i, r, &want)
			}
		}
	}
	if _, err := c.Stream(b[:len(b)/2], true, func(*cost.Allocation) {}); !errors.Is(err, codec.ErrFormat) {
		t.Errorf("truncated stream: err = %v, want ErrFormat", err)
	}
}

// TestRelativeTimes: row times that are not whole seconds from the window start, or
// before it, or zero, survive the relative encoding.
func TestRelativeTimes(t *testing.T) {
	c := codec.New()
	s := fullSet()
	a := s.Allocations[0]
	a.Start = t0.Add(1500 * time.Millisecond)
	a.End = t0.Add(-3 * time.Second)
	s.Allocations[1].Start, s.Allocations[1].End = time.Time{}, time.Time{}
	got, err := c.Decode(c.Encode(s))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Allocations[0].Start.Equal(a.Start) || !got.Allocations[0].End.Equal(a.End) || !got.Allocations[1].Start.IsZero() || !reflect.DeepEqual(got, s) {
		t.Errorf("times after a round trip: %v %v %v", got.Allocations[0].Start, got.Allocations[0].End, got.Allocations[1].Start)
	}
}
