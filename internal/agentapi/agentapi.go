// Package agentapi is the server side of the agents listener: enrolment with a
// one-time join token, certificate renewal, and the push of closed hourly
// windows, over TLS with client certificates from the internal CA
// (internal/clusterca).
//
// Every request but enrolment must present a client certificate that verifies
// against the CA at the server's time, names an agent whose enrolment is active
// at that certificate's generation (read from the store at every request, so a
// revocation cuts the agent off at its next request), and may only write its
// own cluster's windows. Pushes are idempotent (a window is keyed by tenant,
// cluster and hour) and tolerate clock skew: the agent's clock is measured at
// every request and reported; only windows that end in the server's future
// beyond the allowed skew are refused, to be sent again later.
//
// The package owns the agent protocol and its checks; it must not compute
// costs, decide what a tenant is (the caller's Tenants does), or build the
// listener (internal/server does).
package agentapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/costwarden/costwarden/internal/clusterca"
	"github.com/costwarden/costwarden/internal/codec"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/server"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
)

// Protocol headers.
const (
	// HeaderAgentTime carries the agent's clock (RFC 3339, nanoseconds) on
	// every request.
	HeaderAgentTime = "X-Costwarden-Agent-Time"
	// HeaderServerTime carries the server's clock on every answer.
	HeaderServerTime = "X-Costwarden-Server-Time"
	// ContentTypeSet is the media type of a pushed window: a cost set in the
	// storage encoding (internal/codec), unencrypted inside the TLS session.
	ContentTypeSet = "application/vnd.costwarden.set"
)

// Paths of the protocol.
const (
	PathEnrol   = "/agent/v1/enrol"
	PathRenew   = "/agent/v1/renew"
	PathPing    = "/agent/v1/ping"
	PathWindows = "/agent/v1/windows/" // + the hour's start, RFC 3339
)

// Store is what the API needs from the store.
type Store interface {
	GetAgent(ctx context.Context, tenant, id string) (store.Agent, error)
	ClaimJoinToken(ctx context.Context, tenant, id string, hash []byte, at time.Time) (store.Agent, error)
	SetAgentCertificate(ctx context.Context, tenant, id string, gen int64, serial string, notAfter time.Time) error
	TouchAgent(ctx context.Context, tenant, id string, at time.Time, skew time.Duration) error
}

// Tenants gives the sets of an active tenant; an error when the tenant does not
// exist (any more).
type Tenants func(ctx context.Context, tenant string) (*sets.Sets, error)

// Event is a security-relevant agent request, for the audit trail.
type Event struct {
	Action   string // "agent.enrol", "agent.renew", "agent.push", "agent.refused"
	Outcome  string // "success", "failure", "denied"
	Tenant   string
	Agent    string
	Cluster  string // cluster id (never its name)
	SourceIP string
	Reason   string // why it was refused (never a secret)
}

// Options configure the API.
type Options struct {
	CA      *clusterca.CA
	Store   Store
	Tenants Tenants
	// CertTTL is the lifetime of issued agent certificates.
	CertTTL time.Duration
	// MaxSkew is how far in the server's future a window may end (the agent's
	// clock ahead) before it is refused for now; beyond it skew is reported.
	MaxSkew time.Duration
	// MaxBodyBytes bounds a pushed window.
	MaxBodyBytes int64
	Now          func() time.Time
	Log          *slog.Logger
	// Record receives every enrolment, renewal and refusal (the audit trail);
	// nil logs them only.
	Record func(ctx context.Context, e Event)
	// Registerer gets the agents' metrics (no tenant, cluster or agent labels).
	Registerer prometheus.Registerer
}

// API serves the agents listener.
type API struct {
	opts  Options
	codec *codec.Codec
	mux   *http.ServeMux

	requests *prometheus.CounterVec
	skew     prometheus.Histogram
	stored   prometheus.Counter

	mu    sync.Mutex
	certs *tls.Certificate // the listener's certificate
}

// New returns the API.
func New(opts Options) *API {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.CertTTL <= 0 {
		opts.CertTTL = 72 * time.Hour
	}
	if opts.MaxSkew <= 0 {
		opts.MaxSkew = 5 * time.Minute
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 64 << 20
	}
	a := &API{opts: opts, codec: codec.New(), mux: http.NewServeMux(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "costwarden_agent_requests_total",
			Help: "Requests on the agents listener by route and outcome."}, []string{"route", "outcome"}),
		skew: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "costwarden_agent_clock_skew_seconds",
			Help:    "Absolute difference between an agent's clock and the server's, per request.",
			Buckets: []float64{0.1, 1, 5, 30, 60, 300, 3600, 86400}}),
		stored: prometheus.NewCounter(prometheus.CounterOpts{Name: "costwarden_agent_windows_stored_total",
			Help: "Hourly windows pushed by agents and stored."}),
	}
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(a.requests, a.skew, a.stored)
	}
	a.mux.HandleFunc("POST "+PathEnrol, a.enrol)
	a.mux.HandleFunc("POST "+PathRenew, a.authenticated(a.renew))
	a.mux.HandleFunc("GET "+PathPing, a.authenticated(a.ping))
	a.mux.HandleFunc("PUT "+PathWindows+"{start}", a.authenticated(a.push))
	return a
}

// ServeHTTP routes; anything undeclared is a JSON 404.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set(HeaderServerTime, a.opts.Now().UTC().Format(time.RFC3339Nano))
	r.Body = http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes)
	if _, pattern := a.mux.Handler(r); pattern == "" {
		a.requests.WithLabelValues("unmatched", "refused").Inc()
		server.WriteError(w, r, http.StatusNotFound, "not found", "")
		return
	}
	a.mux.ServeHTTP(w, r)
}

// TLSConfig is the listener's TLS configuration: the server's TLS policy, a
// certificate from the CA (renewed before it expires), and client certificates
// requested and verified here against the CA at the server's time (a handshake
// with a certificate that does not verify fails, and is recorded).
func (a *API) TLSConfig(names []string, ips []net.IP) (*tls.Config, error) {
	if _, err := a.serverCert(names, ips); err != nil {
		return nil, err
	}
	cfg := server.TLSConfig(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return a.serverCert(names, ips) })
	cfg.NextProtos = []string{"http/1.1"}
	cfg.ClientAuth = tls.RequestClientCert
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := cfg.Clone()
		c.GetConfigForClient = nil
		remote := ""
		if hello.Conn != nil {
			remote = hostOf(hello.Conn.RemoteAddr().String())
		}
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil // enrolment; every other route requires a certificate
			}
			if _, err := a.opts.CA.VerifyAgent(cs.PeerCertificates, a.opts.Now()); err != nil {
				a.refuse(context.Background(), Event{SourceIP: remote, Reason: "TLS handshake: " + err.Error()}, "handshake")
				return err
			}
			return nil
		}
		return c, nil
	}
	return cfg, nil
}

// serverCert returns the listener's certificate, issuing a new one when the
// current one has less than half its life left.
func (a *API) serverCert(names []string, ips []net.IP) (*tls.Certificate, error) {
	const ttl = 30 * 24 * time.Hour
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Now()
	if a.certs != nil && now.Before(a.certs.Leaf.NotAfter.Add(-ttl/2)) && !now.Before(a.certs.Leaf.NotBefore) {
		return a.certs, nil
	}
	c, err := a.opts.CA.IssueServer(names, ips, ttl)
	if err != nil {
		return nil, err
	}
	a.certs = &c
	return a.certs, nil
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// refuse records a refusal.
func (a *API) refuse(ctx context.Context, e Event, route string) {
	e.Action, e.Outcome = "agent.refused", "denied"
	a.requests.WithLabelValues(route, "refused").Inc()
	a.record(ctx, e)
}

func (a *API) record(ctx context.Context, e Event) {
	level := slog.LevelInfo
	if e.Outcome != "success" {
		level = slog.LevelWarn
	}
	a.opts.Log.Log(ctx, level, "agent "+e.Action, "action", e.Action, "outcome", e.Outcome, "tenant", e.Tenant, "agent", e.Agent,
		"cluster_id", e.Cluster, "source_ip", e.SourceIP, "reason", e.Reason)
	if a.opts.Record != nil {
		a.opts.Record(ctx, e)
	}
}

// writeJSON answers v with code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// measureSkew reads the agent's clock header: the agent's time minus the
// server's (0 when absent or unreadable).
func (a *API) measureSkew(r *http.Request, now time.Time) time.Duration {
	v := r.Header.Get(HeaderAgentTime)
	if v == "" {
		return 0
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	abs := d
	if abs < 0 {
		abs = -abs
	}
	a.skew.Observe(abs.Seconds())
	return d
}

// Identity is an authenticated agent request's caller.
type Identity struct {
	clusterca.AgentID
	Agent store.Agent
	Skew  time.Duration
}

type ctxKey struct{}

// authenticated wraps a handler: certificate verified now, enrolment active at
// the certificate's generation, tenant active. Every refusal is recorded.
func (a *API) authenticated(h func(w http.ResponseWriter, r *http.Request, id Identity)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, route := a.mux.Handler(r)
		ctx := r.Context()
		now := a.opts.Now()
		ev := Event{SourceIP: hostOf(r.RemoteAddr)}
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			a.refuse(ctx, ev, route)
			server.WriteError(w, r, http.StatusUnauthorized, "a client certificate from enrolment is required", "")
			return
		}
		aid, err := a.opts.CA.VerifyAgent(r.TLS.PeerCertificates, now)
		if err != nil {
			ev.Reason = err.Error()
			a.refuse(ctx, ev, route)
			server.WriteError(w, r, http.StatusUnauthorized, "client certificate refused", "")
			return
		}
		ev.Tenant, ev.Agent = aid.Tenant, aid.Agent
		ag, err := a.opts.Store.GetAgent(ctx, aid.Tenant, aid.Agent)
		switch {
		case errors.Is(err, store.ErrNotFound):
			ev.Reason = "no such enrolment (deleted with its tenant, or never made here)"
		case err != nil:
			a.opts.Log.ErrorContext(ctx, "agents: reading the enrolment", "error", err)
			server.WriteError(w, r, http.StatusServiceUnavailable, "the server cannot reach its database; retry later", "")
			a.requests.WithLabelValues(route, "unavailable").Inc()
			return
		case ag.State != store.AgentActive:
			ev.Reason = "the cluster's enrolment is revoked"
		case ag.Generation != aid.Generation:
			ev.Reason = fmt.Sprintf("certificate of enrolment generation %d; the cluster was enrolled again (generation %d)", aid.Generation, ag.Generation)
		}
		if ev.Reason != "" {
			ev.Cluster = ag.ClusterID
			a.refuse(ctx, ev, route)
			server.WriteError(w, r, http.StatusForbidden, "this agent's enrolment is not active", "")
			return
		}
		skew := a.measureSkew(r, now)
		if err := a.opts.Store.TouchAgent(ctx, aid.Tenant, aid.Agent, now, skew); err != nil {
			a.opts.Log.ErrorContext(ctx, "agents: recording the request", "error", err)
			server.WriteError(w, r, http.StatusServiceUnavailable, "the server cannot reach its database; retry later", "")
			a.requests.WithLabelValues(route, "unavailable").Inc()
			return
		}
		if abs := max(skew, -skew); abs > a.opts.MaxSkew {
			a.opts.Log.WarnContext(ctx, "agent clock skew beyond agents.maxClockSkew: fix the agent's time synchronisation (NTP)",
				"tenant", aid.Tenant, "agent", aid.Agent, "skew", skew.String(), "allowed", a.opts.MaxSkew.String())
		}
		h(w, r.WithContext(context.WithValue(ctx, ctxKey{}, ev.SourceIP)), Identity{AgentID: aid, Agent: ag, Skew: skew})
	}
}

// EnrolRequest is the body of an enrolment.
type EnrolRequest struct {
	Token string `json:"token"`
	CSR   string `json:"csr"` // PEM certificate request
}

// RenewRequest is the body of a renewal.
type RenewRequest struct {
	CSR string `json:"csr"`
}

// CertResponse answers an enrolment or renewal.
type CertResponse struct {
	Certificate string    `json:"certificate"` // PEM
	CA          string    `json:"ca"`          // PEM
	Cluster     string    `json:"cluster"`     // the enrolled cluster's name
	NotAfter    time.Time `json:"notAfter"`
	ServerTime  time.Time `json:"serverTime"`
}

// PingResponse answers a ping.
type PingResponse struct {
	ServerTime   time.Time `json:"serverTime"`
	Cluster      string    `json:"cluster"`
	CertNotAfter time.Time `json:"certNotAfter"`
	SkewSeconds  float64   `json:"skewSeconds"`
}

// PushResponse answers a push.
type PushResponse struct {
	Stored      bool    `json:"stored"`
	Reason      string  `json:"reason,omitempty"`
	SkewSeconds float64 `json:"skewSeconds"`
}

// clusterName returns the name of the enrolment's cluster.
func (a *API) clusterName(ctx context.Context, st *sets.Sets, clusterID string) (string, error) {
	names, err := st.Clusters(ctx)
	if err != nil {
		return "", err
	}
	name, ok := names[clusterID]
	if !ok {
		return "", fmt.Errorf("cluster %s: %w", clusterID, store.ErrNotFound)
	}
	return name, nil
}

func (a *API) enrol(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := a.opts.Now()
	ev := Event{Action: "agent.enrol", SourceIP: hostOf(r.RemoteAddr)}
	var req EnrolRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		ev.Reason = "unreadable enrolment request"
		a.refuse(ctx, ev, PathEnrol)
		server.WriteError(w, r, http.StatusBadRequest, "the body must be JSON {token, csr}", "token")
		return
	}
	tok, err := clusterca.ParseJoinToken(req.Token)
	if err != nil {
		ev.Reason = "malformed join token"
		a.refuse(ctx, ev, PathEnrol)
		server.WriteError(w, r, http.StatusBadRequest, err.Error(), "token")
		return
	}
	ev.Tenant, ev.Agent = tok.Tenant, tok.Agent
	// The request is checked before the token is used, so a bad request does
	// not burn the token.
	csr, err := clusterca.ParseRequest([]byte(req.CSR))
	if err != nil {
		ev.Reason = err.Error()
		a.refuse(ctx, ev, PathEnrol)
		server.WriteError(w, r, http.StatusBadRequest, err.Error(), "csr")
		return
	}
	if tok.Pin != a.opts.CA.Pin() {
		ev.Reason = "the token pins another certificate authority"
		a.refuse(ctx, ev, PathEnrol)
		server.WriteError(w, r, http.StatusUnauthorized, "join token refused", "token")
		return
	}
	st, err := a.opts.Tenants(ctx, tok.Tenant)
	if err != nil {
		ev.Reason = "unknown tenant"
		a.refuse(ctx, ev, PathEnrol)
		server.WriteError(w, r, http.StatusUnauthorized, "join token refused", "token")
		return
	}
	ag, err := a.opts.Store.ClaimJoinToken(ctx, tok.Tenant, tok.Agent, tok.Hash(), now)
	if err != nil {
		if !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			a.opts.Log.ErrorContext(ctx, "agents: claiming a join token", "error", err)
			server.WriteError(w, r, http.StatusServiceUnavailable, "the server cannot reach its database; retry later", "")
			return
		}
		ev.Reason = a.tokenRefusal(ctx, tok, now)
		a.refuse(ctx, ev, PathEnrol)
		server.WriteError(w, r, http.StatusUnauthorized, "join token refused (unknown, already used, expired, or its cluster revoked): ask an administrator for a new one", "token")
		return
	}
	ev.Cluster = ag.ClusterID
	a.issue(w, r, st, ag, clusterca.AgentID{Tenant: tok.Tenant, Agent: tok.Agent, Generation: ag.Generation}, csr, ev, PathEnrol)
}

// tokenRefusal says (for the audit trail only) why a token was refused.
func (a *API) tokenRefusal(ctx context.Context, tok clusterca.JoinToken, now time.Time) string {
	ag, err := a.opts.Store.GetAgent(ctx, tok.Tenant, tok.Agent)
	switch {
	case err != nil:
		return "unknown enrolment"
	case ag.State != store.AgentActive:
		return "the cluster's enrolment is revoked"
	case !bytes.Equal(ag.TokenHash, tok.Hash()):
		return "not the enrolment's current join token"
	case !ag.TokenUsedAt.IsZero():
		return "join token replayed: it was used at " + ag.TokenUsedAt.UTC().Format(time.RFC3339)
	case !now.Before(ag.TokenExpiresAt):
		return "join token expired at " + ag.TokenExpiresAt.UTC().Format(time.RFC3339)
	}
	return "join token refused"
}

func (a *API) renew(w http.ResponseWriter, r *http.Request, id Identity) {
	ctx := r.Context()
	ev := Event{Action: "agent.renew", Tenant: id.Tenant, Agent: id.AgentID.Agent, Cluster: id.Agent.ClusterID, SourceIP: sourceIP(r)}
	var req RenewRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		server.WriteError(w, r, http.StatusBadRequest, "the body must be JSON {csr}", "csr")
		return
	}
	csr, err := clusterca.ParseRequest([]byte(req.CSR))
	if err != nil {
		ev.Reason = err.Error()
		a.refuse(ctx, ev, PathRenew)
		server.WriteError(w, r, http.StatusBadRequest, err.Error(), "csr")
		return
	}
	st, err := a.opts.Tenants(ctx, id.Tenant)
	if err != nil {
		ev.Reason = "unknown tenant"
		a.refuse(ctx, ev, PathRenew)
		server.WriteError(w, r, http.StatusForbidden, "this agent's enrolment is not active", "")
		return
	}
	a.issue(w, r, st, id.Agent, id.AgentID, csr, ev, PathRenew)
}

func (a *API) issue(w http.ResponseWriter, r *http.Request, st *sets.Sets, ag store.Agent, id clusterca.AgentID, csr *x509.CertificateRequest, ev Event, route string) {
	ctx := r.Context()
	name, err := a.clusterName(ctx, st, ag.ClusterID)
	if err != nil {
		a.opts.Log.ErrorContext(ctx, "agents: the enrolment's cluster", "error", err)
		server.WriteError(w, r, http.StatusServiceUnavailable, "the server cannot read the cluster; retry later", "")
		return
	}
	cert, err := a.opts.CA.IssueAgent(csr, id, a.opts.CertTTL)
	if err != nil {
		a.opts.Log.ErrorContext(ctx, "agents: issuing a certificate", "error", err)
		server.WriteError(w, r, http.StatusInternalServerError, "internal error; quote the request id when reporting it", "")
		return
	}
	if err := a.opts.Store.SetAgentCertificate(ctx, id.Tenant, id.Agent, id.Generation, clusterca.SerialHex(cert), cert.NotAfter); err != nil {
		if errors.Is(err, store.ErrConflict) {
			ev.Reason = "revoked or enrolled again while the certificate was issued"
			a.refuse(ctx, ev, route)
			server.WriteError(w, r, http.StatusForbidden, "this agent's enrolment is not active", "")
			return
		}
		server.WriteError(w, r, http.StatusServiceUnavailable, "the server cannot reach its database; retry later", "")
		return
	}
	ev.Outcome = "success"
	ev.Reason = "certificate " + clusterca.SerialHex(cert) + " until " + cert.NotAfter.UTC().Format(time.RFC3339)
	a.record(ctx, ev)
	a.requests.WithLabelValues(route, "ok").Inc()
	writeJSON(w, http.StatusOK, CertResponse{
		Certificate: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		CA:          string(a.opts.CA.CertPEM()), Cluster: name, NotAfter: cert.NotAfter, ServerTime: a.opts.Now().UTC(),
	})
}

func sourceIP(r *http.Request) string {
	if v, ok := r.Context().Value(ctxKey{}).(string); ok {
		return v
	}
	return hostOf(r.RemoteAddr)
}

func (a *API) ping(w http.ResponseWriter, r *http.Request, id Identity) {
	ctx := r.Context()
	resp := PingResponse{ServerTime: a.opts.Now().UTC(), CertNotAfter: r.TLS.PeerCertificates[0].NotAfter, SkewSeconds: id.Skew.Seconds()}
	if st, err := a.opts.Tenants(ctx, id.Tenant); err == nil {
		resp.Cluster, _ = a.clusterName(ctx, st, id.Agent.ClusterID)
	}
	a.requests.WithLabelValues(PathPing, "ok").Inc()
	writeJSON(w, http.StatusOK, resp)
}

// push stores one closed hourly window of the agent's own cluster.
func (a *API) push(w http.ResponseWriter, r *http.Request, id Identity) {
	ctx := r.Context()
	const route = "PUT " + PathWindows + "{start}"
	now := a.opts.Now()
	start, err := time.Parse(time.RFC3339, r.PathValue("start"))
	if err != nil || !start.Equal(start.Truncate(time.Hour)) {
		server.WriteError(w, r, http.StatusBadRequest, "start: must be the hour's start in RFC 3339, e.g. 2026-03-01T13:00:00Z", "start")
		return
	}
	start = start.UTC()
	if ct := r.Header.Get("Content-Type"); ct != ContentTypeSet {
		server.WriteError(w, r, http.StatusUnsupportedMediaType, "Content-Type must be "+ContentTypeSet, "")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			server.WriteError(w, r, http.StatusRequestEntityTooLarge, "the window is larger than agents.maxWindowBytes allows", "")
			return
		}
		server.WriteError(w, r, http.StatusBadRequest, "reading the window: "+err.Error(), "")
		return
	}
	set, err := a.codec.Decode(body)
	if err != nil {
		server.WriteError(w, r, http.StatusBadRequest, "the body is not an encoded cost set", "body")
		return
	}
	st, err := a.opts.Tenants(ctx, id.Tenant)
	if err != nil {
		a.refuse(ctx, Event{Tenant: id.Tenant, Agent: id.AgentID.Agent, SourceIP: sourceIP(r), Reason: "unknown tenant"}, route)
		server.WriteError(w, r, http.StatusForbidden, "this agent's enrolment is not active", "")
		return
	}
	name, err := a.clusterName(ctx, st, id.Agent.ClusterID)
	if err != nil {
		a.opts.Log.ErrorContext(ctx, "agents: the enrolment's cluster", "error", err)
		server.WriteError(w, r, http.StatusServiceUnavailable, "the server cannot read the cluster; retry later", "")
		return
	}
	if field, msg := checkSet(set, name, start); msg != "" {
		if field == "cluster" {
			a.refuse(ctx, Event{Tenant: id.Tenant, Agent: id.AgentID.Agent, Cluster: id.Agent.ClusterID, SourceIP: sourceIP(r),
				Reason: "pushed data of another cluster"}, route)
			server.WriteError(w, r, http.StatusForbidden, msg, field)
			return
		}
		server.WriteError(w, r, http.StatusBadRequest, msg, field)
		return
	}
	resp := PushResponse{SkewSeconds: id.Skew.Seconds()}
	if ahead := set.Window.End.Sub(now); ahead > a.opts.MaxSkew {
		resp.Reason = fmt.Sprintf("the window ends %s in the server's future (agents.maxClockSkew is %s): the agent's clock is ahead by %s; it is accepted once the server's clock reaches it",
			ahead.Round(time.Second), a.opts.MaxSkew, id.Skew.Round(time.Second))
		a.requests.WithLabelValues(route, "future").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(min(ahead-a.opts.MaxSkew+time.Second, time.Hour).Seconds())))
		writeJSON(w, http.StatusUnprocessableEntity, resp)
		return
	}
	if set.Partial {
		// A partial hour never replaces a complete one.
		have, err := st.Stored(ctx, name, cost.Hourly, start, start.Add(time.Second))
		if err != nil {
			server.WriteError(w, r, http.StatusServiceUnavailable, "the server cannot reach its database; retry later", "")
			return
		}
		if info, ok := have[start]; ok && !info.Partial {
			resp.Reason = "a complete window of this hour is stored"
			a.requests.WithLabelValues(route, "kept").Inc()
			writeJSON(w, http.StatusOK, resp)
			return
		}
	}
	if _, err := st.Put(ctx, set); err != nil {
		a.opts.Log.ErrorContext(ctx, "agents: storing a window", "tenant", id.Tenant, "agent", id.AgentID.Agent, "error", err)
		a.requests.WithLabelValues(route, "unavailable").Inc()
		server.WriteError(w, r, http.StatusServiceUnavailable, "the window could not be stored; retry later", "")
		return
	}
	a.stored.Inc()
	a.requests.WithLabelValues(route, "ok").Inc()
	resp.Stored = true
	writeJSON(w, http.StatusOK, resp)
}

// checkSet checks a pushed set: an hourly window starting at start, of the
// enrolled cluster only (every row and asset).
func checkSet(s *cost.Set, cluster string, start time.Time) (field, msg string) {
	if s.Resolution != cost.Hourly {
		return "body", "only hourly windows are pushed"
	}
	if !s.Window.Start.Equal(start) || !s.Window.End.Equal(start.Add(time.Hour)) {
		return "start", fmt.Sprintf("the set is for %s, not the hour starting %s", s.Window, start.Format(time.RFC3339))
	}
	if s.Cluster != cluster {
		return "cluster", "the set is of another cluster than this agent's"
	}
	for _, al := range s.Allocations {
		if al.Properties != nil && al.Properties.Cluster != "" && al.Properties.Cluster != cluster {
			return "cluster", "a row names another cluster than this agent's"
		}
	}
	for _, n := range s.Nodes {
		if n.Cluster != "" && n.Cluster != cluster {
			return "cluster", "a node names another cluster than this agent's"
		}
	}
	for _, d := range s.Disks {
		if d.Cluster != "" && d.Cluster != cluster {
			return "cluster", "a disk names another cluster than this agent's"
		}
	}
	for _, lb := range s.LoadBalancers {
		if lb.Cluster != "" && lb.Cluster != cluster {
			return "cluster", "a load balancer names another cluster than this agent's"
		}
	}
	return "", ""
}
