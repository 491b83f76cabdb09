// Command costwarden is the costwarden server and its administration CLI. It parses
// flags and hands over to internal/app; it holds no logic of its own.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/config"
)

// Set at link time: -ldflags "-X main.version=... -X main.revision=...".
var (
	version  = "dev"
	revision = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Environ())
	stop()
	os.Exit(code)
}

// flagKeys maps flags to the configuration keys they set.
var flagKeys = map[string]string{
	"data-dir":        "dataDir",
	"listen":          "server.listen",
	"internal-listen": "server.internalListen",
	"tls-cert":        "server.tls.certFile",
	"tls-key":         "server.tls.keyFile",
	"demo":            "demo.enabled",
	"demo-pods":       "demo.pods",
	"demo-days":       "demo.days",
	"prometheus":      "collect.prometheus.url",
	"cluster-name":    "collect.prometheus.clusterName",
	"kubernetes":      "collect.kubernetes.enabled",
	"kubeconfig":      "collect.kubernetes.kubeconfig",
	"agent-listen":    "server.agentListen",
}

type cli struct {
	stdout, stderr io.Writer
	environ        []string
	configFile     string
	tenant         string
}

// load builds the configuration from the flags the user set on cmd.
func (c *cli) load(cmd *cobra.Command) (config.Config, error) {
	set := map[string]string{}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if key, ok := flagKeys[f.Name]; ok {
			set[key] = f.Value.String()
		}
	})
	file := c.configFile
	if file == "" {
		for _, kv := range c.environ {
			if v, ok := cutPrefix(kv, "COSTWARDEN_CONFIG="); ok {
				file = v
			}
		}
	}
	return config.Load(config.Sources{File: file, Environ: c.environ, Flags: set})
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

func (c *cli) env(cfg config.Config) app.Env {
	return app.Env{
		Now: time.Now, Stdout: c.stdout, Stderr: c.stderr,
		Log:   app.NewLogger(c.stderr, cfg.Log),
		Build: app.Build{Version: version, Revision: revision}, Tenant: c.tenant,
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) int {
	c := &cli{stdout: stdout, stderr: stderr, environ: environ}
	root := &cobra.Command{
		Use:           "costwarden",
		Short:         "Kubernetes cost allocation that keeps your data yours",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&c.configFile, "config", "", "configuration file (YAML); also COSTWARDEN_CONFIG")
	root.PersistentFlags().String("data-dir", "", "data directory (database, key file, TLS certificate)")
	root.PersistentFlags().StringVar(&c.tenant, "tenant", "", "tenant the administration commands act on (hosted mode)")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	root.AddCommand(c.serveCmd(), c.versionCmd(), c.configCmd(), c.userCmd(), c.tokenCmd(), c.pricingCmd(), c.serviceAccountCmd(), c.simCmd())
	root.AddCommand(c.keysCmd(), c.tenantCmd(), c.backupCmd(), c.retentionCmd())
	root.AddCommand(c.queryCmd())
	root.AddCommand(c.clusterCmd(), c.agentCmd())
	root.AddCommand(append([]*cobra.Command{c.auditCmd(), c.doctorCmd()}, c.bundleCmds()...)...)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "costwarden: %v\n", err)
		var ee interface{ ExitCode() int }
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		return 1
	}
	return 0
}

func (c *cli) serveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the dashboard and API over HTTPS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			return app.Serve(cmd.Context(), cfg, c.env(cfg))
		},
	}
	f := cmd.Flags()
	f.Bool("demo", false, "serve the simulated demo cluster (backfills history on first start)")
	f.Int("demo-pods", 0, "pods of the demo cluster at peak (default 300)")
	f.Int("demo-days", 0, "days of demo history to backfill (default 30)")
	f.String("listen", "", "HTTPS listen address (default :8443)")
	f.String("internal-listen", "", "internal listener for /metrics (default 127.0.0.1:9003)")
	f.String("tls-cert", "", "TLS certificate file (PEM); default: a generated self-signed certificate")
	f.String("tls-key", "", "TLS private key file (PEM)")
	f.String("prometheus", "", "Prometheus base URL holding kube-state-metrics and cAdvisor series (collect.prometheus.url)")
	f.String("cluster-name", "", "name of the cluster that Prometheus observes (collect.prometheus.clusterName)")
	f.Bool("kubernetes", false, "also read metadata from the Kubernetes API (collect.kubernetes.enabled)")
	f.String("kubeconfig", "", "kubeconfig for --kubernetes (default: the in-cluster service account)")
	f.String("agent-listen", "", "agents listener address (mTLS), e.g. :8444 (server.agentListen)")
	return cmd
}

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rev := revision
			if rev == "" {
				rev = "unknown"
			}
			fmt.Fprintf(c.stdout, "costwarden %s (revision %s)\n", version, rev)
			return nil
		},
	}
}

func (c *cli) configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print the effective values (secrets redacted)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return fmt.Errorf("configuration is invalid:\n%w", err)
			}
			fmt.Fprint(c.stdout, cfg.Render())
			return nil
		},
	})
	return cmd
}

func (c *cli) userCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users (works on the data directory directly)"}
	var role, email, scope string
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			return app.AddUserWith(cmd.Context(), cfg, c.env(cfg), app.UserOptions{Name: args[0], Role: role, Email: email, Scope: scope})
		},
	}
	add.Flags().StringVar(&role, "role", "", "role: admin, editor, viewer or auditor")
	_ = add.MarkFlagRequired("role")
	cmd.AddCommand(add)
	c.userLifecycle(cmd, add, &email, &scope)
	return cmd
}

func (c *cli) tokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens (works on the data directory directly)"}
	var user string
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an API token; prints only the token on stdout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			return app.CreateToken(cmd.Context(), cfg, c.env(cfg), user, ttl)
		},
	}
	create.Flags().StringVar(&user, "user", "", "user the token belongs to")
	create.Flags().DurationVar(&ttl, "ttl", 0, "lifetime (default auth.tokenTTL, 90 days)")
	_ = create.MarkFlagRequired("user")
	cmd.AddCommand(create)
	return cmd
}
