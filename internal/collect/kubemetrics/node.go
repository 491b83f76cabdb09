package kubemetrics

import (
	"strings"

	"github.com/costwarden/costwarden/internal/cost"
)

// DescribeNode fills a node's Provider, InstanceType, Region, Zone and CapacityType
// from its labels and provider ID, the way both collectors read them. Fields already
// set are kept.
func DescribeNode(n *cost.Node) {
	l := n.Labels
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := l[k]; v != "" {
				return v
			}
		}
		return ""
	}
	if n.Provider == "" {
		n.Provider = ProviderOf(n.ProviderID)
	}
	if n.InstanceType == "" {
		n.InstanceType = first("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
	}
	if n.Region == "" {
		n.Region = first("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
	}
	if n.Zone == "" {
		n.Zone = first("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
	}
	if n.CapacityType == "" {
		n.CapacityType = cost.CapacityOnDemand
		switch {
		case strings.EqualFold(l["karpenter.sh/capacity-type"], "spot"),
			strings.EqualFold(l["eks.amazonaws.com/capacityType"], "SPOT"),
			l["cloud.google.com/gke-spot"] == "true",
			l["cloud.google.com/gke-preemptible"] == "true",
			strings.EqualFold(l["kubernetes.azure.com/scalesetpriority"], "spot"):
			n.CapacityType = cost.CapacitySpot
		}
	}
}

// ProviderOf names the cloud of a node's provider ID ("aws:///us-east-1a/i-0...").
func ProviderOf(providerID string) string {
	scheme, _, ok := strings.Cut(providerID, "://")
	if !ok {
		return ""
	}
	switch scheme {
	case "aws":
		return "aws"
	case "gce":
		return "gcp"
	case "azure":
		return "azure"
	}
	return ""
}
