// Package rollup builds daily cost windows from hourly ones. A day (UTC) is built
// once all 24 of its hours are stored, and rebuilt whenever one of its hours is
// stored again later (gap repair, a late source): the daily window is stamped with
// the newest of its hours' store times, so an hour newer than its day marks the day
// stale, both for this job and for queries, which then read the hours instead.
//
// It owns deciding which days to build and building them (load the hours, merge
// them with allocation.MergeSets, store the day through internal/sets). It must not
// compute costs itself or talk to the store except through internal/sets.
package rollup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
)

const day = 24 * time.Hour

// errIncomplete: an hour of the day vanished while it was being built.
var errIncomplete = errors.New("an hour of the day is no longer stored")

// Options configure a Job.
type Options struct {
	// Interval between checks for days to build (default 1m; a check with nothing
	// to build lists window keys only).
	Interval time.Duration
	Now      func() time.Time
	Log      *slog.Logger
}

// Job builds and rebuilds daily windows.
type Job struct {
	sets *sets.Sets
	opts Options
}

// New returns a Job over s.
func New(s *sets.Sets, opts Options) *Job {
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Job{sets: s, opts: opts}
}

// Due is one day of one cluster whose daily window is missing or stale.
type Due struct {
	Cluster string
	Day     time.Time
	// Hours are the day's 24 stored hours; Newest is the newest store time among them.
	Hours  []store.WindowInfo
	Newest time.Time
	Stale  bool // a daily window exists but an hour is newer
}

// Pending lists the days, oldest first, that are complete (24 hours stored) and whose
// daily window is missing or older than one of its hours. Today (UTC) is never
// complete before it ends.
func (j *Job) Pending(ctx context.Context) ([]Due, error) {
	clusters, err := j.sets.Clusters(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(clusters))
	for _, n := range clusters {
		names = append(names, n)
	}
	slices.Sort(names)
	to := j.opts.Now().UTC().Truncate(day)
	var out []Due
	for _, name := range names {
		hours, err := j.sets.Stored(ctx, name, cost.Hourly, time.Time{}, to)
		if err != nil {
			return nil, err
		}
		days, err := j.sets.Stored(ctx, name, cost.Daily, time.Time{}, to)
		if err != nil {
			return nil, err
		}
		byDay := map[time.Time][]store.WindowInfo{}
		for _, h := range hours {
			d := h.Start.UTC().Truncate(day)
			byDay[d] = append(byDay[d], h)
		}
		for d, hs := range byDay {
			if len(hs) != 24 {
				continue
			}
			due := Due{Cluster: name, Day: d, Hours: hs}
			for _, h := range hs {
				if h.UpdatedAt.After(due.Newest) {
					due.Newest = h.UpdatedAt
				}
			}
			if have, ok := days[d]; ok {
				if !due.Newest.After(have.UpdatedAt) {
					continue
				}
				due.Stale = true
			}
			slices.SortFunc(due.Hours, func(a, b store.WindowInfo) int { return a.Start.Compare(b.Start) })
			out = append(out, due)
		}
	}
	slices.SortFunc(out, func(a, b Due) int {
		if c := a.Day.Compare(b.Day); c != 0 {
			return c
		}
		return compareStrings(a.Cluster, b.Cluster)
	})
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Build merges the day's hours into one daily window and stores it, stamped with the
// newest of the hours' store times. It reports the sealed size.
func (j *Job) Build(ctx context.Context, d Due) (int, error) {
	// The hours are streamed into the merger one at a time: a day holds one copy
	// of each distinct row, never 24 decoded hours.
	m := allocation.NewMerger(cost.NewWindow(d.Day, d.Day.Add(day)), cost.Daily)
	newest := time.Time{}
	for _, in := range d.Hours {
		w, err := j.sets.Load(ctx, in.WindowKey)
		if errors.Is(err, store.ErrNotFound) {
			// Deleted since it was listed (retention deletes through the store):
			// the day is no longer complete. Re-read the listing next time.
			j.sets.Refresh()
			return 0, errIncomplete
		}
		if err != nil {
			return 0, fmt.Errorf("rollup of %s %s: %w", d.Cluster, d.Day.Format(time.DateOnly), err)
		}
		// The hour may have been stored again since Pending listed it: stamp the day
		// with what was actually read.
		if w.UpdatedAt.After(newest) {
			newest = w.UpdatedAt
		}
		head, err := j.sets.Stream(ctx, w, true, m.AddRow)
		if err != nil {
			return 0, fmt.Errorf("rollup of %s %s: %w", d.Cluster, d.Day.Format(time.DateOnly), err)
		}
		if err := m.EndSet(head); err != nil {
			return 0, fmt.Errorf("rollup of %s %s: %w", d.Cluster, d.Day.Format(time.DateOnly), err)
		}
	}
	merged := m.Set()
	merged.Cluster = d.Cluster
	return j.sets.PutAt(ctx, merged, newest)
}

// RunOnce builds every pending day and reports how many it built.
func (j *Job) RunOnce(ctx context.Context) (int, error) {
	due, err := j.Pending(ctx)
	if err != nil {
		return 0, err
	}
	built := 0
	for _, d := range due {
		if err := ctx.Err(); err != nil {
			return built, err
		}
		start := j.opts.Now()
		n, err := j.Build(ctx, d)
		if errors.Is(err, errIncomplete) {
			continue
		}
		if err != nil {
			return built, err
		}
		built++
		j.opts.Log.Info("day rolled up", "cluster", d.Cluster, "day", d.Day.Format(time.DateOnly), "rebuilt", d.Stale,
			"sealed_bytes", n, "seconds", j.opts.Now().Sub(start).Seconds(), "remaining", len(due)-built)
	}
	return built, nil
}

// Run checks for pending days every Interval until ctx ends. Errors are logged and
// retried at the next check.
func (j *Job) Run(ctx context.Context) error {
	t := time.NewTicker(j.opts.Interval)
	defer t.Stop()
	for {
		if _, err := j.RunOnce(ctx); err != nil && ctx.Err() == nil {
			j.opts.Log.Error("rollup", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
