package allocation_test

import (
	"math"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
)

// hourOf builds hour h of a workload "api" with two replicas requesting 1 core and
// 2 GiB; replica CPU usage is (h+1)/100 cores, memory 1 GiB with a 1.5 GiB spike in
// one minute of hour 10. A bare pod runs for 3 hours only.
func hourOf(h int) *cost.Observation {
	start := hour0.Add(time.Duration(h) * time.Hour)
	o := &cost.Observation{Cluster: "c1", Window: cost.NewWindow(start, start.Add(time.Hour)), Resolution: time.Minute}
	o.Nodes = []cost.Node{{Name: "n1", CPUCores: 8, RAMBytes: 32 * gib, Present: cost.AllSlots(60)}}
	for r := 0; r < 2; r++ {
		o.Pods = append(o.Pods, cost.Pod{Namespace: "shop", Name: "api-" + string(rune('a'+r)), Node: "n1", ControllerKind: "deployment", Controller: "api"})
		ram := make([]float64, 60)
		for i := range ram {
			ram[i] = 1 * gib
		}
		if h == 10 && r == 1 {
			ram[17] = 1.5 * gib
		}
		o.Containers = append(o.Containers, cost.Container{Pod: len(o.Pods) - 1, Name: "app", Running: cost.AllSlots(60),
			CPURequest: []float64{1}, RAMRequest: []float64{2 * gib}, CPUUsage: []float64{float64(h+1) / 100}, RAMUsage: ram})
	}
	if h < 3 {
		o.Pods = append(o.Pods, cost.Pod{Namespace: "shop", Name: "debug", Node: "n1"})
		o.Containers = append(o.Containers, cost.Container{Pod: len(o.Pods) - 1, Name: "sh", Running: cost.AllSlots(60),
			CPURequest: []float64{0.1}, RAMRequest: []float64{gib}, CPUUsage: []float64{0.01}, RAMUsage: []float64{0.1 * gib}})
	}
	return o
}

func TestRecommendations(t *testing.T) {
	p := pricer(t, 0.03, 0.004)
	rec := allocation.NewRecommender(allocation.RecommendOptions{CPUPercentile: 95, CPUHeadroom: 0.1, RAMHeadroom: 0.2, MinHours: 24})
	for h := 0; h < 40; h++ {
		set, err := allocation.Compute(hourOf(h), p)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range set.Allocations {
			rec.Add(a)
		}
	}
	out, skipped := rec.Result()
	if len(out) != 1 || len(skipped) != 1 || skipped[0].Name != "shop/pod:debug/sh" || skipped[0].Hours != 3 {
		t.Fatalf("recommendations %+v, skipped %+v; want api only, debug skipped with 3 hours", out, skipped)
	}
	r := out[0]
	if r.Name() != "shop/deployment:api/app" || r.ContainerHours != 80 || math.Abs(r.Replicas-2) > 1e-9 {
		t.Errorf("identity %s, %v container-hours, %v replicas", r.Name(), r.ContainerHours, r.Replicas)
	}
	// 80 equal-weight samples, two of each of 0.01..0.40: the 95th percentile is the
	// 76th sample, 0.38 cores.
	near(t, "cpu p95", r.CPUPercentileUsage, 0.38)
	near(t, "recommended cpu", r.RecommendedCPU, 0.38*1.1)
	near(t, "cpu peak", r.CPUPeak, 0.40)
	// Memory: never below the 1.5 GiB peak of one minute.
	near(t, "ram peak GiB", r.RAMPeak/gib, 1.5)
	near(t, "recommended ram GiB", r.RecommendedRAM/gib, 1.8)
	near(t, "current cpu", r.CurrentCPU, 1)
	near(t, "current ram GiB", r.CurrentRAM/gib, 2)
	// Requests above usage: allocations are the requests, charged at the custom
	// rates, so the monthly costs follow from the rates.
	near(t, "cpu rate", r.CPURate, 0.03)
	near(t, "ram rate", r.RAMRate, 0.004)
	near(t, "current monthly", r.CurrentMonthly, 2*(1*0.03+2*0.004)*730)
	near(t, "recommended monthly", r.RecommendedMonthly, 2*(0.418*0.03+1.8*0.004)*730)
	near(t, "saving", r.MonthlySaving, r.CurrentMonthly-r.RecommendedMonthly)
	if r.RecommendedRAM < r.RAMPeak {
		t.Error("memory recommended below the observed peak")
	}
}
