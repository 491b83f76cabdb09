// Package prom is the Prometheus source: it observes a cluster through the
// Prometheus HTTP API (prometheus/client_golang/api), reading the kube-state-metrics
// v2 and cAdvisor series of COST_MODEL.md section 1, and returns the same
// cost.Observation the simulator produces, slot by slot.
//
// It owns the PromQL, the client (TLS with a configured CA, bearer-token or basic-auth
// files, timeouts, a concurrency limit), chunking queries under a sample budget,
// de-duplicating HA pairs, counter resets, and reporting its health. It must not
// compute costs or store anything.
package prom

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// Config of a Prometheus source.
type Config struct {
	URL string
	// Dial, if set, makes every connection (internal/egress's guarded dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Cluster is costwarden's name for the cluster.
	Cluster string
	// ClusterLabel selects one cluster in a multi-cluster Prometheus (for example
	// "cluster" or "cluster_id"); empty for a single-cluster Prometheus.
	ClusterLabel string
	// ClusterValue is the value of ClusterLabel; empty means Cluster.
	ClusterValue string
	// Matchers are extra label matchers added to every selector, e.g. `env="prod"`.
	Matchers []string
	// CAFile is a PEM bundle trusted for https URLs (in addition to nothing else:
	// when set, the system roots are not used).
	CAFile string
	// BearerTokenFile holds a bearer token, re-read on every request so rotation
	// works. BasicAuthUsername with BasicAuthPasswordFile is the alternative.
	BearerTokenFile       string
	BasicAuthUsername     string
	BasicAuthPasswordFile string
	Timeout               time.Duration // per query
	Concurrency           int           // queries in flight at once
	MaxSamples            int           // samples one query may return
	// ReplicaLabel is the label that tells the members of an HA pair apart
	// (for example "prometheus_replica"); series differing only in it are one series.
	ReplicaLabel string

	Now func() time.Time
	Log *slog.Logger
}

// Defaults.
const (
	DefaultTimeout     = 2 * time.Minute
	DefaultConcurrency = 4
	DefaultMaxSamples  = 5_000_000
)

var matcherRE = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$`)

// ValidMatcher reports whether m is one PromQL label matcher such as env="prod".
func ValidMatcher(m string) bool { return matcherRE.MatchString(m) }

// Source observes one cluster through Prometheus.
type Source struct {
	cfg      Config
	api      v1.API
	selector string // the matchers every selector gets, without braces
	sem      chan struct{}
	est      estimates
	health   health
}

// New validates cfg and builds the client. It does not contact Prometheus.
func New(cfg Config) (*Source, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("collect.prometheus.url: %q is not an http(s) URL", cfg.URL)
	}
	if u.User != nil {
		return nil, errors.New("collect.prometheus.url: must not contain credentials; use collect.prometheus.basicAuthPasswordFile or bearerTokenFile")
	}
	if cfg.Cluster == "" {
		return nil, errors.New("collect.prometheus.clusterName: must be set")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.MaxSamples <= 0 {
		cfg.MaxSamples = DefaultMaxSamples
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	var sel []string
	if cfg.ClusterLabel != "" {
		v := cfg.ClusterValue
		if v == "" {
			v = cfg.Cluster
		}
		sel = append(sel, cfg.ClusterLabel+"="+quote(v))
	}
	for _, m := range cfg.Matchers {
		if !ValidMatcher(m) {
			return nil, fmt.Errorf("collect.prometheus.matchers: %q is not a label matcher such as env=\"prod\"", m)
		}
		sel = append(sel, strings.TrimSpace(m))
	}
	if (cfg.BasicAuthUsername == "") != (cfg.BasicAuthPasswordFile == "") {
		return nil, errors.New("collect.prometheus.basicAuthUsername and basicAuthPasswordFile must be set together")
	}
	if cfg.BearerTokenFile != "" && cfg.BasicAuthUsername != "" {
		return nil, errors.New("collect.prometheus: use either bearerTokenFile or basic auth, not both")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.Dial != nil {
		tr.DialContext, tr.Proxy = cfg.Dial, nil
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("collect.prometheus.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("collect.prometheus.caFile: %s holds no PEM certificate", cfg.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	for _, f := range []struct{ key, path string }{{"bearerTokenFile", cfg.BearerTokenFile}, {"basicAuthPasswordFile", cfg.BasicAuthPasswordFile}} {
		if f.path == "" {
			continue
		}
		if _, err := readSecret(f.path); err != nil {
			return nil, fmt.Errorf("collect.prometheus.%s: %w", f.key, err)
		}
	}
	client, err := api.NewClient(api.Config{Address: cfg.URL, RoundTripper: &authTransport{next: tr, cfg: &cfg}})
	if err != nil {
		return nil, fmt.Errorf("collect.prometheus.url: %w", err)
	}
	return &Source{cfg: cfg, api: v1.NewAPI(client), selector: strings.Join(sel, ","), sem: make(chan struct{}, cfg.Concurrency)}, nil
}

// Name is the cluster's name.
func (s *Source) Name() string { return s.cfg.Cluster }

// URL is the Prometheus address (for status; it never holds credentials).
func (s *Source) URL() string { return s.cfg.URL }

func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}

// authTransport adds the configured credentials, read from their files on every
// request.
type authTransport struct {
	next http.RoundTripper
	cfg  *Config
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case t.cfg.BearerTokenFile != "":
		tok, err := readSecret(t.cfg.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading the bearer token: %w", err)
		}
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
	case t.cfg.BasicAuthUsername != "":
		pw, err := readSecret(t.cfg.BasicAuthPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("reading the basic-auth password: %w", err)
		}
		r = r.Clone(r.Context())
		r.SetBasicAuth(t.cfg.BasicAuthUsername, pw)
	}
	r.Header.Set("User-Agent", "costwarden")
	return t.next.RoundTrip(r)
}

// health is the source's state, shown by the status endpoint.
type health struct {
	mu            sync.Mutex
	lastSuccess   time.Time
	lastError     string
	lastErrorKind string
	lastErrorAt   time.Time
	failures      int
	lastSample    time.Time
	missingLabels map[string]int
	warnings      []string
	queries       int64
	samples       int64
}

// Health is a snapshot of the source's state.
type Health struct {
	LastSuccess time.Time
	LastError   string
	// LastErrorKind is one of the Kind* constants (empty for other errors).
	LastErrorKind string
	LastErrorAt   time.Time
	// ConsecutiveFailures counts failed observations since the last success.
	ConsecutiveFailures int
	// LastSample is the end of the latest slot that had data.
	LastSample time.Time
	// MissingLabels counts, per series name, series skipped because a label the
	// collector needs was missing.
	MissingLabels map[string]int
	Warnings      []string
	Queries       int64
	Samples       int64
}

// Health returns a snapshot.
func (s *Source) Health() Health {
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	ml := make(map[string]int, len(h.missingLabels))
	for k, v := range h.missingLabels {
		ml[k] = v
	}
	return Health{
		LastSuccess: h.lastSuccess, LastError: h.lastError, LastErrorKind: h.lastErrorKind, LastErrorAt: h.lastErrorAt, ConsecutiveFailures: h.failures,
		LastSample: h.lastSample, MissingLabels: ml, Warnings: append([]string(nil), h.warnings...),
		Queries: h.queries, Samples: h.samples,
	}
}

func (s *Source) recordResult(err error, lastSample time.Time) {
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	now := s.cfg.Now()
	if err != nil {
		h.lastError = err.Error()
		h.lastErrorKind = ""
		var pe *Error
		if errors.As(err, &pe) {
			h.lastErrorKind = pe.Kind
		}
		h.lastErrorAt = now
		h.failures++
		return
	}
	h.lastSuccess = now
	h.failures = 0
	if lastSample.After(h.lastSample) {
		h.lastSample = lastSample
	}
}

func (s *Source) countQuery(samples int) {
	h := &s.health
	h.mu.Lock()
	h.queries++
	h.samples += int64(samples)
	h.mu.Unlock()
}

func (s *Source) missing(metric string, n int) {
	if n == 0 {
		return
	}
	h := &s.health
	h.mu.Lock()
	if h.missingLabels == nil {
		h.missingLabels = map[string]int{}
	}
	first := h.missingLabels[metric] == 0
	h.missingLabels[metric] += n
	h.mu.Unlock()
	if first {
		s.cfg.Log.Warn("series without the labels costwarden needs were skipped", "cluster", s.cfg.Cluster, "series", metric, "count", n)
	}
}

func (s *Source) warn(ws []string) {
	if len(ws) == 0 {
		return
	}
	h := &s.health
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range ws {
		if len(h.warnings) >= 20 {
			h.warnings = h.warnings[1:]
		}
		h.warnings = append(h.warnings, w)
	}
}

func quote(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch r {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// sel renders metric{matchers, extra...}.
func (s *Source) sel(metric string, extra ...string) string {
	parts := make([]string, 0, 1+len(extra))
	if s.selector != "" {
		parts = append(parts, s.selector)
	}
	parts = append(parts, extra...)
	return metric + "{" + strings.Join(parts, ",") + "}"
}

// Check asks Prometheus for its build information: a cheap probe of reachability,
// TLS and credentials.
func (s *Source) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if _, err := s.api.Buildinfo(ctx); err != nil {
		return s.explain(err)
	}
	return nil
}

// Coverage lists the hours in [from, to) for which Prometheus holds any
// kube-state-metrics node data: where a backfill can start, and which hours it can
// never fill.
func (s *Source) Coverage(ctx context.Context, from, to time.Time) ([]time.Time, error) {
	from, to = from.UTC().Truncate(time.Hour), to.UTC().Truncate(time.Hour)
	n := int(to.Sub(from) / time.Hour)
	if n <= 0 {
		return nil, nil
	}
	expr := fmt.Sprintf("count(count_over_time(%s[1h]))", s.sel("kube_node_info"))
	res, err := s.rangeQuery(ctx, "coverage", expr, "vector(1)", from.Add(time.Hour-time.Millisecond), time.Hour, n)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for _, sr := range res {
		for i, v := range sr.vals {
			if v > 0 {
				out = append(out, from.Add(time.Duration(i)*time.Hour))
			}
		}
	}
	return out, nil
}
