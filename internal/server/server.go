// Package server owns costwarden's listeners: HTTPS with one TLS policy, security
// headers, request limits and timeouts, the route table that declares every route's
// authentication and permission, the middleware order (recover → request id →
// headers → authn → authz → handler), the loopback-only internal listener for
// metrics, and graceful shutdown.
//
// It must not contain business logic: handlers come from internal/httpapi, identity
// from an Authenticator, decisions from internal/rbac.
package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/rbac"
)

// Access says who may reach a route.
type Access uint8

const (
	// Public routes need no credential. Only health checks, the login page and
	// static assets may be public.
	Public Access = iota + 1
	// Authenticated routes need a principal holding Route.Permission.
	Authenticated
)

// Route is one declared route. Nothing else is reachable.
type Route struct {
	Method     string // GET, POST, ...
	Path       string // net/http ServeMux pattern path, e.g. /allocation or /api/v1/users/{id}
	Access     Access
	Permission rbac.Permission // required when Access is Authenticated
	// Kind of response, for headers: "api" (JSON, no-store) or "asset".
	Asset bool
	// Page marks a browser page: an anonymous GET is redirected to /login
	// instead of answered with a JSON 401.
	Page    bool
	Summary string
	Handler http.Handler
	// Audit is the event every request to the route records (exactly one
	// record, with the outcome the handler reached). State-changing routes
	// must have one; with an Auditor, such a request is refused (503) when the
	// audit trail cannot be written, and its answer is held back until its
	// record is stored.
	Audit audit.Code
}

// Auditor is what the server needs from internal/audit.
type Auditor interface {
	Preflight(ctx context.Context) error
	Record(ctx context.Context, e audit.Event) error
}

// Pattern is the ServeMux pattern of the route.
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// Authenticator resolves a request's credential. It returns (nil, nil) when the
// request carries none, and an error wrapping auth.ErrUnauthenticated when it
// carries a bad one.
type Authenticator interface {
	AuthenticateRequest(r *http.Request) (*auth.Principal, error)
}

type ctxKey int

const (
	principalKey ctxKey = iota
	requestIDKey
)

// PrincipalFrom returns the authenticated principal of a request, if any.
func PrincipalFrom(ctx context.Context) *auth.Principal {
	p, _ := ctx.Value(principalKey).(*auth.Principal)
	return p
}

// RequestID returns the request's correlation id.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// Metrics are the server's own Prometheus metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers request metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "costwarden_http_requests_total", Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "costwarden_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

// Options configure the public handler.
type Options struct {
	Routes       []Route
	Auth         Authenticator
	Log          *slog.Logger
	Metrics      *Metrics
	MaxBodyBytes int64
	Now          func() time.Time
	// CrossOrigin refuses cross-origin state-changing browser requests (CSRF);
	// nil uses net/http's CrossOriginProtection with no trusted origins.
	CrossOrigin *http.CrossOriginProtection
	// Audit records refused credentials, permission denials and every request
	// to a route with an Audit code; nil records nothing (unit tests).
	Audit Auditor
	// Count, if set, is called with the route pattern of every request served
	// (product usage counters for opt-in telemetry).
	Count func(pattern string)
	// DeniedPage, if set, answers a browser (Accept: text/html) that opened a
	// page (Route.Page, GET) its role does not allow, after the denial is
	// recorded: an HTML 403 instead of the JSON one. The request's context
	// carries the principal (PrincipalFrom); the page must show nothing the
	// permission guards. Other callers get the JSON 403.
	DeniedPage func(w http.ResponseWriter, r *http.Request, missing rbac.Permission)
}

// Handler builds the public HTTP handler from the route table. It returns an error
// if the table is inconsistent (duplicate pattern, authenticated route without a
// permission, public route with one).
func Handler(opts Options) (http.Handler, error) {
	if opts.CrossOrigin == nil {
		opts.CrossOrigin = http.NewCrossOriginProtection()
	}
	mux := http.NewServeMux()
	seen := map[string]bool{}
	for _, rt := range opts.Routes {
		if seen[rt.Pattern()] {
			return nil, fmt.Errorf("route %s declared twice", rt.Pattern())
		}
		seen[rt.Pattern()] = true
		switch rt.Access {
		case Public:
			if rt.Permission != "" {
				return nil, fmt.Errorf("public route %s must not declare a permission", rt.Pattern())
			}
		case Authenticated:
			if rt.Permission == "" {
				return nil, fmt.Errorf("authenticated route %s must declare a permission", rt.Pattern())
			}
		default:
			return nil, fmt.Errorf("route %s declares no access", rt.Pattern())
		}
		mux.Handle(rt.Pattern(), guard(rt, opts))
	}
	h := &root{mux: mux, opts: opts}
	return h, nil
}

type root struct {
	mux  *http.ServeMux
	opts Options
}

// ServeHTTP applies what every response gets, then routes. An undeclared path or
// method is a 404 with a JSON body: nothing answers that was not declared.
func (h *root) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := h.opts.Now()
	id := r.Header.Get("X-Request-Id")
	if !validRequestID(id) {
		id = newRequestID()
	}
	ctx := context.WithValue(r.Context(), requestIDKey, id)
	r = r.WithContext(ctx)
	sw := &statusWriter{ResponseWriter: w}
	hdr := w.Header()
	hdr.Set("X-Request-Id", id)
	hdr.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	hdr.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
	hdr.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	if h.opts.MaxBodyBytes > 0 && r.Body != nil {
		r.Body = http.MaxBytesReader(sw, r.Body, h.opts.MaxBodyBytes)
	}
	_, pattern := h.mux.Handler(r)
	route := pattern
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.opts.Log.ErrorContext(ctx, "panic serving request", "request_id", id, "route", route, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !sw.wrote {
				WriteError(sw, r, http.StatusInternalServerError, "internal error; quote the request id when reporting it", "")
			}
		}
		if h.opts.Metrics != nil {
			if route == "" {
				route = "unmatched"
			}
			h.opts.Metrics.requests.WithLabelValues(route, strconv.Itoa(sw.status())).Inc()
			h.opts.Metrics.latency.WithLabelValues(route).Observe(h.opts.Now().Sub(start).Seconds())
		}
		h.opts.Log.InfoContext(ctx, "request", "request_id", id, "method", r.Method, "route", route, "status", sw.status(), "duration_ms", h.opts.Now().Sub(start).Milliseconds())
	}()
	if pattern == "" {
		WriteError(sw, r, http.StatusNotFound, "not found", "")
		return
	}
	if h.opts.Count != nil {
		h.opts.Count(pattern)
	}
	// Cross-site POST, PUT, PATCH and DELETE from a browser are refused before
	// authentication: a cookie must not act on another site's behalf.
	if err := h.opts.CrossOrigin.Check(r); err != nil {
		h.opts.Log.InfoContext(ctx, "cross-origin request refused", "request_id", id, "route", route, "origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		WriteError(sw, r, http.StatusForbidden, "cross-origin request refused", "")
		return
	}
	h.mux.ServeHTTP(sw, r)
}

// guard wraps a route's handler with authentication, authorisation and the
// audit record.
func guard(rt Route, opts Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rt.Asset {
			w.Header().Set("Cache-Control", "no-store")
		}
		ctx := r.Context()
		audited := rt.Audit != "" && opts.Audit != nil
		ev := &audit.Event{Action: rt.Audit, SourceIP: SourceIP(r), RequestID: RequestID(ctx), Target: r.URL.Path}
		if audited {
			// Fail closed: refuse before acting when the trail cannot be written.
			if err := opts.Audit.Preflight(ctx); err != nil {
				opts.Log.ErrorContext(ctx, "refusing a state-changing request: the audit trail cannot be written", "request_id", RequestID(ctx), "route", rt.Pattern(), "error", err)
				WriteError(w, r, http.StatusServiceUnavailable, "the audit trail cannot be written; the request was refused and nothing was changed", "")
				return
			}
		}
		if rt.Access == Public {
			if !audited {
				rt.Handler.ServeHTTP(w, r)
				return
			}
			serveAudited(w, r.WithContext(audit.WithEvent(ctx, ev)), rt, opts, ev)
			return
		}
		p, err := opts.Auth.AuthenticateRequest(r)
		if err != nil || p == nil {
			if err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
				opts.Log.ErrorContext(ctx, "authentication failed", "request_id", RequestID(ctx), "error", err)
				WriteError(w, r, http.StatusInternalServerError, "internal error; quote the request id when reporting it", "")
				return
			}
			if err != nil {
				opts.Log.InfoContext(ctx, "credential refused", "request_id", RequestID(ctx), "reason", err.Error())
				if !record(w, r, opts, audit.Event{Action: audit.AuthCredential, Outcome: audit.Failure, Actor: audit.Actor{Kind: audit.KindUser},
					SourceIP: ev.SourceIP, RequestID: ev.RequestID, Target: rt.Pattern(), Details: map[string]string{"reason": err.Error()}}) {
					return
				}
			}
			if rt.Page && r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="costwarden"`)
			WriteError(w, r, http.StatusUnauthorized, "authentication required", "")
			return
		}
		ev.Actor = ActorOf(p)
		if d := rbac.DecideAll(rt.Permission, p.Roles()...); !d.Allowed {
			opts.Log.InfoContext(ctx, "permission denied", "request_id", RequestID(ctx), "principal", p.ID, "route", rt.Pattern(), "reason", d.Reason)
			denied := audit.Event{Action: audit.AuthzDenied, Outcome: audit.Denied, Actor: ev.Actor, SourceIP: ev.SourceIP, RequestID: ev.RequestID,
				Target: rt.Pattern(), Details: map[string]string{"permission": string(rt.Permission), "reason": d.Reason}}
			if p.TokenID != "" {
				denied.Detail("token", p.TokenID)
			}
			if !record(w, r, opts, denied) {
				return
			}
			if rt.Page && r.Method == http.MethodGet && opts.DeniedPage != nil && acceptsHTML(r) {
				opts.DeniedPage(w, r.WithContext(context.WithValue(ctx, principalKey, p)), rt.Permission)
				return
			}
			WriteError(w, r, http.StatusForbidden, "permission denied", "")
			return
		}
		ctx = context.WithValue(ctx, principalKey, p)
		if !audited {
			rt.Handler.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		if p.TokenID != "" {
			ev.Detail("token", p.TokenID)
		}
		serveAudited(w, r.WithContext(audit.WithEvent(ctx, ev)), rt, opts, ev)
	})
}

// acceptsHTML reports whether the request is a browser's navigation (it
// accepts text/html), not a script's or an API client's.
func acceptsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// ActorOf is the audit actor of an authenticated principal.
func ActorOf(p *auth.Principal) audit.Actor {
	kind := audit.KindUser
	if p.Kind == auth.KindService {
		kind = audit.KindService
	}
	return audit.Actor{ID: p.ID, Name: p.Name, Kind: kind}
}

// record stores e when the server has an Auditor; when the trail cannot take
// it, the request gets a 503 and record reports false.
func record(w http.ResponseWriter, r *http.Request, opts Options, e audit.Event) bool {
	if opts.Audit == nil {
		return true
	}
	if err := opts.Audit.Record(r.Context(), e); err != nil {
		opts.Log.ErrorContext(r.Context(), "the audit trail cannot be written", "request_id", RequestID(r.Context()), "error", err)
		WriteError(w, r, http.StatusServiceUnavailable, "the audit trail cannot be written; the request was refused", "")
		return false
	}
	return true
}

// serveAudited runs the handler with its answer held back, records exactly
// one event with the outcome the handler reached (or its status tells), and
// only then sends the answer. When the record cannot be stored the answer
// (and any credential it carries) is discarded for a 500.
func serveAudited(w http.ResponseWriter, r *http.Request, rt Route, opts Options, ev *audit.Event) {
	bw := &bufferedWriter{header: w.Header().Clone()}
	rt.Handler.ServeHTTP(bw, r)
	code := bw.status()
	if ev.Outcome == "" {
		switch {
		case code < 400:
			ev.Outcome = audit.Success
		case code == http.StatusForbidden:
			ev.Outcome = audit.Denied
		default:
			ev.Outcome = audit.Failure
		}
	}
	if ev.Actor.Kind == "" {
		ev.Actor.Kind = audit.KindUser // an anonymous caller: a login that did not name a known user
	}
	if code >= 400 {
		ev.Detail("status", strconv.Itoa(code))
	}
	if err := opts.Audit.Record(r.Context(), *ev); err != nil {
		opts.Log.ErrorContext(r.Context(), "the action could not be audited; its answer is withheld", "request_id", RequestID(r.Context()), "route", rt.Pattern(), "error", err)
		WriteError(w, r, http.StatusInternalServerError, "the action could not be recorded in the audit trail; its result is withheld; quote the request id when reporting it", "")
		return
	}
	hdr := w.Header()
	for k := range hdr {
		delete(hdr, k)
	}
	for k, v := range bw.header {
		hdr[k] = v
	}
	w.WriteHeader(code)
	_, _ = w.Write(bw.body.Bytes())
}

// bufferedWriter holds an answer until its audit record is stored.
type bufferedWriter struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) status() int {
	if b.code == 0 {
		return http.StatusOK
	}
	return b.code
}

// SourceIP is the request's source address: the TCP peer (X-Forwarded-For is
// not trusted).
func SourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ErrorBody is the JSON body of every error response.
type ErrorBody struct {
	Code      int    `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

// WriteError writes a JSON error. message must be safe to show to the caller.
func WriteError(w http.ResponseWriter, r *http.Request, code int, message, field string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(ErrorBody{Code: code, Message: message, Field: field, RequestID: RequestID(r.Context())})
}

func validRequestID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if !s.wrote {
		s.code, s.wrote = http.StatusOK, true
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// Listener is one configured listener.
type Listener struct {
	Name    string // "public" or "internal", for logs
	Addr    string
	Handler http.Handler
	TLS     bool // serve HTTPS with the server's TLS config
	// TLSConfig, when set, is this listener's own TLS configuration (the
	// agents listener: the internal CA's certificate and client certificates).
	TLSConfig *tls.Config
	// Allow, when not empty, lists the networks that may connect; other
	// connections are closed before TLS or HTTP. Proxies are let through too,
	// for ClientAddress to check the client they forward.
	Allow, Proxies []netip.Prefix
}

// Config configures Run.
type Config struct {
	TLS               *tls.Config
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	ShutdownTimeout   time.Duration
	Log               *slog.Logger
	// Ready is called with each listener's bound address once it accepts
	// connections (tests use port 0).
	Ready func(name string, addr net.Addr)
}

// Run serves the listeners until ctx is cancelled, then shuts them down gracefully
// within ShutdownTimeout. It returns the first listener error.
func Run(ctx context.Context, cfg Config, listeners ...Listener) error {
	type srv struct {
		hs *http.Server
		ln net.Listener
		l  Listener
	}
	var srvs []srv
	closeAll := func() {
		for _, s := range srvs {
			s.ln.Close()
		}
	}
	for _, l := range listeners {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			closeAll()
			return fmt.Errorf("%s listener on %s: %w", l.Name, l.Addr, err)
		}
		if len(l.Allow) > 0 {
			ln = &allowListener{Listener: ln, allow: l.Allow, proxies: l.Proxies, name: l.Name, log: cfg.Log}
		}
		hs := &http.Server{
			Handler:           l.Handler,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    cfg.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug),
			BaseContext:       func(net.Listener) context.Context { return ctx },
		}
		if l.TLS {
			tc := cfg.TLS
			if l.TLSConfig != nil {
				tc = l.TLSConfig
			}
			if tc == nil {
				closeAll()
				ln.Close()
				return fmt.Errorf("%s listener wants TLS but no TLS configuration was given", l.Name)
			}
			hs.TLSConfig = tc
			ln = tls.NewListener(ln, tc)
		}
		srvs = append(srvs, srv{hs: hs, ln: ln, l: l})
	}
	errc := make(chan error, len(srvs))
	var wg sync.WaitGroup
	for _, s := range srvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg.Log.Info("listening", "listener", s.l.Name, "addr", s.ln.Addr().String(), "tls", s.l.TLS)
			if cfg.Ready != nil {
				cfg.Ready(s.l.Name, s.ln.Addr())
			}
			if err := s.hs.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s listener: %w", s.l.Name, err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	for _, s := range srvs {
		if serr := s.hs.Shutdown(sctx); serr != nil && err == nil && !strings.Contains(serr.Error(), "closed") {
			err = fmt.Errorf("shutting down %s listener: %w", s.l.Name, serr)
		}
	}
	wg.Wait()
	return err
}
