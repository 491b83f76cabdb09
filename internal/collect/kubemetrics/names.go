// Package kubemetrics is the vocabulary costwarden shares with kube-state-metrics v2
// and cAdvisor: the exact series it reads (COST_MODEL.md section 1), their labels,
// Kubernetes label-name sanitisation, and a writer that expresses a cost.Observation
// as those series — OpenMetrics text for `promtool tsdb create-blocks-from
// openmetrics`, or a live exposition for a scrape — so the Prometheus collector can be
// tested against a real Prometheus holding known data.
//
// It owns names and encoding only. It must not query Prometheus (internal/collect/prom
// does) or compute costs.
package kubemetrics

import "strings"

// Series names, as kube-state-metrics v2 and the kubelet's cAdvisor expose them.
const (
	NodeInfo             = "kube_node_info"
	NodeCapacity         = "kube_node_status_capacity"
	NodeLabels           = "kube_node_labels"
	ContainerRunning     = "kube_pod_container_status_running"
	ContainerRequests    = "kube_pod_container_resource_requests"
	PodInfo              = "kube_pod_info"
	PodOwner             = "kube_pod_owner"
	ReplicaSetOwner      = "kube_replicaset_owner"
	JobOwner             = "kube_job_owner"
	PodLabels            = "kube_pod_labels"
	PodAnnotations       = "kube_pod_annotations"
	NamespaceLabels      = "kube_namespace_labels"
	NamespaceAnnotations = "kube_namespace_annotations"
	PodClaims            = "kube_pod_spec_volumes_persistentvolumeclaims_info"
	ClaimInfo            = "kube_persistentvolumeclaim_info"
	VolumeCapacity       = "kube_persistentvolume_capacity_bytes"
	VolumeInfo           = "kube_persistentvolume_info"
	VolumeClaimRef       = "kube_persistentvolume_claim_ref"
	ServiceType          = "kube_service_spec_type"

	CPUUsage    = "container_cpu_usage_seconds_total" // counter, seconds
	MemoryUsage = "container_memory_working_set_bytes"
)

// Resource label values of NodeCapacity and ContainerRequests.
const (
	ResourceCPU    = "cpu"
	ResourceMemory = "memory"
	ResourceGPU    = "nvidia_com_gpu"
)

// SanitizeLabel is the Prometheus label name kube-state-metrics gives a Kubernetes
// label or annotation key: prefix ("label_" or "annotation_") plus the key with every
// character outside [a-zA-Z0-9_] replaced by "_".
func SanitizeLabel(prefix, key string) string {
	var b strings.Builder
	b.Grow(len(prefix) + len(key))
	b.WriteString(prefix)
	for _, r := range key {
		if r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// NodeLabelKeys are well-known node label keys whose sanitised names are mapped back
// to the original key (the names of kube_node_labels cannot be reversed in general).
func NodeLabelKeys() []string {
	return []string{
		"node.kubernetes.io/instance-type",
		"beta.kubernetes.io/instance-type",
		"topology.kubernetes.io/region",
		"topology.kubernetes.io/zone",
		"failure-domain.beta.kubernetes.io/region",
		"failure-domain.beta.kubernetes.io/zone",
		"karpenter.sh/capacity-type",
		"eks.amazonaws.com/capacityType",
		"cloud.google.com/gke-spot",
		"cloud.google.com/gke-preemptible",
		"kubernetes.azure.com/scalesetpriority",
		"kubernetes.io/hostname",
		"kubernetes.io/os",
		"kubernetes.io/arch",
	}
}
