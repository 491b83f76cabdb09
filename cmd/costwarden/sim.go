package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/config"
)

// simCmd is the simulated cluster as a Prometheus data source: exported history for
// promtool, or a live scrape target.
func (c *cli) simCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "sim", Short: "The simulated demo cluster as kube-state-metrics and cAdvisor series"}
	var o app.SimOptions
	common := func(cc *cobra.Command) {
		cc.Flags().StringVar(&o.Cluster, "cluster-name", "demo", "name of the simulated cluster")
		cc.Flags().Int64Var(&o.Seed, "seed", 1, "seed of the simulation")
		cc.Flags().IntVar(&o.Pods, "pods", 300, "pods at peak (20-50000)")
	}
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the cluster's history as OpenMetrics (for promtool tsdb create-blocks-from openmetrics)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return app.SimExport(cmd.Context(), o, c.simEnv())
		},
	}
	common(export)
	export.Flags().StringVar(&o.Window, "window", "", "window to export: 2d, yesterday, or start,end (RFC 3339)")
	export.Flags().StringVar(&o.Format, "format", "openmetrics", "output format (openmetrics)")
	export.Flags().DurationVar(&o.Resolution, "resolution", time.Minute, "sampling interval of the series")
	export.Flags().StringVarP(&o.Output, "output", "o", "", "output file (default: standard output)")
	_ = export.MarkFlagRequired("window")
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Expose the cluster's current state as a Prometheus scrape target (GET /metrics)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return app.SimServe(cmd.Context(), o, c.simEnv())
		},
	}
	common(serve)
	serve.Flags().StringVar(&o.Listen, "listen", "127.0.0.1:9101", "address to listen on")
	cmd.AddCommand(export, serve)
	return cmd
}

// simEnv is the environment of the sim commands: logs go to stderr as text.
func (c *cli) simEnv() app.Env {
	e := c.env(config.Default())
	e.Log = app.NewLogger(c.stderr, config.LogConfig{Level: "info", Format: "text"})
	return e
}
