// Package bench holds costwarden's performance benchmarks (bench_test.go) and the
// `make bench` report (bench/report), which runs the demo server at the scale
// and the benchmarks, and prints each figure next to its target.
//
// It owns measurement only: no production code imports it.
package bench

import "time"

// Targets of the performance requirements (issue 3), for the report.
const (
	TargetCloseHour      = time.Second
	TargetQuery30dWarm   = 250 * time.Millisecond
	TargetQuery30dCold   = time.Second
	TargetQuery7dStep1h  = 1500 * time.Millisecond
	TargetPeakRSSBytes   = 600 << 20
	DemoPods             = 10000
	DemoDays             = 30
	Query30dNamespace    = "window=30d&aggregate=namespace&shareIdle=true"
	Query7dStepControler = "window=7d&step=1h&aggregate=controller"
)
