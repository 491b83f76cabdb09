// Package query answers cost questions over stored data: it parses the OpenCost
// query parameters into a request, loads the sealed windows the range needs
// (internal/sets), adds the open hour, and runs the engine (internal/allocation) per
// step.
//
// It owns the request model and the loading strategy; it must not format HTTP
// responses (internal/httpapi does) or compute costs itself.
package query

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
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
		case "window", "aggregate", "step", "accumulate", "idle", "shareIdle", "idleByNode", "includeIdle",
			"filter", "shareNamespaces", "shareLabels", "shareCost", "shareSplit":
		default:
			return nil, badParam(k, "unknown parameter (window, aggregate, step, accumulate, idle, shareIdle, idleByNode, filter, shareNamespaces, shareLabels, shareCost, shareSplit)")
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
	if err := parseFilterParam(v.Get("filter"), s, &req.Query); err != nil {
		return nil, err
	}
	if err := parseShareParams(v, &req.Query); err != nil {
		return nil, err
	}
	return req, nil
}

func parseFilterParam(f string, s Settings, q *allocation.Query) error {
	flt, err := allocation.ParseFilter(f, s.BusinessLabels)
	if err != nil {
		return badParam("filter", "%v", err)
	}
	q.Filter, q.FilterKey = flt.Predicate(), flt.String()
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseShareParams(v url.Values, q *allocation.Query) error {
	for _, ns := range splitList(v.Get("shareNamespaces")) {
		if len(ns) > 253 || strings.ContainsAny(ns, " /:\\\"") {
			return badParam("shareNamespaces", "%q is not a namespace name", ns)
		}
		q.ShareNamespaces = append(q.ShareNamespaces, ns)
	}
	for _, kv := range splitList(v.Get("shareLabels")) {
		k, val, ok := strings.Cut(kv, ":")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if !ok || k == "" {
			return badParam("shareLabels", "want key:value pairs separated by commas (app:proxy,team:platform), got %q", kv)
		}
		q.ShareLabels = append(q.ShareLabels, allocation.LabelValue{Key: k, Value: val})
	}
	if sc := v.Get("shareCost"); sc != "" {
		f, err := strconv.ParseFloat(sc, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e12 {
			return badParam("shareCost", "must be a non-negative amount per month, got %q", sc)
		}
		q.ShareCost = f
	}
	switch sp := v.Get("shareSplit"); sp {
	case "", "weighted":
		q.ShareSplit = allocation.SplitWeighted
	case "even":
		q.ShareSplit = allocation.SplitEven
	default:
		return badParam("shareSplit", "must be weighted or even, got %q", sp)
	}
	return nil
}

// LiveSource provides sets not stored yet: the open hour, and an hour that has
// ended but is not closed yet.
type LiveSource interface {
	Open() []*cost.Set
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
