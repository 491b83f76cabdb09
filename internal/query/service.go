package query

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
)

// Options tune a Service.
type Options struct {
	// CacheBytes bounds the cache of partial results (one aggregated stored window
	// per query shape); 0 disables it.
	CacheBytes int
	// Workers is how many stored windows are read and aggregated in parallel
	// (default GOMAXPROCS).
	Workers int
	// NoRollups makes queries read hourly windows only (tests compare both paths).
	NoRollups bool
}

// DefaultCacheBytes is the partial-result cache budget when none is configured.
const DefaultCacheBytes = 128 << 20

// Service runs queries for one tenant.
type Service struct {
	sets  *sets.Sets
	live  []LiveSource
	opts  Options
	cache *partialCache
}

// NewService returns a query service reading s and the open hours of live, with the
// default options.
func NewService(s *sets.Sets, live ...LiveSource) *Service {
	return NewServiceWithOptions(s, Options{CacheBytes: DefaultCacheBytes}, live...)
}

// NewServiceWithOptions is NewService with explicit options.
func NewServiceWithOptions(s *sets.Sets, opts Options, live ...LiveSource) *Service {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	return &Service{sets: s, live: live, opts: opts, cache: newPartialCache(opts.CacheBytes)}
}

// CacheStats reports the partial-result cache.
func (s *Service) CacheStats() CacheStats { return s.cache.stats() }

// steps splits the request window into result windows.
func (r *AllocationRequest) steps() []cost.Window {
	if r.Step == 0 || r.Accumulate {
		return []cost.Window{r.Window}
	}
	// Steps are aligned to the step from the window's start.
	return r.Window.Split(r.Step)
}

// unit is one stored window a query reads, and the step it belongs to.
type unit struct {
	info store.WindowInfo
	step int
}

// stepOf returns the index of the step whose window contains t, or -1.
func stepOf(steps []cost.Window, t time.Time) int {
	i, _ := slices.BinarySearchFunc(steps, t, func(w cost.Window, t time.Time) int {
		switch {
		case !w.End.After(t):
			return -1
		case w.Start.After(t):
			return 1
		}
		return 0
	})
	if i < len(steps) && steps[i].Contains(t) {
		return i
	}
	return -1
}

// plan chooses the stored windows that answer the steps: the daily window of every
// UTC day that lies wholly inside one step and is at least as new as each of its
// hours, and the hourly windows for the rest. Both give the same numbers (the daily
// window is the merge of its hours); the daily one is read once instead of 24 times.
func (s *Service) plan(ctx context.Context, steps []cost.Window) ([]unit, error) {
	from, to := steps[0].Start, steps[len(steps)-1].End
	hours, err := s.sets.Index(ctx, cost.Hourly, from, to)
	if err != nil {
		return nil, err
	}
	type dayKey struct {
		cluster string
		day     time.Time
	}
	used := map[dayKey]bool{}
	var units []unit
	if !s.opts.NoRollups && to.Sub(from) >= 24*time.Hour {
		days, err := s.sets.Index(ctx, cost.Daily, from, to)
		if err != nil {
			return nil, err
		}
		newest := map[dayKey]time.Time{}
		for _, h := range hours {
			k := dayKey{h.ClusterID, h.Start.UTC().Truncate(24 * time.Hour)}
			if h.UpdatedAt.After(newest[k]) {
				newest[k] = h.UpdatedAt
			}
		}
		for _, d := range days {
			st := stepOf(steps, d.Start)
			if st < 0 || d.End.After(steps[st].End) || d.End.Sub(d.Start) != 24*time.Hour {
				continue
			}
			k := dayKey{d.ClusterID, d.Start.UTC()}
			if newest[k].After(d.UpdatedAt) {
				continue // an hour was re-stored after the day was built: read the hours
			}
			used[k] = true
			units = append(units, unit{info: d, step: st})
		}
	}
	for _, h := range hours {
		if used[dayKey{h.ClusterID, h.Start.UTC().Truncate(24 * time.Hour)}] {
			continue
		}
		if st := stepOf(steps, h.Start); st >= 0 {
			units = append(units, unit{info: h, step: st})
		}
	}
	slices.SortFunc(units, func(a, b unit) int {
		return cmp.Or(a.info.Start.Compare(b.info.Start), cmp.Compare(a.info.ClusterID, b.info.ClusterID), cmp.Compare(a.info.Resolution, b.info.Resolution))
	})
	return units, ctx.Err()
}

func unitKey(in store.WindowInfo, fp string) string {
	return in.ClusterID + "/" + strconv.Itoa(int(in.Resolution)) + "/" + strconv.FormatInt(in.Start.Unix(), 10) + "/" +
		strconv.FormatInt(in.UpdatedAt.UnixNano(), 10) + "|" + fp
}

// partials produces one aggregator per unit, from the cache or by reading the stored
// window (in parallel), and hands them to use in unit order, each as soon as it and
// all before it are ready, so that merged partials can be freed early. shared says
// whether the aggregator is also held by the cache (and must not be modified).
func (s *Service) partials(ctx context.Context, units []unit, q allocation.Query, use func(i int, agg *allocation.Aggregator, shared bool)) error {
	fp, cacheable := q.Fingerprint()
	type done struct {
		i      int
		agg    *allocation.Aggregator
		shared bool
		err    error
	}
	var todo []int
	ready := map[int]done{}
	for i, u := range units {
		if cacheable {
			if a := s.cache.get(unitKey(u.info, fp)); a != nil {
				ready[i] = done{i: i, agg: a, shared: true}
				continue
			}
		}
		todo = append(todo, i)
	}
	next := 0
	flush := func() {
		for {
			d, ok := ready[next]
			if !ok {
				return
			}
			delete(ready, next)
			use(d.i, d.agg, d.shared)
			next++
		}
	}
	flush()
	if len(todo) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	results := make(chan done)
	var wg sync.WaitGroup
	names := len(q.Aggregate) == 0
	for w := 0; w < min(s.opts.Workers, len(todo)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				agg, err := s.aggregateWindow(ctx, units[i].info, q, names)
				shared := false
				if err == nil && cacheable {
					shared = s.cache.put(unitKey(units[i].info, fp), agg)
				}
				results <- done{i: i, agg: agg, shared: shared, err: err}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for _, i := range todo {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()
	var firstErr error
	for d := range results {
		if d.err != nil {
			if firstErr == nil {
				firstErr = d.err
				cancel()
			}
			continue
		}
		if firstErr == nil {
			ready[d.i] = d
			flush()
		}
	}
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func (s *Service) aggregateWindow(ctx context.Context, in store.WindowInfo, q allocation.Query, names bool) (*allocation.Aggregator, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	agg := allocation.NewAggregator(cost.NewWindow(in.Start, in.End), q)
	w, err := s.sets.Load(ctx, in.WindowKey)
	if errors.Is(err, store.ErrNotFound) {
		// Deleted since it was listed (retention, another process): nothing to add,
		// and the listing is refreshed for the next query.
		s.sets.Refresh()
		return agg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading window %s/%d/%s: %w", in.ClusterID, in.Resolution, in.Start.Format(time.RFC3339), err)
	}
	head, err := s.sets.Stream(ctx, w, names, agg.Add)
	if err != nil {
		return nil, err
	}
	agg.AddWarnings(head.Warnings)
	return agg, nil
}

// liveSets returns the sets not stored yet that fall in [from, to): those no
// stored window the query reads (hourly or daily) covers already.
func (s *Service) liveSets(ctx context.Context, units []unit, from, to time.Time) ([]*cost.Set, error) {
	var out []*cost.Set
	for _, l := range s.live {
		for _, set := range l.Open() {
			if !set.Window.Start.Before(to) || set.Window.Start.Before(from) {
				continue
			}
			id, err := s.sets.ClusterID(ctx, set.Cluster)
			if err != nil {
				return nil, err
			}
			stored := false
			for _, u := range units {
				end := u.info.Start.Add(cost.Resolution(u.info.Resolution).Duration())
				if u.info.ClusterID == id && !set.Window.Start.Before(u.info.Start) && set.Window.Start.Before(end) {
					stored = true
				}
			}
			if !stored {
				out = append(out, set)
			}
		}
	}
	return out, nil
}

// Allocation answers an allocation request: one result per step (one in all when
// accumulating). Stored windows are included when their start lies in a step.
func (s *Service) Allocation(ctx context.Context, req *AllocationRequest) ([]*allocation.Result, error) {
	steps := req.steps()
	units, err := s.plan(ctx, steps)
	if err != nil {
		return nil, err
	}
	perStep := make([]int, len(steps))
	for _, u := range units {
		perStep[u.step]++
	}
	aggs := make([]*allocation.Aggregator, len(steps))
	err = s.partials(ctx, units, req.Query, func(i int, part *allocation.Aggregator, shared bool) {
		st := units[i].step
		if aggs[st] == nil && perStep[st] == 1 && !shared {
			// The step's only window, held by nobody else: adopt it, no copy.
			aggs[st] = part
			aggs[st].SetWindow(steps[st])
			return
		}
		if aggs[st] == nil {
			aggs[st] = allocation.NewAggregator(steps[st], req.Query)
		}
		aggs[st].Merge(part)
	})
	if err != nil {
		return nil, err
	}
	for i, w := range steps {
		if aggs[i] == nil {
			aggs[i] = allocation.NewAggregator(w, req.Query)
		}
	}
	live, err := s.liveSets(ctx, units, req.Window.Start, req.Window.End)
	if err != nil {
		return nil, err
	}
	for _, set := range live {
		if st := stepOf(steps, set.Window.Start); st >= 0 {
			aggs[st].AddSet(set)
		}
	}
	out := make([]*allocation.Result, len(aggs))
	for i, g := range aggs {
		out[i] = g.Result()
	}
	return out, nil
}

// Assets returns the node, disk and load-balancer assets of the window, summed per
// asset.
func (s *Service) Assets(ctx context.Context, w cost.Window) (*AssetsResult, error) {
	w.Start = w.Start.Truncate(time.Hour)
	res := newAssetsResult(w)
	steps := []cost.Window{w}
	units, err := s.plan(ctx, steps)
	if err != nil {
		return nil, err
	}
	for _, u := range units {
		win, err := s.sets.Load(ctx, u.info.WindowKey)
		if err != nil {
			return nil, err
		}
		set, err := s.sets.Stream(ctx, win, false, func(*cost.Allocation) {})
		if err != nil {
			return nil, err
		}
		res.add(set)
	}
	live, err := s.liveSets(ctx, units, w.Start, w.End)
	if err != nil {
		return nil, err
	}
	for _, set := range live {
		res.add(set)
	}
	return res, nil
}
