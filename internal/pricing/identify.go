package pricing

import (
	"strings"

	"github.com/costwarden/costwarden/internal/cost"
)

// NodeIdentity is what pricing needs to know about a node: its provider, region,
// instance type and whether it is spot (or preemptible) capacity.
type NodeIdentity struct {
	Provider     string // aws, gcp, azure, or ""
	Region       string
	InstanceType string
	Spot         bool
}

// Labels that say a node is spot capacity, with the value that means spot.
var spotLabels = []struct{ key, value string }{
	{"karpenter.sh/capacity-type", "spot"},            // Karpenter (any cloud)
	{"eks.amazonaws.com/capacityType", "SPOT"},        // EKS managed node groups
	{"cloud.google.com/gke-spot", "true"},             // GKE Spot VMs
	{"cloud.google.com/gke-preemptible", "true"},      // GKE preemptible VMs
	{"kubernetes.azure.com/scalesetpriority", "spot"}, // AKS spot node pools
	{"node.kubernetes.io/lifecycle", "spot"},          // self-managed groups (kops, eksctl)
	// kube_node_labels spellings, for sources that pass Prometheus label names on.
	{"label_karpenter_sh_capacity_type", "spot"},
	{"label_eks_amazonaws_com_capacity_type", "SPOT"},
	{"label_eks_amazonaws_com_capacityType", "SPOT"},
	{"label_cloud_google_com_gke_spot", "true"},
	{"label_cloud_google_com_gke_preemptible", "true"},
	{"label_kubernetes_azure_com_scalesetpriority", "spot"},
}

// IsSpot reports whether node labels mark spot (or preemptible) capacity.
func IsSpot(labels map[string]string) bool {
	for _, l := range spotLabels {
		if v, ok := labels[l.key]; ok && strings.EqualFold(v, l.value) {
			return true
		}
	}
	return false
}

func firstLabel(labels map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return ""
}

// ProviderOf derives the cloud from a node's provider ID (aws:///..., gce://...,
// azure:///...) or its labels.
func ProviderOf(providerID string, labels map[string]string) string {
	switch {
	case strings.HasPrefix(providerID, "aws://"):
		return "aws"
	case strings.HasPrefix(providerID, "gce://"):
		return "gcp"
	case strings.HasPrefix(providerID, "azure://"):
		return "azure"
	}
	for k := range labels {
		switch {
		case strings.HasPrefix(k, "eks.amazonaws.com/"), strings.HasPrefix(k, "karpenter.k8s.aws/"):
			return "aws"
		case strings.HasPrefix(k, "cloud.google.com/"):
			return "gcp"
		case strings.HasPrefix(k, "kubernetes.azure.com/"):
			return "azure"
		}
	}
	return ""
}

// Identify reads a node's identity from its fields, falling back to its labels.
func Identify(n *cost.Node) NodeIdentity {
	id := NodeIdentity{Provider: n.Provider, Region: n.Region, InstanceType: n.InstanceType}
	if id.Provider == "" {
		id.Provider = ProviderOf(n.ProviderID, n.Labels)
	}
	if id.InstanceType == "" {
		id.InstanceType = firstLabel(n.Labels, "node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type",
			"label_node_kubernetes_io_instance_type", "label_beta_kubernetes_io_instance_type")
	}
	if id.Region == "" {
		id.Region = firstLabel(n.Labels, "topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region",
			"label_topology_kubernetes_io_region", "label_failure_domain_beta_kubernetes_io_region")
	}
	id.Spot = n.CapacityType == cost.CapacitySpot || IsSpot(n.Labels)
	if id.Provider == "azure" {
		// AKS reports instance types as Standard_D4s_v5; the catalog uses the same
		// names, but regions come lower-case without spaces.
		id.Region = strings.ToLower(strings.ReplaceAll(id.Region, " ", ""))
	}
	return id
}
