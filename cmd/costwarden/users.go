package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/costwarden/costwarden/internal/app"
)

// userLifecycle adds the user subcommands beyond add: list, disable, enable,
// delete and reset-mfa, and add's --email and --scope.
func (c *cli) userLifecycle(cmd, add *cobra.Command, email, scope *string) {
	add.Long = "Create a user. A one-time setup code is printed on stdout: with it the user sets a password and enrols TOTP at https://HOST/setup. The first administrator is created this way."
	add.Flags().StringVar(email, "email", "", "e-mail address (unique; links an SSO login with the same verified e-mail)")
	add.Flags().StringVar(scope, "scope", "", "cost scope: namespaces=a|b;clusters=c;selector=team=x (default: everything)")
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List users and service accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			return app.ListUsers(cmd.Context(), cfg, c.env(cfg))
		},
	})
	for _, a := range []struct{ use, short string }{
		{"disable", "Disable a user or service account; its sessions and tokens end at once"},
		{"enable", "Enable a disabled user or service account (revoked credentials stay revoked)"},
		{"delete", "Delete a user or service account with its sessions, tokens and access requests"},
		{"reset-mfa", "Remove a user's second factor, end their sessions, and print a new setup code"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   a.use + " NAME",
			Short: a.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				cfg, err := c.load(cmd)
				if err != nil {
					return fmt.Errorf("configuration:\n%w", err)
				}
				return app.UserAction(cmd.Context(), cfg, c.env(cfg), a.use, args[0])
			},
		})
	}
}

func (c *cli) serviceAccountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "service-account", Short: "Manage service accounts (works on the data directory directly)"}
	var owner, role, scope string
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Create a service account owned by a user; it authenticates with API tokens only",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			return app.AddServiceAccount(cmd.Context(), cfg, c.env(cfg), args[0], owner, role, scope)
		},
	}
	add.Flags().StringVar(&owner, "owner", "", "the user accountable for it (disabled with it)")
	add.Flags().StringVar(&role, "role", "", "role: admin, editor, viewer or auditor")
	add.Flags().StringVar(&scope, "scope", "", "cost scope: namespaces=a|b;clusters=c;selector=team=x (default: everything)")
	_ = add.MarkFlagRequired("owner")
	_ = add.MarkFlagRequired("role")
	cmd.AddCommand(add)
	return cmd
}
