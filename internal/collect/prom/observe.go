package prom

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	km "github.com/costwarden/costwarden/internal/collect/kubemetrics"
	"github.com/costwarden/costwarden/internal/cost"
)

// DESIGN — the PromQL, and why it equals the engine's definition
//
// A slot i of resolution s stands for [t_i, t_i+s) (COST_MODEL.md section 1). Two
// kinds of query read it:
//
// Slot queries: query_range with start = t_0 + s - 1ms and step = s, so point i is
// evaluated at T_i = t_i + s - 1ms, over a range function `f(x[s])`. Prometheus 2.x
// selects samples in [T_i - s, T_i] = [t_i - 1ms, t_i + s - 1ms]; Prometheus 3.x
// selects (T_i - s, T_i]. Either way every sample scraped inside [t_i, t_i+s) is
// used, no sample of the next slot is, and there is no lookback: a series that ended
// (a pod that stopped) is absent from the next slot even without staleness markers,
// which backfilled blocks do not have.
//
//	node present         count_over_time(kube_node_info[s]) > 0
//	container running    max_over_time(kube_pod_container_status_running[s]) == 1
//	                     ("running during any part of the slot")
//	requests             avg_over_time(kube_pod_container_resource_requests[s])
//	memory               avg_over_time(container_memory_working_set_bytes[s])
//	                     (cAdvisor reports a container only while it runs, so this is
//	                     the mean working set while running, the engine's definition)
//	volume present, size max_over_time(kube_persistentvolume_capacity_bytes[s])
//	load balancer        count_over_time(kube_service_spec_type{type="LoadBalancer"}[s])
//
// The CPU counter: query_range of the plain selector
// container_cpu_usage_seconds_total with start = t_0, end = t_n, step = s, giving the
// counter's value at every slot boundary (the latest sample at or before it). Usage
// in slot i = (v(t_{i+1}) - v(t_i)) / s, and when the counter went down (a reset) the
// increase is v(t_{i+1}) itself, as PromQL's increase() treats a reset. Unlike
// increase(x[s]) this does not extrapolate, and the slots' increases add up to the
// counter's whole increase: nothing is lost or counted twice between slots. A series
// that starts within a slot (no value at t_i) counts from its first sample in the slot,
// min_over_time(x[s]) (a new container's counter starts near 0), so, like increase(),
// a series that reappears after a gap is not counted from zero. With
// samples on the boundaries (the simulator's export) it is exact; with scrapes every
// d seconds each slot's interval is shifted back by less than d.
//
// Metadata that does not change within an hour (pod → node, owners, labels,
// annotations, capacities, claims, storage classes) is read once per window with
// last_over_time(x[window]) (max_over_time for capacities) evaluated at the window's
// last millisecond.

const (
	ctrNotEmpty = `container!=""`
	ctrNotPause = `container!="POD"`
)

type results struct {
	nodes, capacity, nodeLabels                                 []series
	running, requests, podInfo, podOwner, rsOwner, jobOwner     []series
	podLabels, podAnnotations, nsLabels, nsAnnotations          []series
	podClaims, claimInfo, pvCapacity, pvInfo, pvClaimRef, svcLB []series
	cpu, cpuFirst, memory                                       []series
}

// Observe reads window w at resolution res. A window that Prometheus could not
// answer completely fails (nothing partial is returned as complete); slots in which
// Prometheus holds no kube-state-metrics or no cAdvisor data make the observation
// Partial.
func (s *Source) Observe(ctx context.Context, w cost.Window, res time.Duration) (*cost.Observation, error) {
	obs, err := s.observe(ctx, w, res)
	last := time.Time{}
	if err == nil {
		last = lastCovered(obs)
	}
	if ctx.Err() == nil {
		s.recordResult(err, last)
	}
	return obs, err
}

func (s *Source) observe(ctx context.Context, w cost.Window, res time.Duration) (*cost.Observation, error) {
	if res < time.Second || res%time.Millisecond != 0 {
		return nil, fmt.Errorf("prom: resolution %s must be at least 1s", res)
	}
	if !w.End.After(w.Start) || w.Duration()%res != 0 || w.Start.UnixMilli()%res.Milliseconds() != 0 {
		return nil, fmt.Errorf("prom: window %s is not aligned to the resolution %s", w, res)
	}
	n := int(w.Duration() / res)
	r := promDuration(res)
	slotStart := w.Start.Add(res - time.Millisecond)
	var out results
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	fail := func(err error) {
		once.Do(func() { firstErr = err; cancel() })
	}
	slot := func(dst *[]series, name, fn, selector string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.rangeQuery(ctx, name, fmt.Sprintf("%s(%s[%s])", fn, selector, r), selector, slotStart, res, n)
			if err != nil {
				fail(fmt.Errorf("%s: %w", name, err))
				return
			}
			*dst = v
		}()
	}
	window := func(dst *[]series, name, fn, selector string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := s.windowQuery(ctx, func(rng string) string { return fmt.Sprintf("%s(%s[%s])", fn, selector, rng) }, w.Start, w.End, res)
			if err != nil {
				fail(fmt.Errorf("%s: %w", name, err))
				return
			}
			*dst = v
		}()
	}
	slot(&out.nodes, km.NodeInfo, "count_over_time", s.sel(km.NodeInfo))
	window(&out.capacity, km.NodeCapacity, "max_over_time", s.sel(km.NodeCapacity, `resource=~"cpu|memory|nvidia_com_gpu"`))
	window(&out.nodeLabels, km.NodeLabels, "last_over_time", s.sel(km.NodeLabels))
	slot(&out.running, km.ContainerRunning, "max_over_time", s.sel(km.ContainerRunning, ctrNotEmpty, ctrNotPause))
	slot(&out.requests, km.ContainerRequests, "avg_over_time", s.sel(km.ContainerRequests, ctrNotEmpty, ctrNotPause, `resource=~"cpu|memory|nvidia_com_gpu"`))
	window(&out.podInfo, km.PodInfo, "last_over_time", s.sel(km.PodInfo))
	window(&out.podOwner, km.PodOwner, "last_over_time", s.sel(km.PodOwner))
	window(&out.rsOwner, km.ReplicaSetOwner, "last_over_time", s.sel(km.ReplicaSetOwner))
	window(&out.jobOwner, km.JobOwner, "last_over_time", s.sel(km.JobOwner))
	window(&out.podLabels, km.PodLabels, "last_over_time", s.sel(km.PodLabels))
	window(&out.podAnnotations, km.PodAnnotations, "last_over_time", s.sel(km.PodAnnotations))
	window(&out.nsLabels, km.NamespaceLabels, "last_over_time", s.sel(km.NamespaceLabels))
	window(&out.nsAnnotations, km.NamespaceAnnotations, "last_over_time", s.sel(km.NamespaceAnnotations))
	window(&out.podClaims, km.PodClaims, "last_over_time", s.sel(km.PodClaims))
	window(&out.claimInfo, km.ClaimInfo, "last_over_time", s.sel(km.ClaimInfo))
	slot(&out.pvCapacity, km.VolumeCapacity, "max_over_time", s.sel(km.VolumeCapacity))
	window(&out.pvInfo, km.VolumeInfo, "last_over_time", s.sel(km.VolumeInfo))
	window(&out.pvClaimRef, km.VolumeClaimRef, "last_over_time", s.sel(km.VolumeClaimRef))
	slot(&out.svcLB, km.ServiceType, "count_over_time", s.sel(km.ServiceType, `type="LoadBalancer"`))
	slot(&out.cpuFirst, km.CPUUsage+":first", "min_over_time", s.sel(km.CPUUsage, ctrNotEmpty, ctrNotPause))
	slot(&out.memory, km.MemoryUsage, "avg_over_time", s.sel(km.MemoryUsage, ctrNotEmpty, ctrNotPause))
	wg.Add(1)
	go func() {
		defer wg.Done()
		sel := s.sel(km.CPUUsage, ctrNotEmpty, ctrNotPause)
		v, err := s.rangeQuery(ctx, km.CPUUsage, sel, sel, w.Start, res, n+1)
		if err != nil {
			fail(fmt.Errorf("%s: %w", km.CPUUsage, err))
			return
		}
		out.cpu = v
	}()
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	obs := s.build(&out, w, res, n)
	if err := obs.Validate(); err != nil {
		return nil, fmt.Errorf("prom: %w", err)
	}
	return obs, nil
}

func lv(m model.Metric, k string) string { return string(m[model.LabelName(k)]) }

// prefixed returns the labels of m that start with prefix, without it.
func prefixed(m model.Metric, prefix string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if name, ok := strings.CutPrefix(string(k), prefix); ok && v != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = string(v)
		}
	}
	return out
}

// need reports whether every label is non-empty, counting the series as skipped
// otherwise.
func (s *Source) need(metric string, skipped map[string]int, m model.Metric, labels ...string) bool {
	for _, l := range labels {
		if lv(m, l) == "" {
			skipped[metric]++
			return false
		}
	}
	return true
}

// podUIDInCgroup finds the pod UID in a cAdvisor cgroup path (cgroupfs
// ".../pod<uid>/..." or systemd "...-pod<uid_with_underscores>.slice/...").
var podUIDInCgroup = regexp.MustCompile(`pod([0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12})`)

func uidFromCgroup(id string) string {
	m := podUIDInCgroup.FindStringSubmatch(id)
	if m == nil {
		return ""
	}
	return strings.ReplaceAll(m[1], "_", "-")
}

func (s *Source) build(r *results, w cost.Window, res time.Duration, n int) *cost.Observation {
	obs := &cost.Observation{Cluster: s.cfg.Cluster, Window: w, Resolution: res}
	skipped := map[string]int{}

	// Nodes.
	nodeLabelKey := map[string]string{}
	for _, k := range km.NodeLabelKeys() {
		nodeLabelKey[km.SanitizeLabel("", k)] = k
	}
	nodes := map[string]*cost.Node{}
	node := func(name string) *cost.Node {
		if nd := nodes[name]; nd != nil {
			return nd
		}
		nd := &cost.Node{Name: name, Present: cost.NewSlots(n)}
		nodes[name] = nd
		return nd
	}
	for _, sr := range r.nodes {
		if !s.need(km.NodeInfo, skipped, sr.labels, "node") {
			continue
		}
		nd := node(lv(sr.labels, "node"))
		if id := lv(sr.labels, "provider_id"); id != "" {
			nd.ProviderID = id
		}
		for i, v := range sr.vals {
			if v > 0 {
				nd.Present.Set(i)
			}
		}
	}
	for _, sr := range r.capacity {
		if !s.need(km.NodeCapacity, skipped, sr.labels, "node", "resource") {
			continue
		}
		nd := nodes[lv(sr.labels, "node")]
		if nd == nil {
			continue
		}
		switch lv(sr.labels, "resource") {
		case km.ResourceCPU:
			nd.CPUCores = sr.vals[0]
		case km.ResourceMemory:
			nd.RAMBytes = sr.vals[0]
		case km.ResourceGPU:
			nd.GPUs = sr.vals[0]
		}
	}
	for _, sr := range r.nodeLabels {
		nd := nodes[lv(sr.labels, "node")]
		if nd == nil {
			continue
		}
		for k, v := range prefixed(sr.labels, "label_") {
			if real, ok := nodeLabelKey[k]; ok {
				k = real
			}
			if nd.Labels == nil {
				nd.Labels = map[string]string{}
			}
			nd.Labels[k] = v
		}
	}
	for _, name := range sortedKeys(nodes) {
		nd := nodes[name]
		km.DescribeNode(nd)
		obs.Nodes = append(obs.Nodes, *nd)
	}

	// Pods: identified by uid (or namespace/name when kube-state-metrics has no uid).
	pods := map[string]*cost.Pod{}
	podKey := func(m model.Metric) string {
		if uid := lv(m, "uid"); uid != "" {
			return uid
		}
		return lv(m, "namespace") + "/" + lv(m, "pod")
	}
	pod := func(m model.Metric) *cost.Pod {
		k := podKey(m)
		if p := pods[k]; p != nil {
			return p
		}
		p := &cost.Pod{Namespace: lv(m, "namespace"), Name: lv(m, "pod"), UID: lv(m, "uid")}
		pods[k] = p
		return p
	}
	for _, sr := range r.podInfo {
		if !s.need(km.PodInfo, skipped, sr.labels, "namespace", "pod") {
			continue
		}
		p := pod(sr.labels)
		p.Node = lv(sr.labels, "node")
	}
	rsOwner := map[string][2]string{}
	for _, sr := range r.rsOwner {
		rsOwner[lv(sr.labels, "namespace")+"/"+lv(sr.labels, "replicaset")] = [2]string{lv(sr.labels, "owner_kind"), lv(sr.labels, "owner_name")}
	}
	jobOwner := map[string][2]string{}
	for _, sr := range r.jobOwner {
		jobOwner[lv(sr.labels, "namespace")+"/"+lv(sr.labels, "job_name")] = [2]string{lv(sr.labels, "owner_kind"), lv(sr.labels, "owner_name")}
	}
	for _, sr := range r.podOwner {
		p := pods[podKey(sr.labels)]
		if p == nil {
			continue
		}
		kind, name := lv(sr.labels, "owner_kind"), lv(sr.labels, "owner_name")
		p.ControllerKind, p.Controller = resolveOwner(p.Namespace, kind, name, rsOwner, jobOwner)
	}
	for _, sr := range r.podLabels {
		if p := pods[podKey(sr.labels)]; p != nil {
			p.Labels = prefixed(sr.labels, "label_")
		}
	}
	for _, sr := range r.podAnnotations {
		if p := pods[podKey(sr.labels)]; p != nil {
			p.Annotations = prefixed(sr.labels, "annotation_")
		}
	}
	for _, sr := range r.podClaims {
		if p := pods[podKey(sr.labels)]; p != nil {
			if c := lv(sr.labels, "persistentvolumeclaim"); c != "" {
				p.Claims = append(p.Claims, c)
			}
		}
	}

	// Containers.
	type ctr struct {
		pod     *cost.Pod
		name    string
		running cost.Slots
		req     [3][]float64
		cpu     []float64
		ram     []float64
	}
	ctrs := map[string]*ctr{}
	for _, sr := range r.running {
		if !s.need(km.ContainerRunning, skipped, sr.labels, "namespace", "pod", "container") {
			continue
		}
		p := pod(sr.labels)
		k := podKey(sr.labels) + "\x00" + lv(sr.labels, "container")
		c := ctrs[k]
		if c == nil {
			c = &ctr{pod: p, name: lv(sr.labels, "container"), running: cost.NewSlots(n)}
			ctrs[k] = c
		}
		for i, v := range sr.vals {
			if v >= 1 {
				c.running.Set(i)
			}
		}
	}
	for _, sr := range r.requests {
		if !s.need(km.ContainerRequests, skipped, sr.labels, "namespace", "pod", "container", "resource") {
			continue
		}
		c := ctrs[podKey(sr.labels)+"\x00"+lv(sr.labels, "container")]
		if c == nil {
			continue
		}
		if c.pod.Node == "" {
			c.pod.Node = lv(sr.labels, "node")
		}
		ri := -1
		switch lv(sr.labels, "resource") {
		case km.ResourceCPU:
			ri = 0
		case km.ResourceMemory:
			ri = 1
		case km.ResourceGPU:
			ri = 2
		}
		if ri < 0 {
			continue
		}
		vals := make([]float64, n)
		for i, v := range sr.vals {
			if !math.IsNaN(v) {
				vals[i] = v
			}
		}
		c.req[ri] = vals
	}
	// cAdvisor series name the pod but not its uid (except inside the cgroup path):
	// a series goes to the container of that uid, or else to the container of that
	// name that runs in the slot.
	byName := map[string][]*ctr{}
	for _, c := range ctrs {
		k := c.pod.Namespace + "/" + c.pod.Name + "/" + c.name
		byName[k] = append(byName[k], c)
	}
	target := func(m model.Metric, i int) *ctr {
		if uid := uidFromCgroup(lv(m, "id")); uid != "" {
			if c := ctrs[uid+"\x00"+lv(m, "container")]; c != nil {
				return c
			}
		}
		cands := byName[lv(m, "namespace")+"/"+lv(m, "pod")+"/"+lv(m, "container")]
		for _, c := range cands {
			if c.running.Has(i) {
				return c
			}
		}
		return nil
	}
	sec := res.Seconds()
	first := map[string][]float64{}
	for _, sr := range r.cpuFirst {
		first[sr.labels.String()] = sr.vals
	}
	for _, sr := range r.cpu {
		if !s.need(km.CPUUsage, skipped, sr.labels, "namespace", "pod", "container") {
			continue
		}
		fv := first[sr.labels.String()]
		for i := 0; i < n; i++ {
			a, b := sr.vals[i], sr.vals[i+1]
			if math.IsNaN(a) && fv != nil {
				a = fv[i] // the series starts in this slot: count from its first sample
			}
			if math.IsNaN(a) || math.IsNaN(b) {
				continue
			}
			d := b - a
			if d < 0 { // counter reset
				d = b
			}
			if c := target(sr.labels, i); c != nil {
				if c.cpu == nil {
					c.cpu = make([]float64, n)
				}
				c.cpu[i] += d / sec
			}
		}
	}
	cadvisor := cost.NewSlots(n)
	for _, sr := range r.memory {
		if !s.need(km.MemoryUsage, skipped, sr.labels, "namespace", "pod", "container") {
			continue
		}
		for i, v := range sr.vals {
			if math.IsNaN(v) {
				continue
			}
			cadvisor.Set(i)
			if c := target(sr.labels, i); c != nil {
				if c.ram == nil {
					c.ram = make([]float64, n)
				}
				c.ram[i] = max(c.ram[i], v)
			}
		}
	}

	// Namespaces.
	nss := map[string]*cost.Namespace{}
	ns := func(name string) *cost.Namespace {
		if x := nss[name]; x != nil {
			return x
		}
		x := &cost.Namespace{Name: name}
		nss[name] = x
		return x
	}
	for _, sr := range r.nsLabels {
		if name := lv(sr.labels, "namespace"); name != "" {
			ns(name).Labels = prefixed(sr.labels, "label_")
		}
	}
	for _, sr := range r.nsAnnotations {
		if name := lv(sr.labels, "namespace"); name != "" {
			ns(name).Annotations = prefixed(sr.labels, "annotation_")
		}
	}
	for _, p := range pods {
		if p.Namespace != "" {
			ns(p.Namespace)
		}
	}
	for _, name := range sortedKeys(nss) {
		obs.Namespaces = append(obs.Namespaces, *nss[name])
	}

	// Pods and containers in a stable order.
	pkeys := sortedKeys(pods)
	sort.SliceStable(pkeys, func(i, j int) bool {
		a, b := pods[pkeys[i]], pods[pkeys[j]]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.UID < b.UID
	})
	podIdx := map[*cost.Pod]int{}
	for _, k := range pkeys {
		p := pods[k]
		sort.Strings(p.Claims)
		podIdx[p] = len(obs.Pods)
		obs.Pods = append(obs.Pods, *p)
	}
	ckeys := sortedKeys(ctrs)
	sort.SliceStable(ckeys, func(i, j int) bool {
		a, b := ctrs[ckeys[i]], ctrs[ckeys[j]]
		if podIdx[a.pod] != podIdx[b.pod] {
			return podIdx[a.pod] < podIdx[b.pod]
		}
		return a.name < b.name
	})
	for _, k := range ckeys {
		c := ctrs[k]
		if c.running.Count() == 0 {
			continue
		}
		obs.Containers = append(obs.Containers, cost.Container{
			Pod: podIdx[c.pod], Name: c.name, Running: c.running,
			CPURequest: compact(c.req[0]), RAMRequest: compact(c.req[1]), GPURequest: compact(c.req[2]),
			CPUUsage: c.cpu, RAMUsage: c.ram,
		})
	}

	// Volumes and claims.
	pvInfo := map[string]model.Metric{}
	for _, sr := range r.pvInfo {
		pvInfo[lv(sr.labels, "persistentvolume")] = sr.labels
	}
	claimRef := map[string][2]string{}
	for _, sr := range r.pvClaimRef {
		claimRef[lv(sr.labels, "persistentvolume")] = [2]string{lv(sr.labels, "claim_namespace"), lv(sr.labels, "name")}
	}
	byVolume := map[string][2]string{}
	for _, sr := range r.claimInfo {
		if !s.need(km.ClaimInfo, skipped, sr.labels, "namespace", "persistentvolumeclaim") {
			continue
		}
		c := cost.VolumeClaim{Namespace: lv(sr.labels, "namespace"), Name: lv(sr.labels, "persistentvolumeclaim"),
			Volume: lv(sr.labels, "volumename"), StorageClass: lv(sr.labels, "storageclass"), Present: cost.AllSlots(n)}
		if c.Volume != "" {
			byVolume[c.Volume] = [2]string{c.Namespace, c.Name}
		}
		obs.Claims = append(obs.Claims, c)
	}
	sort.Slice(obs.Claims, func(i, j int) bool {
		return obs.Claims[i].Namespace+"/"+obs.Claims[i].Name < obs.Claims[j].Namespace+"/"+obs.Claims[j].Name
	})
	for _, sr := range r.pvCapacity {
		if !s.need(km.VolumeCapacity, skipped, sr.labels, "persistentvolume") {
			continue
		}
		name := lv(sr.labels, "persistentvolume")
		v := cost.PersistentVolume{Name: name, Present: cost.NewSlots(n)}
		for i, x := range sr.vals {
			if !math.IsNaN(x) {
				v.Present.Set(i)
				v.CapacityBytes = max(v.CapacityBytes, x)
			}
		}
		if m := pvInfo[name]; m != nil {
			v.StorageClass = lv(m, "storageclass")
			v.ProviderID = lv(m, "csi_volume_handle")
		}
		ref, ok := claimRef[name]
		if !ok || ref[1] == "" {
			ref = byVolume[name]
		}
		v.ClaimNamespace, v.ClaimName = ref[0], ref[1]
		obs.Volumes = append(obs.Volumes, v)
	}
	sort.Slice(obs.Volumes, func(i, j int) bool { return obs.Volumes[i].Name < obs.Volumes[j].Name })

	// LoadBalancer services (selectors come from the Kubernetes API when available).
	for _, sr := range r.svcLB {
		if !s.need(km.ServiceType, skipped, sr.labels, "namespace", "service") {
			continue
		}
		svc := cost.Service{Namespace: lv(sr.labels, "namespace"), Name: lv(sr.labels, "service"), Present: cost.NewSlots(n)}
		for i, x := range sr.vals {
			if !math.IsNaN(x) && x > 0 {
				svc.Present.Set(i)
			}
		}
		obs.Services = append(obs.Services, svc)
	}
	sort.Slice(obs.Services, func(i, j int) bool {
		return obs.Services[i].Namespace+"/"+obs.Services[i].Name < obs.Services[j].Namespace+"/"+obs.Services[j].Name
	})

	// Coverage: a slot without any node (kube-state-metrics) or any container
	// (cAdvisor) sample means Prometheus has a hole there.
	for i := 0; i < n; i++ {
		ksm := false
		for j := range obs.Nodes {
			if obs.Nodes[j].Present.Has(i) {
				ksm = true
				break
			}
		}
		if !ksm || !cadvisor.Has(i) {
			obs.Partial = true
			break
		}
	}
	for metric, k := range skipped {
		s.missing(metric, k)
	}
	return obs
}

// resolveOwner maps kube-state-metrics owners to costwarden's controller kinds:
// ReplicaSet → Deployment and Job → CronJob when their owner says so.
func resolveOwner(namespace, kind, name string, rs, jobs map[string][2]string) (string, string) {
	switch kind {
	case "", "<none>":
		return "", ""
	case "ReplicaSet":
		if o, ok := rs[namespace+"/"+name]; ok && o[0] == "Deployment" {
			return "deployment", o[1]
		}
		return "replicaset", name
	case "Job":
		if o, ok := jobs[namespace+"/"+name]; ok && o[0] == "CronJob" {
			return "cronjob", o[1]
		}
		return "job", name
	}
	return strings.ToLower(kind), name
}

// compact stores a constant series as its single value.
func compact(v []float64) []float64 {
	if len(v) == 0 {
		return nil
	}
	for _, x := range v[1:] {
		if x != v[0] {
			return v
		}
	}
	return v[:1:1]
}

// lastCovered is the end of the latest slot with node data.
func lastCovered(obs *cost.Observation) time.Time {
	last := -1
	for i := range obs.Nodes {
		if l := obs.Nodes[i].Present.Last(); l > last {
			last = l
		}
	}
	if last < 0 {
		return time.Time{}
	}
	return obs.Window.Start.Add(time.Duration(last+1) * obs.Resolution)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
