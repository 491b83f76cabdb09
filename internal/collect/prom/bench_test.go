package prom_test

import (
	"context"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/collect/prom"
	"github.com/costwarden/costwarden/internal/collect/prom/promtest"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/cost"
)

// BenchmarkObserveHour measures reading one hour of a 300-pod simulated cluster
// (about 1,000 containers over the hour) from a real Prometheus at 1-minute
// resolution: the unit of backfill. Target: under 2 s per hour, so 90 days of history
// (2,160 hours) backfill in about an hour on a small machine, and a week in minutes.
func BenchmarkObserveHour(b *testing.B) {
	cl, err := sim.New(sim.Config{Name: "bench", Pods: 300})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 11, 3, 14, 0, 0, 0, time.UTC)
	srv := promtest.Start(b, promtest.Options{OpenMetrics: history(b, cl, start, 2)})
	src, err := prom.New(prom.Config{URL: srv.URL, Cluster: "bench", Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	w := cost.NewWindow(start, start.Add(time.Hour))
	ctx := context.Background()
	obs, err := src.Observe(ctx, w, time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	containers := len(obs.Containers)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := src.Observe(ctx, w, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/hour")
	b.ReportMetric(float64(containers), "containers")
}
