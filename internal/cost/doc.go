// Package cost is costwarden's shared vocabulary: time windows, what the collectors
// observed of a cluster (Observation), what the engine computed from it (Allocation,
// NodeAsset, Set) and the quantities and money those carry.
//
// It owns types and small pure helpers only. It must not do I/O, must not compute
// prices or allocations (that is internal/pricing and internal/allocation), and must
// not import anything beyond the standard library.
package cost
