package cost

import (
	"fmt"
	"math/bits"
	"time"
)

// Capacity types of a node, as the pricing layer understands them.
const (
	CapacityOnDemand = "on-demand"
	CapacitySpot     = "spot"
)

// Observation is what the collectors saw of one cluster during one window, sampled at
// a fixed resolution: sample i stands for the interval
// [Window.Start + i*Resolution, Window.Start + (i+1)*Resolution).
//
// Series ([]float64) have one value per slot, or exactly one value meaning "constant
// over the window"; use At to read them. Values in slots where the owner is not
// running/present are ignored.
type Observation struct {
	Cluster    string
	Window     Window
	Resolution time.Duration

	Nodes      []Node
	Namespaces []Namespace
	Pods       []Pod
	Containers []Container
	Volumes    []PersistentVolume
	Claims     []VolumeClaim
	Services   []Service

	// Partial is set when a source could not deliver all of the window's data; the
	// window is stored but recomputed when the data arrives.
	Partial bool
}

// Slots is the number of sampling intervals in the window.
func (o *Observation) Slots() int {
	if o.Resolution <= 0 {
		return 0
	}
	return int(o.Window.Duration() / o.Resolution)
}

// SlotHours is the length of one slot in hours.
func (o *Observation) SlotHours() float64 { return o.Resolution.Hours() }

// Validate checks the structural promises the engine relies on.
func (o *Observation) Validate() error {
	n := o.Slots()
	if n <= 0 {
		return fmt.Errorf("observation of %q: window %s at resolution %s has no slots", o.Cluster, o.Window, o.Resolution)
	}
	if o.Window.Duration()%o.Resolution != 0 {
		return fmt.Errorf("observation of %q: window %s is not a multiple of resolution %s", o.Cluster, o.Window, o.Resolution)
	}
	series := func(what string, s []float64) error {
		if len(s) != 0 && len(s) != 1 && len(s) != n {
			return fmt.Errorf("%s has %d values, want 0, 1 or %d", what, len(s), n)
		}
		return nil
	}
	for i := range o.Containers {
		c := &o.Containers[i]
		if c.Pod < 0 || c.Pod >= len(o.Pods) {
			return fmt.Errorf("container %d (%s): pod index %d out of range", i, c.Name, c.Pod)
		}
		for _, s := range []struct {
			n string
			v []float64
		}{{"cpuRequest", c.CPURequest}, {"ramRequest", c.RAMRequest}, {"gpuRequest", c.GPURequest}, {"cpuUsage", c.CPUUsage}, {"ramUsage", c.RAMUsage}} {
			if err := series(fmt.Sprintf("container %s/%s/%s %s", o.Pods[c.Pod].Namespace, o.Pods[c.Pod].Name, c.Name, s.n), s.v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Node is one node of the cluster. Capacity is constant within an observation.
type Node struct {
	Name         string
	ProviderID   string
	Labels       map[string]string
	Provider     string // "aws", "gcp", "azure" or "" when unknown
	InstanceType string
	Region       string
	Zone         string
	CapacityType string // CapacityOnDemand or CapacitySpot
	CPUCores     float64
	RAMBytes     float64
	GPUs         float64
	Present      Slots // intervals in which the node exists
}

// Namespace carries a namespace's metadata.
type Namespace struct {
	Name        string
	Labels      map[string]string
	Annotations map[string]string
}

// Pod is one pod (one UID). A pod never changes node; a rescheduled pod is a new Pod.
type Pod struct {
	Namespace      string
	Name           string
	UID            string
	Node           string
	Labels         map[string]string
	Annotations    map[string]string
	ControllerKind string // deployment, statefulset, daemonset, job, cronjob, replicaset, or ""
	Controller     string
	Claims         []string // names of the PersistentVolumeClaims (in Namespace) the pod mounts
}

// Container is one container of a pod, with its per-slot series.
type Container struct {
	Pod     int // index into Observation.Pods
	Name    string
	Running Slots

	CPURequest []float64 // cores
	RAMRequest []float64 // bytes
	GPURequest []float64 // GPUs
	CPUUsage   []float64 // cores (average over the slot)
	RAMUsage   []float64 // bytes (working set)
}

// PersistentVolume is a volume and, when bound, its claim.
type PersistentVolume struct {
	Name           string
	StorageClass   string
	CapacityBytes  float64
	ClaimNamespace string // "" when unbound
	ClaimName      string
	ProviderID     string
	Present        Slots
}

// VolumeClaim is a PersistentVolumeClaim.
type VolumeClaim struct {
	Namespace    string
	Name         string
	Volume       string
	StorageClass string
	RequestBytes float64
	Present      Slots
}

// Service is a Kubernetes Service of type LoadBalancer (other types cost nothing).
type Service struct {
	Namespace string
	Name      string
	// Selector is nil when unknown (no API source); a non-nil empty selector matches nothing.
	Selector map[string]string
	Present  Slots
}

// At reads a series: the value of slot i, the constant for a 1-value series, 0 when empty.
func At(s []float64, i int) float64 {
	switch len(s) {
	case 0:
		return 0
	case 1:
		return s[0]
	default:
		return s[i]
	}
}

// Slots is a bitset over the slots of an observation.
type Slots []uint64

// NewSlots returns an empty set for n slots.
func NewSlots(n int) Slots { return make(Slots, (n+63)/64) }

// AllSlots returns a set with slots [0, n) set.
func AllSlots(n int) Slots {
	s := NewSlots(n)
	s.SetRange(0, n)
	return s
}

// Set marks slot i.
func (s Slots) Set(i int) { s[i/64] |= 1 << uint(i%64) }

// Clear unmarks slot i.
func (s Slots) Clear(i int) { s[i/64] &^= 1 << uint(i%64) }

// SetRange marks slots [from, to).
func (s Slots) SetRange(from, to int) {
	for i := from; i < to; i++ {
		s.Set(i)
	}
}

// Has reports whether slot i is marked. Out-of-range slots are unmarked.
func (s Slots) Has(i int) bool {
	w := i / 64
	if i < 0 || w >= len(s) {
		return false
	}
	return s[w]&(1<<uint(i%64)) != 0
}

// Count is the number of marked slots.
func (s Slots) Count() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// First is the lowest marked slot, or -1.
func (s Slots) First() int {
	for wi, w := range s {
		if w != 0 {
			return wi*64 + bits.TrailingZeros64(w)
		}
	}
	return -1
}

// Last is the highest marked slot, or -1.
func (s Slots) Last() int {
	for wi := len(s) - 1; wi >= 0; wi-- {
		if w := s[wi]; w != 0 {
			return wi*64 + 63 - bits.LeadingZeros64(w)
		}
	}
	return -1
}
