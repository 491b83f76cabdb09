// Package app is costwarden's composition root: it builds every part from the
// configuration (store, keyring, pricing, sources, ingestion, queries, auth, HTTP),
// runs them as one group and shuts them down cleanly. It also implements the local
// administration commands, which work on the data directory directly.
//
// Nothing but cmd/costwarden and end-to-end tests may import it.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/costwarden/costwarden/internal/agentapi"
	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/auth/oidc"
	"github.com/costwarden/costwarden/internal/collect/kube"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/costmetrics"
	"github.com/costwarden/costwarden/internal/egress"
	"github.com/costwarden/costwarden/internal/httpapi"
	"github.com/costwarden/costwarden/internal/ingest"
	"github.com/costwarden/costwarden/internal/lease"
	"github.com/costwarden/costwarden/internal/logging"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/rollup"
	"github.com/costwarden/costwarden/internal/server"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/telemetry"
	"github.com/costwarden/costwarden/web"
)

// Build describes the binary.
type Build struct {
	Version  string
	Revision string
}

// Env is what the process gives the application: clock, output, logger.
type Env struct {
	Now    func() time.Time
	Stdout io.Writer
	Stderr io.Writer
	Log    *slog.Logger
	Build  Build
	// Ready, if set, is called with each listener's bound address (tests).
	Ready func(name string, addr net.Addr)
	// Tenant is the tenant administration commands act on (--tenant; hosted
	// mode). Empty: the default tenant.
	Tenant string
	// Egress, if set, is given the server's guarded dialer (tests read the
	// dial attempts it recorded).
	Egress func(*egress.Dialer)
}

// NewLogger builds the process logger from configuration: structured JSON (or
// text) with credentials redacted and control characters escaped
// (internal/logging).
func NewLogger(w io.Writer, c config.LogConfig) *slog.Logger {
	return logging.New(w, c.Level, c.Format)
}

// Serve runs the server until ctx is cancelled.
func Serve(ctx context.Context, cfg config.Config, env Env) error {
	log := env.Log
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return fmt.Errorf("timeZone: %w", err)
	}
	setMemoryLimit(cfg, log)
	d, err := openData(ctx, cfg, env.Now)
	if err != nil {
		return err
	}
	defer func() {
		if err := d.Close(context.WithoutCancel(ctx)); err != nil {
			log.Error("closing the store", "error", err)
		}
	}()
	for _, w := range d.warnings {
		log.Warn(w)
	}
	// The installation's own trail (start, stop, configuration changes); in
	// hosted mode each tenant's actions go to that tenant's trail.
	auditor, err := newAuditor(d, cfg, env)
	if err != nil {
		return err
	}
	defer auditor.Close()
	if env.Egress != nil {
		env.Egress(d.egress)
	}
	pricer, err := newPricer(cfg)
	if err != nil {
		return err
	}
	pages, err := web.New()
	if err != nil {
		return err
	}
	// The provider's own discovery document (fetched over TLS from the
	// configured issuer) names its token and key endpoints: they are allowed.
	sso, err := newOIDC(cfg, env.Now, d.httpClient(15*time.Second), func(urls []string) {
		for _, u := range urls {
			if hp, err := urlHostPort(u); err == nil {
				_ = d.egress.Allow(egress.OIDC, hp)
			}
		}
	})
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "costwarden_build_info", Help: "Build of the running binary."}, []string{"version", "revision"})
	buildInfo.WithLabelValues(env.Build.Version, env.Build.Revision).Set(1)
	reg.MustRegister(buildInfo)
	metrics := server.NewMetrics(reg)
	tel := telemetryFor(d, cfg, env)
	if cfg.Telemetry.Endpoint != "" && !cfg.Egress.AirGapped {
		hp, err := urlHostPort(cfg.Telemetry.Endpoint)
		if err != nil {
			return fmt.Errorf("telemetry.endpoint: %w", err)
		}
		// Reachable only while consent holds: asked at every dial.
		if err := d.egress.AllowIf(egress.Telemetry, hp, func() bool {
			ok, err := tel.Enabled(context.WithoutCancel(ctx))
			return err == nil && ok
		}); err != nil {
			return err
		}
	}
	log.Info("outbound connections are limited to", "destinations", d.egress.Allowed(), "air_gapped", cfg.Egress.AirGapped)
	leases := lease.New(d.store, lease.Options{Retry: cfg.HA.LeaseRetry, Log: log.With("component", "lease"), Now: env.Now})
	ca := &lazyCA{d: d, now: env.Now}
	deps := serveDeps{d: d, cfg: cfg, env: env, loc: loc, pricer: pricer, pages: pages, sso: sso, metrics: metrics, leases: leases, ca: ca,
		auditor: auditor, tel: tel}

	var p *plan
	if cfg.Hosted.Enabled {
		p, err = hostedPlan(ctx, deps)
	} else {
		p, err = singlePlan(ctx, deps)
	}
	if err != nil {
		return err
	}

	tlsCfg, err := serverTLS(cfg, env.Now, log)
	if err != nil {
		return err
	}
	allow, err := server.ParsePrefixes(cfg.Server.AllowCIDRs)
	if err != nil {
		return fmt.Errorf("server.allowCIDRs: %w", err)
	}
	proxies, err := server.ParsePrefixes(cfg.Server.TrustedProxies)
	if err != nil {
		return fmt.Errorf("server.trustedProxies: %w", err)
	}
	public := server.ClientAddress(proxies, allow, log.With("component", "http"), p.public)
	listeners := []server.Listener{{Name: "public", Addr: cfg.Server.Listen, Handler: public, TLS: true, Allow: allow, Proxies: proxies}}
	if cfg.Server.InternalListen != "" {
		imux := http.NewServeMux()
		var metricsHandler http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		if cfg.Server.MetricsTokenFile != "" {
			// Cost series are customer data: exported only behind the scrape token.
			token, err := costmetrics.ReadToken(cfg.Server.MetricsTokenFile)
			if err != nil {
				return err
			}
			reg.MustRegister(costmetrics.New(p.query, env.Now, log.With("component", "costmetrics"), time.Minute))
			metricsHandler = costmetrics.RequireToken(token, metricsHandler)
		}
		imux.Handle("GET /metrics", metricsHandler)
		internalAllow, err := server.ParsePrefixes(cfg.Server.InternalAllowCIDRs)
		if err != nil {
			return fmt.Errorf("server.internalAllowCIDRs: %w", err)
		}
		listeners = append(listeners, server.Listener{Name: "internal", Addr: cfg.Server.InternalListen, Handler: imux, TLS: cfg.Server.InternalTLS, Allow: internalAllow})
		if !isLoopback(cfg.Server.InternalListen) {
			log.Warn("the internal listener (metrics) is not bound to loopback; restrict who can reach it", "addr", cfg.Server.InternalListen)
		}
	}
	if cfg.Server.AgentListen != "" {
		agentsCA, err := ca.get(ctx)
		if err != nil {
			return err
		}
		l, err := agentsListener(ctx, agentsCA, d, cfg, env, p.agentTenants, reg,
			agentRecorder(p.agentAudit, log.With("component", "agents")), log.With("component", "agents"))
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
	}
	ready := env.Ready
	env.Ready = func(name string, addr net.Addr) {
		if name == "public" {
			log.Info("costwarden is serving", "url", "https://"+displayAddr(addr), "demo", cfg.Demo.Enabled, "hosted", cfg.Hosted.Enabled)
			if p.noUsers {
				log.Warn("no users exist yet; create the first administrator with: " +
					"costwarden user add NAME --role admin --data-dir " + cfg.DataDir + " (it prints a one-time setup code for https://HOST/setup)")
			}
		}
		if ready != nil {
			ready(name, addr)
		}
	}

	if err := recordStart(ctx, d, cfg, env, auditor); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		tel.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		checkpoints(ctx, auditor, cfg.Audit.CheckpointInterval, log)
	}()
	// Background jobs run under leases: with several replicas on PostgreSQL,
	// each runs on exactly one of them, and moves when that one dies.
	for _, j := range p.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			leases.Run(ctx, j.lease, j.run)
		}()
	}
	for _, run := range p.always {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx)
		}()
	}
	srvErr := server.Run(ctx, server.Config{
		TLS: tlsCfg, ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout, ReadTimeout: cfg.Server.ReadTimeout,
		WriteTimeout: cfg.Server.WriteTimeout, IdleTimeout: cfg.Server.IdleTimeout, MaxHeaderBytes: cfg.Server.MaxHeaderBytes,
		ShutdownTimeout: cfg.Server.ShutdownTimeout, Log: log.With("component", "server"), Ready: env.Ready,
	}, listeners...)
	cancel()
	wg.Wait()
	stopCtx := context.WithoutCancel(ctx)
	if err := auditor.Record(stopCtx, audit.Event{Action: audit.ServerStop, Outcome: audit.Success, Actor: audit.System}); err != nil {
		log.Error("recording the stop in the audit trail", "error", err)
	}
	if _, err := auditor.Checkpoint(stopCtx); err != nil {
		log.Error("signing the audit checkpoint at shutdown", "error", err)
	}
	log.Info("stopped")
	return srvErr
}

// serveDeps are what the plans are built from.
type serveDeps struct {
	d       *data
	cfg     config.Config
	env     Env
	loc     *time.Location
	pricer  *pricing.Pricer
	pages   *web.Pages
	sso     *oidc.Client
	metrics *server.Metrics
	leases  *lease.Runner
	ca      *lazyCA
	auditor *audit.Auditor     // the installation's trail (the default tenant's)
	tel     *telemetry.Service // consent and reports (the installation's)
}

// job is a background job that runs under a lease.
type job struct {
	lease string
	run   func(ctx context.Context) error
}

// plan is what Serve serves and runs.
type plan struct {
	public       http.Handler
	query        *query.Service // the cost metrics' source (single tenant)
	agentTenants agentapi.Tenants
	agentAudit   func(ctx context.Context, tenant string) *audit.Auditor // the trail agents' events go to
	jobs         []job
	always       []func(ctx context.Context) // on every replica (informers)
	noUsers      bool
}

// newAPI builds one tenant's API, recording to that tenant's trail.
func newAPI(dp serveDeps, tenant string, qs *query.Service, authn *auth.Service, auditor *audit.Auditor) *httpapi.API {
	cfg := dp.cfg
	api := &httpapi.API{
		Query:    qs,
		Settings: query.Settings{Location: dp.loc, BusinessLabels: cfg.Allocation.BusinessLabels},
		Recommendations: query.RecommendationSettings{CPUPercentile: cfg.Recommendations.CPUPercentile, CPUHeadroom: cfg.Recommendations.CPUHeadroom,
			RAMHeadroom: cfg.Recommendations.RAMHeadroom, MinHours: cfg.Recommendations.MinHours},
		Now:  dp.env.Now,
		Log:  dp.env.Log.With("component", "api"),
		Auth: authn, Pages: dp.pages, PasswordLogin: cfg.Auth.PasswordLogin,
		Currency: cfg.Pricing.Currency, Tenant: tenant,
		Audit: auditor,
		Leases: func() []httpapi.LeaseStatus {
			var out []httpapi.LeaseStatus
			for _, h := range dp.leases.Held() {
				if strings.HasSuffix(h.Name, "/"+tenant) || strings.Contains(h.Name, "/"+tenant+"/") || (!cfg.Hosted.Enabled && !strings.Contains(h.Name, "/")) {
					out = append(out, httpapi.LeaseStatus{Name: h.Name, Since: h.Since.UTC()})
				}
			}
			return out
		},
	}
	if dp.sso != nil {
		api.OIDC = dp.sso
	}
	return api
}

// singlePlan is one organisation: the default tenant, with its local sources.
func singlePlan(ctx context.Context, dp serveDeps) (*plan, error) {
	d, cfg, env, log := dp.d, dp.cfg, dp.env, dp.env.Log
	st := sets.New(d.store, d.keyring, DefaultTenant, env.Now)
	authn := newAuth(d, cfg, env.Now, log.With("component", "auth"))
	p := &plan{}

	var ingesters []*ingest.Ingester
	var live []query.LiveSource
	var sources []*clusterSource
	var inventories []*kube.Inventory
	if cfg.Demo.Enabled {
		cl, err := sim.New(sim.Config{Name: cfg.Demo.ClusterName, Seed: cfg.Demo.Seed, Pods: cfg.Demo.Pods})
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		in := ingest.New(cl, dp.pricer, st, ingest.Options{
			Resolution: cfg.Collect.Resolution, CloseDelay: cfg.Collect.CloseDelay,
			Backfill: time.Duration(cfg.Demo.Days) * 24 * time.Hour, Now: env.Now, Log: log.With("component", "ingest"),
		})
		ingesters = append(ingesters, in)
		live = append(live, in)
		sources = append(sources, &clusterSource{kind: "demo", in: in, now: env.Now})
	}
	if cfg.Collect.Prometheus.URL != "" {
		src, ps, inv, err := prometheusSource(cfg, env.Now, log, d.egress)
		if err != nil {
			return nil, err
		}
		in := ingest.New(src, dp.pricer, st, ingest.Options{
			Resolution: cfg.Collect.Resolution, CloseDelay: cfg.Collect.CloseDelay,
			Backfill: cfg.Collect.Prometheus.Backfill, Now: env.Now, Log: log.With("component", "ingest"),
		})
		cs := &clusterSource{kind: "prometheus", in: in, prom: ps, kube: inv, now: env.Now}
		ingesters = append(ingesters, in)
		live = append(live, in)
		sources = append(sources, cs)
		if inv != nil {
			inventories = append(inventories, inv)
		}
		log.Info("cluster source", "cluster", ps.Name(), "source", describe(cs), "kubernetes", inv != nil)
	}
	if len(ingesters) == 0 && cfg.Server.AgentListen == "" {
		log.Warn("no cluster source is configured: costs are served from stored data only (use --prometheus URL --cluster-name NAME, --demo for the simulated cluster, or server.agentListen for agents)")
	}
	qs := query.NewServiceWithOptions(st, query.Options{CacheBytes: int(cfg.Query.CacheBytes)}, live...)
	rollups := rollup.New(st, rollup.Options{Now: env.Now, Log: log.With("component", "rollup")})
	p.query = qs

	api := newAPI(dp, DefaultTenant, qs, authn, dp.auditor)
	api.SettingsView, api.Keys = settingsView(cfg), keysStatus(d, cfg)
	api.Telemetry, api.Posture = dp.tel, &posture{d: d, cfg: cfg, now: env.Now, auditor: dp.auditor, tel: dp.tel}
	api.Clusters = &clusterAdmin{ca: dp.ca, store: d.store, sets: st, ttl: cfg.Agents.JoinTokenTTL, now: env.Now}
	ingestLease := func(in *ingest.Ingester) string { return "ingest/" + DefaultTenant + "/" + in.Name() }
	api.Ready = func() bool {
		for _, in := range ingesters {
			// A replica that does not hold a source's lease serves what the
			// holder stores.
			if !in.Ready() && dp.leases.Holds(ingestLease(in)) {
				return false
			}
		}
		return true
	}
	api.Sources = func() []httpapi.SourceStatus {
		out := make([]httpapi.SourceStatus, len(sources))
		for i, s := range sources {
			out[i] = s.status()
		}
		return out
	}
	public, err := server.Handler(server.Options{
		Routes: api.Routes(), Auth: credentials{authn}, Log: log.With("component", "http"),
		Metrics: dp.metrics, MaxBodyBytes: cfg.Server.MaxBodyBytes, Now: env.Now,
		Audit: dp.auditor, Count: dp.tel.Count, DeniedPage: api.DeniedPage,
	})
	if err != nil {
		return nil, err
	}
	p.public = public
	p.agentAudit = func(context.Context, string) *audit.Auditor { return dp.auditor }
	p.agentTenants = func(_ context.Context, tenant string) (*sets.Sets, error) {
		if tenant != DefaultTenant {
			return nil, fmt.Errorf("no tenant %q in a single-organisation installation", tenant)
		}
		return st, nil
	}
	users, err := d.store.ListPrincipals(ctx, DefaultTenant)
	if err != nil {
		return nil, err
	}
	p.noUsers = len(users) == 0

	p.jobs = append(p.jobs,
		job{"rollup/" + DefaultTenant, rollups.Run},
		job{"sweep/" + DefaultTenant, func(ctx context.Context) error {
			sweep(ctx, authn, time.Hour, log.With("component", "auth"), dp.auditor)
			return ctx.Err()
		}},
		job{"maintenance", func(ctx context.Context) error {
			maintain(ctx, d, cfg, env.Now, log.With("component", "maintenance"), dp.auditor)
			return ctx.Err()
		}},
	)
	for _, in := range ingesters {
		p.jobs = append(p.jobs, job{ingestLease(in), in.Run})
	}
	for _, inv := range inventories {
		p.always = append(p.always, func(ctx context.Context) { runInventory(ctx, inv, log) })
	}
	return p, nil
}

func customPrices(c config.CustomPrices) pricing.Custom {
	return pricing.Custom{CPU: c.CPU, RAM: c.RAM, GPU: c.GPU, Storage: c.Storage, LoadBalancer: c.LoadBalancer, SpotCPU: c.SpotCPU, SpotRAM: c.SpotRAM}
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// AddUser creates a user with a role (local administration); see AddUserWith.
func AddUser(ctx context.Context, cfg config.Config, env Env, name, role string) error {
	return AddUserWith(ctx, cfg, env, UserOptions{Name: name, Role: role})
}

// CreateToken issues an API token and writes only the token to stdout.
func CreateToken(ctx context.Context, cfg config.Config, env Env, user string, ttl time.Duration) error {
	if ttl == 0 {
		ttl = cfg.Auth.TokenTTL
	}
	return auditedFor(ctx, cfg, env, audit.TokenCreate, "user "+user, func(d *data, details map[string]string) error {
		svc := newAuth(d, cfg, env.Now, env.Log)
		p, err := svc.User(ctx, user)
		if err != nil {
			return err
		}
		secret, tok, err := svc.CreateToken(ctx, p.ID, auth.TokenRequest{Name: "cli", TTL: ttl})
		if err != nil {
			return err
		}
		details["token"] = tok.ID
		fmt.Fprintln(env.Stdout, secret)
		fmt.Fprintf(env.Stderr, "token %s for %s expires %s\n", tok.ID, user, tok.ExpiresAt.Format(time.RFC3339))
		return nil
	})
}
