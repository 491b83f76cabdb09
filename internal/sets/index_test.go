package sets_test

import (
	"context"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/query/querytest"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
)

// TestIndexFollowsWrites: the window listing sees this Sets' own writes at once,
// with their store times, and another writer's after Refresh.
func TestIndexFollowsWrites(t *testing.T) {
	ctx := context.Background()
	env := querytest.New(t)
	c := querytest.Cluster(t, "prod", 20)
	h0 := time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)
	if _, _, err := env.Fill(ctx, c, h0, h0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	list := func(s *sets.Sets) []time.Time {
		infos, err := s.Index(ctx, cost.Hourly, h0, h0.Add(24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		var out []time.Time
		for _, in := range infos {
			out = append(out, in.Start)
		}
		return out
	}
	if got := list(env.Sets); len(got) != 2 {
		t.Fatalf("listed %v, want 2 hours", got)
	}
	if _, _, err := env.Fill(ctx, c, h0.Add(2*time.Hour), h0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := list(env.Sets); len(got) != 3 || !got[2].Equal(h0.Add(2*time.Hour)) {
		t.Fatalf("after a write listed %v, want 3 hours in order", got)
	}
	// Another writer (another process, another replica) is seen at the next
	// listing, through the store's change feed.
	other := sets.New(env.Store, env.Keyring, querytest.Tenant, time.Now)
	set, err := env.Hour(ctx, c, h0.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Put(ctx, set); err != nil {
		t.Fatal(err)
	}
	if got := list(env.Sets); len(got) != 4 || !got[3].Equal(h0.Add(5*time.Hour)) {
		t.Fatalf("after another writer's write listed %v, want 4 hours", got)
	}
	// A deletion elsewhere (retention in another process) is seen too.
	if n, err := env.Store.DeleteWindows(ctx, store.WindowRange{Tenant: querytest.Tenant, Resolution: uint8(cost.Hourly), From: h0.Add(5 * time.Hour), To: h0.Add(6 * time.Hour)}); err != nil || n != 1 {
		t.Fatalf("DeleteWindows = %d, %v", n, err)
	}
	if got := list(env.Sets); len(got) != 3 {
		t.Fatalf("after another process deleted an hour listed %v, want 3 hours", got)
	}
	env.Sets.Refresh()
	if got := list(env.Sets); len(got) != 3 {
		t.Fatalf("after Refresh listed %v, want 3 hours", got)
	}
	// Store times are kept: a re-stored hour is newer.
	before, _ := env.Sets.Index(ctx, cost.Hourly, h0, h0.Add(time.Hour))
	env.SetNow(time.Now().Add(time.Minute))
	if _, _, err := env.Fill(ctx, c, h0, h0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	after, _ := env.Sets.Index(ctx, cost.Hourly, h0, h0.Add(time.Hour))
	if !after[0].UpdatedAt.After(before[0].UpdatedAt) {
		t.Errorf("re-stored hour: updated %s, was %s", after[0].UpdatedAt, before[0].UpdatedAt)
	}
}
