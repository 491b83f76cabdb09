package main

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/costwarden/costwarden/internal/apiclient"
)

// queryCmd is the terminal client: `costwarden query allocation|assets|recommendations`.
func (c *cli) queryCmd() *cobra.Command {
	var (
		server, window, aggregate, filter, output, tokenFile, ca, assetType string
		insecure, idle, shareIdle                                           bool
	)
	cmd := &cobra.Command{
		Use:   "query allocation|assets|recommendations",
		Short: "Ask a costwarden server for costs and print a table, JSON or CSV",
		Long: "Ask a running costwarden server for allocations, assets or right-sizing recommendations.\n" +
			"The API token comes from COSTWARDEN_TOKEN or --token-file; the server's certificate is verified\n" +
			"against the system roots or --ca FILE.",
		Example: "  costwarden query allocation --server https://costwarden.example.com --window 7d --aggregate namespace\n" +
			"  costwarden query allocation --server https://127.0.0.1:8443 --ca ca.pem --window month --aggregate team --output csv\n" +
			"  costwarden query recommendations --server https://127.0.0.1:8443 --window 7d --filter 'namespace:\"payments\"'",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"allocation", "assets", "recommendations"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := apiclient.ValidOutput(output); err != nil {
				return err
			}
			token := ""
			for _, kv := range c.environ {
				if v, ok := cutPrefix(kv, "COSTWARDEN_TOKEN="); ok {
					token = v
				}
			}
			if tokenFile != "" {
				t, err := apiclient.ReadTokenFile(tokenFile)
				if err != nil {
					return err
				}
				token = t
			}
			if server == "" {
				for _, kv := range c.environ {
					if v, ok := cutPrefix(kv, "COSTWARDEN_SERVER="); ok {
						server = v
					}
				}
			}
			if server == "" {
				return fmt.Errorf("--server is required (or COSTWARDEN_SERVER)")
			}
			if insecure {
				fmt.Fprintln(c.stderr, "WARNING: --insecure-skip-verify: the server's certificate is NOT verified; anyone on the network can read your token and the costs. Use --ca FILE instead.")
			}
			cl, err := apiclient.New(apiclient.Options{Server: server, Token: token, CAFile: ca, InsecureSkipVerify: insecure})
			if err != nil {
				return err
			}
			q := apiclient.Query{Window: window, Aggregate: aggregate, Filter: filter, Output: output, Extra: url.Values{}}
			if cmd.Flags().Changed("idle") {
				q.Extra.Set("idle", strconv.FormatBool(idle))
			}
			if shareIdle {
				q.Extra.Set("shareIdle", "true")
			}
			ctx := cmd.Context()
			switch args[0] {
			case "allocation", "allocations":
				return cl.Allocation(ctx, q, c.stdout)
			case "assets":
				if aggregate != "" || filter != "" {
					return fmt.Errorf("assets take --window and --type only")
				}
				return cl.Assets(ctx, q, assetType, c.stdout)
			case "recommendations":
				return cl.Recommendations(ctx, q, c.stdout)
			}
			return fmt.Errorf("unknown query %q (allocation, assets, recommendations)", args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", "", "server URL, https://host:port (also COSTWARDEN_SERVER)")
	f.StringVar(&window, "window", "7d", "window: 7d, 24h, today, week, month, lastmonth, or start,end (RFC 3339)")
	f.StringVar(&aggregate, "aggregate", "", "aggregation: namespace, controller, pod, node, cluster, label:KEY, team, ... (comma-separated)")
	f.StringVar(&filter, "filter", "", `filter, e.g. namespace:"payments"+label[app]:"web"`)
	f.StringVar(&output, "output", "table", "table, json or csv")
	f.StringVar(&tokenFile, "token-file", "", "file holding the API token (default: COSTWARDEN_TOKEN)")
	f.StringVar(&ca, "ca", "", "PEM file of the CA that signed the server's certificate")
	f.BoolVar(&insecure, "insecure-skip-verify", false, "do not verify the server's certificate (tests only; prints a warning)")
	f.BoolVar(&idle, "idle", true, "allocation: include __idle__ rows")
	f.BoolVar(&shareIdle, "share-idle", false, "allocation: distribute idle cost over the rows")
	f.StringVar(&assetType, "type", "", "assets: node, disk or loadbalancer (default all)")
	return cmd
}
