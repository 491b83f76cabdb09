package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/costwarden/costwarden/internal/agent"
	"github.com/costwarden/costwarden/internal/collect/kube"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/egress"
	"github.com/costwarden/costwarden/internal/ingest"
	"github.com/costwarden/costwarden/internal/sets"
)

// AgentOptions are agent mode's command-line settings.
type AgentOptions struct {
	// Servers override agent.servers; JoinToken overrides agent.joinTokenFile.
	Servers   []string
	JoinToken string
}

// RunAgent is costwarden agent: enrol (once) with the join token, then collect
// this cluster (the demo cluster, or Prometheus) with the engine into a sealed
// local outbox in the data directory, and push every closed hour to the
// central server until ctx ends.
func RunAgent(ctx context.Context, cfg config.Config, env Env, o AgentOptions) error {
	log := env.Log.With("component", "agent")
	setMemoryLimit(cfg, log)
	servers := o.Servers
	if len(servers) == 0 {
		servers = cfg.Agent.Servers
	}
	if len(servers) == 0 {
		return errors.New("--server: the central server's agents listener, https://HOST:PORT (agent.servers)")
	}
	for _, s := range servers {
		if !strings.HasPrefix(s, "https://") {
			return fmt.Errorf("--server %q: must be an https:// URL", s)
		}
	}
	token := strings.TrimSpace(o.JoinToken)
	if token == "" && cfg.Agent.JoinTokenFile != "" {
		b, err := os.ReadFile(cfg.Agent.JoinTokenFile)
		if err != nil {
			return fmt.Errorf("agent.joinTokenFile: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if !cfg.Demo.Enabled && cfg.Collect.Prometheus.URL == "" {
		return errors.New("the agent needs a source: --demo (the simulated cluster) or --prometheus URL --cluster-name NAME")
	}
	d, err := openData(ctx, cfg, env.Now)
	if err != nil {
		return err
	}
	defer func() {
		if err := d.Close(context.WithoutCancel(ctx)); err != nil {
			log.Error("closing the outbox", "error", err)
		}
	}()
	for _, s := range servers {
		hp, err := urlHostPort(s)
		if err != nil {
			return fmt.Errorf("--server: %w", err)
		}
		if err := d.egress.Allow(egress.Central, hp); err != nil {
			return err
		}
	}
	outbox := sets.New(d.store, d.keyring, DefaultTenant, env.Now)
	backfill := cfg.Collect.Prometheus.Backfill
	if cfg.Demo.Enabled {
		backfill = time.Duration(cfg.Demo.Days) * 24 * time.Hour
	}
	keep := cfg.Agent.Keep
	if keep == 0 {
		keep = backfill + 24*time.Hour
	}
	ag := agent.New(agent.Options{
		Servers: servers, JoinToken: token, Dir: cfg.DataDir, Sets: outbox, Store: d.store, Keep: keep,
		RetryMax: cfg.Agent.RetryMax, MaxSkew: cfg.Agents.MaxClockSkew, Dial: d.egress.DialContext, Now: env.Now, Log: log,
		AliveFile: filepath.Join(cfg.DataDir, AliveFile),
	})
	id, err := ag.Start(ctx)
	if err != nil {
		return err
	}
	pricer, err := newPricer(cfg)
	if err != nil {
		return err
	}
	var src ingest.Source
	var inv *kube.Inventory
	if cfg.Demo.Enabled {
		src, err = sim.New(sim.Config{Name: id.Cluster, Seed: cfg.Demo.Seed, Pods: cfg.Demo.Pods})
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	} else {
		if cfg.Collect.Prometheus.ClusterName != id.Cluster {
			return fmt.Errorf("this agent is enrolled for cluster %q but --cluster-name is %q: the server accepts only the enrolled cluster's costs", id.Cluster, cfg.Collect.Prometheus.ClusterName)
		}
		src, _, inv, err = prometheusSource(cfg, env.Now, log, d.egress)
		if err != nil {
			return err
		}
	}
	in := ingest.New(src, pricer, outbox, ingest.Options{
		Resolution: cfg.Collect.Resolution, CloseDelay: cfg.Collect.CloseDelay, Backfill: backfill,
		Now: env.Now, Log: env.Log.With("component", "ingest"),
	})
	log.Info("agent running", "cluster", id.Cluster, "tenant", id.Tenant, "servers", strings.Join(servers, ","),
		"certificate_until", id.NotAfter().UTC().Format(time.RFC3339), "source", map[bool]string{true: "demo", false: "prometheus"}[cfg.Demo.Enabled])
	var wg sync.WaitGroup
	if inv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runInventory(ctx, inv, env.Log)
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := in.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("ingestion stopped", "error", err)
		}
	}()
	go func() {
		defer wg.Done()
		_ = ag.Run(ctx)
	}()
	wg.Wait()
	log.Info("agent stopped", "pending", ag.Status().Pending)
	return nil
}

// AliveFile is the file in the agent's data directory whose modification time
// the running agent keeps moving (agent.Options.AliveFile).
const AliveFile = "agent.alive"

// AgentCheck is costwarden agent check, the agent's liveness probe: it fails
// when the agent in the data directory has not marked itself alive within
// maxAge (its delivery loop turns at least every agent.retryMax plus a
// request's timeout, even while the server is down).
func AgentCheck(cfg config.Config, env Env, maxAge time.Duration) error {
	path := filepath.Join(cfg.DataDir, AliveFile)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("the agent in %s has not started delivering yet (no %s)", cfg.DataDir, AliveFile)
	}
	if err != nil {
		return err
	}
	age := env.Now().Sub(fi.ModTime())
	if age > maxAge {
		return fmt.Errorf("the agent in %s last marked itself alive %s ago (limit %s): it is stuck", cfg.DataDir, age.Round(time.Second), maxAge)
	}
	fmt.Fprintf(env.Stdout, "agent alive %s ago\n", max(age, 0).Round(time.Second))
	return nil
}

// OutboxHour is one hour of an agent's outbox: what it computed.
type OutboxHour struct {
	Start     time.Time
	Partial   bool
	TotalCost float64
}

// AgentOutbox reads an agent's outbox (its data directory): every hourly window
// it computed, oldest first, with its total cost.
func AgentOutbox(ctx context.Context, cfg config.Config, env Env) (string, []OutboxHour, error) {
	d, err := openData(ctx, cfg, env.Now)
	if err != nil {
		return "", nil, err
	}
	defer d.Close(ctx)
	outbox := sets.New(d.store, d.keyring, DefaultTenant, env.Now)
	var out []OutboxHour
	cluster := ""
	err = outbox.Scan(ctx, cost.Hourly, time.Time{}, time.Unix(1<<40, 0), func(s *cost.Set) error {
		cluster = s.Cluster
		h := OutboxHour{Start: s.Window.Start, Partial: s.Partial}
		for _, a := range s.Allocations {
			h.TotalCost += a.TotalCost()
		}
		out = append(out, h)
		return nil
	})
	return cluster, out, err
}
