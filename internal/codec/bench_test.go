package codec_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/codec"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
)

var (
	peakOnce sync.Once
	peakSet  *cost.Set
	daySet   *cost.Set
)

// realistic returns the peak hour and a whole day of the 10,000-pod demo cluster.
func realistic(b *testing.B) (*cost.Set, *cost.Set) {
	b.Helper()
	peakOnce.Do(func() {
		c, err := sim.New(sim.Config{Pods: 10000})
		if err != nil {
			b.Fatal(err)
		}
		p, _ := pricing.New(pricing.DefaultCustom())
		day := time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)
		var hours []*cost.Set
		for h := 0; h < 24; h++ {
			s := day.Add(time.Duration(h) * time.Hour)
			obs, err := c.Observe(context.Background(), cost.NewWindow(s, s.Add(time.Hour)), time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			set, err := allocation.Compute(obs, p)
			if err != nil {
				b.Fatal(err)
			}
			hours = append(hours, set)
		}
		peakSet = hours[19]
		daySet, _ = allocation.MergeSets(cost.NewWindow(day, day.Add(24*time.Hour)), cost.Daily, hours)
	})
	return peakSet, daySet
}

func BenchmarkEncodePeakHour(b *testing.B) {
	peak, _ := realistic(b)
	c := codec.New()
	b.ReportAllocs()
	for b.Loop() {
		c.Encode(peak)
	}
}

func benchDecode(b *testing.B, s *cost.Set) {
	c := codec.New()
	blob := c.Encode(s)
	b.ReportMetric(float64(len(blob)), "bytes")
	b.ReportMetric(float64(len(s.Allocations)), "rows")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Decode(blob); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePeakHour(b *testing.B) { peak, _ := realistic(b); benchDecode(b, peak) }
func BenchmarkDecodeDay(b *testing.B)      { _, day := realistic(b); benchDecode(b, day) }

func benchStream(b *testing.B, s *cost.Set) {
	c := codec.New()
	blob := c.Encode(s)
	b.ReportMetric(float64(len(s.Allocations)), "rows")
	b.ReportAllocs()
	b.ResetTimer()
	sum := 0.0
	for b.Loop() {
		if _, err := c.Stream(blob, false, func(a *cost.Allocation) { sum += a.CPUCost }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamPeakHour(b *testing.B) { peak, _ := realistic(b); benchStream(b, peak) }
func BenchmarkStreamDay(b *testing.B)      { _, day := realistic(b); benchStream(b, day) }
