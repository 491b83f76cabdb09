package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
)

// DESIGN
//
// Determinism. Nothing in Observe depends on a previous call or on the window's
// boundaries: every value is a hash of (seed, entity, absolute time), see hash.go. The
// same minute therefore has the same pods, UIDs and usage whether it is observed as part
// of an hour, a day or a month.
//
// Nodes. New packs every replica onto a node slot (catalog.go). An always-on slot is
// held by one node per rotation period (weekly AMI replacement on demand, every ~1.5
// days on spot); the successor comes up 2 minutes before the predecessor's pods move
// and the predecessor goes 1 minute after. A scaled slot holds one node per sim day,
// from 2 minutes before its first replica wants to run until 10 minutes after the last
// one stops (the autoscaler's scale-down delay); a spot node can be interrupted in the
// middle and replaced by a new one. So nodes appear and disappear at any minute.
//
// Pods. A pod is identified by (replica, node, rollout epoch): it lives in the
// intersection of when its replica is desired (always, or a daily interval that is
// longer the lower the replica's rank, which gives HPA-like replica counts), when its
// node can run pods, and when its ReplicaSet revision is current. A node going away
// therefore ends its pods, and the replacement pods (new UIDs) start on the successor
// node; a rollout replaces pods replica by replica with one minute of surge.
// DaemonSet pods live exactly as long as their node.
//
// Usage follows the load curve in clock.go (daily and weekly cycle) with per-sample
// hashed noise; memory grows with the process's age and falls back when a leaky
// container is OOM-killed.

// Config of the simulated cluster. Zero values take defaults.
type Config struct {
	Name string // cluster name, default "demo"
	Seed int64  // default 1
	// Pods is the target number of concurrently running pods at a weekday peak, default
	// 300, between 20 and 50000. Below about 100 the platform's own pods (DaemonSets
	// on the minimum set of nodes, databases) dominate and the cluster has more pods
	// than asked for.
	Pods int
}

// Defaults and limits of Config.
const (
	DefaultName = "demo"
	DefaultSeed = 1
	DefaultPods = 300
	MinPods     = 20
	MaxPods     = 50000
)

// Cluster is a simulated cluster. It is immutable and safe for concurrent use.
type Cluster struct {
	cfg Config
	cat *catalog
}

// New validates cfg and builds the cluster's workloads and node pools.
func New(cfg Config) (*Cluster, error) {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Seed == 0 {
		cfg.Seed = DefaultSeed
	}
	if cfg.Pods == 0 {
		cfg.Pods = DefaultPods
	}
	if cfg.Pods < MinPods || cfg.Pods > MaxPods {
		return nil, fmt.Errorf("sim: Pods must be between %d and %d, got %d", MinPods, MaxPods, cfg.Pods)
	}
	return &Cluster{cfg: cfg, cat: calibrate(uint64(cfg.Seed), cfg.Pods)}, nil
}

// calibrate finds the scale whose weekday peak is closest to the target number of pods.
// The pod count grows monotonically (in steps) with the scale, so bisection on its
// logarithm converges in a few dozen builds.
func calibrate(seed uint64, pods int) *catalog {
	lo, hi := math.Log(0.01), math.Log(1000)
	var best *catalog
	for i := 0; i < 28; i++ {
		mid := (lo + hi) / 2
		c := build(seed, math.Exp(mid))
		if best == nil || abs(c.peakPods-pods) < abs(best.peakPods-pods) {
			best = c
		}
		if c.peakPods < pods {
			lo = mid
		} else {
			hi = mid
		}
	}
	return best
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// Name is the cluster's name.
func (c *Cluster) Name() string { return c.cfg.Name }

// Config returns the configuration with defaults applied.
func (c *Cluster) Config() Config { return c.cfg }

// PeakPods is the number of pods running concurrently at a weekday peak, as planned by
// New (the observed count differs by the few pods that are mid-rollout or rescheduled).
func (c *Cluster) PeakPods() int { return c.cat.peakPods }

// maxSlots bounds one observation: a year at 1-minute resolution.
const maxSlots = 366 * 24 * 60

// Observe returns what a collector would have seen during w at the given resolution
// (normally one minute). w must be aligned to the resolution, and the resolution must
// be a whole number of seconds.
//
// It is a pure function of (Config, w, resolution): the same inputs always give
// identical output, and observing a day gives exactly the per-slot values of observing
// its hours separately.
//
// A pod or node counts as running/present in a slot if it runs during any part of it.
// Usage is simulated per minute; a slot of several minutes carries the average, as a
// collector computes it from counters (CPU: increase over the slot / slot length) and
// gauges (memory: mean working set while running). At resolutions that are not whole
// minutes, a slot carries the value at its start. Label and annotation maps are fresh
// for every call and not shared between pods.
func (c *Cluster) Observe(ctx context.Context, w cost.Window, resolution time.Duration) (*cost.Observation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if resolution < time.Second || resolution%time.Second != 0 {
		return nil, fmt.Errorf("sim: resolution %s must be a positive whole number of seconds", resolution)
	}
	if !w.End.After(w.Start) {
		return nil, fmt.Errorf("sim: window %s is empty", w)
	}
	res := int64(resolution / time.Second)
	ws, we := w.Start.Unix(), w.End.Unix()
	if w.Start.Nanosecond() != 0 || w.End.Nanosecond() != 0 || ws%res != 0 || we%res != 0 {
		return nil, fmt.Errorf("sim: window %s is not aligned to the resolution %s", w, resolution)
	}
	n := (we - ws) / res
	if n > maxSlots {
		return nil, errors.New("sim: window has more than a year of 1-minute slots; observe it in pieces")
	}
	o := newObserver(c, ws, we, res)
	if err := o.run(ctx); err != nil {
		return nil, err
	}
	o.obs.Window = cost.NewWindow(w.Start, w.End)
	o.obs.Resolution = resolution
	return o.obs, nil
}
