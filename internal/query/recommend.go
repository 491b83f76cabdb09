package query

import (
	"context"
	"math"
	"net/url"
	"strconv"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
)

// RecommendationSettings are the configured defaults of right-sizing.
type RecommendationSettings struct {
	CPUPercentile float64 // percent
	CPUHeadroom   float64 // percent
	RAMHeadroom   float64 // percent
	MinHours      float64
}

// RecommendationRequest is a parsed /api/v1/recommendations query.
type RecommendationRequest struct {
	Window  cost.Window
	Options allocation.RecommendOptions
}

// ParseRecommendations parses window (default 7d), aggregate (controller, the only
// granularity requests are set at), filter and cpuPercentile.
func ParseRecommendations(v url.Values, now time.Time, s Settings, rs RecommendationSettings) (*RecommendationRequest, error) {
	for k := range v {
		switch k {
		case "window", "aggregate", "filter", "cpuPercentile", "cpuHeadroom", "ramHeadroom", "minHours":
		default:
			return nil, badParam(k, "unknown parameter (window, aggregate, filter, cpuPercentile, cpuHeadroom, ramHeadroom, minHours)")
		}
	}
	// Per-request overrides of the configured defaults, each within a sane range.
	for _, o := range []struct {
		name     string
		dst      *float64
		min, max float64
	}{
		{"cpuPercentile", &rs.CPUPercentile, 1, 100},
		{"cpuHeadroom", &rs.CPUHeadroom, 0, 500},
		{"ramHeadroom", &rs.RAMHeadroom, 0, 500},
		{"minHours", &rs.MinHours, 1, 24 * 400},
	} {
		raw := v.Get(o.name)
		if raw == "" {
			continue
		}
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(f) || f < o.min || f > o.max {
			return nil, badParam(o.name, "must be a number from %g to %g, got %q", o.min, o.max, raw)
		}
		*o.dst = f
	}
	win := v.Get("window")
	if win == "" {
		win = "7d"
	}
	w, err := ParseWindow(win, now, s.Location)
	if err != nil {
		return nil, badParam("window", "%v", err)
	}
	w.Start = w.Start.Truncate(time.Hour)
	if agg := v.Get("aggregate"); agg != "" && agg != "controller" {
		return nil, badParam("aggregate", "recommendations are per workload: only aggregate=controller is supported, got %q", agg)
	}
	req := &RecommendationRequest{Window: w, Options: allocation.RecommendOptions{
		CPUPercentile: rs.CPUPercentile, CPUHeadroom: rs.CPUHeadroom / 100, RAMHeadroom: rs.RAMHeadroom / 100, MinHours: rs.MinHours,
	}}
	flt, err := allocation.ParseFilter(v.Get("filter"), s.BusinessLabels)
	if err != nil {
		return nil, badParam("filter", "%v", err)
	}
	req.Options.Filter = flt.Predicate()
	return req, nil
}

// Recommendations reads the stored hours of the window (hourly windows: each
// container-hour is one usage sample) and recommends requests per workload container.
func (s *Service) Recommendations(ctx context.Context, req *RecommendationRequest) ([]allocation.Recommendation, []allocation.Skipped, error) {
	hours, err := s.sets.Index(ctx, cost.Hourly, req.Window.Start, req.Window.End)
	if err != nil {
		return nil, nil, err
	}
	rec := allocation.NewRecommender(req.Options)
	for _, in := range hours {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		w, err := s.sets.Load(ctx, in.WindowKey)
		if err != nil {
			return nil, nil, err
		}
		if _, err := s.sets.Stream(ctx, w, false, rec.Add); err != nil {
			return nil, nil, err
		}
	}
	out, skipped := rec.Result()
	return out, skipped, nil
}
