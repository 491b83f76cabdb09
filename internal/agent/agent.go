// Package agent is costwarden's agent mode: it runs in a cluster next to the
// collectors and the engine, keeps every closed hourly window in a sealed local
// outbox (the agent's own store, internal/sets), and pushes each window to a
// central server over TLS with a client certificate, until the server has it.
//
// Enrolment: a one-time join token (internal/clusterca) names the enrolment and
// pins the server's CA; the agent makes its key pair itself (ed25519), sends
// only a certificate request, and receives a short-lived client certificate,
// which it renews at half its life, with a new key pair each time.
//
// Delivery: windows are pushed oldest first, one at a time, each identified by
// its hour (the server stores a window once however often it is sent); a window
// counts as delivered only when the server answered that it has it, and that is
// recorded in the outbox, so a crash, a central outage of hours or a lost answer
// means sending again, never losing. Failures back off exponentially and move
// to the next server URL. The server's clock is read from every answer: the
// skew is reported, and certificate checks and renewal use the server's time.
//
// The package owns enrolment, renewal, the outbox's delivery state and the push
// protocol's client side; it must not compute costs (internal/ingest fills the
// outbox) or know how the server stores windows.
package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/costwarden/costwarden/internal/agentapi"
	"github.com/costwarden/costwarden/internal/clusterca"
	"github.com/costwarden/costwarden/internal/codec"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/wait"
)

// Meta is the local store's key/value area (delivery state).
type Meta interface {
	GetMeta(ctx context.Context, key string) ([]byte, error)
	PutMeta(ctx context.Context, key string, value []byte) error
}

// Outbox is the local store of sealed windows.
type Outbox interface {
	Meta
	DeleteWindows(ctx context.Context, r store.WindowRange) (int, error)
}

// Options configure an Agent.
type Options struct {
	// Servers are the central server's agents-listener URLs (https://HOST:PORT),
	// tried in order; the agent stays with one that answers.
	Servers []string
	// JoinToken enrols the agent when its directory holds no enrolment, or a
	// different token than the one it enrolled with.
	JoinToken string
	// Dir holds the identity files.
	Dir string
	// Sets is the outbox's window store (the local ingester writes it); Store
	// is its store.
	Sets  *sets.Sets
	Store Outbox
	// Keep is how long delivered windows stay in the outbox (the local
	// ingester's backfill horizon and a margin; older delivered ones are
	// deleted). Undelivered windows are never deleted.
	Keep time.Duration
	// RetryMin and RetryMax bound the backoff after failures (default 1s, 5m).
	RetryMin, RetryMax time.Duration
	// Poll is how often the outbox is checked for new windows (default 5s).
	Poll time.Duration
	// RenewAt is the fraction of the certificate's life after which it is
	// renewed (default 0.5).
	RenewAt float64
	// MaxSkew is the clock difference to the server above which it is
	// reported as a warning (default 1m).
	MaxSkew time.Duration
	// Timeout bounds one request (default 60s).
	Timeout time.Duration
	// Heartbeat: with nothing to deliver for this long, the agent pings the
	// server (liveness, clock skew, revocation noticed; default 1m).
	Heartbeat time.Duration
	// Dial, if set, makes every connection to the servers (the guarded
	// dialer of internal/egress).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// AliveFile, if set, has its modification time moved to now by every turn
	// of the delivery loop and after every window it sends (at most every
	// 10 s), whether deliveries succeed or not: a liveness probe (costwarden agent check) tells a hung agent from a
	// waiting one.
	AliveFile string
	Now       func() time.Time
	Log       *slog.Logger
}

// Agent pushes one cluster's windows.
type Agent struct {
	opts  Options
	log   *slog.Logger
	codec *codec.Codec
	// anon enrols (no client certificate); mtls carries the current one. Two
	// transports, so a connection made without a certificate is never reused
	// for a request that needs one.
	anon, mtls *http.Client

	mu        sync.Mutex
	id        *Identity
	enrolling *Identity     // during enrolment: the pin to verify the server with
	server    int           // index of the server URL in use
	offset    time.Duration // server's clock minus ours, from the last answer
	known     bool          // offset measured at least once
	status    Status
	acked     map[int64]int64 // hour start (Unix s) -> delivered store time (Unix ns)
	// lastContact is the last delivery or heartbeat.
	lastContact time.Time
}

// Status is what the agent reports about itself.
type Status struct {
	Enrolled     bool
	Cluster      string
	CertNotAfter time.Time
	Server       string
	Pending      int       // windows in the outbox not yet delivered
	Delivered    int       // windows delivered since start
	LastPush     time.Time // last delivery
	LastError    string
	LastErrorAt  time.Time
	// ClockSkew is our clock minus the server's, as last measured.
	ClockSkew time.Duration
}

// ErrNotEnrolled: no enrolment and no join token.
var ErrNotEnrolled = errors.New("this agent is not enrolled: start it once with --join-token (from costwarden cluster add NAME)")

// New returns an Agent.
func New(opts Options) *Agent {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = time.Second
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(opts.RetryMin, 5*time.Minute)
	}
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	if opts.RenewAt <= 0 || opts.RenewAt >= 1 {
		opts.RenewAt = 0.5
	}
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = time.Minute
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = time.Minute
	}
	a := &Agent{opts: opts, log: opts.Log, codec: codec.New(), acked: map[int64]int64{}}
	a.anon = a.client(false)
	a.mtls = a.client(true)
	return a
}

func (a *Agent) client(withCert bool) *http.Client {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		// The chain is verified in VerifyConnection against the pinned CA, at
		// the server's time (the host name is not: see clusterca.VerifyServer).
		InsecureSkipVerify: true, // #nosec G402 -- replaced by the pinned-CA chain check in VerifyConnection below
		VerifyConnection:   a.verifyServer,
	}
	if withCert {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			id := a.identity()
			if id == nil {
				return &tls.Certificate{}, nil
			}
			c := id.cert
			return &c, nil
		}
	}
	tr := &http.Transport{
		DialContext:         a.opts.Dial,
		TLSClientConfig:     cfg,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 15 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: a.opts.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (a *Agent) verifyServer(cs tls.ConnectionState) error {
	a.mu.Lock()
	id := a.id
	if id == nil {
		id = a.enrolling
	}
	var at time.Time
	if a.known {
		at = a.opts.Now().Add(a.offset)
	}
	a.mu.Unlock()
	if id == nil {
		return errors.New("agent: no pinned CA to verify the server with")
	}
	raw := make([][]byte, len(cs.PeerCertificates))
	for i, c := range cs.PeerCertificates {
		raw[i] = c.Raw
	}
	return clusterca.VerifyServer(raw, id.Pin, id.caPool, at)
}

// ServerNow is the agent's estimate of the server's clock.
func (a *Agent) ServerNow() time.Time {
	a.mu.Lock()
	off := a.offset
	a.mu.Unlock()
	return a.opts.Now().Add(off)
}

func (a *Agent) identity() *Identity {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// Start loads the enrolment, or enrols with the join token (again when the
// token is not the one last used). It returns the identity.
func (a *Agent) Start(ctx context.Context) (*Identity, error) {
	id, err := loadIdentity(a.opts.Dir)
	switch {
	case err == nil && (a.opts.JoinToken == "" || tokenHash(a.opts.JoinToken) == id.TokenHash):
	case err == nil || errors.Is(err, fs.ErrNotExist):
		if a.opts.JoinToken == "" {
			return nil, ErrNotEnrolled
		}
		if id, err = a.enrolWithRetry(ctx); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	a.mu.Lock()
	a.id = id
	a.status.Enrolled, a.status.Cluster, a.status.CertNotAfter = true, id.Cluster, id.NotAfter()
	a.mu.Unlock()
	if err := a.loadAcked(ctx); err != nil {
		return nil, err
	}
	return id, nil
}

// enrolWithRetry enrols, retrying while the server is unreachable; a refused
// token is final.
func (a *Agent) enrolWithRetry(ctx context.Context) (*Identity, error) {
	backoff := a.opts.RetryMin
	for {
		id, err := a.enrol(ctx, a.opts.JoinToken)
		if err == nil {
			return id, nil
		}
		var he *httpError
		if errors.As(err, &he) && he.code < 500 || errors.Is(err, clusterca.ErrPin) || errors.Is(err, clusterca.ErrBadToken) {
			return nil, err
		}
		a.log.Warn("enrolment failed; retrying", "error", err, "retry_in", backoff.String())
		if !wait.Sleep(ctx, backoff) {
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, a.opts.RetryMax)
	}
}

// httpError is an answer other than 2xx.
type httpError struct {
	code       int
	msg        string
	retryAfter time.Duration
}

func (e *httpError) Error() string { return fmt.Sprintf("server answered %d: %s", e.code, e.msg) }

// call sends one request to the server in use, moving to the next server URL
// when this one cannot be reached or is unavailable, and decodes a 2xx JSON
// answer into out. withCert presents the client certificate.
func (a *Agent) call(ctx context.Context, method, path, ctype string, body []byte, out any, withCert bool) error {
	if len(a.opts.Servers) == 0 {
		return errors.New("no server URL (--server)")
	}
	var lastErr error
	for attempt := 0; attempt < len(a.opts.Servers); attempt++ {
		a.mu.Lock()
		base := strings.TrimRight(a.opts.Servers[a.server%len(a.opts.Servers)], "/")
		a.mu.Unlock()
		err := a.do(ctx, base, method, path, ctype, body, out, withCert)
		if err == nil {
			a.mu.Lock()
			a.status.Server = base
			a.mu.Unlock()
			return nil
		}
		lastErr = err
		var he *httpError
		if errors.As(err, &he) && he.code < 500 {
			return err // the server answered: another one would answer the same
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.mu.Lock()
		a.server++
		a.mu.Unlock()
		if len(a.opts.Servers) > 1 {
			a.log.Warn("server unavailable; trying the next", "server", base, "error", err)
		}
	}
	return lastErr
}

func (a *Agent) do(ctx context.Context, base, method, path, ctype string, body []byte, out any, withCert bool) error {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set(agentapi.HeaderAgentTime, a.opts.Now().UTC().Format(time.RFC3339Nano))
	client := a.anon
	if withCert {
		client = a.mtls
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	a.noteServerTime(resp.Header.Get(agentapi.HeaderServerTime))
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		he := &httpError{code: resp.StatusCode}
		var eb struct {
			Message string `json:"message"`
			Reason  string `json:"reason"`
		}
		if json.Unmarshal(b, &eb) == nil {
			he.msg = eb.Message + eb.Reason
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			he.retryAfter = time.Duration(s) * time.Second
		}
		return he
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("the server's answer: %w", err)
		}
	}
	return nil
}

// noteServerTime measures the clock difference from an answer's header.
func (a *Agent) noteServerTime(v string) {
	st, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return
	}
	off := st.Sub(a.opts.Now())
	a.mu.Lock()
	first := !a.known
	a.offset, a.known = off, true
	a.status.ClockSkew = -off
	a.mu.Unlock()
	if abs := max(off, -off); abs > a.opts.MaxSkew && first {
		a.log.Warn("this machine's clock differs from the server's: windows are still delivered, and certificates are checked at the server's time; fix the time synchronisation (NTP)",
			"skew", (-off).Round(time.Millisecond).String())
	}
}

// Status returns a snapshot.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.status
}

// Run pushes the outbox and renews the certificate until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	if a.identity() == nil {
		return ErrNotEnrolled
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.renewLoop(ctx)
	}()
	a.pushLoop(ctx)
	wg.Wait()
	return nil
}

// renewLoop renews the certificate once RenewAt of its life has passed (by the
// server's clock), retrying with backoff.
func (a *Agent) renewLoop(ctx context.Context) {
	backoff := a.opts.RetryMin
	for {
		id := a.identity()
		life := id.NotAfter().Sub(id.NotBefore())
		due := id.NotBefore().Add(time.Duration(float64(life) * a.opts.RenewAt))
		left := due.Sub(a.ServerNow())
		if left > 0 {
			if !wait.Sleep(ctx, min(left, a.opts.Poll)) {
				return
			}
			continue
		}
		if !a.ServerNow().Before(id.NotAfter()) {
			a.fail(fmt.Errorf("the client certificate expired at %s before it could be renewed: enrol again with a new join token (costwarden cluster token NAME)", id.NotAfter().UTC().Format(time.RFC3339)))
			if !wait.Sleep(ctx, a.opts.RetryMax) {
				return
			}
			continue
		}
		if err := a.renew(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			a.fail(err)
			if !wait.Sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, a.opts.RetryMax)
			continue
		}
		backoff = a.opts.RetryMin
		a.mu.Lock()
		a.status.CertNotAfter = a.id.NotAfter()
		a.mu.Unlock()
	}
}

func (a *Agent) fail(err error) {
	a.mu.Lock()
	a.status.LastError, a.status.LastErrorAt = err.Error(), a.opts.Now()
	a.mu.Unlock()
	a.log.Warn("agent", "error", err)
}
