// Package ingest runs the pipeline that turns what a source observes into stored
// cost: observe an hour → price and allocate (internal/allocation) → store sealed
// (internal/sets). It backfills missing hours oldest first, closes each hour a
// configurable delay after it ends, and keeps the open hour computed up to the last
// minute so queries include it.
//
// It owns scheduling and progress; it must not compute costs itself or talk to the
// store except through internal/sets.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/sets"
)

// Source observes one cluster (the simulator, Prometheus, an agent).
type Source interface {
	Name() string
	Observe(ctx context.Context, w cost.Window, resolution time.Duration) (*cost.Observation, error)
}

// Options configure an Ingester.
type Options struct {
	Resolution time.Duration // sampling resolution, e.g. 1m
	CloseDelay time.Duration // how long after an hour ends it is closed
	// Backfill is how far back history is filled on start (0: none).
	Backfill time.Duration
	Now      func() time.Time
	Log      *slog.Logger
}

// Ingester ingests one source.
type Ingester struct {
	src    Source
	pricer *pricing.Pricer
	sets   *sets.Sets
	opts   Options

	live      atomic.Pointer[cost.Set]
	closedAny atomic.Bool
	mu        sync.Mutex
	progress  Progress
}

// Progress reports backfill state.
type Progress struct {
	Cluster     string
	Total, Done int
	Since       time.Time
	LastClosed  time.Time
	LastError   string
}

// New returns an Ingester.
func New(src Source, pricer *pricing.Pricer, s *sets.Sets, opts Options) *Ingester {
	return &Ingester{src: src, pricer: pricer, sets: s, opts: opts}
}

// Progress returns a snapshot of the backfill progress.
func (in *Ingester) Progress() Progress {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.progress
}

// Ready reports whether at least one hour has been closed (or found stored).
func (in *Ingester) Ready() bool { return in.closedAny.Load() }

// Live returns the open hour computed up to the last whole minute, or nil.
func (in *Ingester) Live() *cost.Set { return in.live.Load() }

// CloseHour computes and stores the hour starting at start and returns the set and
// the sealed size.
func (in *Ingester) CloseHour(ctx context.Context, start time.Time) (*cost.Set, int, error) {
	w := cost.NewWindow(start, start.Add(time.Hour))
	set, err := in.compute(ctx, w)
	if err != nil {
		return nil, 0, err
	}
	n, err := in.sets.Put(ctx, set)
	if err != nil {
		return nil, 0, err
	}
	in.closedAny.Store(true)
	in.mu.Lock()
	if start.After(in.progress.LastClosed) {
		in.progress.LastClosed = start
	}
	in.mu.Unlock()
	return set, n, nil
}

func (in *Ingester) compute(ctx context.Context, w cost.Window) (*cost.Set, error) {
	obs, err := in.src.Observe(ctx, w, in.opts.Resolution)
	if err != nil {
		return nil, fmt.Errorf("observing %s of %s: %w", w, in.src.Name(), err)
	}
	set, err := allocation.Compute(obs, in.pricer)
	if err != nil {
		return nil, fmt.Errorf("allocating %s of %s: %w", w, in.src.Name(), err)
	}
	return set, nil
}

// missing lists the hours in [from, to) that are not stored (or stored partial).
func (in *Ingester) missing(ctx context.Context, from, to time.Time) ([]time.Time, error) {
	stored, err := in.sets.Stored(ctx, in.src.Name(), cost.Hourly, from, to)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		if info, ok := stored[h]; ok && !info.Partial {
			in.closedAny.Store(true)
			continue
		}
		out = append(out, h)
	}
	return out, nil
}

// Backfill stores every missing hour in [from, to), oldest first, logging progress.
// Hours already stored are not recomputed.
func (in *Ingester) Backfill(ctx context.Context, from, to time.Time) error {
	hours, err := in.missing(ctx, from, to)
	if err != nil {
		return err
	}
	in.mu.Lock()
	in.progress = Progress{Cluster: in.src.Name(), Total: len(hours), Since: in.opts.Now(), LastClosed: in.progress.LastClosed}
	in.mu.Unlock()
	if len(hours) == 0 {
		return nil
	}
	in.opts.Log.Info("backfill starting", "cluster", in.src.Name(), "hours", len(hours), "from", hours[0], "to", hours[len(hours)-1].Add(time.Hour))
	lastLog := in.opts.Now()
	for i, h := range hours {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, _, err := in.CloseHour(ctx, h); err != nil {
			in.mu.Lock()
			in.progress.LastError = err.Error()
			in.mu.Unlock()
			return err
		}
		in.mu.Lock()
		in.progress.Done = i + 1
		in.mu.Unlock()
		if now := in.opts.Now(); now.Sub(lastLog) >= 5*time.Second || i == len(hours)-1 {
			lastLog = now
			in.opts.Log.Info("backfill progress", "cluster", in.src.Name(), "done", i+1, "total", len(hours),
				"percent", fmt.Sprintf("%.0f", 100*float64(i+1)/float64(len(hours))))
		}
	}
	in.opts.Log.Info("backfill complete", "cluster", in.src.Name(), "hours", len(hours), "seconds", in.opts.Now().Sub(in.progress.Since).Seconds())
	return nil
}

// Run backfills, then closes hours as they end and refreshes the open hour every
// resolution until ctx ends.
func (in *Ingester) Run(ctx context.Context) error {
	now := in.opts.Now().UTC()
	current := now.Truncate(time.Hour)
	from := current.Add(-in.opts.Backfill).Truncate(time.Hour)
	// The last hour is closed only after CloseDelay; until then it stays open.
	to := current
	if now.Sub(current) < in.opts.CloseDelay {
		to = current.Add(-time.Hour)
	}
	if err := in.Backfill(ctx, from, to); err != nil {
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return fmt.Errorf("backfill: %w", err)
	}
	tick := time.NewTicker(in.opts.Resolution)
	defer tick.Stop()
	for {
		in.step(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// step closes every hour that is due and refreshes the open hour. Errors are logged
// and retried at the next tick: a failing source never stops ingestion.
func (in *Ingester) step(ctx context.Context) {
	now := in.opts.Now().UTC()
	due := now.Add(-in.opts.CloseDelay).Truncate(time.Hour) // hours before this are closable
	in.mu.Lock()
	last := in.progress.LastClosed
	in.mu.Unlock()
	from := last.Add(time.Hour)
	if last.IsZero() || from.Before(due.Add(-24*time.Hour)) {
		from = due.Add(-24 * time.Hour)
	}
	if hours, err := in.missing(ctx, from, due); err != nil {
		in.opts.Log.Error("finding hours to close", "cluster", in.src.Name(), "error", err)
	} else {
		for _, h := range hours {
			if _, n, err := in.CloseHour(ctx, h); err != nil {
				in.opts.Log.Error("closing hour", "cluster", in.src.Name(), "hour", h, "error", err)
				break
			} else {
				in.opts.Log.Info("hour closed", "cluster", in.src.Name(), "hour", h, "sealed_bytes", n)
			}
		}
	}
	// The open hour up to the last whole sampling interval.
	open := now.Truncate(time.Hour)
	end := now.Truncate(in.opts.Resolution)
	if end.After(open) {
		set, err := in.compute(ctx, cost.NewWindow(open, end))
		if err != nil {
			in.opts.Log.Warn("computing the open hour", "cluster", in.src.Name(), "error", err)
			return
		}
		in.live.Store(set)
	}
}
