// Package sim is the demo cluster: a deterministic, seeded simulation of an EKS
// cluster in us-east-1 (node pools that scale with the day, spot interruptions, a GPU
// node, team namespaces, Deployments with HPA-like replica counts and rollouts,
// StatefulSets with volumes, DaemonSets, CronJobs, load balancers) used by demo mode,
// tests and benchmarks.
//
// It owns the simulated inventory and usage and produces cost.Observation values, the
// same shape the real collectors produce. It must not compute prices or costs, must not
// do I/O, and must not keep state between calls: Observe is a pure function of the
// Config, the window and the resolution, so any hour of any day can be generated on its
// own and always looks the same (see DESIGN in sim.go).
package sim
