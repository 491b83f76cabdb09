// Package costmetrics exports cost as Prometheus series under the names
// OpenCost's exporter uses (node_cpu_hourly_cost, container_cpu_allocation,
// kubecost_load_balancer_cost, ...), so the Grafana dashboards written for
// OpenCost work unchanged against costwarden. It also guards the scrape with a
// bearer token: cost data is customer data, even on a loopback listener.
//
// It reads costs through the query service and must not compute them.
package costmetrics

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/query"
)

// Source is what the exporter reads (query.Service implements it).
type Source interface {
	Allocation(ctx context.Context, req *query.AllocationRequest) ([]*allocation.Result, error)
	Assets(ctx context.Context, w cost.Window) (*query.AssetsResult, error)
}

const gib = 1 << 30

var (
	nodeLabels = []string{"cluster", "instance", "node", "instance_type", "region", "provider_id"}
	nodeCPU    = prometheus.NewDesc("node_cpu_hourly_cost", "Hourly cost of one CPU core of the node.", nodeLabels, nil)
	nodeRAM    = prometheus.NewDesc("node_ram_hourly_cost", "Hourly cost of one GiB of the node's memory.", nodeLabels, nil)
	nodeGPU    = prometheus.NewDesc("node_gpu_hourly_cost", "Hourly cost of one GPU of the node.", nodeLabels, nil)
	nodeTotal  = prometheus.NewDesc("node_total_hourly_cost", "Hourly cost of the whole node.", nodeLabels, nil)
	nodeGPUs   = prometheus.NewDesc("node_gpu_count", "GPUs of the node.", nodeLabels, nil)
	nodeSpot   = prometheus.NewDesc("kubecost_node_is_spot", "1 when the node is a spot (preemptible) instance.", nodeLabels, nil)
	pvCost     = prometheus.NewDesc("pv_hourly_cost", "Hourly cost of one GiB of the persistent volume.", []string{"cluster", "volumename", "persistentvolume", "provider_id"}, nil)
	ctrLabels  = []string{"cluster", "instance", "node", "namespace", "pod", "container"}
	ctrCPU     = prometheus.NewDesc("container_cpu_allocation", "CPU cores allocated to the container (max of request and usage), averaged over the last hour.", ctrLabels, nil)
	ctrRAM     = prometheus.NewDesc("container_memory_allocation_bytes", "Memory bytes allocated to the container (max of request and usage), averaged over the last hour.", ctrLabels, nil)
	ctrGPU     = prometheus.NewDesc("container_gpu_allocation", "GPUs allocated to the container, averaged over the last hour.", ctrLabels, nil)
	lbCost     = prometheus.NewDesc("kubecost_load_balancer_cost", "Hourly cost of the LoadBalancer service.", []string{"cluster", "namespace", "service_name", "ingress_ip"}, nil)
)

// Collector computes the series from the last hour of costs (the closed hour
// before and the open one), at most once per Refresh.
type Collector struct {
	src     Source
	now     func() time.Time
	log     *slog.Logger
	refresh time.Duration

	mu      sync.Mutex
	at      time.Time
	metrics []prometheus.Metric
}

// New returns a collector over src; results are reused for refresh.
func New(src Source, now func() time.Time, log *slog.Logger, refresh time.Duration) *Collector {
	return &Collector{src: src, now: now, log: log, refresh: refresh}
}

// Describe sends the descriptors of every series.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{nodeCPU, nodeRAM, nodeGPU, nodeTotal, nodeGPUs, nodeSpot, pvCost, ctrCPU, ctrRAM, ctrGPU, lbCost} {
		ch <- d
	}
}

// Collect sends the series; a failed query is logged and sends none (a scrape
// must not fail the whole registry).
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.metrics == nil || now.Sub(c.at) >= c.refresh {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		ms, err := c.compute(ctx, now)
		cancel()
		if err != nil {
			c.log.Error("cost metrics", "error", err)
		} else {
			c.metrics, c.at = ms, now
		}
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (c *Collector) compute(ctx context.Context, now time.Time) ([]prometheus.Metric, error) {
	w := cost.NewWindow(now.Truncate(time.Hour).Add(-time.Hour), now)
	assets, err := c.src.Assets(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	var out []prometheus.Metric
	for _, n := range assets.Nodes {
		l := []string{n.Cluster, n.Name, n.Name, n.InstanceType, n.Region, n.ProviderID}
		total := n.HourlyCPU*n.CPUCores + n.HourlyRAM*n.RAMBytes/gib + n.HourlyGPU*n.GPUs
		spot := 0.0
		if n.Spot {
			spot = 1
		}
		out = append(out, gauge(nodeCPU, n.HourlyCPU, l...), gauge(nodeRAM, n.HourlyRAM, l...), gauge(nodeGPU, n.HourlyGPU, l...),
			gauge(nodeTotal, total, l...), gauge(nodeGPUs, n.GPUs, l...), gauge(nodeSpot, spot, l...))
	}
	for _, d := range assets.Disks {
		if d.ByteHours <= 0 {
			continue
		}
		out = append(out, gauge(pvCost, d.Cost/(d.ByteHours/gib), d.Cluster, d.Name, d.Name, d.ProviderID))
	}
	for _, lb := range assets.LoadBalancers {
		if lb.Minutes <= 0 {
			continue
		}
		out = append(out, gauge(lbCost, lb.Cost/(lb.Minutes/60), lb.Cluster, lb.Namespace, lb.Name, ""))
	}
	results, err := c.src.Allocation(ctx, &query.AllocationRequest{Window: w, Accumulate: true})
	if err != nil {
		return nil, fmt.Errorf("allocations: %w", err)
	}
	for _, res := range results {
		for _, a := range res.Allocations {
			p := a.Properties
			if a.Kind != cost.KindContainer || p == nil || p.Container == "" {
				continue
			}
			l := []string{p.Cluster, p.Node, p.Node, p.Namespace, p.Pod, p.Container}
			out = append(out, gauge(ctrCPU, a.CPUCores(), l...), gauge(ctrRAM, a.RAMBytes(), l...))
			if a.GPUHours > 0 {
				out = append(out, gauge(ctrGPU, a.GPUs(), l...))
			}
		}
	}
	return out, nil
}

// ReadToken reads a scrape token file: one line, at least 16 characters.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("server.metricsTokenFile: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if len(t) < 16 || strings.ContainsAny(t, " \t\r\n") {
		return "", fmt.Errorf("server.metricsTokenFile: %s must hold one token of at least 16 characters without spaces", path)
	}
	return t, nil
}

// RequireToken lets a request through only with "Authorization: Bearer
// <token>"; anything else is a 401 that reveals nothing.
func RequireToken(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="costwarden-metrics"`)
			http.Error(w, "a scrape token is required (server.metricsTokenFile)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
