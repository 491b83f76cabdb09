package sim

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
)

// A Wednesday and a Saturday. Local time is UTC-5: the weekday peak (15:00 local) is
// 20:00 UTC and the night trough (04:00 local) 09:00 UTC.
var (
	wednesday = time.Date(2025, 3, 12, 0, 0, 0, 0, time.UTC)
	saturday  = time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)
)

func newCluster(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return c
}

func observe(t testing.TB, c *Cluster, start time.Time, d, res time.Duration) *cost.Observation {
	t.Helper()
	obs, err := c.Observe(context.Background(), cost.NewWindow(start, start.Add(d)), res)
	if err != nil {
		t.Fatalf("Observe(%s, %s, %s): %v", start.Format(time.RFC3339), d, res, err)
	}
	return obs
}

func cluster(t testing.TB, pods int) *Cluster { return newCluster(t, Config{Pods: pods}) }

func TestNewConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" = no error
		want    Config
	}{
		{name: "defaults", cfg: Config{}, want: Config{Name: "demo", Seed: 1, Pods: 300}},
		{name: "explicit", cfg: Config{Name: "prod-us", Seed: 7, Pods: 1000}, want: Config{Name: "prod-us", Seed: 7, Pods: 1000}},
		{name: "minimum", cfg: Config{Pods: 20}, want: Config{Name: "demo", Seed: 1, Pods: 20}},
		{name: "too few", cfg: Config{Pods: 19}, wantErr: "Pods"},
		{name: "negative", cfg: Config{Pods: -5}, wantErr: "Pods"},
		{name: "too many", cfg: Config{Pods: 50001}, wantErr: "Pods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New(%+v) error = %v, want one naming %q", tt.cfg, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v): %v", tt.cfg, err)
			}
			if got := c.Config(); got != tt.want {
				t.Errorf("Config() = %+v, want %+v", got, tt.want)
			}
			if got := c.Name(); got != tt.want.Name {
				t.Errorf("Name() = %q, want %q", got, tt.want.Name)
			}
		})
	}
}

func TestObserveArguments(t *testing.T) {
	c := cluster(t, 300)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	eastern := time.FixedZone("EST", -5*3600)
	tests := []struct {
		name    string
		ctx     context.Context
		start   time.Time
		d, res  time.Duration
		wantErr bool
	}{
		{"hour at 1m", context.Background(), wednesday, time.Hour, time.Minute, false},
		{"other time zone, same instant", context.Background(), wednesday.In(eastern), time.Hour, time.Minute, false},
		{"30s resolution", context.Background(), wednesday, 10 * time.Minute, 30 * time.Second, false},
		{"start not aligned", context.Background(), wednesday.Add(30 * time.Second), time.Hour, time.Minute, true},
		{"end not aligned", context.Background(), wednesday, time.Hour + 30*time.Second, time.Minute, true},
		{"hour resolution, half-hour start", context.Background(), wednesday.Add(30 * time.Minute), 2 * time.Hour, time.Hour, true},
		{"sub-second start", context.Background(), wednesday.Add(time.Millisecond), time.Hour, time.Minute, true},
		{"zero resolution", context.Background(), wednesday, time.Hour, 0, true},
		{"fractional seconds", context.Background(), wednesday, time.Hour, 1500 * time.Millisecond, true},
		{"empty window", context.Background(), wednesday, 0, time.Minute, true},
		{"inverted window", context.Background(), wednesday, -time.Hour, time.Minute, true},
		{"more than a year", context.Background(), wednesday, 367 * 24 * time.Hour, time.Minute, true},
		{"canceled", canceled, wednesday, time.Hour, time.Minute, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, err := c.Observe(tt.ctx, cost.Window{Start: tt.start, End: tt.start.Add(tt.d)}, tt.res)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Observe succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Observe: %v", err)
			}
			if err := obs.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	tests := []struct {
		cfg    Config
		start  time.Time
		d, res time.Duration
	}{
		{Config{}, wednesday.Add(20 * time.Hour), time.Hour, time.Minute},
		{Config{Seed: 42, Pods: 1000}, wednesday.Add(14 * time.Hour), 6 * time.Hour, time.Hour},
		{Config{Name: "other", Seed: -3, Pods: 50}, saturday.Add(5 * time.Hour), 3 * time.Hour, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.cfg), func(t *testing.T) {
			a, b := newCluster(t, tt.cfg), newCluster(t, tt.cfg)
			first := observe(t, a, tt.start, tt.d, tt.res)
			// Another window in between must not change anything.
			observe(t, a, tt.start.Add(-72*time.Hour), 5*time.Hour, tt.res)
			again := observe(t, a, tt.start, tt.d, tt.res)
			fresh := observe(t, b, tt.start, tt.d, tt.res)
			if !reflect.DeepEqual(first, again) {
				t.Errorf("observing the same window twice gave different observations")
			}
			if !reflect.DeepEqual(first, fresh) {
				t.Errorf("two clusters with the same config gave different observations")
			}
			other := a.Config()
			other.Seed++
			diff := observe(t, newCluster(t, other), tt.start, tt.d, tt.res)
			if first.Pods[0].UID == diff.Pods[0].UID {
				t.Errorf("seed %d and %d produced the same first pod UID %s", a.Config().Seed, other.Seed, first.Pods[0].UID)
			}
		})
	}
}

func TestConcurrentObserve(t *testing.T) {
	c := cluster(t, 300)
	want := observe(t, c, wednesday.Add(14*time.Hour), time.Hour, time.Minute)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 4 {
		wg.Go(func() {
			got, err := c.Observe(context.Background(), cost.NewWindow(wednesday.Add(14*time.Hour), wednesday.Add(15*time.Hour)), time.Minute)
			if err != nil {
				errs <- err.Error()
			} else if !reflect.DeepEqual(got, want) {
				errs <- "concurrent Observe gave a different observation"
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

type ctrKey struct{ uid, name string }

// TestSplitWindows checks that a window observed in one piece gives exactly the
// per-slot values of observing it in pieces: same pods, nodes, UIDs and usage.
func TestSplitWindows(t *testing.T) {
	hours := func(n int) []time.Duration {
		var out []time.Duration
		for range n {
			out = append(out, time.Hour)
		}
		return out
	}
	tests := []struct {
		name  string
		pods  int
		start time.Time
		parts []time.Duration
		res   time.Duration
	}{
		{"weekday as 24 hours at 1m", 300, wednesday, hours(24), time.Minute},
		{"saturday as 24 hours at 5m", 300, saturday, hours(24), 5 * time.Minute},
		{"odd pieces across the 09:00 UTC day boundary", 300, wednesday.Add(7*time.Hour + 30*time.Minute), []time.Duration{17 * time.Minute, 73 * time.Minute, 30 * time.Minute, 2 * time.Hour}, time.Minute},
		{"night batch in 20-minute pieces", 300, wednesday.Add(6*time.Hour + 40*time.Minute), []time.Duration{20 * time.Minute, 20 * time.Minute, 20 * time.Minute, 20 * time.Minute, 20 * time.Minute, 20 * time.Minute, 20 * time.Minute}, time.Minute},
		{"two days as days at 15m", 1000, wednesday.Add(-24 * time.Hour), []time.Duration{24 * time.Hour, 24 * time.Hour}, 15 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster(t, tt.pods)
			var total time.Duration
			for _, p := range tt.parts {
				total += p
			}
			whole := observe(t, c, tt.start, total, tt.res)
			checkStructure(t, whole)
			wholeCtr := make(map[ctrKey]int, len(whole.Containers))
			for i, ct := range whole.Containers {
				wholeCtr[ctrKey{whole.Pods[ct.Pod].UID, ct.Name}] = i
			}
			wholeNode := make(map[string]int, len(whole.Nodes))
			for i, n := range whole.Nodes {
				wholeNode[n.Name] = i
			}
			offset := 0
			start := tt.start
			for _, d := range tt.parts {
				part := observe(t, c, start, d, tt.res)
				n := part.Slots()
				compareContainers(t, whole, part, wholeCtr, offset, start)
				compareNodes(t, whole, part, wholeNode, offset, start)
				if !reflect.DeepEqual(part.Volumes[0].Name, whole.Volumes[0].Name) || len(part.Claims) != len(whole.Claims) || len(part.Services) != len(whole.Services) {
					t.Errorf("%s: volumes, claims or services differ from the whole window", start.Format(time.RFC3339))
				}
				offset += n
				start = start.Add(d)
			}
		})
	}
}

func compareContainers(t *testing.T, whole, part *cost.Observation, wholeCtr map[ctrKey]int, offset int, start time.Time) {
	t.Helper()
	n := part.Slots()
	for _, pc := range part.Containers {
		pp := part.Pods[pc.Pod]
		wi, ok := wholeCtr[ctrKey{pp.UID, pc.Name}]
		if !ok {
			t.Fatalf("%s: container %s/%s/%s (uid %s) is missing from the whole window", start.Format(time.RFC3339), pp.Namespace, pp.Name, pc.Name, pp.UID)
		}
		wc := whole.Containers[wi]
		if !reflect.DeepEqual(whole.Pods[wc.Pod], pp) {
			t.Fatalf("pod %s differs:\nwhole %+v\npart  %+v", pp.UID, whole.Pods[wc.Pod], pp)
		}
		if !reflect.DeepEqual(wc.CPURequest, pc.CPURequest) || !reflect.DeepEqual(wc.RAMRequest, pc.RAMRequest) || !reflect.DeepEqual(wc.GPURequest, pc.GPURequest) {
			t.Fatalf("%s/%s: requests differ", pp.Name, pc.Name)
		}
		for i := range n {
			if wc.Running.Has(offset+i) != pc.Running.Has(i) {
				t.Fatalf("%s/%s slot %d: running %v in the whole window, %v in the part", pp.Name, pc.Name, i, wc.Running.Has(offset+i), pc.Running.Has(i))
			}
			if wv, pv := cost.At(wc.CPUUsage, offset+i), cost.At(pc.CPUUsage, i); wv != pv {
				t.Fatalf("%s/%s slot %d: cpu usage %v in the whole window, %v in the part", pp.Name, pc.Name, i, wv, pv)
			}
			if wv, pv := cost.At(wc.RAMUsage, offset+i), cost.At(pc.RAMUsage, i); wv != pv {
				t.Fatalf("%s/%s slot %d: ram usage %v in the whole window, %v in the part", pp.Name, pc.Name, i, wv, pv)
			}
		}
	}
	// and nothing of the whole window that runs in the part is missing from it
	want := 0
	for _, wc := range whole.Containers {
		for i := range n {
			if wc.Running.Has(offset + i) {
				want++
				break
			}
		}
	}
	if len(part.Containers) != want {
		t.Errorf("%s: %d containers, the whole window has %d running in this part", start.Format(time.RFC3339), len(part.Containers), want)
	}
}

func compareNodes(t *testing.T, whole, part *cost.Observation, wholeNode map[string]int, offset int, start time.Time) {
	t.Helper()
	n := part.Slots()
	for _, pn := range part.Nodes {
		wi, ok := wholeNode[pn.Name]
		if !ok {
			t.Fatalf("%s: node %s is missing from the whole window", start.Format(time.RFC3339), pn.Name)
		}
		wn := whole.Nodes[wi]
		a, b := wn, pn
		a.Present, b.Present = nil, nil
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("node %s differs:\nwhole %+v\npart  %+v", pn.Name, a, b)
		}
		for i := range n {
			if wn.Present.Has(offset+i) != pn.Present.Has(i) {
				t.Fatalf("node %s slot %d: present %v in the whole window, %v in the part", pn.Name, i, wn.Present.Has(offset+i), pn.Present.Has(i))
			}
		}
	}
	want := 0
	for _, wn := range whole.Nodes {
		for i := range n {
			if wn.Present.Has(offset + i) {
				want++
				break
			}
		}
	}
	if len(part.Nodes) != want {
		t.Errorf("%s: %d nodes, the whole window has %d present in this part", start.Format(time.RFC3339), len(part.Nodes), want)
	}
}

// checkStructure asserts the promises the engine relies on, beyond Validate.
func checkStructure(t *testing.T, obs *cost.Observation) {
	t.Helper()
	if err := obs.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	n := obs.Slots()
	words := (n + 63) / 64
	nodes := make(map[string]*cost.Node, len(obs.Nodes))
	for i := range obs.Nodes {
		nd := &obs.Nodes[i]
		if _, dup := nodes[nd.Name]; dup {
			t.Fatalf("node name %s appears twice", nd.Name)
		}
		nodes[nd.Name] = nd
		if len(nd.Present) != words || nd.Present.Count() == 0 {
			t.Fatalf("node %s: Present has %d words and %d slots, want %d words and some slots", nd.Name, len(nd.Present), nd.Present.Count(), words)
		}
	}
	claims := make(map[string]bool)
	for _, c := range obs.Claims {
		claims[c.Namespace+"/"+c.Name] = true
		if len(c.Present) != words {
			t.Fatalf("claim %s: Present has %d words, want %d", c.Name, len(c.Present), words)
		}
	}
	for _, v := range obs.Volumes {
		if len(v.Present) != words {
			t.Fatalf("volume %s: Present has %d words, want %d", v.Name, len(v.Present), words)
		}
	}
	for _, s := range obs.Services {
		if len(s.Present) != words {
			t.Fatalf("service %s: Present has %d words, want %d", s.Name, len(s.Present), words)
		}
	}
	uids := make(map[string]bool, len(obs.Pods))
	podRunning := make([]cost.Slots, len(obs.Pods))
	for _, ct := range obs.Containers {
		p := &obs.Pods[ct.Pod]
		where := p.Namespace + "/" + p.Name + "/" + ct.Name
		if len(ct.Running) != words || ct.Running.Count() == 0 {
			t.Fatalf("%s: Running has %d words and %d slots, want %d words and some slots", where, len(ct.Running), ct.Running.Count(), words)
		}
		for _, s := range [][]float64{ct.CPURequest, ct.RAMRequest, ct.GPURequest} {
			if len(s) != 1 {
				t.Fatalf("%s: request series of length %d, want a constant", where, len(s))
			}
		}
		if ct.CPURequest[0] <= 0 || ct.RAMRequest[0] <= 0 {
			t.Fatalf("%s: requests %v cores, %v bytes, want positive", where, ct.CPURequest[0], ct.RAMRequest[0])
		}
		if len(ct.CPUUsage) != n || len(ct.RAMUsage) != n {
			t.Fatalf("%s: usage series of length %d/%d, want %d", where, len(ct.CPUUsage), len(ct.RAMUsage), n)
		}
		if podRunning[ct.Pod] == nil {
			podRunning[ct.Pod] = ct.Running
		} else if !slices.Equal(podRunning[ct.Pod], ct.Running) {
			t.Fatalf("%s: runs in different slots than its pod's other containers", where)
		}
		nd := nodes[p.Node]
		if nd == nil {
			t.Fatalf("%s: runs on node %q, which is not in the observation", where, p.Node)
		}
		for i := range n {
			cpu, ram := ct.CPUUsage[i], ct.RAMUsage[i]
			if !ct.Running.Has(i) {
				if cpu != 0 || ram != 0 {
					t.Fatalf("%s slot %d: usage %v/%v while not running", where, i, cpu, ram)
				}
				continue
			}
			if !nd.Present.Has(i) {
				t.Fatalf("%s slot %d: running on node %s, which is absent", where, i, p.Node)
			}
			if math.IsNaN(cpu) || math.IsNaN(ram) || cpu < 0 || ram <= 0 || math.IsInf(cpu, 0) || math.IsInf(ram, 0) {
				t.Fatalf("%s slot %d: usage %v cores, %v bytes", where, i, cpu, ram)
			}
		}
	}
	for pi := range obs.Pods {
		p := &obs.Pods[pi]
		if uids[p.UID] {
			t.Fatalf("pod UID %s appears twice", p.UID)
		}
		uids[p.UID] = true
		if podRunning[pi] == nil {
			t.Fatalf("pod %s/%s has no containers", p.Namespace, p.Name)
		}
		for _, cl := range p.Claims {
			if !claims[p.Namespace+"/"+cl] {
				t.Fatalf("pod %s/%s mounts claim %s, which is not in the observation", p.Namespace, p.Name, cl)
			}
		}
		if p.ControllerKind == "daemonset" && !slices.Equal(podRunning[pi], nodes[p.Node].Present) {
			t.Fatalf("daemonset pod %s/%s does not run exactly while node %s exists", p.Namespace, p.Name, p.Node)
		}
	}
	// At 1-minute resolution, two pods with the same name (StatefulSet pods are
	// recreated with their name) never run at the same time.
	if obs.Resolution == time.Minute {
		byName := make(map[string]cost.Slots)
		for pi := range obs.Pods {
			p := &obs.Pods[pi]
			k := p.Namespace + "/" + p.Name
			if prev, ok := byName[k]; ok {
				for w := range prev {
					if prev[w]&podRunning[pi][w] != 0 {
						t.Fatalf("two pods named %s run at the same time", k)
					}
					prev[w] |= podRunning[pi][w]
				}
				continue
			}
			byName[k] = slices.Clone(podRunning[pi])
		}
	}
}

func TestStructure(t *testing.T) {
	tests := []struct {
		name   string
		pods   int
		start  time.Time
		d, res time.Duration
	}{
		{"default weekday peak hour", 300, wednesday.Add(20 * time.Hour), time.Hour, time.Minute},
		{"default weekday at 1m", 300, wednesday, 24 * time.Hour, time.Minute},
		{"default week at 1h", 300, wednesday, 7 * 24 * time.Hour, time.Hour},
		{"default 10 minutes at 15s", 300, wednesday.Add(8 * time.Hour), 10 * time.Minute, 15 * time.Second},
		{"small cluster weekend day", 20, saturday, 24 * time.Hour, 5 * time.Minute},
		{"before the epoch", 300, time.Date(1969, 12, 25, 0, 0, 0, 0, time.UTC), 24 * time.Hour, 10 * time.Minute},
		{"2000 pods across the 09:00 UTC boundary", 2000, wednesday.Add(8 * time.Hour), 2 * time.Hour, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := observe(t, cluster(t, tt.pods), tt.start, tt.d, tt.res)
			checkStructure(t, obs)
		})
	}
}

// runningAt counts the pods and containers running in slot i.
func runningAt(obs *cost.Observation, i int) (pods, ctrs int) {
	seen := make(map[int]bool)
	for _, c := range obs.Containers {
		if c.Running.Has(i) {
			ctrs++
			if !seen[c.Pod] {
				seen[c.Pod] = true
				pods++
			}
		}
	}
	return pods, ctrs
}

func presentAt(obs *cost.Observation, i int, pool string) int {
	n := 0
	for _, nd := range obs.Nodes {
		if nd.Present.Has(i) && (pool == "" || nd.Labels["eks.amazonaws.com/nodegroup"] == pool) {
			n++
		}
	}
	return n
}

// slotOf is the slot of a UTC hour:minute in a day observation at resolution res.
func slotOf(hh, mm int, res time.Duration) int {
	return int((time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute) / res)
}

func TestClusterShape(t *testing.T) {
	obs := observe(t, cluster(t, 300), wednesday, 24*time.Hour, time.Minute)

	t.Run("nodes", func(t *testing.T) {
		nameRE := regexp.MustCompile(`^ip-10-\d{1,3}-\d{1,3}-\d{1,3}\.ec2\.internal$`)
		idRE := regexp.MustCompile(`^aws:///us-east-1[abc]/i-0[0-9a-f]{16}$`)
		capacity := map[string][3]float64{ // cores, GiB, GPUs
			"m6i.2xlarge": {8, 32, 0}, "m6i.4xlarge": {16, 64, 0}, "c6i.4xlarge": {16, 32, 0},
			"r6i.2xlarge": {8, 64, 0}, "g5.2xlarge": {8, 32, 1},
		}
		pools, zones := map[string]bool{}, map[string]bool{}
		spot, gpu := 0, 0
		for _, nd := range obs.Nodes {
			if !nameRE.MatchString(nd.Name) || !idRE.MatchString(nd.ProviderID) {
				t.Errorf("node %q / %q does not look like an EKS node", nd.Name, nd.ProviderID)
			}
			want, ok := capacity[nd.InstanceType]
			if !ok || nd.CPUCores != want[0] || nd.RAMBytes != want[1]*(1<<30) || nd.GPUs != want[2] {
				t.Errorf("node %s: %s with %v cores, %v bytes, %v GPUs", nd.Name, nd.InstanceType, nd.CPUCores, nd.RAMBytes, nd.GPUs)
			}
			if nd.Provider != "aws" || nd.Region != "us-east-1" || !strings.HasPrefix(nd.ProviderID, "aws:///"+nd.Zone+"/") {
				t.Errorf("node %s: provider %q region %q zone %q id %q", nd.Name, nd.Provider, nd.Region, nd.Zone, nd.ProviderID)
			}
			for k, v := range map[string]string{
				"node.kubernetes.io/instance-type": nd.InstanceType,
				"topology.kubernetes.io/region":    nd.Region,
				"topology.kubernetes.io/zone":      nd.Zone,
				"kubernetes.io/hostname":           nd.Name,
				"karpenter.sh/capacity-type":       nd.CapacityType,
			} {
				if nd.Labels[k] != v {
					t.Errorf("node %s: label %s = %q, want %q", nd.Name, k, nd.Labels[k], v)
				}
			}
			pools[nd.Labels["eks.amazonaws.com/nodegroup"]] = true
			zones[nd.Zone] = true
			switch nd.CapacityType {
			case cost.CapacitySpot:
				spot++
			case cost.CapacityOnDemand:
			default:
				t.Errorf("node %s: capacity type %q", nd.Name, nd.CapacityType)
			}
			if nd.GPUs == 1 && nd.InstanceType == "g5.2xlarge" {
				gpu++
			}
		}
		delete(pools, "")
		if len(pools) < 3 || len(zones) != 3 || spot == 0 || gpu == 0 {
			t.Errorf("%d pools %v, zones %v, %d spot nodes, %d GPU nodes; want 3+ pools, 3 zones, spot and GPU nodes", len(pools), pools, zones, spot, gpu)
		}
	})

	t.Run("namespaces and workloads", func(t *testing.T) {
		teams := 0
		for _, ns := range obs.Namespaces {
			if ns.Labels["team"] != "" && ns.Labels["environment"] != "" && ns.Labels["department"] != "" {
				teams++
			}
		}
		used := map[string]bool{}
		kinds := map[string]int{}
		perPod := map[int]int{}
		for _, c := range obs.Containers {
			perPod[c.Pod]++
		}
		sizes := map[int]int{}
		for _, k := range perPod {
			sizes[k]++
		}
		rsName := regexp.MustCompile(`^(.+)-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$`)
		stsName := regexp.MustCompile(`^(.+)-\d+$`)
		withTeam, withEnv, withAnn := 0, 0, 0
		for _, p := range obs.Pods {
			used[p.Namespace] = true
			kinds[p.ControllerKind]++
			switch p.ControllerKind {
			case "deployment":
				if m := rsName.FindStringSubmatch(p.Name); m == nil || m[1] != p.Controller || p.Labels["pod-template-hash"] == "" {
					t.Errorf("deployment pod %s/%s (controller %s) is not named <deployment>-<hash>-<suffix>", p.Namespace, p.Name, p.Controller)
				}
			case "statefulset":
				if m := stsName.FindStringSubmatch(p.Name); m == nil || m[1] != p.Controller {
					t.Errorf("statefulset pod %s/%s (controller %s) is not named <sts>-<ordinal>", p.Namespace, p.Name, p.Controller)
				}
			}
			if p.Labels["app"] == "" || p.Labels["app.kubernetes.io/name"] == "" {
				t.Errorf("pod %s/%s has no app labels: %v", p.Namespace, p.Name, p.Labels)
			}
			if p.Labels["team"] != "" {
				withTeam++
			}
			if p.Labels["env"] != "" {
				withEnv++
			}
			if len(p.Annotations) > 0 {
				withAnn++
			}
		}
		if teams < 8 || len(used) < 8 {
			t.Errorf("%d namespaces with team/environment/department labels, %d with pods; want 8+", teams, len(used))
		}
		for _, k := range []string{"deployment", "statefulset", "daemonset", "cronjob", "job"} {
			if kinds[k] == 0 {
				t.Errorf("no pods of controller kind %s; kinds %v", k, kinds)
			}
		}
		if sizes[2] == 0 || sizes[3] == 0 {
			t.Errorf("pods by container count %v, want some with 2 and some with 3", sizes)
		}
		if withTeam < len(obs.Pods)/2 || withEnv == 0 || withEnv == len(obs.Pods) || withAnn == 0 {
			t.Errorf("of %d pods %d have a team label, %d an env label, %d annotations", len(obs.Pods), withTeam, withEnv, withAnn)
		}
	})

	t.Run("gpu training", func(t *testing.T) {
		found := false
		for _, c := range obs.Containers {
			if cost.At(c.GPURequest, 0) != 1 {
				continue
			}
			p := obs.Pods[c.Pod]
			for _, nd := range obs.Nodes {
				if nd.Name == p.Node && nd.GPUs == 1 && p.ControllerKind == "job" {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no job container requesting 1 GPU on the GPU node")
		}
	})

	t.Run("nightly batch", func(t *testing.T) {
		// 02:00–03:40 local is 07:00–08:40 UTC
		n := 0
		for _, c := range obs.Containers {
			p := obs.Pods[c.Pod]
			if p.Controller != "nightly-etl" {
				continue
			}
			n++
			if first, last := c.Running.First(), c.Running.Last(); first < slotOf(7, 0, time.Minute) || first > slotOf(7, 2, time.Minute) || last > slotOf(8, 40, time.Minute) || last < slotOf(8, 20, time.Minute) {
				t.Errorf("nightly pod %s runs from slot %d to %d", p.Name, first, last)
			}
			if p.ControllerKind != "cronjob" || !strings.HasPrefix(p.Labels["job-name"], "nightly-etl-") {
				t.Errorf("nightly pod %s: kind %q, job %q", p.Name, p.ControllerKind, p.Labels["job-name"])
			}
		}
		if n == 0 {
			t.Errorf("no nightly-etl pods")
		}
	})

	t.Run("volumes", func(t *testing.T) {
		vols := map[string]cost.PersistentVolume{}
		classes := map[string]bool{}
		available := 0
		for _, v := range obs.Volumes {
			vols[v.Name] = v
			classes[v.StorageClass] = true
			if v.ClaimName == "" {
				available++
			}
		}
		mounted := map[string]bool{}
		for _, p := range obs.Pods {
			for _, c := range p.Claims {
				mounted[p.Namespace+"/"+c] = true
			}
		}
		unmounted := 0
		for _, c := range obs.Claims {
			v, ok := vols[c.Volume]
			if !ok || v.ClaimNamespace != c.Namespace || v.ClaimName != c.Name || v.StorageClass != c.StorageClass || v.CapacityBytes != c.RequestBytes {
				t.Errorf("claim %s/%s is not bound to a matching volume (%+v)", c.Namespace, c.Name, v)
			}
			if !mounted[c.Namespace+"/"+c.Name] {
				unmounted++
			}
		}
		if !classes["gp3"] || !classes["io2"] || available == 0 || unmounted == 0 || len(mounted) == 0 {
			t.Errorf("classes %v, %d available volumes, %d unmounted claims, %d mounted; want gp3, io2, and some of each", classes, available, unmounted, len(mounted))
		}
	})

	t.Run("load balancers", func(t *testing.T) {
		matching := func(s cost.Service) int {
			n := 0
			for _, p := range obs.Pods {
				if p.Namespace != s.Namespace || len(s.Selector) == 0 {
					continue
				}
				ok := true
				for k, v := range s.Selector {
					ok = ok && p.Labels[k] == v
				}
				if ok {
					n++
				}
			}
			return n
		}
		got := map[string]int{}
		for _, s := range obs.Services {
			got[s.Namespace+"/"+s.Name] = matching(s)
			if s.Selector == nil {
				t.Errorf("service %s/%s has no selector", s.Namespace, s.Name)
			}
		}
		if got["ingress-nginx/ingress-nginx-controller"] == 0 || got["payments/payments-api-public"] == 0 {
			t.Errorf("selected pods per service %v: the ingress controller and payments API must select pods", got)
		}
		if n, ok := got["checkout-staging/promo-banner-legacy"]; !ok || n != 0 {
			t.Errorf("selected pods per service %v: want one service that selects nothing", got)
		}
	})
}

func TestNodeLifecycle(t *testing.T) {
	for _, pods := range []int{300, 2000} {
		t.Run(fmt.Sprint(pods), func(t *testing.T) {
			c := cluster(t, pods)
			obs := observe(t, c, wednesday, 24*time.Hour, time.Minute)
			n := obs.Slots()
			appear, disappear, midHour, always := 0, 0, 0, 0
			for _, nd := range obs.Nodes {
				first, last := nd.Present.First(), nd.Present.Last()
				if first > 0 {
					appear++
					if first%60 != 0 {
						midHour++
					}
				}
				if last < n-1 {
					disappear++
				}
				if nd.Present.Count() == n {
					always++
				}
			}
			if appear == 0 || disappear == 0 || midHour == 0 || always < 3 {
				t.Errorf("of %d nodes %d appear (%d mid-hour), %d disappear, %d always present", len(obs.Nodes), appear, midHour, disappear, always)
			}
			night, peak := slotOf(9, 0, time.Minute), slotOf(20, 0, time.Minute)
			for _, pool := range []string{"general-od", "spot-compute"} {
				if a, b := presentAt(obs, night, pool), presentAt(obs, peak, pool); b <= a || a == 0 {
					t.Errorf("pool %s: %d nodes at night, %d at the peak; want it to grow in the day", pool, a, b)
				}
			}
			sat := observe(t, c, saturday, 24*time.Hour, time.Minute)
			if a, b := presentAt(sat, peak, ""), presentAt(obs, peak, ""); a >= b {
				t.Errorf("%d nodes at the Saturday peak, %d on Wednesday; want fewer at the weekend", a, b)
			}
		})
	}
}

func TestPodLifecycle(t *testing.T) {
	c := cluster(t, 300)
	obs := observe(t, c, wednesday, 3*24*time.Hour, time.Minute)
	checkStructure(t, obs)
	n := obs.Slots()
	nodes := map[string]cost.Node{}
	for _, nd := range obs.Nodes {
		nodes[nd.Name] = nd
	}
	running := make([]cost.Slots, len(obs.Pods))
	for _, ct := range obs.Containers {
		running[ct.Pod] = ct.Running
	}

	t.Run("replacements when a node goes away", func(t *testing.T) {
		// A node that existed before the window and goes away in it was replaced; its
		// Deployment pods must come back as new pods on other nodes within minutes.
		replaced, moved := 0, 0
		for pi, p := range obs.Pods {
			nd := nodes[p.Node]
			if p.ControllerKind != "deployment" || nd.Present.First() != 0 || nd.Present.Last() == n-1 {
				continue
			}
			end := running[pi].Last()
			if end < nd.Present.Last()-5 {
				continue // ended for another reason (scale-down, rollout)
			}
			replaced++
			for qi, q := range obs.Pods {
				if q.Controller == p.Controller && q.Namespace == p.Namespace && q.Node != p.Node && q.UID != p.UID {
					if s := running[qi].First(); s >= end-1 && s <= end+5 {
						moved++
						break
					}
				}
			}
		}
		if replaced == 0 || moved < replaced {
			t.Errorf("%d deployment pods ended with their node, %d were replaced on another node", replaced, moved)
		}
	})

	t.Run("replica counts follow load", func(t *testing.T) {
		count := func(controller string, i int) int {
			k := 0
			for pi, p := range obs.Pods {
				if p.Controller == controller && running[pi].Has(i) {
					k++
				}
			}
			return k
		}
		night, peak := slotOf(9, 0, time.Minute), slotOf(20, 0, time.Minute)
		for _, d := range []string{"storefront-web", "checkout-api", "payments-api"} {
			if a, b := count(d, night), count(d, peak); a == 0 || b <= a {
				t.Errorf("%s: %d replicas at night, %d at the peak", d, a, b)
			}
		}
	})

	t.Run("rollouts replace pods", func(t *testing.T) {
		hashes := map[string]map[string]bool{}
		for _, p := range obs.Pods {
			if p.ControllerKind == "deployment" {
				if hashes[p.Controller] == nil {
					hashes[p.Controller] = map[string]bool{}
				}
				hashes[p.Controller][p.Labels["pod-template-hash"]] = true
			}
		}
		rolled := 0
		for _, h := range hashes {
			if len(h) > 1 {
				rolled++
			}
		}
		if rolled == 0 {
			t.Errorf("no Deployment rolled out a new revision in three weekdays")
		}
	})
}

func TestUsage(t *testing.T) {
	c := cluster(t, 300)
	obs := observe(t, c, wednesday, 2*24*time.Hour, 5*time.Minute)
	under, over, resets := 0, 0, 0
	for _, ct := range obs.Containers {
		var use, req float64
		k := 0
		for i := range ct.CPUUsage {
			if ct.Running.Has(i) {
				use += ct.CPUUsage[i]
				req += cost.At(ct.CPURequest, i)
				k++
			}
		}
		if k >= 12 && use/req < 0.2 { // over an hour or more
			under++
		}
		// bursty services go well above their request at the peak
		peak := slotOf(20, 0, 5*time.Minute)
		if ct.Running.Has(peak) && ct.CPUUsage[peak] > 1.1*cost.At(ct.CPURequest, peak) {
			over++
		}
		for i := 1; i < len(ct.RAMUsage); i++ {
			if ct.Running.Has(i-1) && ct.Running.Has(i) && ct.RAMUsage[i] < 0.6*ct.RAMUsage[i-1] {
				resets++
				break
			}
		}
	}
	if under == 0 || over == 0 || resets == 0 {
		t.Errorf("%d containers use <20%% of their CPU request, %d >110%% at the peak, %d restart after a memory climb; want some of each", under, over, resets)
	}

	total := func(o *cost.Observation, i int) float64 {
		s := 0.0
		for _, ct := range o.Containers {
			s += cost.At(ct.CPUUsage, i)
		}
		return s
	}
	night, peak := slotOf(9, 0, 5*time.Minute), slotOf(20, 0, 5*time.Minute)
	if a, b := total(obs, night), total(obs, peak); b < 1.5*a {
		t.Errorf("cluster CPU usage %.1f cores at night, %.1f at the peak; want a daily cycle", a, b)
	}
	sat := observe(t, c, saturday, 24*time.Hour, 5*time.Minute)
	if a, b := total(sat, peak), total(obs, peak); a > 0.8*b {
		t.Errorf("cluster CPU usage %.1f cores at the Saturday peak, %.1f on Wednesday; want a weekly cycle", a, b)
	}
}

// requestedShares returns, for every node present in slot i, the share of its CPU
// capacity requested by the containers running on it.
func requestedShares(obs *cost.Observation, i int) (cpu []float64, overCommitted int) {
	var reqCPU, reqRAM = map[string]float64{}, map[string]float64{}
	for _, c := range obs.Containers {
		if c.Running.Has(i) {
			p := obs.Pods[c.Pod]
			reqCPU[p.Node] += cost.At(c.CPURequest, i)
			reqRAM[p.Node] += cost.At(c.RAMRequest, i)
		}
	}
	for _, nd := range obs.Nodes {
		if nd.Present.Has(i) {
			cpu = append(cpu, reqCPU[nd.Name]/nd.CPUCores)
			if reqCPU[nd.Name] > nd.CPUCores || reqRAM[nd.Name] > nd.RAMBytes {
				overCommitted++
			}
		}
	}
	return cpu, overCommitted
}

func TestRequestsFitNodes(t *testing.T) {
	for _, pods := range []int{300, 2000} {
		t.Run(fmt.Sprint(pods), func(t *testing.T) {
			obs := observe(t, cluster(t, pods), wednesday, 24*time.Hour, 15*time.Minute)
			nodeSlots, over := 0, 0
			for i := range obs.Slots() {
				shares, o := requestedShares(obs, i)
				nodeSlots += len(shares)
				over += o
			}
			if over*50 > nodeSlots {
				t.Errorf("%d of %d node-slots are requested beyond capacity, want at most 2%%", over, nodeSlots)
			}
			shares, _ := requestedShares(obs, slotOf(20, 0, 15*time.Minute))
			slices.Sort(shares)
			if med := shares[len(shares)/2]; med < 0.4 || med > 0.8 {
				t.Errorf("median node requests %.0f%% of its CPU at the peak, want 40–80%%", 100*med)
			}
		})
	}
}

func TestScale(t *testing.T) {
	tests := []struct {
		pods               int
		minPods, maxPods   int
		minCtrs, maxCtrs   int
		minNodes, maxNodes int
	}{
		{300, 255, 345, 500, 900, 8, 25},
		{10000, 9000, 11000, 20000, 30000, 100, 200},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.pods), func(t *testing.T) {
			if tt.pods > 1000 && testing.Short() {
				t.Skip("large cluster")
			}
			c := cluster(t, tt.pods)
			obs := observe(t, c, wednesday, 24*time.Hour, 15*time.Minute)
			checkStructure(t, obs)
			var peakPods, peakCtrs, peakNodes int
			for i := range obs.Slots() {
				p, ct := runningAt(obs, i)
				peakPods, peakCtrs = max(peakPods, p), max(peakCtrs, ct)
				peakNodes = max(peakNodes, presentAt(obs, i, ""))
			}
			t.Logf("Pods=%d: peak %d pods, %d containers, %d nodes; %d pods and %d nodes over the day", tt.pods, peakPods, peakCtrs, peakNodes, len(obs.Pods), len(obs.Nodes))
			if peakPods < tt.minPods || peakPods > tt.maxPods || peakCtrs < tt.minCtrs || peakCtrs > tt.maxCtrs || peakNodes < tt.minNodes || peakNodes > tt.maxNodes {
				t.Errorf("peak %d pods, %d containers, %d nodes; want %d–%d pods, %d–%d containers, %d–%d nodes",
					peakPods, peakCtrs, peakNodes, tt.minPods, tt.maxPods, tt.minCtrs, tt.maxCtrs, tt.minNodes, tt.maxNodes)
			}
		})
	}
}

func TestNodeNamesStayUnique(t *testing.T) {
	// Over 60 days a scaled slot holds a new node every day and an always-on slot a new
	// one every rotation; no two of those nodes may share a name. The nodes are
	// enumerated directly: observing 60 days would compute 60 days of usage.
	for _, pods := range []int{300, 10000} {
		c := cluster(t, pods)
		start := wednesday
		end := start.Add(60 * 24 * time.Hour)
		o := newObserver(c, start.Unix(), end.Unix(), int64(time.Hour/time.Second))
		seen := map[string]string{}
		add := func(in inst, what string) {
			if prev, dup := seen[in.name]; dup {
				t.Fatalf("Pods=%d: node name %s used by %s and %s", pods, in.name, prev, what)
			}
			seen[in.name] = what
		}
		for si := range c.cat.slots {
			s := &c.cat.slots[si]
			if s.mode == slotBase {
				for g := s.genAt(o.mFrom) - 1; g <= s.genAt(o.mTo)+1; g++ {
					add(c.cat.baseInstance(int32(si), g), fmt.Sprintf("slot %d generation %d", si, g))
				}
				continue
			}
			for d := simDay(o.mFrom); d <= simDay(o.mTo-1); d++ {
				ins, k := o.dayInstances(int32(si), d)
				for i := range k {
					add(ins[i], fmt.Sprintf("slot %d day %d part %d", si, d, i))
				}
			}
		}
		if len(seen) < len(c.cat.slots)*10 {
			t.Errorf("Pods=%d: only %d nodes in 60 days for %d slots", pods, len(seen), len(c.cat.slots))
		}
	}
}

// TestCoarseResolutionAggregates checks that a coarse slot holds what a collector
// computes from the minute-level data: CPU = increase / slot length, memory = mean
// working set while running.
func TestCoarseResolutionAggregates(t *testing.T) {
	c := cluster(t, 300)
	start := wednesday.Add(6 * time.Hour) // the nightly batch starts and stops inside these hours
	minutes := observe(t, c, start, 4*time.Hour, time.Minute)
	idx := make(map[ctrKey]int, len(minutes.Containers))
	for i, ct := range minutes.Containers {
		idx[ctrKey{minutes.Pods[ct.Pod].UID, ct.Name}] = i
	}
	for _, res := range []time.Duration{5 * time.Minute, time.Hour} {
		coarse := observe(t, c, start, 4*time.Hour, res)
		checkStructure(t, coarse)
		k := int(res / time.Minute)
		partial := 0
		for _, ct := range coarse.Containers {
			p := coarse.Pods[ct.Pod]
			mi, ok := idx[ctrKey{p.UID, ct.Name}]
			if !ok {
				t.Fatalf("%s: container %s/%s missing at 1m", res, p.Name, ct.Name)
			}
			m := minutes.Containers[mi]
			for i := range coarse.Slots() {
				var cpu, ram float64
				ran := 0
				for s := i * k; s < (i+1)*k; s++ {
					if m.Running.Has(s) {
						cpu += m.CPUUsage[s]
						ram += m.RAMUsage[s]
						ran++
					}
				}
				if (ran > 0) != ct.Running.Has(i) {
					t.Fatalf("%s %s/%s slot %d: running %v, but %d of its minutes ran", res, p.Name, ct.Name, i, ct.Running.Has(i), ran)
				}
				if ran == 0 {
					continue
				}
				if ran < k {
					partial++
				}
				if got, want := ct.CPUUsage[i], cpu/float64(k); math.Abs(got-want) > 1e-9*want {
					t.Fatalf("%s %s/%s slot %d: cpu %v, want the minutes' average %v", res, p.Name, ct.Name, i, got, want)
				}
				if got, want := ct.RAMUsage[i], ram/float64(ran); math.Abs(got-want) > 1e-9*want {
					t.Fatalf("%s %s/%s slot %d: ram %v, want the running minutes' average %v", res, p.Name, ct.Name, i, got, want)
				}
			}
		}
		if partial == 0 {
			t.Errorf("%s: no slot in which a container ran only part of the time; the test checks nothing about partial slots", res)
		}
	}
}

func TestSetRange(t *testing.T) {
	for _, n := range []int{1, 63, 64, 65, 200} {
		for from := 0; from <= n; from += 7 {
			for to := from; to <= n; to += 5 {
				got, want := cost.NewSlots(n), cost.NewSlots(n)
				setRange(got, from, to)
				want.SetRange(from, to)
				if !slices.Equal(got, want) {
					t.Fatalf("setRange(%d slots, %d, %d) = %x, want %x", n, from, to, got, want)
				}
			}
		}
	}
}

func BenchmarkObserveHour(b *testing.B) {
	for _, pods := range []int{DefaultPods, 10000} {
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			c := cluster(b, pods)
			peak := cost.NewWindow(wednesday.Add(20*time.Hour), wednesday.Add(21*time.Hour))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Observe(context.Background(), peak, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkObserve30Days is demo mode's backfill: 720 hourly observations.
func BenchmarkObserve30Days(b *testing.B) {
	c := cluster(b, DefaultPods)
	b.ReportAllocs()
	for b.Loop() {
		for h := range 30 * 24 {
			start := wednesday.Add(time.Duration(h) * time.Hour)
			if _, err := c.Observe(context.Background(), cost.NewWindow(start, start.Add(time.Hour)), time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkNew(b *testing.B) {
	for _, pods := range []int{DefaultPods, 10000} {
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(Config{Pods: pods}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
