package sim

import (
	"context"
	"math"
	"strconv"

	"github.com/costwarden/costwarden/internal/cost"
)

// observer builds one Observation. It lives for one call and is never shared.
type observer struct {
	cat        *catalog
	obs        *cost.Observation
	ws, we     int64 // window, unix seconds
	res        int64 // resolution, seconds
	n          int   // slots
	mFrom, mTo int64 // minutes that intersect the window
	// Usage is sampled every sampleSec (a minute, or the resolution if it is not a
	// whole number of minutes); a slot holds spp samples.
	sampleSec  int64
	spp        int
	load       []float64 // per sample
	sampleHash []uint64  // per sample
	jobs       []ctrJob
	epochs     [][]int64 // per workload, rollout minutes; computed on first use
	buf        []byte    // scratch for names
}

// ctrJob is a container waiting for its series; they are all filled at the end so that
// the series of every container can be cut from one allocation.
type ctrJob struct {
	pod        int32
	spec       *containerSpec
	key        uint64
	from, to   int   // running slots [from, to)
	start, end int64 // the pod runs [start, end), unix seconds; memory grows with age
}

// inst is one real node held by a slot for a while.
type inst struct {
	slot             int32
	key              uint64
	up, down         int64 // the node exists [up, down), minutes
	podFrom, podTo   int64 // pods may run [podFrom, podTo)
	day              int64 // sim day, for scaled and batch slots
	name, instanceID string
}

func newObserver(c *Cluster, ws, we, res int64) *observer {
	n := int((we - ws) / res)
	sampleSec := res
	if res%60 == 0 {
		sampleSec = 60
	}
	spp := int(res / sampleSec)
	o := &observer{
		cat: c.cat, ws: ws, we: we, res: res, n: n,
		mFrom:      floorDiv(ws, 60),
		mTo:        ceilDiv(we, 60),
		sampleSec:  sampleSec,
		spp:        spp,
		load:       make([]float64, n*spp),
		sampleHash: make([]uint64, n*spp),
		epochs:     make([][]int64, len(c.cat.workloads)),
		obs:        &cost.Observation{Cluster: c.cfg.Name},
	}
	for i := range n * spp {
		t := ws + int64(i)*sampleSec
		o.load[i] = load(t)
		o.sampleHash[i] = mix(uint64(t) ^ 0x736c6f74)
	}
	return o
}

func (o *observer) run(ctx context.Context) error {
	cat := o.cat
	for si := range cat.slots {
		if si%16 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		s := &cat.slots[si]
		if s.mode == slotBase {
			o.baseSlot(int32(si))
			continue
		}
		for d := simDay(o.mFrom); d <= simDay(o.mTo-1); d++ {
			ins, k := o.dayInstances(int32(si), d)
			for i := 0; i < k; i++ {
				if o.overlaps(ins[i].up, ins[i].down) {
					o.onNode(&ins[i])
				}
			}
		}
	}
	for _, wi := range cat.cronJobs {
		o.cronJob(wi)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	o.static()
	return o.fill(ctx)
}

// overlaps reports whether minutes [a, b) intersect the window.
func (o *observer) overlaps(a, b int64) bool { return a < b && a*60 < o.we && b*60 > o.ws }

// slotRange is the slots that minutes [a, b) touch.
func (o *observer) slotRange(a, b int64) (int, int) {
	from := max(0, floorDiv(a*60-o.ws, o.res))
	to := min(int64(o.n), ceilDiv(b*60-o.ws, o.res))
	return int(from), int(to)
}

func (o *observer) bits(a, b int64) cost.Slots {
	s := cost.NewSlots(o.n)
	from, to := o.slotRange(a, b)
	setRange(s, from, to)
	return s
}

// setRange is cost.Slots.SetRange a word at a time.
func setRange(s cost.Slots, from, to int) {
	for from < to {
		w, b := from/64, from%64
		n := min(64-b, to-from)
		if n == 64 {
			s[w] = ^uint64(0)
		} else {
			s[w] |= ((1 << uint(n)) - 1) << uint(b)
		}
		from += n
	}
}

// ---- nodes

// genStart is the minute the g-th node of an always-on slot starts running pods. The
// jitter is less than a third of the period, so generations never overlap.
func (s *nodeSlot) genStart(g int64) int64 {
	p := pools[s.pool].rotation
	return s.off + g*p + below(hash3(s.key, 0x67, uint64(g)), p/3)
}

// genAt is the generation of an always-on slot whose pods run at minute m.
func (s *nodeSlot) genAt(m int64) int64 {
	g := floorDiv(m-s.off, pools[s.pool].rotation)
	if s.genStart(g) > m {
		g--
	}
	return g
}

func (c *catalog) baseInstance(si int32, g int64) inst {
	s := &c.slots[si]
	b0, b1 := s.genStart(g), s.genStart(g+1)
	key := hash3(s.key, 0x6e6f6465, uint64(g))
	return inst{
		slot: si, key: key, up: b0 - 2, down: b1 + 1, podFrom: b0, podTo: b1,
		name: nodeName(s, s.key+uint64(g)), instanceID: instanceID(key),
	}
}

func (o *observer) baseSlot(si int32) {
	s := &o.cat.slots[si]
	for g := s.genAt(o.mFrom) - 1; ; g++ {
		in := o.cat.baseInstance(si, g)
		if in.up*60 >= o.we {
			return
		}
		if o.overlaps(in.up, in.down) {
			o.onNode(&in)
		}
	}
}

// dayInstances are the nodes a scaled or batch slot holds on sim day d: none if no
// replica needs it, two if a spot node is interrupted and replaced.
func (o *observer) dayInstances(si int32, d int64) ([2]inst, int) {
	var out [2]inst
	cat := o.cat
	s := &cat.slots[si]
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, ui := range s.units {
		if a, b, ok := cat.unitDay(&cat.units[ui], d); ok {
			lo, hi = min(lo, a), max(hi, b)
		}
	}
	if lo >= hi {
		return out, 0
	}
	up, down := lo-2, hi+10
	key := hash4(s.key, 0x646179, uint64(d), 0)
	mk := func(part int, up, down, podFrom, podTo int64) inst {
		k := key
		if part > 0 {
			k = hash4(s.key, 0x646179, uint64(d), uint64(part))
		}
		return inst{
			slot: si, key: k, up: up, down: down, podFrom: podFrom, podTo: podTo, day: d,
			name: nodeName(s, s.key+2*uint64(d)+uint64(part)), instanceID: instanceID(k),
		}
	}
	// A spot node can be reclaimed with two minutes' notice; its pods drain and
	// reappear on a replacement node a few minutes later.
	if s.pool == poolSpot && s.mode == slotScaled && frac01(mix(key^7)) < 0.12 && hi-lo > 120 {
		x := lo + 30 + below(mix(key^8), hi-lo-90)
		out[0] = mk(0, up, x, lo, x-1)
		out[1] = mk(1, x+2, down, x+3, down)
		return out, 2
	}
	out[0] = mk(0, up, down, lo, down)
	return out, 1
}

// unitDay is when a scaled or batch replica wants to run on sim day d. Higher-ranked
// replicas (frac near 1) are needed only around the peak; at weekends only the first
// third of them is needed at all.
func (c *catalog) unitDay(u *unit, d int64) (a, b int64, ok bool) {
	h := hash3(u.key, 0x75, uint64(d))
	switch u.mode {
	case unitScaled:
		f := u.frac
		if isWeekend(d) {
			if f > 0.35 {
				return 0, 0, false
			}
			a = localClock(d, 9, 0) + int64(f*360) + below(h, 20)
			b = localClock(d, 21, 0) - int64(f*480) - below(mix(h), 20)
		} else {
			a = localClock(d, 7, 0) + int64(f*270) + below(h, 15)
			b = localClock(d, 23, 0) - int64(f*360) - below(mix(h), 15)
		}
		return a, b, true
	case unitBatch:
		// the nightly batch: scheduled 02:00 local, done by about 03:40
		a = localClock(d, 26, 0) + below(h, 2)
		b = localClock(d, 27, 22) + below(mix(h), 18)
		return a, b, true
	}
	return 0, 0, false
}

func (o *observer) onNode(in *inst) {
	o.addNode(in)
	cat := o.cat
	s := &cat.slots[in.slot]
	for _, ui := range s.units {
		u := &cat.units[ui]
		switch u.mode {
		case unitBase:
			o.replicaPods(u, in, in.podFrom, in.podTo)
		case unitScaled:
			if a, b, ok := cat.unitDay(u, in.day); ok {
				o.replicaPods(u, in, max(a, in.podFrom), min(b, in.podTo))
			}
		case unitBatch:
			if a, b, ok := cat.unitDay(u, in.day); ok {
				o.nightlyPod(u, in, max(a, in.podFrom), min(b, in.podTo))
			}
		case unitRuns:
			o.trainingPods(u, in)
		}
	}
	gpu := s.it.gpus > 0
	for _, wi := range cat.daemonSets {
		w := &cat.workloads[wi]
		if w.gpuOnly && !gpu {
			continue
		}
		key := hash2(w.key, in.key)
		o.buf = appendSuffix(append(append(o.buf[:0], w.name...), '-'), key, 5)
		labels := o.labels(w, 3)
		labels["controller-revision-hash"] = suffix(hash2(w.key, 0x7265), 10)
		labels["pod-template-generation"] = "1"
		o.addPod(w, in, in.up, in.down, key, string(o.buf), w.name, labels, nil)
	}
}

func (o *observer) addNode(in *inst) {
	s := &o.cat.slots[in.slot]
	ps := &pools[s.pool]
	zone := zones[s.zone]
	eksCapacity := "ON_DEMAND"
	if ps.capacity == cost.CapacitySpot {
		eksCapacity = "SPOT"
	}
	labels := map[string]string{
		"kubernetes.io/hostname":           in.name,
		"kubernetes.io/os":                 "linux",
		"kubernetes.io/arch":               "amd64",
		"node.kubernetes.io/instance-type": s.it.name,
		"topology.kubernetes.io/region":    region,
		"topology.kubernetes.io/zone":      zone,
		"karpenter.sh/capacity-type":       ps.capacity,
		"eks.amazonaws.com/nodegroup":      ps.name,
		"eks.amazonaws.com/capacityType":   eksCapacity,
	}
	if s.it.gpus > 0 {
		labels["nvidia.com/gpu.present"] = "true"
		labels["nvidia.com/gpu.product"] = "NVIDIA-A10G"
		labels["k8s.amazonaws.com/accelerator"] = "nvidia-a10g"
	}
	o.obs.Nodes = append(o.obs.Nodes, cost.Node{
		Name:         in.name,
		ProviderID:   "aws:///" + zone + "/" + in.instanceID,
		Labels:       labels,
		Provider:     "aws",
		InstanceType: s.it.name,
		Region:       region,
		Zone:         zone,
		CapacityType: ps.capacity,
		CPUCores:     s.it.cpu,
		RAMBytes:     s.it.ramGiB * gib,
		GPUs:         s.it.gpus,
		Present:      o.bits(in.up, in.down),
	})
}

// nodeName is an EC2 private DNS name. Each zone's subnet is a /16; the low 9 bits of
// the address are the slot's index in its zone, the next 7 vary with the node, so two
// nodes that exist at the same time (or within 64 days of each other on one slot)
// never share a name.
func nodeName(s *nodeSlot, variant uint64) string {
	a := s.addr%508 + 4 // AWS reserves the first 4 addresses of a subnet
	host := int(variant%128)<<9 | a
	second := s.zone + 3*(s.addr/508)
	b := make([]byte, 0, 32)
	b = append(b, "ip-10-"...)
	b = strconv.AppendInt(b, int64(second), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(host>>8), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(host&255), 10)
	b = append(b, ".ec2.internal"...)
	return string(b)
}

func instanceID(key uint64) string { return string(appendHex([]byte("i-0"), key, 16)) }

// ---- pods

// maxStagger bounds stagger()+1, so the revision current maxStagger minutes before a
// window is the oldest one whose pods can still run in it.
const maxStagger = 16

// stagger is when replica r is replaced after a rollout starts, in minutes: Deployments
// roll 8 pods at a time, StatefulSets one pod after the other from the highest ordinal.
func stagger(w *workload, r int32) int64 {
	if w.kind == kindStatefulSet {
		return min(14, 2*int64(w.minR-1-int(r)))
	}
	return int64(r % 8)
}

// rollout is the minute a new revision of w starts rolling out on sim day d. Teams
// deploy Monday to Thursday during office hours; every workload is rolled at least
// every two weeks (base image updates), which also bounds the search for the current
// revision.
func (c *catalog) rollout(w *workload, d int64) (int64, bool) {
	h := hash3(w.key, 0x726f6c6c, uint64(d))
	forced := ((d+int64(w.key%14))%14+14)%14 == 0
	if wd := weekday(d); !forced && (wd < 1 || wd > 4 || frac01(h) >= w.rolloutP) {
		return 0, false
	}
	return localClock(d, 10, 0) + below(mix(h), 7*60), true
}

// epochsOf lists the revision start minutes relevant to this window: the latest one
// before it (less the maximum stagger), then every one inside it.
func (o *observer) epochsOf(wi int32) []int64 {
	if e := o.epochs[wi]; e != nil {
		return e
	}
	w := &o.cat.workloads[wi]
	from := o.mFrom - maxStagger - 1
	d0 := simDay(from)
	first := int64(math.MinInt64 / 2)
	for d := d0; d >= d0-15; d-- {
		if t, ok := o.cat.rollout(w, d); ok && t <= from {
			first = t
			break
		}
	}
	e := []int64{first}
	for d := d0; d <= simDay(o.mTo-1); d++ {
		if t, ok := o.cat.rollout(w, d); ok && t > from && t < o.mTo {
			e = append(e, t)
		}
	}
	o.epochs[wi] = e
	return e
}

// replicaPods emits the pods of a Deployment or StatefulSet replica on node in while the
// replica is wanted during [a, b): one per revision.
func (o *observer) replicaPods(u *unit, in *inst, a, b int64) {
	if !o.overlaps(a, b) {
		return
	}
	w := &o.cat.workloads[u.w]
	eps := o.epochsOf(u.w)
	// A Deployment surges: the new pod starts a minute before the old one stops. A
	// StatefulSet pod keeps its name, so the old one is deleted first and the new one
	// starts a minute later.
	start, end := stagger(w, u.r), stagger(w, u.r)+1
	if w.kind == kindStatefulSet {
		start, end = start+1, end-1
	}
	for i, e := range eps {
		lo, hi := max(a, e+start), b
		if i+1 < len(eps) {
			hi = min(hi, eps[i+1]+end)
		}
		if !o.overlaps(lo, hi) {
			continue
		}
		key := hash4(u.key, in.key, uint64(e), 0x706f64)
		rev := hash2(w.key, uint64(e))
		labels := o.labels(w, 4)
		var claims []string
		o.buf = append(append(o.buf[:0], w.name...), '-')
		if w.kind == kindStatefulSet {
			o.buf = strconv.AppendInt(o.buf, int64(u.r), 10)
			labels["statefulset.kubernetes.io/pod-name"] = string(o.buf)
			labels["apps.kubernetes.io/pod-index"] = strconv.Itoa(int(u.r))
			labels["controller-revision-hash"] = w.name + "-" + suffix(rev, 10)
			if w.claimClass != "" {
				claims = []string{claimName(w.name, int(u.r))}
			}
		} else {
			rs := suffix(rev, 10)
			labels["pod-template-hash"] = rs
			o.buf = appendSuffix(append(append(o.buf, rs...), '-'), key, 5)
		}
		o.addPod(w, in, lo, hi, key, string(o.buf), w.name, labels, claims)
	}
}

// nightlyPod is one parallel pod of the nightly CronJob's Job of sim day in.day.
func (o *observer) nightlyPod(u *unit, in *inst, a, b int64) {
	if !o.overlaps(a, b) {
		return
	}
	w := &o.cat.workloads[u.w]
	scheduled := localClock(in.day, 26, 0)
	job := w.name + "-" + strconv.FormatInt(scheduled, 10) // as the CronJob controller names it
	o.jobPod(w, in, a, b, hash3(u.key, in.key, 0x6e), job, w.name, hash2(w.key, uint64(scheduled)))
}

// trainingPods emits the GPU training runs of the sim days the node overlaps. A run
// cut by a node replacement is retried by its Job on the successor node.
func (o *observer) trainingPods(u *unit, in *inst) {
	w := &o.cat.workloads[u.w]
	for d := simDay(max(o.mFrom, in.podFrom)); d <= simDay(min(o.mTo, in.podTo)-1); d++ {
		for j := uint64(0); j < 2; j++ {
			h := hash4(u.key, 0x72756e, uint64(d), j)
			if frac01(h) < 0.2 { // nothing queued
				continue
			}
			var a int64
			var dur int64
			if j == 0 {
				a, dur = localClock(d, 6, 0)+below(mix(h), 60), 300+below(mix(h^1), 180)
			} else {
				a, dur = localClock(d, 16, 0)+below(mix(h), 60), 360+below(mix(h^1), 240)
			}
			lo, hi := max(a, in.podFrom), min(a+dur, in.podTo)
			if !o.overlaps(lo, hi) {
				continue
			}
			job := w.name + "-" + suffix(mix(h^2), 5)
			o.jobPod(w, in, lo, hi, hash2(h, in.key), job, job, mix(h^3))
		}
	}
}

// cronJob emits the runs of a periodic CronJob that overlap the window. Each run lands
// on one of the always-on nodes of its pool; a run cut by a node replacement ends.
func (o *observer) cronJob(wi int32) {
	cat := o.cat
	w := &cat.workloads[wi]
	nodes := cat.baseSlots[w.pool]
	if len(nodes) == 0 {
		return
	}
	k := ceilDiv(o.mFrom-w.durMax-w.offset, w.period)
	for t := w.offset + k*w.period; t < o.mTo; t += w.period {
		h := hash2(w.key, uint64(t))
		end := t + w.durMin + below(mix(h), w.durMax-w.durMin+1)
		si := nodes[below(h, int64(len(nodes)))]
		s := &cat.slots[si]
		in := cat.baseInstance(si, s.genAt(t))
		end = min(end, in.podTo)
		if !o.overlaps(t, end) {
			continue
		}
		job := w.name + "-" + strconv.FormatInt(t, 10)
		o.jobPod(w, &in, t, end, hash2(h, in.key), job, w.name, mix(h^1))
	}
}

func (o *observer) jobPod(w *workload, in *inst, a, b int64, key uint64, job, controller string, jobKey uint64) {
	uid := uuid(jobKey)
	labels := o.labels(w, 4)
	labels["job-name"] = job
	labels["batch.kubernetes.io/job-name"] = job
	labels["controller-uid"] = uid
	labels["batch.kubernetes.io/controller-uid"] = uid
	o.buf = appendSuffix(append(append(o.buf[:0], job...), '-'), key, 5)
	o.addPod(w, in, a, b, key, string(o.buf), controller, labels, nil)
}

// labels copies the workload's pod labels, with room for the per-pod ones.
func (o *observer) labels(w *workload, extra int) map[string]string {
	m := make(map[string]string, len(w.labels)+extra)
	for k, v := range w.labels {
		m[k] = v
	}
	return m
}

func (o *observer) addPod(w *workload, in *inst, a, b int64, key uint64, name, controller string, labels map[string]string, claims []string) {
	var ann map[string]string
	if w.annotations != nil {
		ann = make(map[string]string, len(w.annotations))
		for k, v := range w.annotations {
			ann[k] = v
		}
	}
	o.obs.Pods = append(o.obs.Pods, cost.Pod{
		Namespace:      o.cat.namespaces[w.ns].name,
		Name:           name,
		UID:            uuid(key),
		Node:           in.name,
		Labels:         labels,
		Annotations:    ann,
		ControllerKind: w.kind.controllerKind(),
		Controller:     controller,
		Claims:         claims,
	})
	pi := int32(len(o.obs.Pods) - 1)
	from, to := o.slotRange(a, b)
	for i := range w.ctrs {
		o.jobs = append(o.jobs, ctrJob{pod: pi, spec: &w.ctrs[i], key: hash2(key, uint64(i)), from: from, to: to, start: a * 60, end: b * 60})
	}
}

// ---- namespaces, volumes, services

func (o *observer) static() {
	cat := o.cat
	all := func() cost.Slots { return cost.AllSlots(o.n) }
	for _, ns := range cat.namespaces {
		o.obs.Namespaces = append(o.obs.Namespaces, cost.Namespace{
			Name: ns.name, Labels: cloneStrings(ns.labels), Annotations: cloneStrings(ns.annotations),
		})
	}
	for _, v := range cat.volumes {
		o.obs.Volumes = append(o.obs.Volumes, cost.PersistentVolume{
			Name: v.name, StorageClass: v.class, CapacityBytes: v.bytes,
			ClaimNamespace: v.claimNS, ClaimName: v.claimName, ProviderID: v.providerID, Present: all(),
		})
	}
	for _, c := range cat.claims {
		o.obs.Claims = append(o.obs.Claims, cost.VolumeClaim{
			Namespace: c.ns, Name: c.name, Volume: c.volume, StorageClass: c.class, RequestBytes: c.bytes, Present: all(),
		})
	}
	for _, s := range serviceTable {
		o.obs.Services = append(o.obs.Services, cost.Service{
			Namespace: s.ns, Name: s.name, Selector: cloneStrings(s.selector), Present: all(),
		})
	}
}

func cloneStrings(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ---- usage

// fill creates the containers. Their bitsets, constant requests and usage series are
// cut from three allocations, so the cost of a call does not grow with a per-sample or
// per-container allocation.
func (o *observer) fill(ctx context.Context) error {
	n, words := o.n, (o.n+63)/64
	nc := len(o.jobs)
	bits := make([]uint64, nc*words)
	consts := make([]float64, nc*3)
	series := make([]float64, nc*2*n)
	o.obs.Containers = make([]cost.Container, nc)
	for ci := range o.jobs {
		if ci%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		j := &o.jobs[ci]
		sp := j.spec
		running := cost.Slots(bits[ci*words : (ci+1)*words : (ci+1)*words])
		setRange(running, j.from, j.to)
		k := consts[3*ci : 3*ci+3 : 3*ci+3]
		k[0], k[1], k[2] = sp.cpu, sp.ram, sp.gpu
		cpu := series[2*ci*n : (2*ci+1)*n : (2*ci+1)*n]
		ram := series[(2*ci+1)*n : (2*ci+2)*n : (2*ci+2)*n]
		o.usage(j, cpu, ram)
		o.obs.Containers[ci] = cost.Container{
			Pod: int(j.pod), Name: sp.name, Running: running,
			CPURequest: k[0:1:1], RAMRequest: k[1:2:2], GPURequest: k[2:3:3],
			CPUUsage: cpu, RAMUsage: ram,
		}
	}
	o.jobs = nil
	return nil
}

// usage writes the running slots of one container; slots where it does not run stay 0.
//
// A slot of several minutes holds what a collector computes over it: CPU is the
// counter's increase over the slot divided by its length (minutes the container did not
// run add nothing), memory the average working set over the minutes it ran. So an
// hourly observation is exactly the aggregate of the minute-level one.
func (o *observer) usage(j *ctrJob, cpu, ram []float64) {
	if o.spp == 1 {
		for i := j.from; i < j.to; i++ {
			cpu[i], ram[i] = o.sample(j, i, o.ws+int64(i)*o.res)
		}
		return
	}
	for i := j.from; i < j.to; i++ {
		var cs, rs float64
		k := 0
		for s := i * o.spp; s < (i+1)*o.spp; s++ {
			t := o.ws + int64(s)*o.sampleSec
			if t < j.start || t >= j.end {
				continue
			}
			c, r := o.sample(j, s, t)
			cs, rs, k = cs+c, rs+r, k+1
		}
		if k > 0 { // always, as pods start and stop on minute boundaries
			cpu[i], ram[i] = cs/float64(o.spp), rs/float64(k)
		}
	}
}

// sample is a container's CPU (cores) and memory (bytes) in sample s, at unix second t.
func (o *observer) sample(j *ctrJob, s int, t int64) (cpu, ram float64) {
	sp := j.spec
	h := mix(j.key ^ o.sampleHash[s])
	l := o.load[s]
	u1 := float64(uint32(h)) * (1.0 / (1 << 32))
	cpu = sp.cpu * (sp.cpuLo + sp.cpuSpan*l) * (1 + sp.cpuNoise*(2*u1-1))
	if sp.spiky && h>>54 < 4 { // a spike in about one minute in 250
		cpu *= 1.25
	}

	age := max(0, float64(t-j.start)*(1.0/3600))
	if r := sp.memRestartH; r > 0 {
		age -= r * math.Floor(age/r)
	}
	f := min(sp.memBase+sp.memGrowth*age, sp.memMax)
	u2 := float64(uint32(h>>32)&0xfffff) * (1.0 / (1 << 20))
	ram = sp.ram * f * (1 + sp.memLoad*l) * (1 + 0.02*(2*u2-1))
	return cpu, ram
}
