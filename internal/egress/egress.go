// Package egress is the one guarded dialer every outbound connection of the
// process goes through (the PostgreSQL driver, the AWS KMS client, the OpenID
// Connect client, the syslog sink, telemetry, and the Prometheus and
// Kubernetes clients). It holds an allowlist of host:port destinations built
// from the configuration, refuses everything else, and records every attempt,
// allowed or not, so a test can prove what the process tried to reach.
//
// In air-gapped mode only the Prometheus, Kubernetes API, database, KMS and
// OIDC destinations (and egress.allow) are allowed: syslog and telemetry are
// refused whatever the configuration says. A destination may also carry a gate
// (telemetry: consent) that is asked at every dial.
//
// It must not resolve or dial anything that is not allowed, and it never uses
// an environment proxy (a proxy would be a destination outside the list).
package egress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Purposes of destinations.
const (
	Prometheus = "prometheus"
	Kubernetes = "kubernetes"
	Database   = "database"
	KMS        = "kms"
	OIDC       = "oidc"
	Extra      = "egress.allow"
	Syslog     = "syslog"
	Telemetry  = "telemetry"
	Central    = "central" // agent mode: the central server's agents listener
)

// airGappedPurposes may be reached in air-gapped mode.
var airGappedPurposes = []string{Prometheus, Kubernetes, Database, KMS, OIDC, Central, Extra}

// ErrRefused: the destination is not allowed.
var ErrRefused = errors.New("egress: destination not allowed")

// Attempt is one dial, allowed or refused.
type Attempt struct {
	Addr    string
	Purpose string // "" when refused for not being listed
	Allowed bool
	Time    time.Time
}

type dest struct {
	purpose string
	gate    func() bool
}

// Dialer is the guarded dialer. It is safe for concurrent use.
type Dialer struct {
	airGapped bool
	log       *slog.Logger
	base      net.Dialer
	now       func() time.Time

	mu       sync.Mutex
	allow    map[string]dest
	attempts []Attempt
}

// Options configure a Dialer.
type Options struct {
	AirGapped bool
	Log       *slog.Logger
	Now       func() time.Time
	Timeout   time.Duration // per connection; default 30s
}

// New returns a Dialer that allows nothing yet.
func New(o Options) *Dialer {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	return &Dialer{airGapped: o.AirGapped, log: o.Log, now: o.Now, base: net.Dialer{Timeout: o.Timeout}, allow: map[string]dest{}}
}

// AirGapped reports the mode.
func (d *Dialer) AirGapped() bool { return d.airGapped }

// Normalize returns host:port lower-cased with IPv6 brackets, or an error.
func Normalize(hostport string) (string, error) {
	host, port, err := net.SplitHostPort(strings.TrimSpace(hostport))
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("egress: %q is not host:port", hostport)
	}
	return net.JoinHostPort(strings.ToLower(strings.TrimSuffix(host, ".")), port), nil
}

// Allow adds a destination for a purpose. In air-gapped mode a purpose other
// than those configured connections (and egress.allow) is not added, and Allow says so.
func (d *Dialer) Allow(purpose, hostport string) error { return d.AllowIf(purpose, hostport, nil) }

// AllowIf adds a destination that is allowed only while gate returns true.
func (d *Dialer) AllowIf(purpose, hostport string, gate func() bool) error {
	hp, err := Normalize(hostport)
	if err != nil {
		return err
	}
	if d.airGapped && !slices.Contains(airGappedPurposes, purpose) {
		return fmt.Errorf("egress: %s (%s) cannot be reached in air-gapped mode", hp, purpose)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.allow[hp] = dest{purpose: purpose, gate: gate}
	return nil
}

// Allowed lists the allowed destinations as "purpose host:port", sorted.
func (d *Dialer) Allowed() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for hp, x := range d.allow {
		out = append(out, x.purpose+" "+hp)
	}
	slices.Sort(out)
	return out
}

// Attempts returns every dial attempt so far.
func (d *Dialer) Attempts() []Attempt {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.attempts)
}

// DialContext dials addr if it is allowed, recording the attempt either way.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	hp, err := Normalize(addr)
	a := Attempt{Addr: addr, Time: d.now()}
	if err == nil && (network == "tcp" || network == "tcp4" || network == "tcp6") {
		d.mu.Lock()
		x, ok := d.allow[hp]
		d.mu.Unlock()
		if ok && (x.gate == nil || x.gate()) {
			a.Purpose, a.Allowed = x.purpose, true
		} else if ok {
			a.Purpose = x.purpose
		}
	}
	d.mu.Lock()
	d.attempts = append(d.attempts, a)
	d.mu.Unlock()
	if !a.Allowed {
		d.log.Warn("refused an outbound connection", "addr", addr, "network", network, "purpose", a.Purpose, "air_gapped", d.airGapped)
		return nil, fmt.Errorf("%w: %s %s is not a configured destination (air-gapped: %v)", ErrRefused, network, addr, d.airGapped)
	}
	return d.base.DialContext(ctx, network, addr)
}

// Transport returns an HTTP transport that dials through d, with tlsCfg (nil:
// TLS 1.2+ with the system roots) and no proxy.
func (d *Dialer) Transport(tlsCfg *tls.Config) *http.Transport {
	if tlsCfg == nil {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return &http.Transport{
		Proxy: nil, DialContext: d.DialContext, TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true,
		MaxIdleConns: 10, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second,
	}
}
