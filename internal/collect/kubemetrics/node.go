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

// Visible reduces an observation, in place, to what its kube-state-metrics series
// tell a collector that has no Kubernetes API: label and annotation keys sanitised
// (without their prefix), empty values dropped, LoadBalancer selectors unknown.
// Costs computed from the result equal those computed from what the Prometheus
// collector reads back.
func Visible(o *cost.Observation) {
	san := func(m map[string]string) map[string]string {
		var out map[string]string
		for k, v := range m {
			if v == "" {
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			out[SanitizeLabel("", k)] = v
		}
		return out
	}
	for i := range o.Pods {
		o.Pods[i].Labels = san(o.Pods[i].Labels)
		o.Pods[i].Annotations = san(o.Pods[i].Annotations)
	}
	for i := range o.Namespaces {
		o.Namespaces[i].Labels = san(o.Namespaces[i].Labels)
		o.Namespaces[i].Annotations = san(o.Namespaces[i].Annotations)
	}
	for i := range o.Services {
		o.Services[i].Selector = nil
	}
}
