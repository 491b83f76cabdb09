package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/store/postgres"
)

// TestLeaseMovesWhenItsSessionDies: two replicas on one database; the lease
// holder's session is killed (as when the replica dies or PostgreSQL restarts);
// the holder learns it lost the lease within a check interval, and the other
// replica takes it.
func TestLeaseMovesWhenItsSessionDies(t *testing.T) {
	ctx := t.Context()
	cfg := srv.NewDatabase(t)
	opts := postgres.Options{LeaseCheck: 200 * time.Millisecond}
	a, err := postgres.Open(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.Open(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	held, err := a.TryLock(ctx, "rollup/default")
	if err != nil || held == nil {
		t.Fatalf("replica a: TryLock = %v, %v", held, err)
	}
	if l, err := b.TryLock(ctx, "rollup/default"); err != nil || l != nil {
		t.Fatalf("replica b took a held lease: %v, %v", l, err)
	}
	// A different name is a different lease.
	other, err := b.TryLock(ctx, "retention")
	if err != nil || other == nil {
		t.Fatalf("replica b: TryLock(retention) = %v, %v", other, err)
	}
	defer other.Release(ctx)

	// Kill a's lease session from outside, as a crash or a database restart does.
	key := postgres.LeaseKey("rollup/default")
	err = srv.Exec(ctx, cfg.Database, fmt.Sprintf(
		"SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND ((classid::bigint << 32) | objid::bigint) = %d", key))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-held.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("the holder did not notice that its session died")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := b.TryLock(ctx, "rollup/default")
		if err != nil {
			t.Fatal(err)
		}
		if l != nil {
			defer l.Release(ctx)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica b never got the lease of the dead session")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The old holder's Release is harmless.
	if err := held.Release(context.WithoutCancel(ctx)); err != nil {
		t.Errorf("Release of a lost lease = %v, want nil", err)
	}
}

// TestLeaseKeysAreApart: lease keys never equal the migration lock and differ
// per name.
func TestLeaseKeysAreApart(t *testing.T) {
	seen := map[int64]string{}
	for _, n := range []string{"rollup/default", "rollup/acme", "maintenance", "sweep/default", "ingest/default/demo"} {
		k := postgres.LeaseKey(n)
		if k <= 0x43575344 {
			t.Errorf("LeaseKey(%q) = %#x, inside the migration lock's range", n, k)
		}
		if prev, ok := seen[k]; ok {
			t.Errorf("LeaseKey(%q) = LeaseKey(%q)", n, prev)
		}
		seen[k] = n
	}
}
