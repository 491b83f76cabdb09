package rollup_test

import (
	"context"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/query/querytest"
	"github.com/costwarden/costwarden/internal/rollup"
	"github.com/costwarden/costwarden/internal/store"
)

// TestPendingOnlyCompleteDays: a day is built once its 24 hours are stored, never
// while today is running, and not again until an hour is newer than it.
func TestPendingOnlyCompleteDays(t *testing.T) {
	ctx := context.Background()
	env := querytest.New(t)
	c := querytest.Cluster(t, "prod", 20)
	d0 := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	// Day 0 complete, day 1 missing its last hour, day 2 complete but "today".
	if _, _, err := env.Fill(ctx, c, d0, d0.Add(47*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.Fill(ctx, c, d0.Add(48*time.Hour), d0.Add(72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	now := d0.Add(71*time.Hour + 30*time.Minute)
	job := rollup.New(env.Sets, rollup.Options{Now: func() time.Time { return now }})
	due, err := job.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || !due[0].Day.Equal(d0) || len(due[0].Hours) != 24 || due[0].Stale {
		t.Fatalf("pending %+v, want only day 0, new", due)
	}
	if n, err := job.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("built %d (%v)", n, err)
	}
	days, err := env.Sets.Index(ctx, cost.Daily, d0, d0.Add(72*time.Hour))
	if err != nil || len(days) != 1 {
		t.Fatalf("daily windows %v (%v)", days, err)
	}
	// The day is stamped with its newest hour's store time, not the build time.
	hours, _ := env.Sets.Index(ctx, cost.Hourly, d0, d0.Add(24*time.Hour))
	newest := time.Time{}
	for _, h := range hours {
		if h.UpdatedAt.After(newest) {
			newest = h.UpdatedAt
		}
	}
	if !days[0].UpdatedAt.Equal(newest) {
		t.Errorf("day stamped %s, newest hour %s", days[0].UpdatedAt, newest)
	}
	// The built day holds what its hours hold.
	var hourTotal, dayTotal float64
	for _, h := range hours {
		w, _ := env.Sets.Load(ctx, h.WindowKey)
		s, err := env.Sets.Open(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		hourTotal += s.AllocatedCost()
	}
	w, _ := env.Sets.Load(ctx, days[0].WindowKey)
	day, err := env.Sets.Open(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	dayTotal = day.AllocatedCost()
	if day.Resolution != cost.Daily || day.Window.Duration() != 24*time.Hour || abs(dayTotal-hourTotal) > 1e-9*hourTotal {
		t.Errorf("day %s %s total %.6f, hours %.6f", day.Resolution, day.Window, dayTotal, hourTotal)
	}
	if n, _ := job.RunOnce(ctx); n != 0 {
		t.Errorf("second run built %d", n)
	}
	// The missing hour arrives (gap repair): day 1 becomes complete.
	if _, _, err := env.Fill(ctx, c, d0.Add(47*time.Hour), d0.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := job.RunOnce(ctx); n != 1 || err != nil {
		t.Errorf("after the gap was repaired built %d (%v), want day 1", n, err)
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// TestHoursDeletedUnderneath: retention deletes windows through the store, not
// through sets; a day whose hours vanished is skipped, not an error forever.
func TestHoursDeletedUnderneath(t *testing.T) {
	ctx := context.Background()
	env := querytest.New(t)
	c := querytest.Cluster(t, "prod", 20)
	d0 := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	if _, _, err := env.Fill(ctx, c, d0, d0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	job := rollup.New(env.Sets, rollup.Options{Now: func() time.Time { return d0.Add(48 * time.Hour) }})
	if due, err := job.Pending(ctx); err != nil || len(due) != 1 {
		t.Fatalf("pending %v (%v)", due, err)
	}
	id, err := env.Sets.ClusterID(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Store.DeleteWindows(ctx, store.WindowRange{Tenant: querytest.Tenant, ClusterID: id, Resolution: uint8(cost.Hourly), From: d0, To: d0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := job.RunOnce(ctx); n != 0 || err != nil {
		t.Errorf("built %d (%v), want the incomplete day skipped without error", n, err)
	}
	if due, err := job.Pending(ctx); err != nil || len(due) != 0 {
		t.Errorf("after the listing was refreshed pending %v (%v), want none", due, err)
	}
}
