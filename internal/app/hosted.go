package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/rollup"
	"github.com/costwarden/costwarden/internal/server"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
)

// Hosted mode: tenants (organisations) told apart by the request's host name.
// Each tenant gets its own stack — accounts, cost data, queries, API — built on
// a store bound to that tenant (store.ForTenant), its own data keys, and its
// own background jobs under per-tenant leases. The tenant registry is read at
// every request, so a tenant that is shredded stops answering at once, on
// every replica.

// tenantStack is one tenant's services.
type tenantStack struct {
	tenant  string
	sets    *sets.Sets
	auth    *auth.Service
	rollups *rollup.Job
	handler http.Handler
	auditor *audit.Auditor // the tenant's own trail
}

type hosted struct {
	dp serveDeps

	mu     sync.Mutex
	stacks map[string]*tenantStack
}

// hostedPlan serves every registered tenant.
func hostedPlan(_ context.Context, dp serveDeps) (*plan, error) {
	h := &hosted{dp: dp, stacks: map[string]*tenantStack{}}
	p := &plan{public: h, agentTenants: h.tenantSets, agentAudit: h.tenantAuditor}
	p.jobs = append(p.jobs,
		job{"maintenance", func(ctx context.Context) error {
			maintain(ctx, dp.d, dp.cfg, dp.env.Now, dp.env.Log.With("component", "maintenance"), dp.auditor)
			return ctx.Err()
		}},
		job{"purge", func(ctx context.Context) error { return h.purge(ctx, time.Hour) }},
	)
	p.always = append(p.always, h.superviseJobs)
	return p, nil
}

// stack returns the tenant's services, building them on first use; an error
// wrapping store.ErrNotFound when the tenant is not registered (any more).
func (h *hosted) stack(ctx context.Context, tenant string) (*tenantStack, error) {
	rec, err := h.dp.d.store.GetTenant(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return h.stackOf(rec.ID)
}

func (h *hosted) stackOf(tenant string) (*tenantStack, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.stacks[tenant]; ok {
		return s, nil
	}
	dp := h.dp
	d := *dp.d // the same store and keyring, acting for this tenant
	d.tenant = tenant
	bound := d.tenantData()
	log := dp.env.Log.With("tenant", tenant)
	st := sets.New(bound, d.keyring, tenant, dp.env.Now)
	authn := newAuth(&d, dp.cfg, dp.env.Now, log.With("component", "auth"))
	qs := query.NewServiceWithOptions(st, query.Options{CacheBytes: int(dp.cfg.Hosted.TenantCacheBytes)})
	auditor, err := newTenantAuditor(dp.d, tenant, dp.cfg, Env{Now: dp.env.Now, Log: log, Stdout: dp.env.Stdout})
	if err != nil {
		return nil, err
	}
	api := newAPI(dp, tenant, qs, authn, auditor)
	view := settingsView(dp.cfg)
	api.SettingsView, api.Keys = view, keysStatusOf(dp.d, dp.cfg, tenant)
	api.Clusters = &clusterAdmin{ca: dp.ca, store: bound, sets: st, ttl: dp.cfg.Agents.JoinTokenTTL, now: dp.env.Now}
	api.Ready = func() bool { return true }
	handler, err := server.Handler(server.Options{
		Routes: api.Routes(), Auth: credentials{authn}, Log: log.With("component", "http"),
		Metrics: dp.metrics, MaxBodyBytes: dp.cfg.Server.MaxBodyBytes, Now: dp.env.Now,
		Audit: auditor, DeniedPage: api.DeniedPage,
	})
	if err != nil {
		auditor.Close()
		return nil, err
	}
	s := &tenantStack{tenant: tenant, sets: st, auth: authn, handler: handler, auditor: auditor,
		rollups: rollup.New(st, rollup.Options{Now: dp.env.Now, Log: log.With("component", "rollup")})}
	h.stacks[tenant] = s
	return s, nil
}

// tenantAuditor is the trail a tenant's agents' events go to: the tenant's own,
// or the installation's when the tenant is unknown (a refusal names no tenant's
// data).
func (h *hosted) tenantAuditor(ctx context.Context, tenant string) *audit.Auditor {
	if tenant != "" {
		if s, err := h.stack(ctx, tenant); err == nil {
			return s.auditor
		}
	}
	return h.dp.auditor
}

// tenantSets is the agents API's view of tenants.
func (h *hosted) tenantSets(ctx context.Context, tenant string) (*sets.Sets, error) {
	s, err := h.stack(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return s.sets, nil
}

// hostOf is the request's host name, lower-case, without port.
func hostOf(r *http.Request) string {
	h := r.Host
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// ServeHTTP routes by host name to the tenant's handler. An unknown host gets
// the same 404 as an undeclared path: it tells nothing about tenants.
func (h *hosted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec, err := h.dp.d.store.TenantByHost(r.Context(), hostOf(r))
	if err == nil && rec.State == store.TenantActive {
		var s *tenantStack
		if s, err = h.stackOf(rec.ID); err == nil {
			s.handler.ServeHTTP(w, r)
			return
		}
	}
	w.Header().Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet && (r.URL.Path == "/healthz" || r.URL.Path == "/readyz") {
		// Load balancers check replicas by address, not by a tenant's name:
		// the process answers, and says nothing about tenants.
		if err != nil && !errors.Is(err, store.ErrNotFound) && r.URL.Path == "/readyz" {
			server.WriteError(w, r, http.StatusServiceUnavailable, "the service cannot reach its database", "")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
		return
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.dp.env.Log.ErrorContext(r.Context(), "hosted: resolving the tenant", "error", err)
		server.WriteError(w, r, http.StatusServiceUnavailable, "the service cannot reach its database; retry later", "")
		return
	}
	server.WriteError(w, r, http.StatusNotFound, "not found", "")
}

// superviseJobs keeps each registered tenant's rollups and inactivity sweep
// running under their own leases, and stops those of tenants that are gone.
func (h *hosted) superviseJobs(ctx context.Context) {
	running := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	defer func() {
		for _, c := range running {
			c()
		}
		wg.Wait()
	}()
	for {
		recs, err := h.dp.d.store.ListTenantRecords(ctx)
		if err != nil && ctx.Err() == nil {
			h.dp.env.Log.Warn("hosted: listing tenants", "error", err)
		}
		if err == nil {
			seen := map[string]bool{}
			for _, rec := range recs {
				seen[rec.ID] = true
				if _, ok := running[rec.ID]; ok {
					continue
				}
				s, err := h.stackOf(rec.ID)
				if err != nil {
					continue
				}
				tctx, cancel := context.WithCancel(ctx)
				running[rec.ID] = cancel
				log := h.dp.env.Log.With("tenant", rec.ID)
				wg.Add(3)
				go func() {
					defer wg.Done()
					h.dp.leases.Run(tctx, "rollup/"+rec.ID, s.rollups.Run)
				}()
				go func() {
					defer wg.Done()
					checkpoints(tctx, s.auditor, h.dp.cfg.Audit.CheckpointInterval, log.With("component", "audit"))
				}()
				go func() {
					defer wg.Done()
					h.dp.leases.Run(tctx, "sweep/"+rec.ID, func(ctx context.Context) error {
						for {
							disableInactive(ctx, s.auth, log.With("component", "auth"), s.auditor)
							select {
							case <-ctx.Done():
								return ctx.Err()
							case <-time.After(time.Hour):
							}
						}
					})
				}()
			}
			for id, cancel := range running {
				if !seen[id] {
					cancel()
					delete(running, id)
					h.mu.Lock()
					if s, ok := h.stacks[id]; ok {
						s.auditor.Close()
					}
					delete(h.stacks, id)
					h.mu.Unlock()
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(h.dp.cfg.HA.LeaseRetry * 4):
		}
	}
}

// purge deletes dead sessions and lockouts of every tenant every interval.
func (h *hosted) purge(ctx context.Context, interval time.Duration) error {
	st := h.dp.d.store
	for {
		now := h.dp.env.Now()
		if _, err := st.PurgeSessions(ctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
			h.dp.env.Log.Error("purging sessions", "error", err)
		}
		if _, err := st.PurgeLockouts(ctx, now.Add(-h.dp.cfg.Auth.Lockout.Window)); err != nil && ctx.Err() == nil {
			h.dp.env.Log.Error("purging lockouts", "error", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

var tenantIDPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,62}$`)

// ValidateTenantID accepts 2-63 characters: a lower-case letter, then letters,
// digits and hyphens.
func ValidateTenantID(id string) error {
	if !tenantIDPattern.MatchString(id) {
		return fmt.Errorf("tenant id %q: 2-63 characters, a-z then a-z, 0-9 and -", id)
	}
	return nil
}

var hostPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// TenantAdd registers a hosted tenant (or replaces its host names).
func TenantAdd(ctx context.Context, cfg config.Config, env Env, id string, hosts []string) error {
	if !cfg.Hosted.Enabled {
		return errors.New("tenants are a hosted-mode feature: set hosted.enabled")
	}
	if err := ValidateTenantID(id); err != nil {
		return err
	}
	if id == DefaultTenant {
		return fmt.Errorf("tenant id %q is the installation's own (its audit trail of starts, stops and install-wide commands): choose another", id)
	}
	if len(hosts) == 0 {
		return errors.New("--host: at least one host name the tenant's users reach it at")
	}
	var norm []string
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if len(h) > 253 || !hostPattern.MatchString(h) {
			return fmt.Errorf("--host %q: not a host name", h)
		}
		norm = append(norm, h)
	}
	slices.Sort(norm)
	norm = slices.Compact(norm)
	return audited(ctx, cfg, env, audit.TenantAdd, "tenant "+id, func(d *data, details map[string]string) error {
		details["hosts"] = strings.Join(norm, ",")
		rec := store.TenantRecord{ID: id, Hosts: norm, State: store.TenantActive, CreatedAt: env.Now().UTC()}
		if err := d.store.PutTenant(ctx, rec); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("--host: a host name already belongs to another tenant: %w", err)
			}
			return err
		}
		// The tenant's keys exist from the start (its index key and first data key).
		if err := d.keyring.Verify(ctx, id); err != nil {
			return err
		}
		if _, err := d.keyring.BlindIndex(ctx, id, "tenant", id); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "tenant %s serves %s; create its first administrator with: costwarden user add NAME --role admin --tenant %s\n", id, strings.Join(norm, ", "), id)
		return nil
	})
}

// TenantList prints the registered tenants.
func TenantList(ctx context.Context, cfg config.Config, env Env) error {
	return audited(ctx, cfg, env, audit.TenantList, "tenants", func(d *data, _ map[string]string) error {
		recs, err := d.store.ListTenantRecords(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TENANT\tSTATE\tHOSTS\tCREATED")
		for _, r := range recs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.State, strings.Join(r.Hosts, ","), when(r.CreatedAt))
		}
		return tw.Flush()
	})
}
