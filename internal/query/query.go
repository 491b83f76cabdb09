// Package query answers cost questions over stored data: it parses the OpenCost
// query parameters into a request, loads the sealed windows the range needs
// (internal/sets), adds the open hour, and runs the engine (internal/allocation) per
// step.
//
// It owns the request model and the loading strategy; it must not format HTTP
// responses (internal/httpapi does) or compute costs itself.
package query

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/sets"
)

// ParamError is a bad query parameter; its message is safe to show.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Message }

func badParam(p, format string, args ...any) error {
	return &ParamError{Param: p, Message: fmt.Sprintf(format, args...)}
}

// AllocationRequest is a parsed /allocation query.
type AllocationRequest struct {
	Window     cost.Window
	Step       time.Duration // 0: one set for the whole window
	Accumulate bool
	Query      allocation.Query
}

// Settings the parser needs from configuration.
type Settings struct {
	Location       *time.Location
	BusinessLabels map[string]string
}

// maxSteps bounds the work one request can ask for.
const maxSteps = 2000

// ParseAllocation parses OpenCost's /allocation parameters.
func ParseAllocation(v url.Values, now time.Time, s Settings) (*AllocationRequest, error) {
	for k := range v {
		switch k {
		case "window", "aggregate", "step", "accumulate", "idle", "shareIdle", "idleByNode", "includeIdle":
		default:
			return nil, badParam(k, "unknown parameter (window, aggregate, step, accumulate, idle, shareIdle, idleByNode)")
		}
	}
	req := &AllocationRequest{}
	w, err := ParseWindow(v.Get("window"), now, s.Location)
	if err != nil {
		return nil, badParam("window", "%v", err)
	}
	// Costs are stored per hour: the window starts at the hour that holds its start,
	// and the result reports that window.
	w.Start = w.Start.Truncate(time.Hour)
	req.Window = w
	if req.Query.Aggregate, err = allocation.ParseAggregate(v.Get("aggregate"), s.BusinessLabels); err != nil {
		return nil, badParam("aggregate", "%v", err)
	}
	if st := v.Get("step"); st != "" {
		d, err := ParseDuration(st)
		if err != nil {
			if strings.HasPrefix(st, "-") || strings.HasPrefix(st, "0") {
				return nil, badParam("step", "must be positive, got %q", st)
			}
			return nil, badParam("step", "%v", err)
		}
		if d%time.Hour != 0 {
			return nil, badParam("step", "must be a whole number of hours (costs are stored per hour), got %s", st)
		}
		if d > w.Duration() {
			return nil, badParam("step", "%s is longer than the window (%s)", st, w.Duration())
		}
		if w.Duration()/d > maxSteps {
			return nil, badParam("step", "gives more than %d steps; use a larger step or a shorter window", maxSteps)
		}
		req.Step = d
	}
	boolParam := func(name string, def bool) (bool, error) {
		s := v.Get(name)
		if s == "" {
			return def, nil
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, badParam(name, "must be true or false, got %q", s)
		}
		return b, nil
	}
	if req.Accumulate, err = boolParam("accumulate", false); err != nil {
		return nil, err
	}
	idleDef := true
	if v.Has("includeIdle") {
		if idleDef, err = boolParam("includeIdle", true); err != nil {
			return nil, err
		}
	}
	if req.Query.Idle, err = boolParam("idle", idleDef); err != nil {
		return nil, err
	}
	if req.Query.ShareIdle, err = boolParam("shareIdle", false); err != nil {
		return nil, err
	}
	if req.Query.IdleByNode, err = boolParam("idleByNode", false); err != nil {
		return nil, err
	}
	return req, nil
}

// LiveSource provides open (not yet stored) sets, such as the current hour.
type LiveSource interface {
	Live() *cost.Set
}

// Service runs queries for one tenant.
type Service struct {
	sets *sets.Sets
	live []LiveSource
}

// NewService returns a query service reading s and the open hours of live.
func NewService(s *sets.Sets, live ...LiveSource) *Service {
	return &Service{sets: s, live: live}
}

// steps splits the request window into result windows.
func (r *AllocationRequest) steps() []cost.Window {
	if r.Step == 0 || r.Accumulate {
		return []cost.Window{r.Window}
	}
	// Steps are aligned to the step from the window's start.
	return r.Window.Split(r.Step)
}

// Allocation answers an allocation request: one result per step (one in all when
// accumulating). Hours are included when their start lies in the window.
func (s *Service) Allocation(ctx context.Context, req *AllocationRequest) ([]*allocation.Result, error) {
	steps := req.steps()
	aggs := make([]*allocation.Aggregator, len(steps))
	for i, w := range steps {
		aggs[i] = allocation.NewAggregator(w, req.Query)
	}
	from := req.Window.Start
	add := func(set *cost.Set) {
		for i, w := range steps {
			if w.Contains(set.Window.Start) {
				aggs[i].AddSet(set)
				return
			}
		}
	}
	err := s.sets.Scan(ctx, cost.Hourly, from, req.Window.End, func(set *cost.Set) error {
		add(set)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, l := range s.live {
		if set := l.Live(); set != nil && set.Window.Start.Before(req.Window.End) && !set.Window.Start.Before(from) {
			add(set)
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
	from := w.Start
	err := s.sets.Scan(ctx, cost.Hourly, from, w.End, func(set *cost.Set) error {
		res.add(set)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, l := range s.live {
		if set := l.Live(); set != nil && set.Window.Start.Before(w.End) && !set.Window.Start.Before(from) {
			res.add(set)
		}
	}
	return res, nil
}

// AssetsResult sums assets over a window.
type AssetsResult struct {
	Window        cost.Window
	Nodes         map[string]*cost.NodeAsset
	Disks         map[string]*cost.DiskAsset
	LoadBalancers map[string]*cost.LoadBalancerAsset
}

func newAssetsResult(w cost.Window) *AssetsResult {
	return &AssetsResult{Window: w, Nodes: map[string]*cost.NodeAsset{}, Disks: map[string]*cost.DiskAsset{}, LoadBalancers: map[string]*cost.LoadBalancerAsset{}}
}

func (r *AssetsResult) add(set *cost.Set) {
	for _, n := range set.Nodes {
		k := n.Cluster + "/" + n.Name
		a := r.Nodes[k]
		if a == nil {
			c := *n
			c.Window = r.Window
			r.Nodes[k] = &c
			continue
		}
		a.Start = minTime(a.Start, n.Start)
		a.End = maxTime(a.End, n.End)
		a.Minutes += n.Minutes
		a.CPUCoreHours += n.CPUCoreHours
		a.RAMByteHours += n.RAMByteHours
		a.GPUHours += n.GPUHours
		a.CPUCost += n.CPUCost
		a.RAMCost += n.RAMCost
		a.GPUCost += n.GPUCost
	}
	for _, d := range set.Disks {
		k := d.Cluster + "/" + d.Name
		a := r.Disks[k]
		if a == nil {
			c := *d
			c.Window = r.Window
			r.Disks[k] = &c
			continue
		}
		a.Start, a.End = minTime(a.Start, d.Start), maxTime(a.End, d.End)
		a.Minutes += d.Minutes
		a.ByteHours += d.ByteHours
		a.Cost += d.Cost
	}
	for _, l := range set.LoadBalancers {
		k := l.Cluster + "/" + l.Namespace + "/" + l.Name
		a := r.LoadBalancers[k]
		if a == nil {
			c := *l
			c.Window = r.Window
			r.LoadBalancers[k] = &c
			continue
		}
		a.Start, a.End = minTime(a.Start, l.Start), maxTime(a.End, l.End)
		a.Minutes += l.Minutes
		a.Cost += l.Cost
	}
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// IsParamError reports whether err is a bad-parameter error and returns it.
func IsParamError(err error) (*ParamError, bool) {
	var pe *ParamError
	ok := errors.As(err, &pe)
	return pe, ok
}
