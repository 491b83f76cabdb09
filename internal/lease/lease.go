// Package lease runs background jobs under leases, so that among the replicas of
// an installation each job runs on exactly one at a time, and moves to another
// when that one dies. A lease is a named lock held by the store
// (store.Locker): a PostgreSQL advisory lock on a session of its own, freed by
// the database when the holder's connection ends; on SQLite, a lock local to
// the one process that runs jobs.
//
// It owns trying, holding, losing and retrying leases and reporting which are
// held; it must not know what the jobs do. There is no consensus protocol here:
// the database decides who holds a lease.
package lease

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/wait"
)

// Options tune a Runner.
type Options struct {
	// Retry is how often a replica not holding a lease tries to take it
	// (default 5s, with up to 20% jitter so replicas do not try in step).
	Retry time.Duration
	Log   *slog.Logger
	Now   func() time.Time
}

// Runner runs jobs under leases of one Locker.
type Runner struct {
	locker store.Locker
	opts   Options

	mu   sync.Mutex
	held map[string]time.Time // lease name -> since
}

// New returns a Runner.
func New(l store.Locker, opts Options) *Runner {
	if opts.Retry <= 0 {
		opts.Retry = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Runner{locker: l, opts: opts, held: map[string]time.Time{}}
}

// Held is one lease this process holds.
type Held struct {
	Name  string
	Since time.Time
}

// Holds reports whether this process holds the named lease.
func (r *Runner) Holds(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.held[name]
	return ok
}

// Held lists the leases this process holds, by name.
func (r *Runner) Held() []Held {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Held, 0, len(r.held))
	for n, t := range r.held {
		out = append(out, Held{Name: n, Since: t})
	}
	slices.SortFunc(out, func(a, b Held) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Run holds the named lease and runs job under it until ctx ends. job gets a
// context that ends when the lease is lost; when job returns (or the lease is
// lost), the lease is released and Run tries to take it again after Retry.
// A job that returns nil while its lease is held is run again at once, so a
// job is a loop that returns only on failure or when its context ends.
func (r *Runner) Run(ctx context.Context, name string, job func(ctx context.Context) error) {
	log := r.opts.Log.With("lease", name)
	for ctx.Err() == nil {
		l, err := r.locker.TryLock(ctx, name)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				log.Warn("lease: cannot reach the store to take the lease; retrying", "error", err)
			}
		case l == nil:
			log.Debug("lease: held by another replica")
		default:
			r.hold(ctx, name, l, job, log)
			continue
		}
		if !wait.Sleep(ctx, jitter(r.opts.Retry)) {
			return
		}
	}
}

func (r *Runner) hold(ctx context.Context, name string, l store.Lock, job func(context.Context) error, log *slog.Logger) {
	r.mu.Lock()
	r.held[name] = r.opts.Now()
	r.mu.Unlock()
	log.Info("lease acquired: this replica runs the job")
	jctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-l.Lost():
			cancel()
		case <-jctx.Done():
		}
	}()
	err := job(jctx)
	lost := false
	select {
	case <-l.Lost():
		lost = true
	default:
	}
	cancel()
	r.mu.Lock()
	delete(r.held, name)
	r.mu.Unlock()
	switch {
	case lost && ctx.Err() == nil:
		log.Warn("lease lost (the database connection holding it ended): the job stopped; another replica takes it over")
	case err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil:
		log.Error("job failed; the lease is released and taken again", "error", err)
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	if err := l.Release(rctx); err != nil {
		log.Debug("lease: release", "error", err)
	}
	rcancel()
	if ctx.Err() == nil && (lost || err != nil) {
		// Give the others a chance, and the database time to recover.
		wait.Sleep(ctx, jitter(r.opts.Retry))
	}
}

func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/5+1)) // #nosec G404 -- spreads retries of replicas in time; not a secret
}
