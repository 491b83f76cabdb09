package lease_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/lease"
	"github.com/costwarden/costwarden/internal/store/postgres"
	"github.com/costwarden/costwarden/internal/store/postgres/pgtest"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

var srv *pgtest.Server

func TestMain(m *testing.M) { pgtest.Run(m, &srv) }

// runningJob records which replica runs the job and whether two ever ran at once.
type runningJob struct {
	mu      sync.Mutex
	running map[string]bool
	overlap atomic.Bool
	runs    map[string]int
}

func (j *runningJob) job(replica string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		j.mu.Lock()
		for r, on := range j.running {
			if on && r != replica {
				j.overlap.Store(true)
			}
		}
		j.running[replica] = true
		j.runs[replica]++
		j.mu.Unlock()
		<-ctx.Done()
		j.mu.Lock()
		j.running[replica] = false
		j.mu.Unlock()
		return ctx.Err()
	}
}

func (j *runningJob) who() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	for r, on := range j.running {
		if on {
			out = append(out, r)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestJobRunsOnOneReplicaAndMoves: two replicas on one PostgreSQL run the same
// job under a lease; exactly one runs it; when the holder's database session
// dies, the job stops there and the other replica takes it over.
func TestJobRunsOnOneReplicaAndMoves(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cfg := srv.NewDatabase(t)
	opts := postgres.Options{LeaseCheck: 100 * time.Millisecond}
	j := &runningJob{running: map[string]bool{}, runs: map[string]int{}}
	runners := map[string]*lease.Runner{}
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		st, err := postgres.Open(ctx, cfg, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		r := lease.New(st, lease.Options{Retry: 100 * time.Millisecond})
		runners[name] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Run(ctx, "rollup/default", j.job(name))
		}()
	}
	waitFor(t, "one replica to run the job", func() bool { return len(j.who()) == 1 })
	first := j.who()[0]
	time.Sleep(500 * time.Millisecond) // both keep trying; still one runs
	if w := j.who(); len(w) != 1 || w[0] != first {
		t.Fatalf("running = %v, want only %s", w, first)
	}
	if h := runners[first].Held(); len(h) != 1 || h[0].Name != "rollup/default" {
		t.Errorf("Held() of the holder = %v", h)
	}
	// The holder's session dies (a crash of its process closes it the same way).
	err := srv.Exec(ctx, cfg.Database, fmt.Sprintf(
		"SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND ((classid::bigint << 32) | objid::bigint) = %d",
		postgres.LeaseKey("rollup/default")))
	if err != nil {
		t.Fatal(err)
	}
	second := "a"
	if first == "a" {
		second = "b"
	}
	waitFor(t, "the other replica to take the job over", func() bool {
		w := j.who()
		return len(w) == 1 && w[0] == second
	})
	if len(runners[first].Held()) != 0 {
		t.Errorf("the old holder still reports the lease held")
	}
	cancel()
	wg.Wait()
	if j.runs[second] < 1 {
		t.Errorf("runs = %v", j.runs)
	}
}

// TestLocalLeaseOnSQLite: on the embedded store the lease is process-local:
// two runners in one process never run the job at once, and releasing (the
// holder's context ends) hands it over.
func TestLocalLeaseOnSQLite(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cw.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	j := &runningJob{running: map[string]bool{}, runs: map[string]int{}}
	actx, acancel := context.WithCancel(ctx)
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		lease.New(st, lease.Options{Retry: 50 * time.Millisecond}).Run(actx, "job", j.job("a"))
	}()
	waitFor(t, "a to run the job", func() bool { w := j.who(); return len(w) == 1 && w[0] == "a" })
	go func() {
		defer wg.Done()
		lease.New(st, lease.Options{Retry: 50 * time.Millisecond}).Run(bctx, "job", j.job("b"))
	}()
	time.Sleep(300 * time.Millisecond)
	if w := j.who(); len(w) != 1 || w[0] != "a" {
		t.Fatalf("running = %v, want only a", w)
	}
	acancel()
	waitFor(t, "b to take over", func() bool { w := j.who(); return len(w) == 1 && w[0] == "b" })
	bcancel()
	wg.Wait()
	if j.overlap.Load() {
		t.Error("two runners ran the job at once")
	}
}
