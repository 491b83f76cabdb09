package allocation_test

import (
	"bufio"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/query"
)

// Scenario files (testdata/scenarios/*.txt) describe a cluster minute by minute and
// queries with their expected rows. The format:
//
//	# comment
//	prices cpu=0.03 ram=0.004 [gpu= storage= lb= spotCPU= spotRAM=]
//	catalog                      use the bundled catalogs
//	discount aws=20 negotiated=10 (percent)
//	storageclass gp3=0.08        ($/GiB-month)
//	window 60                    minutes from 2026-01-05T00:00Z, 1-minute samples
//	node NAME cores=4 ram=16 [gpus=1] [from=0] [to=60] [spot] [provider=aws type=m5.xlarge region=us-east-1] [label k=v]...
//	namespace NAME [label k=v]...
//	pod NS/NAME node=N [controller=kind/name] [label k=v]... [claim NAME]...
//	container NS/POD/NAME req=CPU,GiB use=CPU,GiB [gpu=N] [from=0] [to=60]
//	pv NAME size=GiB [class=C] [claim=NS/NAME] [from=] [to=]
//	service NS/NAME selector=k=v[;k=v] | selector=unknown | selector=none  [from=] [to=]
//	query URL-PARAMETERS         (window is the scenario's; everything else as in the API;
//	                             the rest of the line, spaces allowed; write + as %2B)
//	set N                        following rows are for step N (default 0)
//	row NAME field=value...      ramByteHours etc. in GiB; costs in $
//	rows N                       the step has exactly N rows
//	total X                      the step's total cost
//	warning SUBSTRING            some warning contains it
//
// Each query runs twice: over the hourly sets, and over daily sets merged from them
// (for whole UTC days) plus hourly sets for the rest. Both must match.

var scenarioStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

type scenario struct {
	custom     pricing.Custom
	cfg        pricing.Config
	minutes    int
	nodes      []spNode
	namespaces []cost.Namespace
	pods       []spPod
	containers []spContainer
	pvs        []spPV
	services   []spService
	queries    []*spQuery
}

type span struct{ from, to int }

func (s span) bits(h0, h1 int) cost.Slots {
	b := cost.NewSlots(h1 - h0)
	for m := max(s.from, h0); m < min(s.to, h1); m++ {
		b.Set(m - h0)
	}
	return b
}

type spNode struct {
	node cost.Node
	span
}
type spPod struct {
	pod cost.Pod
}
type spContainer struct {
	pod                    int
	name                   string
	reqCPU, reqRAM, useCPU float64
	useRAM, gpu            float64
	span
}
type spPV struct {
	pv cost.PersistentVolume
	span
}
type spService struct {
	svc cost.Service
	span
}

type spQuery struct {
	line   int
	params string
	sets   map[int]*spExpect
}

type spExpect struct {
	rows     []spRow
	count    int
	total    *float64
	warnings []string
}

type spRow struct {
	line   int
	name   string
	fields map[string]float64
}

func kv(tok string) (string, string, bool) { return strings.Cut(tok, "=") }

func num(t *testing.T, line int, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("line %d: %q is not a number", line, s)
	}
	return v
}

func pair(t *testing.T, line int, s string) (float64, float64) {
	t.Helper()
	a, b, ok := strings.Cut(s, ",")
	if !ok {
		t.Fatalf("line %d: want CPU,GiB, got %q", line, s)
	}
	return num(t, line, a), num(t, line, b)
}

func parseScenario(t *testing.T, path string) *scenario {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := &scenario{custom: pricing.Custom{CPU: 0.03, RAM: 0.004, GPU: 0.95, Storage: 0.04, LoadBalancer: 0.025}, minutes: 60}
	podIdx := map[string]int{}
	var q *spQuery
	set := 0
	line := 0
	s := bufio.NewScanner(f)
	for s.Scan() {
		line++
		text := strings.TrimSpace(s.Text())
		if i := strings.Index(text, " #"); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		tok := strings.Fields(text)
		args := tok[1:]
		labelsFrom := func(args []string, into map[string]string) []string {
			var rest []string
			for i := 0; i < len(args); i++ {
				if args[i] == "label" && i+1 < len(args) {
					k, v, _ := kv(args[i+1])
					into[k] = v
					i++
					continue
				}
				rest = append(rest, args[i])
			}
			return rest
		}
		spanOf := func(args []string) (span, []string) {
			sp := span{0, sc.minutes}
			var rest []string
			for _, a := range args {
				k, v, _ := kv(a)
				switch k {
				case "from":
					sp.from = int(num(t, line, v))
				case "to":
					sp.to = int(num(t, line, v))
				default:
					rest = append(rest, a)
				}
			}
			return sp, rest
		}
		switch tok[0] {
		case "prices":
			for _, a := range args {
				k, v, _ := kv(a)
				x := num(t, line, v)
				switch k {
				case "cpu":
					sc.custom.CPU = x
				case "ram":
					sc.custom.RAM = x
				case "gpu":
					sc.custom.GPU = x
				case "storage":
					sc.custom.Storage = x
				case "lb":
					sc.custom.LoadBalancer = x
				case "spotCPU":
					sc.custom.SpotCPU = x
				case "spotRAM":
					sc.custom.SpotRAM = x
				default:
					t.Fatalf("line %d: unknown price %s", line, k)
				}
			}
		case "catalog":
			cats, err := pricing.BundledCatalogs()
			if err != nil {
				t.Fatal(err)
			}
			sc.cfg.Catalogs = cats
		case "discount":
			sc.cfg.Discounts = map[string]float64{}
			for _, a := range args {
				k, v, _ := kv(a)
				if k == "negotiated" {
					sc.cfg.Negotiated = num(t, line, v) / 100
				} else {
					sc.cfg.Discounts[k] = num(t, line, v) / 100
				}
			}
		case "storageclass":
			sc.cfg.StorageClasses = map[string]float64{}
			for _, a := range args {
				k, v, _ := kv(a)
				sc.cfg.StorageClasses[k] = num(t, line, v)
			}
		case "window":
			sc.minutes = int(num(t, line, args[0]))
		case "node":
			n := cost.Node{Name: args[0], Labels: map[string]string{}, CapacityType: cost.CapacityOnDemand}
			rest := labelsFrom(args[1:], n.Labels)
			sp, rest := spanOf(rest)
			for _, a := range rest {
				k, v, _ := kv(a)
				switch k {
				case "cores":
					n.CPUCores = num(t, line, v)
				case "ram":
					n.RAMBytes = num(t, line, v) * gib
				case "gpus":
					n.GPUs = num(t, line, v)
				case "spot":
					n.CapacityType = cost.CapacitySpot
				case "provider":
					n.Provider = v
				case "type":
					n.InstanceType = v
				case "region":
					n.Region = v
				default:
					t.Fatalf("line %d: unknown node field %s", line, k)
				}
			}
			sc.nodes = append(sc.nodes, spNode{n, sp})
		case "namespace":
			ns := cost.Namespace{Name: args[0], Labels: map[string]string{}}
			labelsFrom(args[1:], ns.Labels)
			sc.namespaces = append(sc.namespaces, ns)
		case "pod":
			nsName, name, _ := strings.Cut(args[0], "/")
			p := cost.Pod{Namespace: nsName, Name: name, UID: args[0], Labels: map[string]string{}}
			rest := labelsFrom(args[1:], p.Labels)
			for i := 0; i < len(rest); i++ {
				if rest[i] == "claim" {
					p.Claims = append(p.Claims, rest[i+1])
					i++
					continue
				}
				k, v, _ := kv(rest[i])
				switch k {
				case "node":
					p.Node = v
				case "controller":
					p.ControllerKind, p.Controller, _ = strings.Cut(v, "/")
				default:
					t.Fatalf("line %d: unknown pod field %s", line, k)
				}
			}
			podIdx[args[0]] = len(sc.pods)
			sc.pods = append(sc.pods, spPod{p})
		case "container":
			i := strings.LastIndex(args[0], "/")
			pi, ok := podIdx[args[0][:i]]
			if !ok {
				t.Fatalf("line %d: unknown pod %s", line, args[0][:i])
			}
			c := spContainer{pod: pi, name: args[0][i+1:]}
			var rest []string
			c.span, rest = spanOf(args[1:])
			for _, a := range rest {
				k, v, _ := kv(a)
				switch k {
				case "req":
					c.reqCPU, c.reqRAM = pair(t, line, v)
				case "use":
					c.useCPU, c.useRAM = pair(t, line, v)
				case "gpu":
					c.gpu = num(t, line, v)
				default:
					t.Fatalf("line %d: unknown container field %s", line, k)
				}
			}
			sc.containers = append(sc.containers, c)
		case "pv":
			pv := cost.PersistentVolume{Name: args[0]}
			sp, rest := spanOf(args[1:])
			for _, a := range rest {
				k, v, _ := kv(a)
				switch k {
				case "size":
					pv.CapacityBytes = num(t, line, v) * gib
				case "class":
					pv.StorageClass = v
				case "claim":
					pv.ClaimNamespace, pv.ClaimName, _ = strings.Cut(v, "/")
				default:
					t.Fatalf("line %d: unknown pv field %s", line, k)
				}
			}
			sc.pvs = append(sc.pvs, spPV{pv, sp})
		case "service":
			ns, name, _ := strings.Cut(args[0], "/")
			svc := cost.Service{Namespace: ns, Name: name}
			sp, rest := spanOf(args[1:])
			for _, a := range rest {
				k, v, _ := kv(a)
				if k != "selector" {
					t.Fatalf("line %d: unknown service field %s", line, k)
				}
				switch v {
				case "unknown":
				case "none":
					svc.Selector = map[string]string{}
				default:
					svc.Selector = map[string]string{}
					for _, p := range strings.Split(v, ";") {
						sk, sv, _ := kv(p)
						svc.Selector[sk] = sv
					}
				}
			}
			sc.services = append(sc.services, spService{svc, sp})
		case "query":
			q = &spQuery{line: line, sets: map[int]*spExpect{}}
			// The rest of the line, spaces included (filters have them); write + as %2B.
			q.params = strings.TrimSpace(strings.TrimPrefix(text, "query"))
			set = 0
			sc.queries = append(sc.queries, q)
		case "set":
			set = int(num(t, line, args[0]))
		case "row", "rows", "total", "warning":
			if q == nil {
				t.Fatalf("line %d: %s before any query", line, tok[0])
			}
			e := q.sets[set]
			if e == nil {
				e = &spExpect{count: -1}
				q.sets[set] = e
			}
			switch tok[0] {
			case "row":
				r := spRow{line: line, name: args[0], fields: map[string]float64{}}
				for _, a := range args[1:] {
					k, v, ok := kv(a)
					if !ok {
						t.Fatalf("line %d: want field=value, got %q", line, a)
					}
					r.fields[k] = num(t, line, v)
				}
				e.rows = append(e.rows, r)
			case "rows":
				e.count = int(num(t, line, args[0]))
			case "total":
				v := num(t, line, args[0])
				e.total = &v
			case "warning":
				e.warnings = append(e.warnings, strings.Join(args, " "))
			}
		default:
			t.Fatalf("line %d: unknown directive %q", line, tok[0])
		}
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	sc.cfg.Custom = sc.custom
	return sc
}

// observe builds the observation of minutes [h0, h1).
func (sc *scenario) observe(h0, h1 int) *cost.Observation {
	w := cost.NewWindow(scenarioStart.Add(time.Duration(h0)*time.Minute), scenarioStart.Add(time.Duration(h1)*time.Minute))
	o := &cost.Observation{Cluster: "c1", Window: w, Resolution: time.Minute, Namespaces: sc.namespaces}
	for _, n := range sc.nodes {
		node := n.node
		node.Present = n.bits(h0, h1)
		o.Nodes = append(o.Nodes, node)
	}
	for _, p := range sc.pods {
		o.Pods = append(o.Pods, p.pod)
	}
	for _, c := range sc.containers {
		o.Containers = append(o.Containers, cost.Container{
			Pod: c.pod, Name: c.name, Running: c.bits(h0, h1),
			CPURequest: []float64{c.reqCPU}, RAMRequest: []float64{c.reqRAM * gib}, GPURequest: []float64{c.gpu},
			CPUUsage: []float64{c.useCPU}, RAMUsage: []float64{c.useRAM * gib},
		})
	}
	for _, v := range sc.pvs {
		pv := v.pv
		pv.Present = v.bits(h0, h1)
		o.Volumes = append(o.Volumes, pv)
		if pv.ClaimName != "" {
			o.Claims = append(o.Claims, cost.VolumeClaim{Namespace: pv.ClaimNamespace, Name: pv.ClaimName, Volume: pv.Name, StorageClass: pv.StorageClass, RequestBytes: pv.CapacityBytes, Present: v.bits(h0, h1)})
		}
	}
	for _, s := range sc.services {
		svc := s.svc
		svc.Present = s.bits(h0, h1)
		o.Services = append(o.Services, svc)
	}
	return o
}

// hourly computes one set per hour (the last one may be shorter).
func (sc *scenario) hourly(t *testing.T) []*cost.Set {
	t.Helper()
	p, err := pricing.NewPricer(sc.cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []*cost.Set
	for h0 := 0; h0 < sc.minutes; h0 += 60 {
		set, err := allocation.Compute(sc.observe(h0, min(h0+60, sc.minutes)), p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, set)
	}
	return out
}

// rolledUp replaces the hours of every whole UTC day by their merged daily set.
func rolledUp(t *testing.T, hours []*cost.Set) ([]*cost.Set, int) {
	t.Helper()
	byDay := map[time.Time][]*cost.Set{}
	for _, h := range hours {
		d := h.Window.Start.Truncate(24 * time.Hour)
		byDay[d] = append(byDay[d], h)
	}
	var out []*cost.Set
	days := 0
	for _, h := range hours {
		d := h.Window.Start.Truncate(24 * time.Hour)
		hs := byDay[d]
		if len(hs) == 24 && hs[23].Window.End.Equal(d.Add(24*time.Hour)) {
			if h == hs[0] {
				m, err := allocation.MergeSets(cost.NewWindow(d, d.Add(24*time.Hour)), cost.Daily, hs)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, m)
				days++
			}
			continue
		}
		out = append(out, h)
	}
	return out, days
}

var rowFields = map[string]func(a *cost.Allocation) float64{
	"cpuCoreHours":          func(a *cost.Allocation) float64 { return a.CPUCoreHours },
	"cpuCost":               func(a *cost.Allocation) float64 { return a.CPUCost },
	"cpuCostIdle":           func(a *cost.Allocation) float64 { return a.CPUCostIdle },
	"cpuCoreRequestAverage": func(a *cost.Allocation) float64 { return a.CPUCoreRequestAverage() },
	"cpuCoreUsageAverage":   func(a *cost.Allocation) float64 { return a.CPUCoreUsageAverage() },
	"cpuEfficiency":         func(a *cost.Allocation) float64 { return a.CPUEfficiency() },
	"ramByteHours":          func(a *cost.Allocation) float64 { return a.RAMByteHours / gib },
	"ramBytes":              func(a *cost.Allocation) float64 { return a.RAMBytes() / gib },
	"ramCost":               func(a *cost.Allocation) float64 { return a.RAMCost },
	"ramCostIdle":           func(a *cost.Allocation) float64 { return a.RAMCostIdle },
	"ramEfficiency":         func(a *cost.Allocation) float64 { return a.RAMEfficiency() },
	"gpuHours":              func(a *cost.Allocation) float64 { return a.GPUHours },
	"gpuCost":               func(a *cost.Allocation) float64 { return a.GPUCost },
	"gpuCostIdle":           func(a *cost.Allocation) float64 { return a.GPUCostIdle },
	"pvByteHours":           func(a *cost.Allocation) float64 { return a.PVByteHours / gib },
	"pvCost":                func(a *cost.Allocation) float64 { return a.PVCost },
	"loadBalancerCost":      func(a *cost.Allocation) float64 { return a.LoadBalancerCost },
	"sharedCost":            func(a *cost.Allocation) float64 { return a.SharedCost },
	"totalCost":             func(a *cost.Allocation) float64 { return a.TotalCost() },
	"totalEfficiency":       func(a *cost.Allocation) float64 { return a.TotalEfficiency() },
	"minutes":               func(a *cost.Allocation) float64 { return a.RunningMinutes },
}

func (sc *scenario) run(t *testing.T, q *spQuery, sets []*cost.Set) []*allocation.Result {
	t.Helper()
	end := scenarioStart.Add(time.Duration(sc.minutes) * time.Minute)
	v, err := url.ParseQuery(q.params)
	if err != nil {
		t.Fatalf("line %d: %v", q.line, err)
	}
	v.Set("window", scenarioStart.Format(time.RFC3339)+","+end.Format(time.RFC3339))
	req, err := query.ParseAllocation(v, end, query.Settings{Location: time.UTC})
	if err != nil {
		t.Fatalf("line %d: %v", q.line, err)
	}
	steps := []cost.Window{req.Window}
	if req.Step > 0 && !req.Accumulate {
		steps = req.Window.Split(req.Step)
	}
	var out []*allocation.Result
	for _, w := range steps {
		g := allocation.NewAggregator(w, req.Query)
		for _, s := range sets {
			if w.Contains(s.Window.Start) {
				g.AddSet(s)
			}
		}
		out = append(out, g.Result())
	}
	return out
}

func (sc *scenario) check(report func(format string, args ...any), q *spQuery, res []*allocation.Result, path string) {
	for step, e := range q.sets {
		if step >= len(res) {
			report("%s:%d: no step %d (%d steps)", path, q.line, step, len(res))
			continue
		}
		r := res[step]
		got := map[string]*cost.Allocation{}
		var names []string
		for _, a := range r.Allocations {
			got[a.Name] = a
			names = append(names, a.Name)
		}
		sort.Strings(names)
		for _, want := range e.rows {
			a := got[want.name]
			if a == nil {
				report("%s:%d: no row %q (rows: %v)", path, want.line, want.name, names)
				continue
			}
			for f, v := range want.fields {
				get := rowFields[f]
				if get == nil {
					report("%s:%d: unknown field %s", path, want.line, f)
					continue
				}
				if g := get(a); math.Abs(g-v) > 1e-6 {
					report("%s:%d: %s %s = %.9f, want %v", path, want.line, want.name, f, g, v)
				}
			}
		}
		if e.count >= 0 && len(r.Allocations) != e.count {
			report("%s:%d: step %d has %d rows %v, want %d", path, q.line, step, len(r.Allocations), names, e.count)
		}
		if e.total != nil && math.Abs(r.Total()-*e.total) > 1e-6 {
			report("%s:%d: step %d total %.9f, want %v", path, q.line, step, r.Total(), *e.total)
		}
		for _, w := range e.warnings {
			found := false
			for _, rw := range r.Warnings {
				found = found || strings.Contains(rw, w)
			}
			if !found {
				report("%s:%d: no warning containing %q in %q", path, q.line, w, r.Warnings)
			}
		}
	}
}

// TestScenarios runs every scenario file, over hourly sets and over daily rollups.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 23 {
		t.Fatalf("%d scenario files, want E1-E3 and at least 20 more", len(files))
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			sc := parseScenario(t, path)
			if len(sc.queries) == 0 {
				t.Fatal("no queries")
			}
			hours := sc.hourly(t)
			days, n := rolledUp(t, hours)
			for _, q := range sc.queries {
				sc.check(t.Errorf, q, sc.run(t, q, hours), path)
				if n > 0 {
					sc.check(t.Errorf, q, sc.run(t, q, days), path+" (daily rollups)")
				}
			}
		})
	}
}

// TestScenarioFormatCatchesMistakes: a wrong expectation fails (the runner is not
// vacuous).
func TestScenarioFormatCatchesMistakes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.txt")
	src := "node n1 cores=4 ram=16\npod a/a1 node=n1\ncontainer a/a1/app req=1,2 use=0.5,3\nquery aggregate=namespace\nrow a totalCost=0.5\nrows 7\n"
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := parseScenario(t, path)
	var failures []string
	sc.check(func(f string, a ...any) { failures = append(failures, fmt.Sprintf(f, a...)) }, sc.queries[0], sc.run(t, sc.queries[0], sc.hourly(t)), path)
	if len(failures) != 2 {
		t.Errorf("failures = %q, want the wrong total and the wrong row count", failures)
	}
}
