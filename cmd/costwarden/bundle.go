package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/config"
)

// bundleCmds are export-bundle and import-bundle: offline transfer of cost
// windows between sites.
func (c *cli) bundleCmds() []*cobra.Command {
	var o app.BundleOptions
	var since, until string
	export := &cobra.Command{
		Use:   "export-bundle",
		Short: "Write cost windows to a file sealed to another site's key (for sites without a network between them)",
		Args:  cobra.NoArgs,
		RunE: c.runWith(func(cmd *cobra.Command, cfg config.Config, env app.Env) error {
			var err error
			if o.Since, err = parseWhen(since, env.Now()); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if until != "" {
				if o.Until, err = parseWhen(until, env.Now()); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			return app.ExportBundle(cmd.Context(), cfg, env, o)
		}),
	}
	f := export.Flags()
	f.StringVar(&o.To, "to", "", "the receiving site's bundle key (hex), as costwarden import-bundle --print-recipient prints it there")
	f.StringVar(&o.Out, "out", "", "bundle file to write (mode 0600, never overwritten)")
	f.StringVar(&since, "since", "720h", "first window: an RFC 3339 time or how far back (e.g. 720h)")
	f.StringVar(&until, "until", "", "end (exclusive): an RFC 3339 time (default now)")
	f.StringVar(&o.Cluster, "cluster", "", "only this cluster (default every cluster)")
	_ = export.MarkFlagRequired("to")
	_ = export.MarkFlagRequired("out")

	var printRecipient bool
	imp := &cobra.Command{
		Use:   "import-bundle [FILE]",
		Short: "Verify a bundle sealed to this site and store its windows under this site's keys; --print-recipient shows this site's key",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.load(cmd)
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			if printRecipient {
				return app.BundleRecipient(cmd.Context(), cfg, c.env(cfg))
			}
			if len(args) != 1 {
				return errors.New("import-bundle needs the bundle FILE (or --print-recipient)")
			}
			return app.ImportBundle(cmd.Context(), cfg, c.env(cfg), args[0])
		},
	}
	imp.Flags().BoolVar(&printRecipient, "print-recipient", false, "print this site's bundle public key (creating it on first use) and exit")
	return []*cobra.Command{export, imp}
}

func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("an RFC 3339 time (2026-01-02T15:04:05Z) or a positive duration (720h), got %q", s)
	}
	return now.Add(-d), nil
}
