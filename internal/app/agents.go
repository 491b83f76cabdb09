package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/costwarden/costwarden/internal/agentapi"
	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/clusterca"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/server"
	"github.com/costwarden/costwarden/internal/sets"
)

// lazyCA opens (or on first use makes) the installation's agents CA once.
type lazyCA struct {
	d   *data
	now func() time.Time

	mu sync.Mutex
	ca *clusterca.CA
}

func (l *lazyCA) get(ctx context.Context) (*clusterca.CA, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ca != nil {
		return l.ca, nil
	}
	ca, err := clusterca.Open(ctx, l.d.store, l.d.keyring, l.now)
	if err != nil {
		return nil, err
	}
	l.ca = ca
	return ca, nil
}

// clusterAdmin is one tenant's cluster administration, with the CA opened
// when first needed (an installation without agents never makes one).
type clusterAdmin struct {
	ca    *lazyCA
	store agentapi.AdminStore
	sets  *sets.Sets
	ttl   time.Duration
	now   func() time.Time
}

func (c *clusterAdmin) admin(ctx context.Context) (*agentapi.Admin, error) {
	ca, err := c.ca.get(ctx)
	if err != nil {
		return nil, err
	}
	return &agentapi.Admin{Store: c.store, Sets: c.sets, CA: ca, TokenTTL: c.ttl, Now: c.now}, nil
}

func (c *clusterAdmin) List(ctx context.Context) ([]agentapi.ClusterInfo, error) {
	// Listing needs no CA.
	return (&agentapi.Admin{Store: c.store, Sets: c.sets, Now: c.now}).List(ctx)
}

func (c *clusterAdmin) Add(ctx context.Context, name string) (agentapi.Enrolment, error) {
	a, err := c.admin(ctx)
	if err != nil {
		return agentapi.Enrolment{}, err
	}
	return a.Add(ctx, name)
}

func (c *clusterAdmin) TokenByID(ctx context.Context, id string) (agentapi.Enrolment, error) {
	a, err := c.admin(ctx)
	if err != nil {
		return agentapi.Enrolment{}, err
	}
	return a.TokenByID(ctx, id)
}

func (c *clusterAdmin) RevokeByID(ctx context.Context, id string) (agentapi.ClusterInfo, error) {
	a, err := c.admin(ctx)
	if err != nil {
		return agentapi.ClusterInfo{}, err
	}
	return a.RevokeByID(ctx, id)
}

// listenerNames are the names and addresses put in the agents listener's
// certificate: the configured ones, the host name, localhost, loopback, and the
// listen address.
func listenerNames(cfg config.Config) ([]string, []net.IP) {
	var names []string
	var ips []net.IP
	add := func(s string) {
		if s == "" {
			return
		}
		if ip := net.ParseIP(s); ip != nil {
			if !ip.IsUnspecified() {
				ips = append(ips, ip)
			}
			return
		}
		names = append(names, s)
	}
	for _, n := range cfg.Agents.ServerNames {
		add(n)
	}
	if h, err := os.Hostname(); err == nil {
		add(h)
	}
	add("localhost")
	add("127.0.0.1")
	add("::1")
	if host, _, err := net.SplitHostPort(cfg.Server.AgentListen); err == nil {
		add(host)
	}
	return names, ips
}

// agentsListener builds the agents listener: the protocol of internal/agentapi
// over TLS with client certificates from the internal CA.
func agentsListener(ctx context.Context, ca *clusterca.CA, d *data, cfg config.Config, env Env, tenants agentapi.Tenants,
	reg prometheus.Registerer, record func(context.Context, agentapi.Event), log *slog.Logger) (server.Listener, error) {
	api := agentapi.New(agentapi.Options{
		CA: ca, Store: d.store, Tenants: tenants,
		CertTTL: cfg.Agents.CertTTL, MaxSkew: cfg.Agents.MaxClockSkew, MaxBodyBytes: cfg.Agents.MaxWindowBytes,
		Now: env.Now, Log: log, Record: record, Registerer: reg,
	})
	names, ips := listenerNames(cfg)
	tlsCfg, err := api.TLSConfig(names, ips)
	if err != nil {
		return server.Listener{}, err
	}
	allow, err := server.ParsePrefixes(cfg.Server.AgentAllowCIDRs)
	if err != nil {
		return server.Listener{}, fmt.Errorf("server.agentAllowCIDRs: %w", err)
	}
	log.Info("agents listener", "addr", cfg.Server.AgentListen, "ca_pin", ca.Pin(), "cert_ttl", cfg.Agents.CertTTL.String())
	return server.Listener{Name: "agents", Addr: cfg.Server.AgentListen, Handler: api, TLS: true, TLSConfig: tlsCfg, Allow: allow}, nil
}

// agentRecorder writes the agents listener's events (enrolments, renewals,
// refusals) to the audit trail of the agent's tenant (the installation's when
// the tenant is not known, as for a refused certificate of another CA). A
// failed write is logged: the agent's request has been answered already.
func agentRecorder(trail func(ctx context.Context, tenant string) *audit.Auditor, log *slog.Logger) func(context.Context, agentapi.Event) {
	return func(ctx context.Context, e agentapi.Event) {
		actor := audit.Actor{ID: e.Agent, Name: e.Agent, Kind: audit.KindAgent}
		if actor.ID == "" {
			actor = audit.Actor{ID: "unknown", Name: "unauthenticated agent", Kind: audit.KindAgent}
		}
		ev := audit.Event{Action: audit.Code(e.Action), Outcome: audit.Outcome(e.Outcome), Actor: actor, SourceIP: e.SourceIP}
		if e.Cluster != "" {
			ev.Target = "cluster " + e.Cluster
		}
		if e.Reason != "" {
			ev.Detail("reason", e.Reason)
		}
		if e.Tenant != "" {
			ev.Detail("tenant", e.Tenant)
		}
		if err := trail(ctx, e.Tenant).Record(context.WithoutCancel(ctx), ev); err != nil {
			log.Error("recording an agent event in the audit trail", "action", e.Action, "error", err)
		}
	}
}

// withClusters runs fn with the tenant's cluster administration as one audited
// local command (recorded in the tenant's trail).
func withClusters(ctx context.Context, cfg config.Config, env Env, code audit.Code, target string, fn func(*agentapi.Admin) error) error {
	return auditedFor(ctx, cfg, env, code, target, func(d *data, _ map[string]string) error {
		ca, err := clusterca.Open(ctx, d.store, d.keyring, env.Now)
		if err != nil {
			return err
		}
		st := sets.New(d.tenantData(), d.keyring, d.tenant, env.Now)
		return fn(&agentapi.Admin{Store: d.tenantData(), Sets: st, CA: ca, TokenTTL: cfg.Agents.JoinTokenTTL, Now: env.Now})
	})
}

func printEnrolment(env Env, e agentapi.Enrolment, verb string) {
	fmt.Fprintln(env.Stdout, e.JoinToken)
	fmt.Fprintf(env.Stderr, "%s cluster %s: the join token above works once, until %s; it pins this installation's CA. On the cluster run:\n"+
		"  costwarden agent --server https://SERVER:PORT --join-token TOKEN --data-dir /var/lib/costwarden-agent\n",
		verb, e.Cluster.Name, e.ExpiresAt.UTC().Format(time.RFC3339))
}

// ClusterAdd registers a cluster and prints its agent's one-time join token.
func ClusterAdd(ctx context.Context, cfg config.Config, env Env, name string) error {
	return withClusters(ctx, cfg, env, audit.ClusterAdd, "cluster "+name, func(a *agentapi.Admin) error {
		e, err := a.Add(ctx, name)
		if err != nil {
			return err
		}
		printEnrolment(env, e, "added")
		return nil
	})
}

// ClusterToken prints a new join token for an enrolled cluster.
func ClusterToken(ctx context.Context, cfg config.Config, env Env, name string) error {
	return withClusters(ctx, cfg, env, audit.ClusterToken, "cluster "+name, func(a *agentapi.Admin) error {
		e, err := a.Token(ctx, name)
		if err != nil {
			return err
		}
		printEnrolment(env, e, "new join token for")
		return nil
	})
}

// ClusterRevoke revokes a cluster's agent.
func ClusterRevoke(ctx context.Context, cfg config.Config, env Env, name string) error {
	return withClusters(ctx, cfg, env, audit.ClusterRevoke, "cluster "+name, func(a *agentapi.Admin) error {
		ci, err := a.Revoke(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "cluster %s: agent %s revoked; it is refused from its next request. Its stored costs stay.\n", ci.Name, ci.Agent)
		return nil
	})
}

// ClusterList prints the tenant's clusters and their agents.
func ClusterList(ctx context.Context, cfg config.Config, env Env, asJSON bool) error {
	return withClusters(ctx, cfg, env, audit.ClusterList, "clusters", func(a *agentapi.Admin) error {
		list, err := a.List(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			if list == nil {
				list = []agentapi.ClusterInfo{}
			}
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(list)
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATE\tAGENT\tENROLLED\tCERTIFICATE UNTIL\tLAST SEEN\tCLOCK SKEW")
		for _, c := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%s\n", c.Name, c.State, orDash(c.Agent), c.Enrolled, when(c.CertNotAfter), when(c.LastSeen),
				(time.Duration(c.ClockSkew * float64(time.Second))).Round(time.Millisecond))
		}
		return tw.Flush()
	})
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
