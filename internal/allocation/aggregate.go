package allocation

import (
	"fmt"
	"sort"
	"strings"

	"github.com/costwarden/costwarden/internal/cost"
)

// Business keys map to a label (pod label first, then the namespace's label).
var businessKeys = []string{"team", "department", "product", "environment", "owner"}

// KeyKind is one kind of aggregation key.
type KeyKind uint8

// Aggregation key kinds (COST_MODEL.md section 8).
const (
	KeyCluster KeyKind = iota + 1
	KeyNode
	KeyNamespace
	KeyControllerKind
	KeyController
	KeyPod
	KeyContainer
	KeyService
	KeyLabel
	KeyAnnotation
	KeyBusiness
)

// Key is one parsed aggregation key.
type Key struct {
	Kind KeyKind
	Name string // label/annotation key, or business key name
	// Label is the label a business key reads (defaults to the key's own name).
	Label string
}

// String gives the key as it is written in a query.
func (k Key) String() string {
	switch k.Kind {
	case KeyLabel:
		return "label:" + k.Name
	case KeyAnnotation:
		return "annotation:" + k.Name
	case KeyBusiness:
		return k.Name
	}
	for n, kind := range simpleKeys {
		if kind == k.Kind {
			return n
		}
	}
	return "?"
}

var simpleKeys = map[string]KeyKind{
	"cluster":        KeyCluster,
	"node":           KeyNode,
	"namespace":      KeyNamespace,
	"controllerKind": KeyControllerKind,
	"controller":     KeyController,
	"pod":            KeyPod,
	"container":      KeyContainer,
	"service":        KeyService,
}

// ValidKeys lists the accepted aggregation keys, for error messages.
func ValidKeys() string {
	var names []string
	for n := range simpleKeys {
		names = append(names, n)
	}
	sort.Strings(names)
	names = append(names, businessKeys...)
	names = append(names, "label:<key>", "annotation:<key>")
	return strings.Join(names, ", ")
}

// ParseAggregate parses a comma-separated aggregate parameter. businessLabels maps a
// business key (team, department, ...) to the label it reads; missing entries use
// the key's own name. An empty string means "no aggregation" (one row per container).
func ParseAggregate(s string, businessLabels map[string]string) ([]Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var keys []Key
	for _, part := range strings.Split(s, ",") {
		p := strings.TrimSpace(part)
		if kind, ok := simpleKeys[p]; ok {
			keys = append(keys, Key{Kind: kind})
			continue
		}
		if name, ok := strings.CutPrefix(p, "label:"); ok && validLabelKey(name) {
			keys = append(keys, Key{Kind: KeyLabel, Name: name})
			continue
		}
		if name, ok := strings.CutPrefix(p, "annotation:"); ok && validLabelKey(name) {
			keys = append(keys, Key{Kind: KeyAnnotation, Name: name})
			continue
		}
		if isBusinessKey(p) {
			label := businessLabels[p]
			if label == "" {
				label = p
			}
			keys = append(keys, Key{Kind: KeyBusiness, Name: p, Label: label})
			continue
		}
		return nil, fmt.Errorf("unknown aggregation key %q; valid keys: %s", p, ValidKeys())
	}
	return keys, nil
}

func isBusinessKey(s string) bool {
	for _, b := range businessKeys {
		if b == s {
			return true
		}
	}
	return false
}

// validLabelKey accepts Kubernetes label keys in either their original form
// (app.kubernetes.io/name) or Prometheus' sanitised form (app_kubernetes_io_name).
func validLabelKey(s string) bool {
	if s == "" || len(s) > 317 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '-', r == '_', r == '.', r == '/':
		default:
			return false
		}
	}
	return true
}

// value returns the row's value for key k, or "" when the row lacks it.
func (k Key) value(p *cost.Properties) string {
	if p == nil {
		return ""
	}
	switch k.Kind {
	case KeyCluster:
		return p.Cluster
	case KeyNode:
		return p.Node
	case KeyNamespace:
		return p.Namespace
	case KeyControllerKind:
		return p.ControllerKind
	case KeyController:
		if p.Controller == "" {
			return ""
		}
		if p.ControllerKind != "" {
			return p.ControllerKind + ":" + p.Controller
		}
		return p.Controller
	case KeyPod:
		return p.Pod
	case KeyContainer:
		return p.Container
	case KeyService:
		if len(p.Services) > 0 {
			return p.Services[0]
		}
	case KeyLabel:
		if v := lookupLabel(p.Labels, k.Name); v != "" {
			return k.Name + "=" + v
		}
	case KeyAnnotation:
		if v := lookupLabel(p.Annotations, k.Name); v != "" {
			return k.Name + "=" + v
		}
	case KeyBusiness:
		if v := lookupLabel(p.Labels, k.Label); v != "" {
			return v
		}
		return lookupLabel(p.NamespaceLabels, k.Label)
	}
	return ""
}

// lookupLabel finds key in labels, accepting the Prometheus-sanitised spelling
// (app_kubernetes_io_name) for a Kubernetes key (app.kubernetes.io/name).
func lookupLabel(labels map[string]string, key string) string {
	if v, ok := labels[key]; ok {
		return v
	}
	if len(labels) == 0 || !strings.ContainsAny(key, "_") {
		return ""
	}
	for lk, v := range labels {
		if sanitize(lk) == key {
			return v
		}
	}
	return ""
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '/' || r == '-' {
			return '_'
		}
		return r
	}, s)
}

// groupName is the aggregated row's name for keys. Rows without a key's value get
// __unallocated__ (or __unmounted__ for storage nobody mounts) in that position.
func groupName(keys []Key, a *cost.Allocation) string {
	if len(keys) == 0 {
		return a.Name
	}
	if len(keys) == 1 {
		return keyValueOrPlaceholder(keys[0], a)
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = keyValueOrPlaceholder(k, a)
	}
	return strings.Join(parts, "/")
}

func keyValueOrPlaceholder(k Key, a *cost.Allocation) string {
	if v := k.value(a.Properties); v != "" {
		return v
	}
	if a.Kind == cost.KindUnmounted {
		return cost.UnmountedName
	}
	return cost.UnallocatedName
}

// narrow keeps in dst only the properties that src shares with it, as OpenCost does
// for aggregated rows.
func narrow(dst, src *cost.Properties) {
	if src == nil {
		*dst = cost.Properties{}
		return
	}
	narrowScalars(dst, src)
	dst.Labels = intersectMaps(dst.Labels, src.Labels)
	dst.Annotations = intersectMaps(dst.Annotations, src.Annotations)
	dst.NamespaceLabels = intersectMaps(dst.NamespaceLabels, src.NamespaceLabels)
	dst.NamespaceAnnotations = intersectMaps(dst.NamespaceAnnotations, src.NamespaceAnnotations)
}

// narrowScalars is narrow for everything but the label and annotation maps.
func narrowScalars(dst, src *cost.Properties) {
	if dst.Cluster != src.Cluster {
		dst.Cluster = ""
	}
	if dst.Node != src.Node {
		dst.Node = ""
		dst.ProviderID = ""
	}
	if dst.Namespace != src.Namespace {
		dst.Namespace = ""
	}
	if dst.ControllerKind != src.ControllerKind {
		dst.ControllerKind = ""
	}
	if dst.Controller != src.Controller {
		dst.Controller = ""
	}
	if dst.Pod != src.Pod {
		dst.Pod = ""
	}
	if dst.Container != src.Container {
		dst.Container = ""
	}
	if dst.ProviderID != src.ProviderID {
		dst.ProviderID = ""
	}
	dst.Services = intersectStrings(dst.Services, src.Services)
}

// intersectMaps removes from dst (which the caller owns) entries src lacks or
// differs in. It returns nil for an empty result.
func intersectMaps(dst, src map[string]string) map[string]string {
	for k, v := range dst {
		if sv, ok := src[k]; !ok || sv != v {
			delete(dst, k)
		}
	}
	if len(dst) == 0 {
		return nil
	}
	return dst
}

func intersectStrings(dst, src []string) []string {
	out := dst[:0]
	for _, d := range dst {
		for _, s := range src {
			if d == s {
				out = append(out, d)
				break
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
