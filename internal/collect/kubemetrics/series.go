package kubemetrics

import (
	"slices"

	"github.com/costwarden/costwarden/internal/cost"
)

// sink receives one sample of one series: the family's name, the sample's name with
// its labels already rendered, and the value. The timestamp is the caller's.
type sink func(family, series string, value float64)

type familyDesc struct{ name, typ, help string }

// familyList lists every family the writer emits, in output order, with its type and
// help text.
func familyList() []familyDesc {
	return []familyDesc{
		{NodeInfo, "gauge", "Information about a cluster node."},
		{NodeCapacity, "gauge", "The capacity for different resources of a node."},
		{NodeLabels, "gauge", "Kubernetes labels converted to Prometheus labels."},
		{NamespaceLabels, "gauge", "Kubernetes labels converted to Prometheus labels."},
		{NamespaceAnnotations, "gauge", "Kubernetes annotations converted to Prometheus labels."},
		{PodInfo, "gauge", "Information about pod."},
		{PodOwner, "gauge", "Information about the Pod's owner."},
		{ReplicaSetOwner, "gauge", "Information about the ReplicaSet's owner."},
		{JobOwner, "gauge", "Information about the Job's owner."},
		{PodLabels, "gauge", "Kubernetes labels converted to Prometheus labels."},
		{PodAnnotations, "gauge", "Kubernetes annotations converted to Prometheus labels."},
		{ContainerRunning, "gauge", "Describes whether the container is currently in running state."},
		{ContainerRequests, "gauge", "The number of requested request resource by a container."},
		{PodClaims, "gauge", "Information about persistentvolumeclaim volumes in a pod."},
		{VolumeCapacity, "gauge", "Persistentvolume capacity in bytes."},
		{VolumeInfo, "gauge", "Information about persistentvolume."},
		{VolumeClaimRef, "gauge", "Information about the Persistent Volume Claim Reference."},
		{ClaimInfo, "gauge", "Information about persistent volume claim."},
		{ServiceType, "gauge", "Type about service."},
		{"container_cpu_usage_seconds", "counter", "Cumulative cpu time consumed in seconds."},
		{MemoryUsage, "gauge", "Current working set in bytes."},
	}
}

// familyOf maps a series name to its family name (counters drop _total).
func familyOf(series string) string {
	if series == CPUUsage {
		return "container_cpu_usage_seconds"
	}
	return series
}

// series renders `name{k="v",...}` from alternating keys and values.
func series(name string, kv ...string) string {
	b := make([]byte, 0, 64+16*len(kv))
	b = append(b, name...)
	b = append(b, '{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, kv[i]...)
		b = append(b, '=')
		b = appendLabelValue(b, kv[i+1])
	}
	b = append(b, '}')
	return string(b)
}

// appendLabelValue appends a quoted label value with the exposition format's escapes
// (backslash, double quote, newline).
func appendLabelValue(b []byte, v string) []byte {
	b = append(b, '"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// labelPairs turns a Kubernetes label (or annotation) map into sorted, sanitised
// Prometheus label pairs.
func labelPairs(prefix string, m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		out = append(out, SanitizeLabel(prefix, k), m[k])
	}
	return out
}

// owners is how kube-state-metrics reports a pod's owner chain for a costwarden
// controller kind: the pod's direct owner, and the owner of that (ReplicaSet →
// Deployment, Job → CronJob).
func owners(p *cost.Pod) (kind, name, parentKind, parentName string) {
	switch p.ControllerKind {
	case "deployment":
		rs := p.Controller
		if h := p.Labels["pod-template-hash"]; h != "" {
			rs = p.Controller + "-" + h
		}
		return "ReplicaSet", rs, "Deployment", p.Controller
	case "replicaset":
		return "ReplicaSet", p.Controller, "", ""
	case "statefulset":
		return "StatefulSet", p.Controller, "", ""
	case "daemonset":
		return "DaemonSet", p.Controller, "", ""
	case "cronjob":
		job := p.Labels["job-name"]
		if job == "" {
			job = p.Controller
		}
		return "Job", job, "CronJob", p.Controller
	case "job":
		return "Job", p.Controller, "", ""
	case "":
		return "", "", "", ""
	}
	return p.ControllerKind, p.Controller, "", ""
}

// staticSeries are the series of an observation that do not depend on the slot, built
// once per observation.
type staticSeries struct {
	node      [][]string // per node: info, capacity..., labels
	namespace []string
	pod       [][]string // per pod: info, owner, labels, annotations, claims
	rsOwner   []string   // per pod, "" when none (deduplicated per slot)
	jobOwner  []string
	ctrRun    []string // per container
	ctrReq    [][3]string
	ctrMem    []string
	ctrCPU    []string
	volume    [][]string
	claim     []string
	service   []string
	running   []cost.Slots // per pod: any container running
}

const (
	reqCPU = iota
	reqRAM
	reqGPU
)

func buildStatic(obs *cost.Observation) *staticSeries {
	st := &staticSeries{}
	for i := range obs.Nodes {
		n := &obs.Nodes[i]
		s := []string{
			series(NodeInfo, "node", n.Name, "provider_id", n.ProviderID),
			series(NodeCapacity, "node", n.Name, "resource", ResourceCPU, "unit", "core"),
			series(NodeCapacity, "node", n.Name, "resource", ResourceMemory, "unit", "byte"),
			series(NodeCapacity, "node", n.Name, "resource", ResourceGPU, "unit", "integer"),
			series(NodeLabels, append([]string{"node", n.Name}, labelPairs("label_", n.Labels)...)...),
		}
		st.node = append(st.node, s)
	}
	for i := range obs.Namespaces {
		ns := &obs.Namespaces[i]
		st.namespace = append(st.namespace, series(NamespaceLabels, append([]string{"namespace", ns.Name}, labelPairs("label_", ns.Labels)...)...))
		if len(ns.Annotations) > 0 {
			st.namespace = append(st.namespace, series(NamespaceAnnotations, append([]string{"namespace", ns.Name}, labelPairs("annotation_", ns.Annotations)...)...))
		}
	}
	n := obs.Slots()
	st.running = make([]cost.Slots, len(obs.Pods))
	st.rsOwner = make([]string, len(obs.Pods))
	st.jobOwner = make([]string, len(obs.Pods))
	for i := range obs.Pods {
		p := &obs.Pods[i]
		st.running[i] = cost.NewSlots(n)
		kind, name, pkind, pname := owners(p)
		createdKind, createdName := kind, name
		if kind == "" {
			kind, name, createdKind, createdName = "<none>", "<none>", "<none>", "<none>"
		}
		id := []string{"namespace", p.Namespace, "pod", p.Name, "uid", p.UID}
		s := []string{
			series(PodInfo, append(slices.Clone(id), "node", p.Node, "created_by_kind", createdKind, "created_by_name", createdName)...),
			series(PodOwner, append(slices.Clone(id), "owner_kind", kind, "owner_name", name, "owner_is_controller", "true")...),
			series(PodLabels, append(slices.Clone(id), labelPairs("label_", p.Labels)...)...),
		}
		if len(p.Annotations) > 0 {
			s = append(s, series(PodAnnotations, append(slices.Clone(id), labelPairs("annotation_", p.Annotations)...)...))
		}
		for _, c := range p.Claims {
			s = append(s, series(PodClaims, append(slices.Clone(id), "volume", c, "persistentvolumeclaim", c)...))
		}
		st.pod = append(st.pod, s)
		switch kind {
		case "ReplicaSet":
			if pkind != "" {
				st.rsOwner[i] = series(ReplicaSetOwner, "namespace", p.Namespace, "replicaset", name, "owner_kind", pkind, "owner_name", pname, "owner_is_controller", "true")
			} else {
				st.rsOwner[i] = series(ReplicaSetOwner, "namespace", p.Namespace, "replicaset", name, "owner_kind", "<none>", "owner_name", "<none>", "owner_is_controller", "false")
			}
		case "Job":
			if pkind != "" {
				st.jobOwner[i] = series(JobOwner, "namespace", p.Namespace, "job_name", name, "owner_kind", pkind, "owner_name", pname, "owner_is_controller", "true")
			} else {
				st.jobOwner[i] = series(JobOwner, "namespace", p.Namespace, "job_name", name, "owner_kind", "<none>", "owner_name", "<none>", "owner_is_controller", "false")
			}
		}
	}
	for i := range obs.Containers {
		c := &obs.Containers[i]
		p := &obs.Pods[c.Pod]
		for w, bits := range c.Running {
			st.running[c.Pod][w] |= bits
		}
		id := []string{"namespace", p.Namespace, "pod", p.Name, "uid", p.UID, "container", c.Name}
		st.ctrRun = append(st.ctrRun, series(ContainerRunning, id...))
		st.ctrReq = append(st.ctrReq, [3]string{
			series(ContainerRequests, append(slices.Clone(id), "node", p.Node, "resource", ResourceCPU, "unit", "core")...),
			series(ContainerRequests, append(slices.Clone(id), "node", p.Node, "resource", ResourceMemory, "unit", "byte")...),
			series(ContainerRequests, append(slices.Clone(id), "node", p.Node, "resource", ResourceGPU, "unit", "integer")...),
		})
		cg := "/kubepods/pod" + p.UID + "/" + c.Name
		st.ctrMem = append(st.ctrMem, series(MemoryUsage, "namespace", p.Namespace, "pod", p.Name, "container", c.Name, "id", cg))
		st.ctrCPU = append(st.ctrCPU, series(CPUUsage, "namespace", p.Namespace, "pod", p.Name, "container", c.Name, "id", cg))
	}
	for i := range obs.Volumes {
		v := &obs.Volumes[i]
		s := []string{
			series(VolumeCapacity, "persistentvolume", v.Name),
			series(VolumeInfo, "persistentvolume", v.Name, "storageclass", v.StorageClass, "csi_volume_handle", v.ProviderID),
		}
		if v.ClaimName != "" {
			s = append(s, series(VolumeClaimRef, "persistentvolume", v.Name, "name", v.ClaimName, "claim_namespace", v.ClaimNamespace))
		}
		st.volume = append(st.volume, s)
	}
	for i := range obs.Claims {
		c := &obs.Claims[i]
		st.claim = append(st.claim, series(ClaimInfo, "namespace", c.Namespace, "persistentvolumeclaim", c.Name, "storageclass", c.StorageClass, "volumename", c.Volume))
	}
	for i := range obs.Services {
		s := &obs.Services[i]
		st.service = append(st.service, series(ServiceType, "namespace", s.Namespace, "service", s.Name, "type", "LoadBalancer"))
	}
	return st
}

// emitSlot sends every gauge of slot s (everything but the CPU counter) to out.
func (st *staticSeries) emitSlot(obs *cost.Observation, s int, out sink) {
	for i := range obs.Nodes {
		n := &obs.Nodes[i]
		if !n.Present.Has(s) {
			continue
		}
		ss := st.node[i]
		out(NodeInfo, ss[0], 1)
		out(NodeCapacity, ss[1], n.CPUCores)
		out(NodeCapacity, ss[2], n.RAMBytes)
		if n.GPUs > 0 {
			out(NodeCapacity, ss[3], n.GPUs)
		}
		out(NodeLabels, ss[4], 1)
	}
	for _, ns := range st.namespace {
		out(familyOfSeries(ns), ns, 1)
	}
	seenRS := map[string]bool{}
	for i := range obs.Pods {
		if !st.running[i].Has(s) {
			continue
		}
		for _, ps := range st.pod[i] {
			out(familyOfSeries(ps), ps, 1)
		}
		if r := st.rsOwner[i]; r != "" && !seenRS[r] {
			seenRS[r] = true
			out(ReplicaSetOwner, r, 1)
		}
		if j := st.jobOwner[i]; j != "" && !seenRS[j] {
			seenRS[j] = true
			out(JobOwner, j, 1)
		}
	}
	for i := range obs.Containers {
		c := &obs.Containers[i]
		if !c.Running.Has(s) {
			continue
		}
		out(ContainerRunning, st.ctrRun[i], 1)
		if v := cost.At(c.CPURequest, s); v > 0 {
			out(ContainerRequests, st.ctrReq[i][reqCPU], v)
		}
		if v := cost.At(c.RAMRequest, s); v > 0 {
			out(ContainerRequests, st.ctrReq[i][reqRAM], v)
		}
		if v := cost.At(c.GPURequest, s); v > 0 {
			out(ContainerRequests, st.ctrReq[i][reqGPU], v)
		}
		out(MemoryUsage, st.ctrMem[i], cost.At(c.RAMUsage, s))
	}
	for i := range obs.Volumes {
		if !obs.Volumes[i].Present.Has(s) {
			continue
		}
		for k, vs := range st.volume[i] {
			v := 1.0
			if k == 0 {
				v = obs.Volumes[i].CapacityBytes
			}
			out(familyOfSeries(vs), vs, v)
		}
	}
	for i := range obs.Claims {
		if obs.Claims[i].Present.Has(s) {
			out(ClaimInfo, st.claim[i], 1)
		}
	}
	for i := range obs.Services {
		if obs.Services[i].Present.Has(s) {
			out(ServiceType, st.service[i], 1)
		}
	}
}

// familyOfSeries is the family of a rendered series (its name before '{').
func familyOfSeries(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '{' {
			return familyOf(s[:i])
		}
	}
	return familyOf(s)
}
