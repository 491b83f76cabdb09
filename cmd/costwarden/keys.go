package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/config"
)

// runWith loads the configuration and calls fn.
func (c *cli) runWith(fn func(cmd *cobra.Command, cfg config.Config, env app.Env) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		cfg, err := c.load(cmd)
		if err != nil {
			return fmt.Errorf("configuration:\n%w", err)
		}
		return fn(cmd, cfg, c.env(cfg))
	}
}

func (c *cli) keysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage encryption keys: status, rotation, re-encryption, rewrap (works on the store directly)"}
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "List every tenant's data-key versions (state, KEK, age, use count) and the re-encryption progress",
		Args:  cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			return app.KeysStatus(cmd.Context(), cfg, env)
		}),
	})

	var tenant string
	var reencrypt bool
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new data-key version for new writes; old versions still decrypt",
		Args:  cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			return app.KeysRotate(cmd.Context(), cfg, env, tenant, reencrypt)
		}),
	}
	rotate.Flags().StringVar(&tenant, "tenant", "", "rotate only this tenant (default: every tenant)")
	rotate.Flags().BoolVar(&reencrypt, "reencrypt", false, "re-encrypt older data right away, in the foreground")
	cmd.AddCommand(rotate)

	var reTenant string
	re := &cobra.Command{
		Use:   "reencrypt",
		Short: "Re-encrypt every blob sealed with an older data-key version, with progress; resumes an interrupted run",
		Args:  cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			return app.KeysReencrypt(cmd.Context(), cfg, env, reTenant)
		}),
	}
	re.Flags().StringVar(&reTenant, "tenant", "", "only this tenant (default: every tenant)")
	cmd.AddCommand(re)

	var to app.RewrapTarget
	rewrap := &cobra.Command{
		Use:   "rewrap",
		Short: "Re-wrap every data key under a new key-encryption key, without touching sealed data (stop the servers first)",
		Args:  cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			return app.KeysRewrap(cmd.Context(), cfg, env, to)
		}),
	}
	f := rewrap.Flags()
	f.StringVar(&to.Provider, "to-provider", "", "new provider: file, secret or awskms")
	f.StringVar(&to.File, "to-file", "", "provider file: the new key file (created 0600 if missing)")
	f.StringVar(&to.SecretFile, "to-secret-file", "", "provider secret: the mounted Secret file")
	f.StringVar(&to.AWSKMS.KeyID, "to-kms-key-id", "", "provider awskms: key id, ARN or alias")
	f.StringVar(&to.AWSKMS.Region, "to-kms-region", "", "provider awskms: region")
	f.StringVar(&to.AWSKMS.Endpoint, "to-kms-endpoint", "", "provider awskms: endpoint URL")
	f.StringVar(&to.AWSKMS.CredentialsFile, "to-kms-credentials-file", "", "provider awskms: shared credentials file")
	f.StringVar(&to.AWSKMS.Profile, "to-kms-profile", "", "provider awskms: profile")
	f.StringVar(&to.AWSKMS.CAFile, "to-kms-ca-file", "", "provider awskms: CA bundle for the endpoint")
	_ = rewrap.MarkFlagRequired("to-provider")
	cmd.AddCommand(rewrap)
	return cmd
}

func (c *cli) tenantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Manage tenants"}
	var yes bool
	shred := &cobra.Command{
		Use:   "shred TENANT",
		Short: "Destroy a tenant's keys (its stored data becomes unreadable at once), then delete its data",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			return app.TenantShred(cmd.Context(), cfg, c.env(cfg), args[0], yes)
		},
	}
	shred.Flags().BoolVar(&yes, "yes", false, "confirm: the data can never be recovered")
	cmd.AddCommand(shred)
	cmd.AddCommand(c.tenantAdminCmds()...)
	return cmd
}

func (c *cli) backupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "backup", Short: "Create and restore sealed backups (useless without the key-encryption key)"}
	var out string
	var force bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Write a consistent, sealed backup while the server runs",
		Args:  cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			return app.BackupCreate(cmd.Context(), cfg, env, out, force)
		}),
	}
	create.Flags().StringVar(&out, "out", "", "backup file to write (mode 0600); - writes to standard output")
	create.Flags().BoolVar(&force, "force", false, "replace an existing file")
	_ = create.MarkFlagRequired("out")
	cmd.AddCommand(create)

	var rforce bool
	restore := &cobra.Command{
		Use:   "restore FILE",
		Short: "Restore a backup into the configured store (SQLite or PostgreSQL); verifies it fully before writing",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			return app.BackupRestore(cmd.Context(), cfg, c.env(cfg), args[0], rforce)
		},
	}
	restore.Flags().BoolVar(&rforce, "force", false, "SQLite: set an existing database aside (renamed, not deleted) and restore in its place")
	cmd.AddCommand(restore)
	return cmd
}

func (c *cli) retentionCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "retention", Short: "Apply the retention policy"}
	cmd.AddCommand(&cobra.Command{
		Use:   "apply",
		Short: "Delete expired windows now and reclaim their space (the server does it every retention.interval)",
		Args:  cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			return app.RetentionApply(cmd.Context(), cfg, env)
		}),
	})
	return cmd
}
