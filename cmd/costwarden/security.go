package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/config"
)

func (c *cli) auditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Verify and export the audit trail (works on the store directly)"}
	var pinned string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the hash chain and the signed checkpoints; names the first edited, deleted, inserted or reordered record",
		Args:  cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			return app.AuditVerify(cmd.Context(), cfg, env, pinned)
		}),
	}
	verify.Flags().StringVar(&pinned, "public-key", "", "verify checkpoints against this ed25519 public key (hex) instead of the stored one")
	cmd.AddCommand(verify)
	var since, until, out string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write audit records (with their hashes) and the signed checkpoints as JSON lines",
		Args:  cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			var s, u time.Time
			for _, x := range []struct {
				name, v string
				dst     *time.Time
			}{{"--since", since, &s}, {"--until", until, &u}} {
				if x.v == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, x.v)
				if err != nil {
					if d, derr := time.ParseDuration(x.v); derr == nil && x.name == "--since" {
						t = time.Now().Add(-d)
					} else {
						return fmt.Errorf("%s: an RFC 3339 time (2026-01-02T15:04:05Z) or, for --since, a duration (24h): %q", x.name, x.v)
					}
				}
				*x.dst = t
			}
			return app.AuditExport(cmd.Context(), cfg, env, s, u, out)
		}),
	}
	export.Flags().StringVar(&since, "since", "", "first time (RFC 3339) or how far back (e.g. 720h)")
	export.Flags().StringVar(&until, "until", "", "end time, exclusive (RFC 3339)")
	export.Flags().StringVar(&out, "out", "-", "file to write (created 0600, never overwritten); - for stdout")
	cmd.AddCommand(export)
	cmd.AddCommand(&cobra.Command{
		Use:   "hmac",
		Short: "Print how the audit trail records a sensitive value (an attempted username, an e-mail) read from standard input",
		Args:  cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			return app.AuditHMAC(cmd.Context(), cfg, env, cmd.InOrStdin())
		}),
	})
	return cmd
}

func (c *cli) doctorCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the configuration and data for security weaknesses; exit code 0 (ok), 2 low, 3 medium, 4 high, 5 critical",
		Args:  cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format: text or json, got %q", format)
			}
			return app.Doctor(cmd.Context(), cfg, env, format)
		}),
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	return cmd
}
