package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/costwarden/costwarden/internal/app"
)

func (c *cli) pricingCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "pricing", Short: "Inspect the price catalogs"}
	var q app.PriceQuery
	show := &cobra.Command{
		Use:   "show",
		Short: "Print an instance type's hourly price and its CPU/RAM/GPU split",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.InstanceType == "" || q.Region == "" {
				return fmt.Errorf("--instance-type and --region are required")
			}
			cfg, err := c.load(cmd)
			if err != nil {
				return fmt.Errorf("configuration:\n%w", err)
			}
			return app.PricingShow(cmd.Context(), cfg, c.env(cfg), q)
		},
	}
	f := show.Flags()
	f.StringVar(&q.InstanceType, "instance-type", "", "instance type (m5.xlarge)")
	f.StringVar(&q.Region, "region", "", "region (us-east-1)")
	f.StringVar(&q.Provider, "provider", "", "aws, gcp or azure (default: guessed from the instance type)")
	f.BoolVar(&q.Spot, "spot", false, "price spot capacity")
	cmd.AddCommand(show)
	return cmd
}
