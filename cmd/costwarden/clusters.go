package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/config"
)

// clusterCmd is costwarden cluster add|list|token|revoke: enrolment of agents.
func (c *cli) clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Enrol and revoke clusters' agents (works on the store directly)"}
	one := func(use, short string, fn func(cmd *cobra.Command, cfg config.Config, env app.Env, name string) error) *cobra.Command {
		return &cobra.Command{Use: use + " NAME", Short: short, Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			return fn(cmd, cfg, c.env(cfg), args[0])
		}}
	}
	cmd.AddCommand(one("add", "Register a cluster and print its agent's one-time join token (it pins this installation's CA)",
		func(cmd *cobra.Command, cfg config.Config, env app.Env, name string) error {
			return app.ClusterAdd(cmd.Context(), cfg, env, name)
		}))
	cmd.AddCommand(one("token", "Print a new one-time join token for an enrolled cluster (its agent re-enrols; older certificates stop working)",
		func(cmd *cobra.Command, cfg config.Config, env app.Env, name string) error {
			return app.ClusterToken(cmd.Context(), cfg, env, name)
		}))
	cmd.AddCommand(one("revoke", "Revoke a cluster's agent: it is refused from its next request (its stored costs stay)",
		func(cmd *cobra.Command, cfg config.Config, env app.Env, name string) error {
			return app.ClusterRevoke(cmd.Context(), cfg, env, name)
		}))
	var asJSON bool
	list := &cobra.Command{Use: "list", Short: "List clusters: agent, enrolment, certificate expiry, last contact, clock skew", Args: cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			return app.ClusterList(cmd.Context(), cfg, env, asJSON)
		})}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(list)
	return cmd
}

// agentCmd is costwarden agent: collect in this cluster and push to a central
// server over mTLS.
func (c *cli) agentCmd() *cobra.Command {
	var servers, token string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Collect this cluster's costs and push each closed hour to a central server over mTLS",
		Long: "Enrols once with a join token from `costwarden cluster add NAME` (the key pair is made here and never leaves the data directory), " +
			"then computes each hour locally into a sealed outbox and delivers it to the server's agents listener, retrying until it is stored.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			var list []string
			for _, s := range strings.Split(servers, ",") {
				if s = strings.TrimSpace(s); s != "" {
					list = append(list, s)
				}
			}
			return app.RunAgent(cmd.Context(), cfg, c.env(cfg), app.AgentOptions{Servers: list, JoinToken: token})
		},
	}
	f := cmd.Flags()
	f.StringVar(&servers, "server", "", "agents listener URL(s) of the central server, https://HOST:PORT, comma-separated (agent.servers)")
	f.StringVar(&token, "join-token", "", "one-time join token from costwarden cluster add NAME (or agent.joinTokenFile)")
	f.Bool("demo", false, "push the simulated demo cluster, named as enrolled")
	f.Int("demo-pods", 0, "pods of the demo cluster at peak (default 300)")
	f.Int("demo-days", 0, "days of demo history to backfill (default 30)")
	f.String("prometheus", "", "Prometheus base URL (collect.prometheus.url)")
	f.String("cluster-name", "", "the cluster's name in Prometheus; must be the enrolled name")
	f.Bool("kubernetes", false, "also read metadata from the Kubernetes API")
	f.String("kubeconfig", "", "kubeconfig for --kubernetes (default: the in-cluster service account)")
	var maxAge time.Duration
	check := &cobra.Command{
		Use:   "check",
		Short: "Liveness probe: fail when the agent in the data directory has not marked itself alive within --max-age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			return app.AgentCheck(cfg, c.env(cfg), maxAge)
		},
	}
	check.Flags().DurationVar(&maxAge, "max-age", 10*time.Minute, "longest time since the agent last marked itself alive")
	cmd.AddCommand(check)
	return cmd
}

// tenantAdminCmds are tenant add and list (hosted mode).
func (c *cli) tenantAdminCmds() []*cobra.Command {
	var hosts []string
	add := &cobra.Command{Use: "add ID", Short: "Register a hosted tenant (or replace its host names): its users reach it at --host", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return err
			}
			return app.TenantAdd(cmd.Context(), cfg, c.env(cfg), args[0], hosts)
		}}
	add.Flags().StringSliceVar(&hosts, "host", nil, "host name of the tenant (repeat or comma-separate)")
	list := &cobra.Command{Use: "list", Short: "List hosted tenants and their host names", Args: cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			return app.TenantList(cmd.Context(), cfg, env)
		})}
	return []*cobra.Command{add, list}
}
