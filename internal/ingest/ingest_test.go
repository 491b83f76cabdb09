package ingest_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/ingest"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

// clock is an injected, settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// openSets opens (or reopens) a sealed store in dir.
func openSets(t *testing.T, dir string, now func() time.Time) *sets.Sets {
	t.Helper()
	ctx := context.Background()
	kek, err := seal.OpenKeyFile(filepath.Join(dir, "key"), true)
	if err != nil {
		kek, err = seal.OpenKeyFile(filepath.Join(dir, "key"), false)
		if err != nil {
			t.Fatal(err)
		}
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "db"), sqlite.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return sets.New(st, seal.NewKeyring(kek, st, seal.Options{Now: now}), "default", now)
}

func pricer(t testing.TB) *pricing.Pricer {
	t.Helper()
	p, err := pricing.New(pricing.DefaultCustom())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// stored returns the stored hourly sets of [from, to) by start.
func stored(t *testing.T, s *sets.Sets, from, to time.Time) map[time.Time]*cost.Set {
	t.Helper()
	out := map[time.Time]*cost.Set{}
	if err := s.Scan(context.Background(), cost.Hourly, from, to, func(set *cost.Set) error {
		out[set.Window.Start] = set
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameCosts requires two sets to hold the same rows with the same costs (1e-6
// relative).
func sameCosts(t *testing.T, what string, want, got *cost.Set) {
	t.Helper()
	idx := func(s *cost.Set) map[string]*cost.Allocation {
		m := map[string]*cost.Allocation{}
		for _, a := range s.Allocations {
			m[a.Name+"|"+a.Properties.Node] = a
		}
		return m
	}
	wm, gm := idx(want), idx(got)
	if len(wm) < 10 || want.TotalCost() <= 0 {
		t.Fatalf("%s: the engine's set has %d rows costing %v; the comparison would prove nothing", what, len(wm), want.TotalCost())
	}
	if len(wm) != len(gm) {
		t.Errorf("%s: %d rows, want %d", what, len(gm), len(wm))
	}
	for k, w := range wm {
		g := gm[k]
		if g == nil {
			t.Errorf("%s: row %s missing", what, k)
			continue
		}
		if d := math.Abs(w.TotalCost() - g.TotalCost()); d > 1e-6*math.Abs(w.TotalCost()) && d > 1e-12 {
			t.Errorf("%s: row %s costs %v, want %v", what, k, g.TotalCost(), w.TotalCost())
		}
	}
	if got.Partial != want.Partial {
		t.Errorf("%s: partial %v, want %v", what, got.Partial, want.Partial)
	}
}

// engine computes the hours directly from the simulator.
func engine(t *testing.T, src ingest.Source, p *pricing.Pricer, from time.Time, hours int, visible func(*cost.Observation)) map[time.Time]*cost.Set {
	t.Helper()
	out := map[time.Time]*cost.Set{}
	for h := 0; h < hours; h++ {
		hs := from.Add(time.Duration(h) * time.Hour)
		obs, err := src.Observe(context.Background(), cost.NewWindow(hs, hs.Add(time.Hour)), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if visible != nil {
			visible(obs)
		}
		set, err := allocation.Compute(obs, p)
		if err != nil {
			t.Fatal(err)
		}
		out[hs] = set
	}
	return out
}

// cancelAfter cancels a context after n observations: costwarden killed mid-backfill.
type cancelAfter struct {
	ingest.Source
	n      int32
	cancel context.CancelFunc
	seen   atomic.Int32
}

func (c *cancelAfter) Observe(ctx context.Context, w cost.Window, res time.Duration) (*cost.Observation, error) {
	if c.seen.Add(1) > c.n {
		c.cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return c.Source.Observe(ctx, w, res)
}

// TestBackfillResumesAfterKill: the backfill is stopped mid-way; a new ingester on
// the same store computes only the missing hours, oldest first, and the stored
// numbers equal the engine's.
func TestBackfillResumesAfterKill(t *testing.T) {
	cl, err := sim.New(sim.Config{Name: "resume", Pods: 20})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	now := &clock{t: time.Date(2026, 11, 4, 12, 30, 0, 0, time.UTC)}
	from := time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)
	p := pricer(t)
	ctx, cancel := context.WithCancel(context.Background())
	s1 := openSets(t, dir, now.Now)
	in1 := ingest.New(&cancelAfter{Source: cl, n: 5, cancel: cancel}, p, s1, ingest.Options{Resolution: time.Minute, Now: now.Now, Log: logger(t)})
	if err := in1.Backfill(ctx, from, to); !errors.Is(err, context.Canceled) {
		t.Fatalf("backfill: %v, want cancelled", err)
	}
	first := stored(t, s1, from, to)
	if len(first) != 5 {
		t.Fatalf("stored %d hours before the kill, want 5", len(first))
	}
	for h := range first {
		if h.After(from.Add(4 * time.Hour)) {
			t.Errorf("hour %s stored before older ones: not oldest first", h)
		}
	}

	s2 := openSets(t, dir, now.Now)
	counted := &cancelAfter{Source: cl, n: 1000, cancel: func() {}}
	in2 := ingest.New(counted, p, s2, ingest.Options{Resolution: time.Minute, Now: now.Now, Log: logger(t)})
	if err := in2.Backfill(context.Background(), from, to); err != nil {
		t.Fatal(err)
	}
	if got := counted.seen.Load(); got != 7 {
		t.Errorf("the resumed backfill observed %d hours, want the 7 missing ones", got)
	}
	if pr := in2.Progress(); pr.Total != 7 || pr.Done != 7 || pr.State != "complete" || pr.Percent() != 100 {
		t.Errorf("progress %+v", pr)
	}
	if !in2.Ready() {
		t.Error("not ready after a backfill")
	}
	want := engine(t, cl, p, from, 12, nil)
	got := stored(t, s2, from, to)
	if len(got) != 12 {
		t.Fatalf("stored %d hours, want 12", len(got))
	}
	for h, w := range want {
		sameCosts(t, h.Format(time.RFC3339), w, got[h])
	}
}

// flaky fails while down is set.
type flaky struct {
	ingest.Source
	down atomic.Bool
}

func (f *flaky) Observe(ctx context.Context, w cost.Window, res time.Duration) (*cost.Observation, error) {
	if f.down.Load() {
		return nil, errors.New("connection refused")
	}
	return f.Source.Observe(ctx, w, res)
}

// TestGapsAfterDowntimeAreFilled: hours missed while costwarden was down are found
// by the repair pass and stored; a source failure is retried with backoff and shown
// in the status.
func TestGapsAfterDowntimeAreFilled(t *testing.T) {
	cl, err := sim.New(sim.Config{Name: "gaps", Pods: 20})
	if err != nil {
		t.Fatal(err)
	}
	p := pricer(t)
	now := &clock{t: time.Date(2026, 11, 4, 3, 5, 0, 0, time.UTC)}
	s := openSets(t, t.TempDir(), now.Now)
	src := &flaky{Source: cl}
	in := ingest.New(src, p, s, ingest.Options{Resolution: time.Minute, CloseDelay: 2 * time.Minute, Now: now.Now, Log: logger(t)})
	ctx := context.Background()
	liveFrom := time.Date(2026, 11, 4, 3, 0, 0, 0, time.UTC)
	in.Step(ctx, liveFrom)
	if in.Live() == nil || in.Status().LiveThrough != time.Date(2026, 11, 4, 3, 5, 0, 0, time.UTC) {
		t.Fatalf("open hour not computed: %+v", in.Status())
	}
	// costwarden is down from 03:05 to 07:10; on restart the repair pass fills 03-07.
	now.Set(time.Date(2026, 11, 4, 7, 10, 0, 0, time.UTC))
	src.down.Store(true)
	in2 := ingest.New(src, p, s, ingest.Options{Resolution: time.Minute, CloseDelay: 2 * time.Minute, Now: now.Now, Log: logger(t), RetryMin: time.Minute})
	if n, err := in2.Repair(ctx, liveFrom, time.Date(2026, 11, 4, 7, 0, 0, 0, time.UTC)); err != nil || n != 0 {
		t.Fatalf("repair with the source down: %d, %v", n, err)
	}
	st := in2.Status()
	if st.State != "degraded" || st.LastError == "" || st.Gaps != 4 || st.NextRetry.IsZero() {
		t.Errorf("status while the source is down: %+v", st)
	}
	if got := stored(t, s, liveFrom, now.Now()); len(got) != 0 {
		t.Fatalf("stored %d hours while the source was down", len(got))
	}
	// Still inside the backoff: nothing is attempted.
	src.down.Store(false)
	if n, _ := in2.Repair(ctx, liveFrom, time.Date(2026, 11, 4, 7, 0, 0, 0, time.UTC)); n != 0 {
		t.Errorf("repaired %d hours inside the backoff", n)
	}
	now.Set(now.Now().Add(2 * time.Minute))
	if n, err := in2.Repair(ctx, liveFrom, time.Date(2026, 11, 4, 7, 0, 0, 0, time.UTC)); err != nil || n != 4 {
		t.Fatalf("repair: %d, %v; want 4 hours", n, err)
	}
	st = in2.Status()
	if st.State == "degraded" || st.Gaps != 0 || st.ConsecutiveFailures != 0 {
		t.Errorf("status after repair: %+v", st)
	}
	want := engine(t, cl, p, liveFrom, 4, nil)
	got := stored(t, s, liveFrom, now.Now())
	for h, w := range want {
		sameCosts(t, h.Format(time.RFC3339), w, got[h])
	}
}

// slow delays every observation.
type slow struct {
	ingest.Source
	d time.Duration
}

func (s slow) Observe(ctx context.Context, w cost.Window, res time.Duration) (*cost.Observation, error) {
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Source.Observe(ctx, w, res)
}

// TestLiveIsNotBlockedByBackfill: while two days of history are still being filled,
// the latest hour is already stored and the open hour served, and the server is
// ready.
func TestLiveIsNotBlockedByBackfill(t *testing.T) {
	cl, err := sim.New(sim.Config{Name: "busy", Pods: 20})
	if err != nil {
		t.Fatal(err)
	}
	now := &clock{t: time.Date(2026, 11, 4, 12, 10, 0, 0, time.UTC)}
	s := openSets(t, t.TempDir(), now.Now)
	in := ingest.New(slow{cl, 40 * time.Millisecond}, pricer(t), s, ingest.Options{
		Resolution: time.Minute, CloseDelay: 2 * time.Minute, Backfill: 48 * time.Hour, Now: now.Now, Log: logger(t)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	latest := time.Date(2026, 11, 4, 11, 0, 0, 0, time.UTC)
	deadline := time.Now().Add(30 * time.Second)
	for len(stored(t, s, latest, latest.Add(time.Hour))) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the latest hour was not closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := in.Status()
	if st.Backfill.State != "running" || st.Backfill.Done >= st.Backfill.Total || st.Backfill.Total != 47 {
		t.Errorf("the backfill is not running beside live ingestion: %+v", st.Backfill)
	}
	if !in.Ready() || in.Live() == nil || !in.Live().Window.Start.Equal(time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("ready %v, open hour %+v", in.Ready(), in.Live())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
