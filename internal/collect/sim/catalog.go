package sim

import (
	"cmp"
	"container/heap"
	"maps"
	"math"
	"slices"
	"strconv"
)

// A catalog is the resolved, immutable description of one simulated cluster: which
// workloads exist with which requests, and which "node slot" every replica is bound to.
// It is built once by New; Observe only reads it.
//
// A node slot is a position in a node pool (think: one entry of a Karpenter NodePool's
// capacity). Over time a slot is filled by a sequence of real nodes, each with its own
// name and instance ID: an always-on slot by one node per rotation period, a scaled
// slot by one node per day while its replicas need it. Binding replicas to slots
// (rather than scheduling pods over time) is what makes the placement a function of
// absolute time: the node a pod runs on is the one its slot holds when the pod starts.

type slotMode uint8

const (
	slotBase   slotMode = iota // always on, rotated periodically
	slotScaled                 // up during the day while its replicas run
	slotBatch                  // up at night for the nightly batch
)

type unitMode uint8

const (
	unitBase   unitMode = iota // always desired
	unitScaled                 // desired during the day, more of them at higher load
	unitBatch                  // the nightly batch
	unitRuns                   // GPU training runs
)

type containerSpec struct {
	name          string
	cpu, ram, gpu float64 // requests: cores, bytes, GPUs
	// CPU usage = cpu * (cpuLo + cpuSpan*load) * (1 ± cpuNoise), with rare spikes.
	cpuLo, cpuSpan, cpuNoise float64
	spiky                    bool
	// RAM usage = ram * min(memBase + memGrowth*ageHours, memMax) * (1 + memLoad*load);
	// age restarts every memRestartH hours when the process is OOM-killed.
	memBase, memGrowth, memMax, memRestartH, memLoad float64
}

type workload struct {
	ns          int
	name        string
	kind        kind
	pool        poolID
	minR, maxR  int // HPA bounds; StatefulSet replicas; batch parallelism (maxR)
	ctrs        []containerSpec
	podCPU      float64
	podRAM      float64
	labels      map[string]string // template: copied for every pod, never handed out
	annotations map[string]string // template, may be nil
	key         uint64
	rolloutP    float64
	claimClass  string
	claimGiB    float64
	// CronJob schedule in UTC minutes: runs at offset + k*period.
	period, offset, durMin, durMax int64
	gpuOnly                        bool
}

type unit struct {
	w, r int32 // workload, replica index (ordinal for StatefulSets)
	slot int32
	mode unitMode
	frac float64 // scaled replicas: 0 = first to scale up, 1 = needed only at peak
	key  uint64
}

type nodeSlot struct {
	pool  poolID
	mode  slotMode
	it    instanceType
	zone  int
	addr  int // index among the slots of its zone: keeps node names unique
	key   uint64
	units []int32
	off   int64 // rotation phase of an always-on slot, minutes

	cpuLeft, ramLeft float64 // packing budget
	podsLeft         int
}

type namespace struct {
	name        string
	labels      map[string]string
	annotations map[string]string
}

type volume struct {
	name, class, providerID string
	bytes                   float64
	claimNS, claimName      string
}

type claim struct {
	ns, name, volume, class string
	bytes                   float64
}

type catalog struct {
	namespaces []namespace
	workloads  []workload
	units      []unit
	slots      []nodeSlot
	daemonSets []int32
	cronJobs   []int32
	baseSlots  [numPools][]int32
	volumes    []volume
	claims     []claim

	// DaemonSet requests and pods on every node; index 1 is a GPU node, which also
	// runs the GPU-only DaemonSets.
	dsCPU, dsRAM [2]float64
	dsPods       [2]int
	peakPods     int // pods running at a weekday peak, by construction
}

type builder struct {
	seed    uint64
	scale   float64
	c       *catalog
	perPool [numPools]int // slots created so far in each pool
}

// build resolves the tables at the given scale (1 is about 200 pods).
func build(seed uint64, scale float64) *catalog {
	b := &builder{seed: seed, scale: scale, c: &catalog{}}
	b.namespaces()
	b.workloads()
	b.daemonSetOverhead()
	b.units()
	b.volumes()
	b.estimate()
	return b.c
}

func (b *builder) namespaces() {
	for _, t := range namespaceTable {
		labels := map[string]string{
			"kubernetes.io/metadata.name": t.name,
			"team":                        t.team,
			"environment":                 t.env,
			"department":                  t.dept,
		}
		if t.mesh {
			labels["istio-injection"] = "enabled"
		}
		b.c.namespaces = append(b.c.namespaces, namespace{
			name: t.name, labels: labels,
			annotations: map[string]string{"contact": "#" + t.team + "-oncall"},
		})
	}
}

func (b *builder) nsIndex(name string) int {
	for i, t := range namespaceTable {
		if t.name == name {
			return i
		}
	}
	panic("sim: workload table names unknown namespace " + name) // a bug in the tables
}

func (b *builder) workloads() {
	sq := math.Sqrt(b.scale)
	// services per namespace that the grow seeds expand to
	seeds := make([][]int, len(namespaceTable))
	for i, t := range workloadTable {
		if t.grow {
			ns := b.nsIndex(t.ns)
			seeds[ns] = append(seeds[ns], i)
		}
	}
	want := make([]int, len(namespaceTable))
	for ns, s := range seeds {
		if len(s) > 0 {
			want[ns] = max(1, int(math.Round(float64(len(s))*sq)))
		}
	}
	rank := make([]int, len(namespaceTable))
	for _, t := range workloadTable {
		ns := b.nsIndex(t.ns)
		if t.grow {
			rank[ns]++
			if rank[ns] > want[ns] {
				continue
			}
		}
		b.addWorkload(ns, t, t.name, 0)
	}
	for ns, s := range seeds {
		for i := len(s); i < want[ns]; i++ {
			t := workloadTable[s[i%len(s)]]
			b.addWorkload(ns, t, cloneName(namespaceTable[ns].names, t.name, i-len(s)), i)
		}
	}
}

// cloneName names the i-th cloned service of a namespace.
func cloneName(names []string, fallback string, i int) string {
	if len(names) == 0 {
		names = []string{fallback}
	}
	base := names[i%len(names)]
	round := i / len(names)
	name := base + cloneSuffixes[round%len(cloneSuffixes)]
	if n := round / len(cloneSuffixes); n > 0 {
		name += "-" + strconv.Itoa(n+1)
	}
	return name
}

// addWorkload resolves a template. clone > 0 derives a new service from the template
// with its own requests, replica bounds and usage shape.
func (b *builder) addWorkload(ns int, t wlTpl, name string, clone int) {
	nt := namespaceTable[ns]
	key := hashString(b.seed, nt.name+"/"+name)
	w := workload{
		ns: ns, name: name, kind: t.kind, pool: t.pool, key: key,
		rolloutP: t.rolloutP, claimClass: t.claimClass, claimGiB: t.claimGiB,
		gpuOnly: t.gpuOnly, annotations: maps.Clone(t.annotations),
	}
	ctrs := t.ctrs
	minR, maxR := t.min, max(t.max, t.min)
	if clone > 0 {
		h := mix(key)
		ctrs = b.cloneContainers(t.ctrs, h)
		minR = 1 + int(below(mix(h^1), 3))
		maxR = minR + int(below(mix(h^2), 8))
		w.rolloutP = between(mix(h^3), 0.1, 0.5)
		w.annotations = nil
		if frac01(mix(h^4)) < 0.5 {
			w.annotations = map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}
		}
	}
	if f := math.Pow(b.scale, t.exp); t.exp > 0 {
		minR = max(1, int(math.Round(float64(minR)*f)))
		maxR = max(minR, int(math.Round(float64(maxR)*f)))
	}
	w.minR, w.maxR = minR, maxR
	if t.kind == kindStatefulSet || t.kind == kindNightly || t.kind == kindTraining {
		w.maxR = w.minR
	}
	reqScale := 1.0
	if t.reqExp > 0 {
		reqScale = max(1, math.Pow(b.scale, t.reqExp))
	}
	mesh := nt.mesh && (t.kind == kindDeployment || t.kind == kindStatefulSet)
	for i, ct := range ctrs {
		w.ctrs = append(w.ctrs, b.containerSpec(ct, hash2(key, uint64(i)), reqScale))
	}
	if mesh {
		w.ctrs = append(w.ctrs, b.containerSpec(istioProxy, hash2(key, 99), 1))
	}
	for _, c := range w.ctrs {
		w.podCPU += c.cpu
		w.podRAM += c.ram
	}
	if t.kind == kindCronJob {
		// the schedule is written in local time; convert the offset to UTC
		w.period = t.period
		w.offset = ((t.offset-localOffsetMin)%t.period + t.period) % t.period
		w.durMin, w.durMax = t.durMin, t.durMax
	}

	w.labels = map[string]string{"app": name, "app.kubernetes.io/name": name}
	if nt.name != "kube-system" {
		w.labels["team"] = nt.team
	}
	if nt.env != "production" || frac01(mix(key^5)) < 0.5 {
		w.labels["env"] = nt.env
	}
	for k, v := range t.labels {
		w.labels[k] = v
	}
	if len(w.ctrs) > 1 {
		if w.annotations == nil {
			w.annotations = map[string]string{}
		}
		w.annotations["kubectl.kubernetes.io/default-container"] = w.ctrs[0].name
	}

	idx := int32(len(b.c.workloads))
	b.c.workloads = append(b.c.workloads, w)
	switch t.kind {
	case kindDaemonSet:
		b.c.daemonSets = append(b.c.daemonSets, idx)
	case kindCronJob:
		b.c.cronJobs = append(b.c.cronJobs, idx)
	}
}

// cloneContainers gives a cloned service its own app size and usage shape, and its own
// choice of sidecars, so that a big cluster is not a few services copied many times.
func (b *builder) cloneContainers(tpl []ctrTpl, h uint64) []ctrTpl {
	a := tpl[0]
	// most services cloned from a template are smaller than the flagship it was
	// modelled on
	a.milli = roundTo(float64(a.milli)*[]float64{0.25, 0.4, 0.5, 0.5, 0.75, 1}[below(mix(h^10), 6)], 10)
	a.mib = roundTo(float64(a.mib)*[]float64{0.5, 0.5, 0.75, 1, 1.25}[below(mix(h^11), 5)], 32)
	switch r := frac01(mix(h ^ 12)); {
	case r < 0.15:
		a.cpu, a.mem = cpuOver, memOver
	case r < 0.30:
		a.cpu = cpuBursty
	case r < 0.45:
		// keep the template's shape
	default:
		a.cpu = cpuNormal
	}
	if a.mem != memOver {
		if r := frac01(mix(h ^ 13)); r < 0.1 {
			a.mem = memLeaky
		} else if r < 0.3 {
			a.mem = memCache
		} else {
			a.mem = memSteady
		}
	}
	out := []ctrTpl{a}
	switch r := frac01(mix(h ^ 14)); {
	case r < 0.45:
		out = append(out, vaultAgent)
	case r < 0.75:
		out = append(out, otelAgent)
	}
	return out
}

func roundTo(v float64, step int) int { return max(step, int(math.Round(v/float64(step)))*step) }

// containerSpec turns a template into requests and usage parameters, perturbed per
// workload so that no two services have exactly the same efficiency.
func (b *builder) containerSpec(t ctrTpl, h uint64, reqScale float64) containerSpec {
	c := containerSpec{
		name: t.name,
		cpu:  float64(t.milli) / 1000 * reqScale,
		ram:  float64(t.mib) * mib * reqScale,
		gpu:  float64(t.gpu),
	}
	j := func(k uint64, lo, hi float64) float64 { return between(mix(h^k), lo, hi) }
	switch t.cpu {
	case cpuNormal:
		c.cpuLo, c.cpuSpan, c.cpuNoise = j(1, 0.06, 0.14), j(2, 0.30, 0.55), 0.2
	case cpuOver:
		c.cpuLo, c.cpuSpan, c.cpuNoise = j(1, 0.03, 0.05), j(2, 0.04, 0.08), 0.25
	case cpuBursty:
		lo := j(1, 0.15, 0.30)
		c.cpuLo, c.cpuSpan, c.cpuNoise, c.spiky = lo, j(2, 1.25, 1.70)-lo, 0.12, true
	case cpuSteady:
		c.cpuLo, c.cpuSpan, c.cpuNoise = j(1, 0.25, 0.35), j(2, 0.10, 0.20), 0.1
	case cpuBatch:
		c.cpuLo, c.cpuSpan, c.cpuNoise = j(1, 0.75, 0.95), 0, 0.08
	case cpuSidecar:
		c.cpuLo, c.cpuSpan, c.cpuNoise = j(1, 0.05, 0.10), j(2, 0.15, 0.30), 0.3
	case cpuDaemon:
		c.cpuLo, c.cpuSpan, c.cpuNoise = j(1, 0.08, 0.12), j(2, 0.05, 0.20), 0.25
	case cpuTrain:
		c.cpuLo, c.cpuSpan, c.cpuNoise = j(1, 0.55, 0.70), 0, 0.1
	}
	switch t.mem {
	case memSteady:
		c.memBase, c.memGrowth, c.memMax, c.memLoad = j(3, 0.45, 0.65), j(4, 0.001, 0.004), 0.85, 0.08
	case memOver:
		c.memBase, c.memGrowth, c.memMax, c.memLoad = j(3, 0.07, 0.10), 0.0005, 0.14, 0.05
	case memLeaky:
		// climbs to above the request, then the container is OOM-killed at its limit
		c.memBase, c.memGrowth, c.memMax, c.memLoad = j(3, 0.30, 0.40), j(4, 0.02, 0.05), j(5, 1.15, 1.30), 0.05
		c.memRestartH = (c.memMax - c.memBase) / c.memGrowth
	case memCache:
		c.memBase, c.memGrowth, c.memMax, c.memLoad = j(3, 0.70, 0.80), j(4, 0.002, 0.005), 0.92, 0.02
	case memBatch:
		c.memBase, c.memGrowth, c.memMax, c.memLoad = j(3, 0.50, 0.70), j(4, 0.10, 0.20), 0.95, 0
	case memSidecar:
		c.memBase, c.memGrowth, c.memMax, c.memLoad = j(3, 0.40, 0.60), 0.001, 0.7, 0.1
	}
	return c
}

func (b *builder) daemonSetOverhead() {
	c := b.c
	for _, wi := range c.daemonSets {
		w := &c.workloads[wi]
		for g := 0; g < 2; g++ { // g = 1: GPU node
			if w.gpuOnly && g == 0 {
				continue
			}
			c.dsCPU[g] += w.podCPU
			c.dsRAM[g] += w.podRAM
			c.dsPods[g]++
		}
	}
}

// units creates one unit per replica and packs them onto node slots.
func (b *builder) units() {
	c := b.c
	var base, scaled, batch [numPools][]int32
	for wi := range c.workloads {
		w := &c.workloads[wi]
		add := func(r int, mode unitMode, frac float64) int32 {
			u := unit{w: int32(wi), r: int32(r), slot: -1, mode: mode, frac: frac, key: hash2(w.key, uint64(r)+1)}
			c.units = append(c.units, u)
			return int32(len(c.units) - 1)
		}
		switch w.kind {
		case kindDeployment, kindStatefulSet:
			for r := 0; r < w.maxR; r++ {
				if r < w.minR {
					base[w.pool] = append(base[w.pool], add(r, unitBase, 0))
					continue
				}
				frac := float64(r-w.minR+1) / float64(w.maxR-w.minR)
				scaled[w.pool] = append(scaled[w.pool], add(r, unitScaled, frac))
			}
		case kindNightly:
			for r := 0; r < w.maxR; r++ {
				batch[w.pool] = append(batch[w.pool], add(r, unitBatch, 0))
			}
		case kindTraining:
			base[w.pool] = append(base[w.pool], add(0, unitRuns, 0))
		}
	}
	for p := poolID(0); p < numPools; p++ {
		// spread the replicas of one Deployment over nodes, as the scheduler does
		slices.SortStableFunc(base[p], func(a, b int32) int { return cmp.Compare(c.units[a].key, c.units[b].key) })
		b.pack(p, slotBase, base[p])
		// scaled replicas are packed in the order they are needed, so that nodes come up
		// in the morning and go away at night one after the other
		slices.SortStableFunc(scaled[p], func(a, b int32) int {
			ua, ub := &c.units[a], &c.units[b]
			return cmp.Or(cmp.Compare(ua.frac, ub.frac), cmp.Compare(ua.key, ub.key))
		})
		b.pack(p, slotScaled, scaled[p])
		b.pack(p, slotBatch, batch[p])
	}
	var perZone [3]int
	for i := range c.slots {
		s := &c.slots[i]
		s.addr = perZone[s.zone]
		perZone[s.zone]++
		if s.mode == slotBase {
			c.baseSlots[s.pool] = append(c.baseSlots[s.pool], int32(i))
		}
	}
}

// pack assigns units to new slots of pool p. Scaled and batch nodes are filled one
// after the other against each node's fill target, the way the autoscaler adds a node
// when the last one is full. Always-on nodes take as many nodes as that needs (at least
// the pool's minimum), and each replica goes to the least allocated of them, the way
// the scheduler's default scoring spreads pods.
func (b *builder) pack(p poolID, mode slotMode, us []int32) {
	c := b.c
	if len(us) == 0 && (mode != slotBase || pools[p].minBase == 0) {
		return
	}
	first, firstK := len(c.slots), b.perPool[p]
	cur := int32(-1)
	for _, ui := range us {
		w := &c.workloads[c.units[ui].w]
		if cur < 0 || !c.slots[cur].fits(w) {
			cur = b.newSlot(p, mode)
		}
		b.place(cur, ui)
	}
	if mode != slotBase {
		return
	}
	k := max(pools[p].minBase, len(c.slots)-first)
	c.slots, b.perPool[p] = c.slots[:first], firstK
	h := &slotHeap{c: c}
	for i := 0; i < k; i++ {
		h.s = append(h.s, b.newSlot(p, mode))
	}
	heap.Init(h)
	for _, ui := range us {
		b.place(h.s[0], ui)
		heap.Fix(h, 0)
	}
}

// slotHeap orders slots by the share of their capacity that is requested or held back
// as headroom, least first.
type slotHeap struct {
	c *catalog
	s []int32
}

func (h *slotHeap) Len() int      { return len(h.s) }
func (h *slotHeap) Swap(i, j int) { h.s[i], h.s[j] = h.s[j], h.s[i] }
func (h *slotHeap) Less(i, j int) bool {
	a, b := h.c.slots[h.s[i]].used(), h.c.slots[h.s[j]].used()
	if a != b {
		return a < b
	}
	return h.s[i] < h.s[j]
}
func (h *slotHeap) Push(x any) { h.s = append(h.s, x.(int32)) }
func (h *slotHeap) Pop() any {
	x := h.s[len(h.s)-1]
	h.s = h.s[:len(h.s)-1]
	return x
}

// used is the larger of the CPU and RAM shares of capacity already requested.
func (s *nodeSlot) used() float64 {
	return max(1-s.cpuLeft/s.it.cpu, 1-s.ramLeft/(s.it.ramGiB*gib))
}

func (s *nodeSlot) fits(w *workload) bool {
	return s.podsLeft > 0 && s.cpuLeft >= w.podCPU && s.ramLeft >= w.podRAM
}

func (b *builder) place(si, ui int32) {
	c := b.c
	s := &c.slots[si]
	w := &c.workloads[c.units[ui].w]
	s.units = append(s.units, ui)
	s.cpuLeft -= w.podCPU
	s.ramLeft -= w.podRAM
	s.podsLeft--
	c.units[ui].slot = si
}

func (b *builder) newSlot(p poolID, mode slotMode) int32 {
	c := b.c
	k := b.perPool[p]
	b.perPool[p]++
	ps := &pools[p]
	key := hash4(b.seed, 0x510, uint64(p), uint64(k))
	it := ps.types[below(key, int64(len(ps.types)))]
	g := 0
	if it.gpus > 0 {
		g = 1
	}
	fill := between(mix(key^1), ps.fillLo, ps.fillHi)
	if mode == slotBatch {
		fill = 0.9 // a batch node is bought for the batch
	}
	s := nodeSlot{
		pool: p, mode: mode, it: it, key: key,
		zone:     (k + ps.zoneShift) % len(zones),
		off:      below(mix(key^2), ps.rotation),
		cpuLeft:  fill*it.cpu - c.dsCPU[g],
		ramLeft:  fill*it.ramGiB*gib - c.dsRAM[g],
		podsLeft: maxPodsPerNode - c.dsPods[g],
	}
	c.slots = append(c.slots, s)
	return int32(len(c.slots) - 1)
}

// volumes creates the PVCs of the StatefulSets, one claim left behind by a scale-down,
// and one released volume nobody claims any more.
func (b *builder) volumes() {
	c := b.c
	add := func(ns, claimName, class string, giB float64, zone int, bound bool) {
		h := hashString(b.seed, ns+"/"+claimName)
		v := volume{
			name:       "pvc-" + uuid(h),
			class:      class,
			bytes:      giB * gib,
			providerID: "aws://" + zones[zone] + "/vol-0" + string(appendHex(nil, mix(h), 16)),
		}
		if bound {
			v.claimNS, v.claimName = ns, claimName
			c.claims = append(c.claims, claim{ns: ns, name: claimName, volume: v.name, class: class, bytes: v.bytes})
		}
		c.volumes = append(c.volumes, v)
	}
	zoneOf := make(map[[2]int32]int)
	for _, u := range c.units {
		zoneOf[[2]int32{u.w, u.r}] = c.slots[u.slot].zone
	}
	for wi := range c.workloads {
		w := &c.workloads[wi]
		if w.kind != kindStatefulSet || w.claimClass == "" {
			continue
		}
		ns := c.namespaces[w.ns].name
		for r := 0; r < w.minR; r++ {
			add(ns, claimName(w.name, r), w.claimClass, w.claimGiB, zoneOf[[2]int32{int32(wi), int32(r)}], true)
		}
		if w.name == "elasticsearch" {
			// the cluster was scaled down by one; its volume stayed
			add(ns, claimName(w.name, w.minR), w.claimClass, w.claimGiB, w.minR%len(zones), true)
		}
	}
	add("", "released-grafana-data", "gp3", 50, 0, false)
}

func claimName(sts string, ordinal int) string { return "data-" + sts + "-" + strconv.Itoa(ordinal) }

// estimate counts what runs at a weekday peak: every base and scaled replica (all of
// them are wanted at 15:00 local), the DaemonSets on every day node, and the CronJob
// pods that overlap on average.
func (b *builder) estimate() {
	c := b.c
	for _, u := range c.units {
		if u.mode == unitBase || u.mode == unitScaled {
			c.peakPods++
		}
	}
	for _, s := range c.slots {
		if s.mode == slotBatch {
			continue
		}
		g := 0
		if s.it.gpus > 0 {
			g = 1
		}
		c.peakPods += c.dsPods[g]
	}
	for _, wi := range c.cronJobs {
		w := &c.workloads[wi]
		c.peakPods += int(math.Round(float64(w.durMin+w.durMax) / 2 / float64(w.period)))
	}
}
