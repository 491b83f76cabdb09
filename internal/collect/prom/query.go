package prom

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Error kinds, shown in the status endpoint.
const (
	KindUnreachable = "unreachable"
	KindTLS         = "tls"
	KindAuth        = "auth"
	KindTimeout     = "timeout"
	KindSampleLimit = "sample-limit"
	KindQuery       = "query"
)

// Error is a failure talking to Prometheus, explained for an operator.
type Error struct {
	Kind string
	Msg  string
	Err  error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// explain turns a client error into an Error that says what to check.
func (s *Source) explain(err error) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	u := s.cfg.URL
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var tv *tls.CertificateVerificationError
	var ae *v1.Error
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindTimeout, Msg: fmt.Sprintf("Prometheus at %s did not answer within collect.prometheus.timeout (%s)", u, s.cfg.Timeout), Err: err}
	case errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &ci), errors.As(err, &tv):
		return &Error{Kind: KindTLS, Msg: fmt.Sprintf("Prometheus at %s presented a certificate that is not trusted (set collect.prometheus.caFile to the CA that signed it): %v", u, err), Err: err}
	case errors.As(err, &ae):
		msg := ae.Msg
		switch {
		case strings.Contains(msg, "401"):
			return &Error{Kind: KindAuth, Msg: fmt.Sprintf("Prometheus at %s refused the credentials (HTTP 401): check collect.prometheus.bearerTokenFile or basicAuth*", u), Err: err}
		case strings.Contains(msg, "403"):
			return &Error{Kind: KindAuth, Msg: fmt.Sprintf("Prometheus at %s denied access (HTTP 403): the credentials may not read the query API", u), Err: err}
		case strings.Contains(msg, "404"):
			return &Error{Kind: KindQuery, Msg: fmt.Sprintf("%s does not serve the Prometheus HTTP API (HTTP 404): collect.prometheus.url should be the server's base URL", u), Err: err}
		case strings.Contains(msg, "too many samples") || strings.Contains(msg, "exceeded maximum resolution"):
			return &Error{Kind: KindSampleLimit, Msg: "Prometheus refused a query as too large: " + msg, Err: err}
		case ae.Type == v1.ErrTimeout:
			return &Error{Kind: KindTimeout, Msg: fmt.Sprintf("Prometheus at %s timed out evaluating a query: %s", u, msg), Err: err}
		}
		return &Error{Kind: KindQuery, Msg: fmt.Sprintf("Prometheus at %s: %s: %s", u, ae.Type, msg), Err: err}
	case errors.As(err, &oe), errors.As(err, &ne):
		return &Error{Kind: KindUnreachable, Msg: fmt.Sprintf("Prometheus is unreachable at %s: %v", u, err), Err: err}
	}
	return &Error{Kind: KindQuery, Msg: fmt.Sprintf("Prometheus at %s: %v", u, err), Err: err}
}

func isSampleLimit(err error) bool {
	var pe *Error
	return errors.As(err, &pe) && pe.Kind == KindSampleLimit
}

// series is one result series: its identifying labels (without __name__ and the
// replica label) and one value per evaluation point, NaN where it had none.
type series struct {
	labels model.Metric
	vals   []float64
}

func (s *series) points() int {
	n := 0
	for _, v := range s.vals {
		if !math.IsNaN(v) {
			n++
		}
	}
	return n
}

// acquire takes a slot of the concurrency limit.
func (s *Source) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Source) release() { <-s.sem }

// key is a series' identity for de-duplication.
func (s *Source) key(m model.Metric) (string, model.Metric, string) {
	out := make(model.Metric, len(m))
	replica := ""
	for k, v := range m {
		switch {
		case k == model.MetricNameLabel:
		case s.cfg.ReplicaLabel != "" && string(k) == s.cfg.ReplicaLabel:
			replica = string(v)
		default:
			out[k] = v
		}
	}
	return out.String(), out, replica
}

// collector merges query results into series, de-duplicating HA replicas: of the
// series that differ only in the replica label, the one with the most points wins
// (ties: the smallest replica name), so a counter is never stitched from two
// Prometheus servers' slightly different scrapes.
type collector struct {
	s        *Source
	n        int
	byKey    map[string]map[string]*series // key -> replica -> series
	order    []string
	returned int
}

func (s *Source) newCollector(n int) *collector {
	return &collector{s: s, n: n, byKey: map[string]map[string]*series{}}
}

func (c *collector) add(m model.Metric, at int, v float64) {
	k, labels, replica := c.s.key(m)
	reps := c.byKey[k]
	if reps == nil {
		reps = map[string]*series{}
		c.byKey[k] = reps
		c.order = append(c.order, k)
	}
	sr := reps[replica]
	if sr == nil {
		sr = &series{labels: labels, vals: make([]float64, c.n)}
		for i := range sr.vals {
			sr.vals[i] = math.NaN()
		}
		reps[replica] = sr
	}
	if at >= 0 && at < c.n {
		sr.vals[at] = v
	}
	c.returned++
}

func (c *collector) result() []series {
	out := make([]series, 0, len(c.order))
	for _, k := range c.order {
		reps := c.byKey[k]
		names := make([]string, 0, len(reps))
		for r := range reps {
			names = append(names, r)
		}
		sort.Strings(names)
		best := reps[names[0]]
		for _, r := range names[1:] {
			if reps[r].points() > best.points() {
				best = reps[r]
			}
		}
		out = append(out, *best)
	}
	return out
}

// estimates remembers how many series each query returned last time, to size chunks.
type estimates struct {
	mu sync.Mutex
	m  map[string]int
}

func (e *estimates) get(name string) (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.m[name]
	return v, ok
}

func (e *estimates) set(name string, v int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]int{}
	}
	e.m[name] = v
}

// seriesEstimate is how many series a query will return: remembered from the last
// time, else counted now with an instant query at t.
func (s *Source) seriesEstimate(ctx context.Context, name, selector string, t time.Time) (int, error) {
	if v, ok := s.est.get(name); ok {
		return v, nil
	}
	if err := s.acquire(ctx); err != nil {
		return 0, err
	}
	defer s.release()
	qctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	val, ws, _, err := s.api.Query(qctx, "count("+selector+")", t)
	s.countQuery(1)
	s.warn(ws)
	if err != nil {
		return 0, s.explain(err)
	}
	n := 0
	if vec, ok := val.(model.Vector); ok && len(vec) == 1 {
		n = int(vec[0].Value)
	}
	return n, nil
}

// rangeQuery evaluates expr at n points start, start+step, ... and returns the
// series. Queries are cut into chunks of consecutive points so that series × points
// stays within MaxSamples; a chunk Prometheus refuses as too large is halved and
// retried, down to a single point.
func (s *Source) rangeQuery(ctx context.Context, name, expr, countSelector string, start time.Time, step time.Duration, n int) ([]series, error) {
	est, err := s.seriesEstimate(ctx, name, countSelector, start.Add(time.Duration(n-1)*step))
	if isSampleLimit(err) {
		est, err = 0, nil // unknown: the chunks adapt to Prometheus's refusals
	}
	if err != nil {
		return nil, err
	}
	chunk := n
	if est > 0 {
		chunk = max(1, min(n, s.cfg.MaxSamples/max(1, est+est/4)))
	}
	col := s.newCollector(n)
	for from := 0; from < n; {
		to := min(n, from+chunk)
		err := s.rangeChunk(ctx, expr, start, step, from, to, col)
		if isSampleLimit(err) && to-from > 1 {
			chunk = max(1, (to-from)/2)
			s.cfg.Log.Info("Prometheus refused a query as too large; splitting it", "cluster", s.cfg.Cluster, "series", name, "points", chunk)
			continue
		}
		if err != nil {
			return nil, tooLarge(name, err)
		}
		from = to
	}
	out := col.result()
	s.est.set(name, len(out))
	return out, nil
}

func (s *Source) rangeChunk(ctx context.Context, expr string, start time.Time, step time.Duration, from, to int, col *collector) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	qctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	r := v1.Range{Start: start.Add(time.Duration(from) * step), End: start.Add(time.Duration(to-1) * step), Step: step}
	val, ws, _, err := s.api.QueryRange(qctx, expr, r)
	s.warn(ws)
	if err != nil {
		return s.explain(err)
	}
	m, ok := val.(model.Matrix)
	if !ok {
		return &Error{Kind: KindQuery, Msg: fmt.Sprintf("Prometheus answered %q with a %s, want a matrix", expr, val.Type())}
	}
	samples := 0
	for _, ss := range m {
		for _, p := range ss.Values {
			at := p.Timestamp.Time().Sub(start)
			i := int((at + step/2) / step)
			col.add(ss.Metric, i, float64(p.Value))
			samples++
		}
	}
	s.countQuery(samples)
	if samples > s.cfg.MaxSamples {
		s.cfg.Log.Warn("a query returned more samples than collect.prometheus.maxSamples (the series count grew); later chunks are smaller", "cluster", s.cfg.Cluster, "samples", samples)
	}
	return nil
}

// windowQuery evaluates exprFor(window) once at the window's last millisecond, so a
// range function covers [w.Start, w.End). If Prometheus refuses it as too large,
// the window is split in halves (down to minSpan) and the answers merged, later
// halves overriding earlier ones.
func (s *Source) windowQuery(ctx context.Context, exprFor func(rng string) string, start, end time.Time, minSpan time.Duration) ([]series, error) {
	col := s.newCollector(1)
	var run func(a, b time.Time) error
	run = func(a, b time.Time) error {
		err := s.instant(ctx, exprFor(promDuration(b.Sub(a))), b.Add(-time.Millisecond), col)
		if isSampleLimit(err) && b.Sub(a) >= 2*minSpan {
			mid := a.Add((b.Sub(a) / 2).Truncate(minSpan))
			if err := run(a, mid); err != nil {
				return err
			}
			return run(mid, b)
		}
		return err
	}
	if err := run(start, end); err != nil {
		return nil, tooLarge(exprFor("…"), err)
	}
	return col.result(), nil
}

// tooLarge explains a sample-limit error that splitting could not avoid.
func tooLarge(what string, err error) error {
	if !isSampleLimit(err) {
		return err
	}
	return &Error{Kind: KindSampleLimit, Msg: fmt.Sprintf("%s: even the smallest query exceeds Prometheus's sample limit (%v); raise --query.max-samples on Prometheus or narrow collect.prometheus.matchers", what, err), Err: err}
}

func (s *Source) instant(ctx context.Context, expr string, t time.Time, col *collector) error {
	if err := s.acquire(ctx); err != nil {
		return err
	}
	defer s.release()
	qctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	val, ws, _, err := s.api.Query(qctx, expr, t)
	s.warn(ws)
	if err != nil {
		return s.explain(err)
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return &Error{Kind: KindQuery, Msg: fmt.Sprintf("Prometheus answered %q with a %s, want a vector", expr, val.Type())}
	}
	for _, smp := range vec {
		col.add(smp.Metric, 0, float64(smp.Value))
	}
	s.countQuery(len(vec))
	return nil
}

// promDuration renders d for a PromQL range, in milliseconds when it is not whole
// seconds.
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}
