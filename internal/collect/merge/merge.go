// Package merge combines a cluster's sources into one: usage and inventory from the
// source that observes history (Prometheus), with metadata from the Kubernetes API
// applied on top wherever the API knows the object — real label keys, owners,
// LoadBalancer selectors, node labels. Without the API, kube-state-metrics'
// inventory stands as it is.
//
// It owns that rule only; it must not query anything itself or compute costs, and it
// must not import client-go (the enricher is passed in).
package merge

import (
	"context"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
)

// Observer is a source of observations (internal/collect/prom).
type Observer interface {
	Name() string
	Observe(ctx context.Context, w cost.Window, resolution time.Duration) (*cost.Observation, error)
}

// Coverer is an Observer that can say which hours hold data.
type Coverer interface {
	Coverage(ctx context.Context, from, to time.Time) ([]time.Time, error)
}

// Source observes through Usage and applies Enrich (the Kubernetes inventory) to
// every observation.
type Source struct {
	Usage  Observer
	Enrich func(*cost.Observation)
}

// Name is the cluster's name.
func (s *Source) Name() string { return s.Usage.Name() }

// Observe observes w and applies the API's metadata.
func (s *Source) Observe(ctx context.Context, w cost.Window, resolution time.Duration) (*cost.Observation, error) {
	obs, err := s.Usage.Observe(ctx, w, resolution)
	if err != nil {
		return nil, err
	}
	if s.Enrich != nil {
		s.Enrich(obs)
	}
	return obs, nil
}

// Coverage passes through to Usage when it can tell; otherwise every hour counts.
func (s *Source) Coverage(ctx context.Context, from, to time.Time) ([]time.Time, error) {
	if c, ok := s.Usage.(Coverer); ok {
		return c.Coverage(ctx, from, to)
	}
	var out []time.Time
	for h := from.Truncate(time.Hour); h.Before(to); h = h.Add(time.Hour) {
		out = append(out, h)
	}
	return out, nil
}
