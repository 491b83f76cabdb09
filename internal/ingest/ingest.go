// Package ingest runs the pipeline that turns what a source observes into stored
// cost: observe an hour → price and allocate (internal/allocation) → store sealed
// (internal/sets). It backfills history oldest first without blocking live
// ingestion, closes each hour a configurable delay after it ends, keeps the open hour
// computed up to the last minute so queries include it, finds and fills gaps after
// an outage of the source or of costwarden, and recomputes hours stored partial
// when their data arrives.
//
// It owns scheduling, retries and progress; it must not compute costs itself or talk
// to the store except through internal/sets.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/wait"
)

// DESIGN
//
// Two loops share one source. The live loop ticks every resolution: it closes the
// hours that are due (ended at least CloseDelay ago) since it started, and refreshes
// the open hour. The history loop fills everything before that: on start it
// backfills [now - Backfill, first live hour) oldest first, then every RepairEvery
// (and right after the source recovers from a failure) it scans the whole period
// again for gaps (hours not stored) and partial hours, and computes them. Neither
// waits for the other: a long backfill never delays closing the current hour.
//
// The store is the only state: an hour is done when it is stored complete. A restart
// at any moment therefore loses nothing — the backfill resumes where the store says
// it stopped, and the open hour is recomputed from the source.
//
// Failures never stop ingestion. A failing hour is retried with exponential backoff
// (RetryMin doubling to RetryMax). When an hour is due but the source is down, the
// last open-hour computation of it (if any) is stored marked partial, so the hour
// is not a hole; any partial hour is recomputed later and replaced once the source
// has all its data. An hour for which the source has no data at all (no node) is
// not stored: a gap stays a gap, visible in the status, rather than a false zero.
// Nothing is stored complete unless the source said it was.

// Source observes one cluster (the simulator, Prometheus, an agent).
type Source interface {
	Name() string
	Observe(ctx context.Context, w cost.Window, resolution time.Duration) (*cost.Observation, error)
}

// Coverer is implemented by sources that can say which hours hold any data (for
// example Prometheus, bounded by its retention). The backfill starts at the first.
type Coverer interface {
	Coverage(ctx context.Context, from, to time.Time) ([]time.Time, error)
}

// Options configure an Ingester.
type Options struct {
	Resolution time.Duration // sampling resolution, e.g. 1m
	CloseDelay time.Duration // how long after an hour ends it is closed
	// Backfill is how far back history is filled and kept free of gaps (0: none).
	Backfill time.Duration
	// RepairEvery is how often the history is scanned for gaps and partial hours
	// (default 10m).
	RepairEvery time.Duration
	// RetryMin and RetryMax bound the backoff after a failure (default 5s and 5m).
	RetryMin, RetryMax time.Duration
	Now                func() time.Time
	Log                *slog.Logger
}

// Ingester ingests one source.
type Ingester struct {
	src    Source
	pricer *pricing.Pricer
	sets   *sets.Sets
	opts   Options

	live atomic.Pointer[cost.Set]
	// pending is the last computation of the hour before the open one, kept
	// from the moment the next hour's first minute is computed (or, after a
	// start in between, computed whole at once) until that hour is stored
	// (collect.closeDelay later), so queries never lose it between.
	pending   atomic.Pointer[cost.Set]
	closedAny atomic.Bool
	wake      chan struct{} // asks the history loop for a repair pass

	mu       sync.Mutex
	status   Status
	inflight map[time.Time]bool
	retry    map[time.Time]retryState // after failures, per hour (zero: the open hour)
	partial  map[time.Time]retryState // partial hours waiting for their data
	failing  bool
}

type retryState struct {
	next    time.Time
	backoff time.Duration
}

// Status is what the status endpoint shows of one ingester.
type Status struct {
	Cluster string
	// State: "starting", "ok", "degraded" (the source failed, retrying) or
	// "backfilling".
	State       string
	LastClosed  time.Time // start of the latest hour stored by the live loop
	LiveThrough time.Time // the open hour is computed up to here
	LastError   string
	LastErrorAt time.Time
	// ConsecutiveFailures counts failed observations since the last success.
	ConsecutiveFailures int
	NextRetry           time.Time
	Backfill            Backfill
	// Partial lists hours stored partial (oldest first, at most 48); PartialCount
	// counts them all. Gaps and NoData likewise count hours not stored, and hours
	// for which the source had no data, as of the last scan.
	Partial      []time.Time
	PartialCount int
	Gaps         int
	NoData       int
	LastScan     time.Time
}

// Backfill is the progress of filling history.
type Backfill struct {
	State            string // "pending", "running", "complete"
	From, To         time.Time
	Total, Done      int
	Current          time.Time // hour being computed
	StartedAt, EndAt time.Time
	HoursPerMinute   float64
	ETA              time.Duration
}

// Percent is Done/Total in percent (100 when there is nothing to do).
func (b Backfill) Percent() float64 {
	if b.Total == 0 {
		return 100
	}
	return 100 * float64(b.Done) / float64(b.Total)
}

// Progress is the backfill progress (kept for callers of the first version).
type Progress = Backfill

// New returns an Ingester.
func New(src Source, pricer *pricing.Pricer, s *sets.Sets, opts Options) *Ingester {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Resolution <= 0 {
		opts.Resolution = time.Minute
	}
	if opts.RepairEvery <= 0 {
		opts.RepairEvery = 10 * time.Minute
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 5 * time.Second
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(opts.RetryMin, 5*time.Minute)
	}
	return &Ingester{
		src: src, pricer: pricer, sets: s, opts: opts,
		wake:     make(chan struct{}, 1),
		status:   Status{Cluster: src.Name(), State: "starting", Backfill: Backfill{State: "pending"}},
		inflight: map[time.Time]bool{}, retry: map[time.Time]retryState{}, partial: map[time.Time]retryState{},
	}
}

// Name is the cluster's name.
func (in *Ingester) Name() string { return in.src.Name() }

// Status returns a snapshot.
func (in *Ingester) Status() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.status
	s.Partial = append([]time.Time(nil), s.Partial...)
	if in.failing {
		s.State = "degraded"
	} else if s.Backfill.State == "running" {
		s.State = "backfilling"
	} else if s.State == "starting" && in.closedAny.Load() {
		s.State = "ok"
	}
	return s
}

// Progress returns a snapshot of the backfill progress.
func (in *Ingester) Progress() Progress { return in.Status().Backfill }

// Ready reports whether at least one hour has been closed (or found stored).
func (in *Ingester) Ready() bool { return in.closedAny.Load() }

// Live returns the open hour computed up to the last whole sampling interval, or nil.
func (in *Ingester) Live() *cost.Set { return in.live.Load() }

// Open returns the sets computed but not stored yet: the hour that ended and
// waits to be closed (when there is one), and the open hour. Queries add them
// to what is stored (query.LiveSource).
func (in *Ingester) Open() []*cost.Set {
	var out []*cost.Set
	for _, s := range []*cost.Set{in.pending.Load(), in.live.Load()} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// maxAttempts is how often the backfill tries one hour before moving on (the repair
// passes keep retrying it).
const maxAttempts = 5

// errNoData: the source has nothing for the window.
var errNoData = errors.New("the source has no data for this hour")

// claim marks an hour as being computed; false if another loop is on it.
func (in *Ingester) claim(h time.Time) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.inflight[h] {
		return false
	}
	in.inflight[h] = true
	return true
}

func (in *Ingester) unclaim(h time.Time) {
	in.mu.Lock()
	delete(in.inflight, h)
	in.mu.Unlock()
}

// due reports whether an hour may be attempted now (its backoff has passed).
func (in *Ingester) due(h, now time.Time) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if r, ok := in.retry[h]; ok && now.Before(r.next) {
		return false
	}
	if r, ok := in.partial[h]; ok && now.Before(r.next) {
		return false
	}
	return true
}

// failed records a failure for hour h (zero: not tied to an hour) and schedules its
// retry.
func (in *Ingester) failed(h time.Time, err error) {
	now := in.opts.Now()
	in.mu.Lock()
	defer in.mu.Unlock()
	r := in.retry[h]
	if r.backoff == 0 {
		r.backoff = in.opts.RetryMin
	} else {
		r.backoff = min(2*r.backoff, in.opts.RetryMax)
	}
	r.next = now.Add(r.backoff)
	in.retry[h] = r
	if errors.Is(err, errNoData) {
		return
	}
	in.failing = true
	in.status.LastError = err.Error()
	in.status.LastErrorAt = now
	in.status.ConsecutiveFailures++
	in.status.NextRetry = r.next
}

// succeeded clears h's backoff and reports whether the source had been failing.
func (in *Ingester) succeeded(h time.Time) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	delete(in.retry, h)
	was := in.failing
	if was {
		// The failures were the source's, not the hours': retry them all now.
		clear(in.retry)
	}
	in.failing = false
	in.status.ConsecutiveFailures = 0
	in.status.NextRetry = time.Time{}
	return was
}

// compute observes window w and allocates it.
func (in *Ingester) compute(ctx context.Context, w cost.Window) (*cost.Set, error) {
	obs, err := in.src.Observe(ctx, w, in.opts.Resolution)
	if err != nil {
		return nil, fmt.Errorf("observing %s of %s: %w", w, in.src.Name(), err)
	}
	if len(obs.Nodes) == 0 {
		return nil, errNoData
	}
	set, err := allocation.Compute(obs, in.pricer)
	if err != nil {
		return nil, fmt.Errorf("allocating %s of %s: %w", w, in.src.Name(), err)
	}
	if set.Partial && w.Duration() == time.Hour {
		set.Warnings = append(set.Warnings, fmt.Sprintf("%s: the source has no data for part of the hour starting %s; it is recomputed when the data arrives",
			in.src.Name(), w.Start.Format(time.RFC3339)))
	}
	return set, nil
}

// CloseHour computes and stores the hour starting at start and returns the set and
// the sealed size. A partial result never replaces a complete stored hour.
func (in *Ingester) CloseHour(ctx context.Context, start time.Time) (*cost.Set, int, error) {
	w := cost.NewWindow(start, start.Add(time.Hour))
	set, err := in.compute(ctx, w)
	if err != nil {
		return nil, 0, err
	}
	n, err := in.put(ctx, set)
	if err != nil {
		return nil, 0, err
	}
	return set, n, nil
}

func (in *Ingester) put(ctx context.Context, set *cost.Set) (int, error) {
	if set.Partial {
		stored, err := in.sets.Stored(ctx, in.src.Name(), cost.Hourly, set.Window.Start, set.Window.Start.Add(time.Second))
		if err != nil {
			return 0, err
		}
		if info, ok := stored[set.Window.Start]; ok && !info.Partial {
			return 0, nil // a complete hour is already stored
		}
	}
	n, err := in.sets.Put(ctx, set)
	if err != nil {
		return 0, err
	}
	in.stored(set.Window.Start)
	return n, nil
}

// stored notes that hour h is in the store: the open-hour set of h, if still held,
// must not be served next to it.
func (in *Ingester) stored(h time.Time) {
	in.closedAny.Store(true)
	if l := in.live.Load(); l != nil && l.Window.Start.Equal(h) {
		in.live.CompareAndSwap(l, nil)
	}
	if p := in.pending.Load(); p != nil && !p.Window.Start.After(h) {
		in.pending.CompareAndSwap(p, nil)
	}
}

// todo lists the hours in [from, to) that are not stored or stored partial, and
// records what it found in the status.
func (in *Ingester) todo(ctx context.Context, from, to time.Time) ([]time.Time, error) {
	if !from.Before(to) {
		return nil, nil
	}
	stored, err := in.sets.Stored(ctx, in.src.Name(), cost.Hourly, from, to)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		info, ok := stored[h]
		if ok {
			in.closedAny.Store(true)
			if !info.Partial {
				continue
			}
		}
		out = append(out, h)
	}
	return out, nil
}

// Backfill stores every missing or partial hour in [from, to), oldest first,
// logging progress. Hours already stored complete are not recomputed. Hours that
// fail are retried with backoff until ctx ends; hours without source data are
// skipped.
func (in *Ingester) Backfill(ctx context.Context, from, to time.Time) error {
	hours, err := in.todo(ctx, from, to)
	if err != nil {
		return err
	}
	start := in.opts.Now()
	in.mu.Lock()
	in.status.Backfill = Backfill{State: "running", From: from, To: to, Total: len(hours), StartedAt: start}
	in.mu.Unlock()
	if len(hours) > 0 {
		in.opts.Log.Info("backfill starting", "cluster", in.src.Name(), "hours", len(hours), "from", hours[0], "to", hours[len(hours)-1].Add(time.Hour))
	}
	lastLog := start
	noData, attempts := 0, 0
	for i := 0; i < len(hours); {
		h := hours[i]
		in.mu.Lock()
		in.status.Backfill.Current = h
		in.mu.Unlock()
		_, err := in.fill(ctx, h)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errNoData):
			noData++
		case err != nil:
			attempts++
			if attempts < maxAttempts {
				in.opts.Log.Warn("backfill: hour failed; retrying", "cluster", in.src.Name(), "hour", h, "attempt", attempts, "error", err)
				if !wait.Sleep(ctx, in.retryIn(h)) {
					return ctx.Err()
				}
				continue
			}
			in.opts.Log.Error("backfill: hour failed repeatedly; moving on, the repair pass will retry it", "cluster", in.src.Name(), "hour", h, "error", err)
		}
		attempts = 0
		i++
		now := in.opts.Now()
		in.mu.Lock()
		b := &in.status.Backfill
		b.Done = i
		if el := now.Sub(b.StartedAt); el > 0 {
			b.HoursPerMinute = float64(i) / el.Minutes()
			b.ETA = time.Duration(float64(el) / float64(i) * float64(len(hours)-i))
		}
		in.mu.Unlock()
		if now.Sub(lastLog) >= 5*time.Second || i == len(hours) {
			lastLog = now
			in.opts.Log.Info("backfill progress", "cluster", in.src.Name(), "done", i, "total", len(hours),
				"percent", fmt.Sprintf("%.0f", 100*float64(i)/float64(len(hours))), "hour", h)
		}
	}
	end := in.opts.Now()
	in.mu.Lock()
	in.status.Backfill.State = "complete"
	in.status.Backfill.EndAt = end
	in.status.Backfill.Current = time.Time{}
	in.status.Backfill.ETA = 0
	in.status.NoData = noData
	in.mu.Unlock()
	in.opts.Log.Info("backfill complete", "cluster", in.src.Name(), "hours", len(hours), "without_data", noData, "seconds", end.Sub(start).Seconds())
	return nil
}

// retryIn is how long until h may be tried again.
func (in *Ingester) retryIn(h time.Time) time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	return max(0, in.retry[h].next.Sub(in.opts.Now()))
}

// fill computes and stores hour h unless another loop is on it, recording success
// or failure. It returns whether the stored hour is complete.
func (in *Ingester) fill(ctx context.Context, h time.Time) (bool, error) {
	if !in.claim(h) {
		return false, nil
	}
	defer in.unclaim(h)
	set, n, err := in.CloseHour(ctx, h)
	if err != nil {
		if ctx.Err() == nil {
			in.failed(h, err)
		}
		return false, err
	}
	if in.succeeded(h) {
		in.opts.Log.Info("source recovered", "cluster", in.src.Name())
		in.kick()
	}
	in.partialRetry(h, set.Partial)
	in.opts.Log.Debug("hour stored", "cluster", in.src.Name(), "hour", h, "partial", set.Partial, "sealed_bytes", n)
	return !set.Partial, nil
}

// partialRetry schedules the next attempt at a partial hour with a backoff that
// grows from one resolution to a day (the data may take a while to arrive, or
// never), and forgets it once the hour is complete.
func (in *Ingester) partialRetry(h time.Time, partial bool) {
	now := in.opts.Now()
	in.mu.Lock()
	defer in.mu.Unlock()
	if !partial {
		delete(in.partial, h)
		return
	}
	r := in.partial[h]
	if r.backoff == 0 {
		r.backoff = in.opts.Resolution
	} else {
		r.backoff = min(2*r.backoff, 24*time.Hour)
	}
	r.next = now.Add(r.backoff)
	in.partial[h] = r
}

// kick asks the history loop for a repair pass now.
func (in *Ingester) kick() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// Repair scans [from, to) for hours not stored or stored partial and computes them
// (those whose backoff has passed), oldest first. It returns how many it stored
// complete.
func (in *Ingester) Repair(ctx context.Context, from, to time.Time) (int, error) {
	hours, err := in.todo(ctx, from, to)
	if err != nil {
		return 0, err
	}
	stored, err := in.sets.Stored(ctx, in.src.Name(), cost.Hourly, from, to)
	if err != nil {
		return 0, err
	}
	var partial []time.Time
	gaps := 0
	for _, h := range hours {
		if info, ok := stored[h]; ok && info.Partial {
			partial = append(partial, h)
		} else {
			gaps++
		}
	}
	now := in.opts.Now()
	fixed, noData := 0, 0
	for _, h := range hours {
		if ctx.Err() != nil {
			return fixed, ctx.Err()
		}
		if !in.due(h, now) {
			continue
		}
		ok, err := in.fill(ctx, h)
		switch {
		case errors.Is(err, errNoData):
			noData++
		case err != nil:
			in.opts.Log.Warn("repair: hour failed", "cluster", in.src.Name(), "hour", h, "error", err)
		case ok:
			fixed++
			if i := sort.Search(len(partial), func(i int) bool { return !partial[i].Before(h) }); i < len(partial) && partial[i].Equal(h) {
				partial = append(partial[:i], partial[i+1:]...)
				in.opts.Log.Info("partial hour repaired", "cluster", in.src.Name(), "hour", h)
			} else {
				gaps--
				in.opts.Log.Info("gap filled", "cluster", in.src.Name(), "hour", h)
			}
		}
	}
	in.mu.Lock()
	in.status.PartialCount = len(partial)
	in.status.Partial = partial[:min(len(partial), 48)]
	in.status.Gaps = gaps
	in.status.NoData = noData
	in.status.LastScan = now
	in.mu.Unlock()
	return fixed, nil
}

// dueHour is the first hour that is not yet closable at now.
func (in *Ingester) dueHour(now time.Time) time.Time {
	return now.UTC().Add(-in.opts.CloseDelay).Truncate(time.Hour)
}

// Run backfills in the background and closes hours as they end and refreshes the
// open hour every resolution until ctx ends.
func (in *Ingester) Run(ctx context.Context) error {
	now := in.opts.Now().UTC()
	// The live loop starts with the latest closable hour, so the most recent complete
	// hour is there at once; the backfill fills what lies before it.
	due := in.dueHour(now)
	liveFrom := due.Add(-time.Hour)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		in.history(ctx, due.Add(-in.opts.Backfill), liveFrom)
	}()
	tick := time.NewTicker(in.opts.Resolution)
	defer tick.Stop()
	for {
		in.Step(ctx, liveFrom)
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
		}
	}
}

// backfillFrom is where history starts: from, or the first hour the source has data
// for when it can tell and that is later.
func (in *Ingester) backfillFrom(ctx context.Context, from, liveFrom time.Time) time.Time {
	from = from.Truncate(time.Hour)
	c, ok := in.src.(Coverer)
	if !ok || !from.Before(liveFrom) {
		return from
	}
	for ctx.Err() == nil {
		hours, err := c.Coverage(ctx, from, liveFrom)
		if err == nil {
			if len(hours) == 0 {
				return liveFrom
			}
			if hours[0].After(from) {
				in.opts.Log.Info("backfill starts at the first hour the source holds", "cluster", in.src.Name(), "from", hours[0])
				return hours[0]
			}
			return from
		}
		in.failed(time.Time{}, err)
		in.opts.Log.Warn("finding the history the source holds; retrying", "cluster", in.src.Name(), "error", err)
		if !wait.Sleep(ctx, in.retryIn(time.Time{})) {
			break
		}
	}
	return from
}

// history backfills [from, liveFrom), then repairs gaps and partial hours
// periodically.
func (in *Ingester) history(ctx context.Context, from, liveFrom time.Time) {
	if !from.Before(liveFrom) {
		from = liveFrom
		in.mu.Lock()
		in.status.Backfill.State = "complete"
		in.mu.Unlock()
	}
	from = in.backfillFrom(ctx, from, liveFrom)
	if from.Before(liveFrom) {
		if err := in.Backfill(ctx, from, liveFrom); err != nil && ctx.Err() == nil {
			in.opts.Log.Error("backfill", "cluster", in.src.Name(), "error", err)
		}
	}
	t := time.NewTicker(in.opts.RepairEvery)
	defer t.Stop()
	for first := true; ; first = false {
		if !first { // the first pass runs at once: it fills what the backfill could not
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-in.wake:
			}
		}
		due := in.dueHour(in.opts.Now())
		if _, err := in.Repair(ctx, from, due); err != nil && ctx.Err() == nil {
			in.opts.Log.Error("repairing history", "cluster", in.src.Name(), "error", err)
		}
	}
}

// Step closes every hour in [liveFrom, due) that is not stored complete and
// refreshes the open hour. Errors are logged and retried with backoff: a failing
// source never stops ingestion. When an hour cannot be observed, the last open-hour
// computation of it is stored marked partial.
func (in *Ingester) Step(ctx context.Context, liveFrom time.Time) {
	now := in.opts.Now().UTC()
	// The open hour first: its success tells that a failing source is back.
	in.refreshOpen(ctx, now)
	in.holdEnded(ctx, now)
	due := in.dueHour(now)
	hours, err := in.todo(ctx, liveFrom, due)
	if err != nil {
		in.opts.Log.Error("finding hours to close", "cluster", in.src.Name(), "error", err)
		return
	}
	for _, h := range hours {
		if !in.due(h, now) {
			continue
		}
		complete, err := in.fill(ctx, h)
		if err == nil {
			in.mu.Lock()
			if h.After(in.status.LastClosed) {
				in.status.LastClosed = h
			}
			in.mu.Unlock()
			in.opts.Log.Info("hour closed", "cluster", in.src.Name(), "hour", h, "complete", complete)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if !errors.Is(err, errNoData) {
			in.opts.Log.Error("closing hour", "cluster", in.src.Name(), "hour", h, "error", err)
		}
		in.storeLiveAsPartial(ctx, h)
	}
}

// refreshOpen computes the open hour up to the last whole sampling interval.
func (in *Ingester) refreshOpen(ctx context.Context, now time.Time) {
	open := now.Truncate(time.Hour)
	end := now.Truncate(in.opts.Resolution)
	if !end.After(open) {
		return
	}
	set, err := in.compute(ctx, cost.NewWindow(open, end))
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, errNoData) {
			in.failed(time.Time{}, err)
			in.opts.Log.Warn("computing the open hour", "cluster", in.src.Name(), "error", err)
		}
		return
	}
	if in.succeeded(time.Time{}) {
		in.opts.Log.Info("source recovered", "cluster", in.src.Name())
		in.kick()
	}
	if old := in.live.Swap(set); old != nil && old.Window.Start.Before(set.Window.Start) {
		// The hour that just ended is not stored yet: serve its last
		// computation until it is.
		in.pending.Store(old)
	}
	in.mu.Lock()
	in.status.LiveThrough = end
	in.mu.Unlock()
}

// holdEnded computes the hour that has ended but is not closable yet when no
// open-hour computation holds it — after a start within collect.closeDelay of
// an hour's end, the live loop never saw that hour open — so queries do not
// lose it until it is stored.
func (in *Ingester) holdEnded(ctx context.Context, now time.Time) {
	ended := now.Truncate(time.Hour).Add(-time.Hour)
	if ended.Before(in.dueHour(now)) {
		return // closable: Step stores it now
	}
	for _, s := range in.Open() {
		if s.Window.Start.Equal(ended) {
			return
		}
	}
	set, err := in.compute(ctx, cost.NewWindow(ended, ended.Add(time.Hour)))
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, errNoData) {
			in.opts.Log.Warn("computing the hour that ended", "cluster", in.src.Name(), "hour", ended, "error", err)
		}
		return
	}
	in.pending.Store(set)
}

// storeLiveAsPartial stores the last open-hour computation of hour h, if there is
// one and nothing is stored for h yet, marked partial.
func (in *Ingester) storeLiveAsPartial(ctx context.Context, h time.Time) {
	var live *cost.Set
	for _, s := range in.Open() {
		if s.Window.Start.Equal(h) {
			live = s
		}
	}
	if live == nil {
		return
	}
	stored, err := in.sets.Stored(ctx, in.src.Name(), cost.Hourly, h, h.Add(time.Second))
	if err != nil {
		return
	}
	if _, ok := stored[h]; ok {
		return
	}
	p := *live
	p.Partial = true
	p.Warnings = append(append([]string(nil), live.Warnings...),
		fmt.Sprintf("the source failed when this hour closed; it holds data up to %s and will be recomputed", live.Window.End.Format(time.RFC3339)))
	if _, err := in.sets.Put(ctx, &p); err != nil {
		in.opts.Log.Error("storing the open hour as partial", "cluster", in.src.Name(), "hour", h, "error", err)
		return
	}
	in.stored(h)
	in.opts.Log.Warn("hour stored partial from the last open-hour computation; it will be repaired", "cluster", in.src.Name(), "hour", h, "through", live.Window.End)
}
