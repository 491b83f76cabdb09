package allocation

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
)

// RecommendOptions tune right-sizing.
type RecommendOptions struct {
	// CPUPercentile (0-100] of the hourly average CPU usage of each replica that the
	// recommended CPU request covers (default 95).
	CPUPercentile float64
	// CPUHeadroom and RAMHeadroom are fractions added on top (0.15 = 15 %).
	CPUHeadroom, RAMHeadroom float64
	// MinHours of container data a workload's container needs to be recommended.
	MinHours float64
	// Filter limits the workloads considered (nil: all).
	Filter func(*cost.Allocation) bool
}

// Recommendation is the right-sized requests of one container of one workload.
type Recommendation struct {
	Cluster, Namespace, ControllerKind, Controller, Container string
	Start, End                                                time.Time
	ContainerHours                                            float64
	Replicas                                                  float64 // average replicas running over the observed span

	CurrentCPU, CurrentRAM         float64 // average requests (cores, bytes)
	RecommendedCPU, RecommendedRAM float64
	CPUPercentileUsage             float64 // the configured percentile of hourly usage
	CPUPeak, RAMPeak               float64 // the highest per-sample usage seen
	CPURate, RAMRate               float64 // $ per core-hour, per GiB-hour the workload paid on average

	CurrentMonthly, RecommendedMonthly, MonthlySaving float64
}

// Name is "<namespace>/<kind>:<controller>/<container>".
func (r *Recommendation) Name() string {
	return r.Namespace + "/" + controllerName(r.ControllerKind, r.Controller) + "/" + r.Container
}

func controllerName(kind, name string) string {
	if kind == "" {
		return name
	}
	return kind + ":" + name
}

// Skipped is a workload container without enough data.
type Skipped struct {
	Name  string
	Hours float64
}

type recKey struct{ cluster, namespace, kind, controller, container string }

type sample struct{ v, w float64 }

type recGroup struct {
	key              recKey
	samples          []sample
	hours            float64
	cpuReqH, ramReqH float64
	cpuCost, ramCost float64
	cpuH, ramH       float64
	cpuPeak, ramPeak float64
	start, end       time.Time
}

// Recommender collects container rows (one per container and stored hour) and
// recommends requests per workload container. Feed it hourly rows: each row's
// average CPU usage is one sample.
type Recommender struct {
	opts   RecommendOptions
	groups map[recKey]*recGroup
}

// NewRecommender starts a recommendation.
func NewRecommender(opts RecommendOptions) *Recommender {
	if opts.CPUPercentile <= 0 || opts.CPUPercentile > 100 {
		opts.CPUPercentile = 95
	}
	return &Recommender{opts: opts, groups: map[recKey]*recGroup{}}
}

// Add feeds one row (others than containers are ignored). The row is not retained.
func (r *Recommender) Add(a *cost.Allocation) {
	if a.Kind != cost.KindContainer || a.Properties == nil || a.RunningMinutes <= 0 {
		return
	}
	if r.opts.Filter != nil && !r.opts.Filter(a) {
		return
	}
	p := a.Properties
	k := recKey{p.Cluster, p.Namespace, p.ControllerKind, p.Controller, p.Container}
	if k.controller == "" {
		// A bare pod is its own workload.
		k.kind, k.controller = "pod", p.Pod
	}
	g := r.groups[k]
	if g == nil {
		k = recKey{strings.Clone(k.cluster), strings.Clone(k.namespace), strings.Clone(k.kind), strings.Clone(k.controller), strings.Clone(k.container)}
		g = &recGroup{key: k}
		r.groups[k] = g
	}
	h := a.RunningMinutes / 60
	g.samples = append(g.samples, sample{a.CPUUsageCoreHours / h, h})
	g.hours += h
	g.cpuReqH += a.CPURequestCoreHours
	g.ramReqH += a.RAMRequestByteHours
	g.cpuCost += a.CPUCost - a.CPUCostIdle
	g.ramCost += a.RAMCost - a.RAMCostIdle
	g.cpuH += a.CPUCoreHours
	g.ramH += a.RAMByteHours
	g.cpuPeak = max(g.cpuPeak, a.CPUUsageMax)
	g.ramPeak = max(g.ramPeak, a.RAMUsageMax)
	if g.start.IsZero() || a.Start.Before(g.start) {
		g.start = a.Start
	}
	if a.End.After(g.end) {
		g.end = a.End
	}
}

// weightedPercentile is the smallest sample value v such that samples <= v carry at
// least p % of the weight.
func weightedPercentile(s []sample, p float64) float64 {
	if len(s) == 0 {
		return 0
	}
	sort.Slice(s, func(i, j int) bool { return s[i].v < s[j].v })
	total := 0.0
	for _, x := range s {
		total += x.w
	}
	need := total * p / 100
	acc := 0.0
	for _, x := range s {
		acc += x.w
		if acc >= need-1e-12*total {
			return x.v
		}
	}
	return s[len(s)-1].v
}

const gib = 1 << 30

// minCPU is the smallest CPU request recommended (1 millicore).
const minCPU = 0.001

// Result returns recommendations sorted by monthly saving (largest first), and the
// workload containers skipped for lack of data.
func (r *Recommender) Result() ([]Recommendation, []Skipped) {
	var out []Recommendation
	var skipped []Skipped
	for _, g := range r.groups {
		rec := Recommendation{Cluster: g.key.cluster, Namespace: g.key.namespace, ControllerKind: g.key.kind, Controller: g.key.controller, Container: g.key.container,
			Start: g.start, End: g.end, ContainerHours: g.hours, CPUPeak: g.cpuPeak, RAMPeak: g.ramPeak}
		if g.hours < r.opts.MinHours || g.hours <= 0 {
			skipped = append(skipped, Skipped{Name: rec.Name(), Hours: g.hours})
			continue
		}
		span := g.end.Sub(g.start).Hours()
		rec.Replicas = g.hours / math.Max(span, 1e-9)
		rec.CurrentCPU, rec.CurrentRAM = g.cpuReqH/g.hours, g.ramReqH/g.hours
		rec.CPUPercentileUsage = weightedPercentile(g.samples, r.opts.CPUPercentile)
		rec.RecommendedCPU = math.Max(minCPU, rec.CPUPercentileUsage*(1+r.opts.CPUHeadroom))
		// Memory is never recommended below the highest working set seen: a
		// container below it would have been OOM-killed.
		rec.RecommendedRAM = g.ramPeak * (1 + r.opts.RAMHeadroom)
		if g.cpuH > 0 {
			rec.CPURate = g.cpuCost / g.cpuH
		}
		if g.ramH > 0 {
			rec.RAMRate = g.ramCost / (g.ramH / gib)
		}
		monthly := func(cpu, ram float64) float64 {
			return rec.Replicas * (cpu*rec.CPURate + ram/gib*rec.RAMRate) * HoursPerMonth
		}
		rec.CurrentMonthly = monthly(rec.CurrentCPU, rec.CurrentRAM)
		rec.RecommendedMonthly = monthly(rec.RecommendedCPU, rec.RecommendedRAM)
		rec.MonthlySaving = rec.CurrentMonthly - rec.RecommendedMonthly
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].MonthlySaving != out[j].MonthlySaving {
			return out[i].MonthlySaving > out[j].MonthlySaving
		}
		return out[i].Name() < out[j].Name()
	})
	sort.Slice(skipped, func(i, j int) bool { return skipped[i].Name < skipped[j].Name })
	return out, skipped
}
