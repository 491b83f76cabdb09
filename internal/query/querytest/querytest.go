// Package querytest builds real query environments for tests and benchmarks: the
// embedded SQLite store with envelope encryption under a fresh key file, filled with
// hours of the simulated demo cluster computed by the real engine.
//
// It owns test fixtures only; production code must not import it.
package querytest

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

// Tenant is the tenant every Env uses.
const Tenant = "default"

// Env is an opened data directory.
type Env struct {
	Dir     string
	Store   store.Store
	Keyring *seal.Keyring
	Sets    *sets.Sets
	Pricer  *pricing.Pricer

	mu  sync.Mutex
	now time.Time
}

// Now is the Env's clock: real time unless SetNow was called.
func (e *Env) Now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.now.IsZero() {
		return time.Now()
	}
	return e.now
}

// SetNow fixes the clock (store timestamps use it).
func (e *Env) SetNow(t time.Time) {
	e.mu.Lock()
	e.now = t
	e.mu.Unlock()
}

// Open creates (or opens) a data directory at dir.
func Open(ctx context.Context, dir string) (*Env, error) {
	kek, err := seal.OpenKeyFile(filepath.Join(dir, "costwarden.key"), true)
	if err != nil {
		kek, err = seal.OpenKeyFile(filepath.Join(dir, "costwarden.key"), false)
		if err != nil {
			return nil, err
		}
	}
	e := &Env{Dir: dir}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "costwarden.db"), sqlite.Options{Now: e.Now})
	if err != nil {
		return nil, err
	}
	kr := seal.NewKeyring(kek, st, seal.Options{Now: e.Now})
	if err := kr.Verify(ctx, Tenant); err != nil {
		st.Close()
		return nil, err
	}
	p, err := pricing.New(pricing.DefaultCustom())
	if err != nil {
		return nil, err
	}
	e.Store, e.Keyring, e.Pricer = st, kr, p
	e.Sets = sets.New(st, kr, Tenant, e.Now)
	return e, nil
}

// Close flushes the keyring and closes the store.
func (e *Env) Close() error {
	err := e.Keyring.Flush(context.Background())
	if cerr := e.Store.Close(); err == nil {
		err = cerr
	}
	return err
}

// New opens an Env in a temporary directory that the test removes.
func New(t testing.TB) *Env {
	t.Helper()
	e, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// Cluster is a simulated cluster of the given size.
func Cluster(t testing.TB, name string, pods int) *sim.Cluster {
	t.Helper()
	c, err := sim.New(sim.Config{Name: name, Pods: pods})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Hour computes one hour of c with the Env's prices.
func (e *Env) Hour(ctx context.Context, c *sim.Cluster, start time.Time) (*cost.Set, error) {
	obs, err := c.Observe(ctx, cost.NewWindow(start, start.Add(time.Hour)), time.Minute)
	if err != nil {
		return nil, err
	}
	return allocation.Compute(obs, e.Pricer)
}

// Fill computes and stores every hour of c in [from, to), and returns the sealed
// bytes written and the container-hours stored.
func (e *Env) Fill(ctx context.Context, c *sim.Cluster, from, to time.Time) (sealed int, containerHours float64, err error) {
	for h := from; h.Before(to); h = h.Add(time.Hour) {
		set, err := e.Hour(ctx, c, h)
		if err != nil {
			return 0, 0, err
		}
		n, err := e.Sets.Put(ctx, set)
		if err != nil {
			return 0, 0, fmt.Errorf("storing %s: %w", h, err)
		}
		sealed += n
		for _, a := range set.Allocations {
			if a.Kind == cost.KindContainer {
				containerHours += a.RunningMinutes / 60
			}
		}
	}
	return sealed, containerHours, nil
}
