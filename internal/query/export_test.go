package query

import (
	"context"
	"testing"

	"github.com/costwarden/costwarden/internal/cost"
)

// PlannedResolutions counts the stored windows a request would read, by resolution.
func PlannedResolutions(ctx context.Context, t testing.TB, s *Service, req *AllocationRequest) map[cost.Resolution]int {
	t.Helper()
	units, err := s.plan(ctx, req.steps())
	if err != nil {
		t.Fatal(err)
	}
	out := map[cost.Resolution]int{}
	for _, u := range units {
		out[cost.Resolution(u.info.Resolution)]++
	}
	return out
}
