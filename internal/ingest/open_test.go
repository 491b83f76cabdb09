package ingest_test

import (
	"context"
	"math"
	"net/url"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/ingest"
	"github.com/costwarden/costwarden/internal/query"
)

// TestEndedHourServedUntilStored: from the first minute of a new hour until
// the hour before is closed (collect.closeDelay later), queries still include
// that hour from its last computation; once it is stored it is counted once.
func TestEndedHourServedUntilStored(t *testing.T) {
	cl, err := sim.New(sim.Config{Name: "gapless", Pods: 20})
	if err != nil {
		t.Fatal(err)
	}
	h0 := time.Date(2026, 11, 4, 9, 0, 0, 0, time.UTC)
	now := &clock{t: h0.Add(59 * time.Minute)}
	s := openSets(t, t.TempDir(), now.Now)
	in := ingest.New(cl, pricer(t), s, ingest.Options{Resolution: time.Minute, CloseDelay: 3 * time.Minute, Now: now.Now, Log: logger(t)})
	qs := query.NewService(s, in)
	ctx := context.Background()
	total := func() (float64, int) {
		t.Helper()
		v := url.Values{"window": {h0.Format(time.RFC3339) + "," + h0.Add(2*time.Hour).Format(time.RFC3339)}, "aggregate": {"cluster"}, "accumulate": {"true"}}
		req, err := query.ParseAllocation(v, now.Now(), query.Settings{Location: time.UTC})
		if err != nil {
			t.Fatal(err)
		}
		res, err := qs.Allocation(ctx, req)
		if err != nil || len(res) != 1 {
			t.Fatalf("allocation: %v, %d results", err, len(res))
		}
		return res[0].Total(), len(in.Open())
	}
	in.Step(ctx, h0)
	before, _ := total()
	if before <= 0 {
		t.Fatalf("09:59: total %v, want the open hour's cost", before)
	}
	// 10:01: the open hour is 10:00-10:01; 09:00 is not closed until 10:03.
	now.Set(h0.Add(61 * time.Minute))
	in.Step(ctx, h0)
	if got := stored(t, s, h0, h0.Add(time.Hour)); got[h0] != nil {
		t.Fatal("09:00 was stored before collect.closeDelay")
	}
	pending, n := total()
	if n != 2 || pending < before {
		t.Errorf("10:01: total %v from %d open sets, want 09:00's cost (%v) and 10:00's first minute", pending, n, before)
	}
	// 10:03: 09:00 is closed and stored; it is counted once.
	now.Set(h0.Add(63 * time.Minute))
	in.Step(ctx, h0)
	got := stored(t, s, h0, h0.Add(time.Hour))
	if got[h0] == nil {
		t.Fatal("09:00 not stored at 10:03")
	}
	after, n := total()
	hour := 0.0
	for _, a := range got[h0].Allocations {
		hour += a.TotalCost()
	}
	open := in.Open()
	if n != 1 || open[0].Window.Start != h0.Add(time.Hour) {
		t.Errorf("10:03: open sets %d, want only 10:00's", n)
	}
	live := 0.0
	for _, a := range open[0].Allocations {
		live += a.TotalCost()
	}
	if math.Abs(after-(hour+live)) > 1e-6*after {
		t.Errorf("10:03: total %v, want the stored 09:00 (%v) plus the open 10:00 (%v) once each", after, hour, live)
	}
}

// TestEndedHourServedAfterStartInCloseDelay: a server started after an hour
// ended but before it may be closed never saw that hour open; it computes it
// at once, so queries do not miss it (the metrics of a server started at 10:00:05
// were empty until 10:03), and stores the same cost when it is closed.
func TestEndedHourServedAfterStartInCloseDelay(t *testing.T) {
	cl, err := sim.New(sim.Config{Name: "restarted", Pods: 20})
	if err != nil {
		t.Fatal(err)
	}
	h0 := time.Date(2026, 11, 4, 9, 0, 0, 0, time.UTC)
	for _, start := range []time.Duration{60*time.Minute + 5*time.Second, 61 * time.Minute} {
		t.Run(start.String(), func(t *testing.T) {
			now := &clock{t: h0.Add(start)}
			s := openSets(t, t.TempDir(), now.Now)
			in := ingest.New(cl, pricer(t), s, ingest.Options{Resolution: time.Minute, CloseDelay: 3 * time.Minute, Now: now.Now, Log: logger(t)})
			ctx := context.Background()
			in.Step(ctx, h0)
			var held float64
			for _, set := range in.Open() {
				if set.Window.Start.Equal(h0) {
					if !set.Window.End.Equal(h0.Add(time.Hour)) {
						t.Errorf("09:00 held as %s, want the whole hour", set.Window)
					}
					for _, a := range set.Allocations {
						held += a.TotalCost()
					}
				}
			}
			if held <= 0 {
				t.Fatalf("at 09:00+%s the open sets %d lack 09:00", start, len(in.Open()))
			}
			if got := stored(t, s, h0, h0.Add(time.Hour)); got[h0] != nil {
				t.Fatal("09:00 was stored before collect.closeDelay")
			}
			now.Set(h0.Add(63 * time.Minute))
			in.Step(ctx, h0)
			got := stored(t, s, h0, h0.Add(time.Hour))
			if got[h0] == nil {
				t.Fatal("09:00 not stored at 10:03")
			}
			hour := 0.0
			for _, a := range got[h0].Allocations {
				hour += a.TotalCost()
			}
			if math.Abs(hour-held) > 1e-9*hour {
				t.Errorf("stored 09:00 costs %v, held %v", hour, held)
			}
			for _, set := range in.Open() {
				if set.Window.Start.Equal(h0) {
					t.Error("09:00 still held after it was stored")
				}
			}
		})
	}
}
