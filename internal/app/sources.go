package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/costwarden/costwarden/internal/collect/kube"
	"github.com/costwarden/costwarden/internal/collect/merge"
	"github.com/costwarden/costwarden/internal/collect/prom"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/egress"
	"github.com/costwarden/costwarden/internal/httpapi"
	"github.com/costwarden/costwarden/internal/ingest"
)

// clusterSource is one configured cluster: its ingester and the collectors behind it.
type clusterSource struct {
	kind string
	in   *ingest.Ingester
	prom *prom.Source
	kube *kube.Inventory
	now  func() time.Time
}

// prometheusSource builds the Prometheus source, with the Kubernetes inventory
// applied on top when collect.kubernetes.enabled.
func prometheusSource(cfg config.Config, now func() time.Time, log *slog.Logger, dialer *egress.Dialer) (ingest.Source, *prom.Source, *kube.Inventory, error) {
	pc := cfg.Collect.Prometheus
	ps, err := prom.New(prom.Config{
		URL: pc.URL, Cluster: pc.ClusterName, ClusterLabel: pc.ClusterLabel, ClusterValue: pc.ClusterLabelValue,
		Matchers: pc.Matchers, CAFile: pc.CAFile, BearerTokenFile: pc.BearerTokenFile,
		BasicAuthUsername: pc.BasicAuthUsername, BasicAuthPasswordFile: pc.BasicAuthPasswordFile,
		Timeout: pc.Timeout, Concurrency: pc.Concurrency, MaxSamples: pc.MaxSamples, ReplicaLabel: pc.ReplicaLabel,
		Now: now, Log: log.With("component", "prometheus"), Dial: dialer.DialContext,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	if !cfg.Collect.Kubernetes.Enabled {
		return ps, ps, nil, nil
	}
	kc := cfg.Collect.Kubernetes
	client, err := kube.Client(kube.Config{Kubeconfig: kc.Kubeconfig, Context: kc.Context, Dial: dialer.DialContext,
		Allow: func(hp string) error { return dialer.Allow(egress.Kubernetes, hp) }})
	if err != nil {
		return nil, nil, nil, err
	}
	inv := kube.New(client, kube.Options{DeletedRetention: kc.DeletedRetention, Now: now, Log: log.With("component", "kubernetes")})
	return &merge.Source{Usage: ps, Enrich: func(o *cost.Observation) { inv.Apply(o) }}, ps, inv, nil
}

// runInventory starts the informers; the status endpoint shows their progress.
func runInventory(ctx context.Context, inv *kube.Inventory, log *slog.Logger) {
	if err := inv.Run(ctx); err != nil && ctx.Err() == nil {
		log.Error("the Kubernetes API source did not start; metadata comes from kube-state-metrics only", "error", err)
	}
}

// status reports the source for GET /api/v1/status.
func (c *clusterSource) status() httpapi.SourceStatus {
	st := c.in.Status()
	b := st.Backfill
	out := httpapi.SourceStatus{
		Cluster: st.Cluster, Kind: c.kind, State: st.State,
		LastError: st.LastError, LastErrorAt: httpapi.TimePtr(st.LastErrorAt), ConsecutiveFailures: st.ConsecutiveFailures,
		NextRetry: httpapi.TimePtr(st.NextRetry), LiveThrough: httpapi.TimePtr(st.LiveThrough), LastClosed: httpapi.TimePtr(st.LastClosed),
		Backfill: httpapi.BackfillStatus{
			State: b.State, From: httpapi.TimePtr(b.From), To: httpapi.TimePtr(b.To), Total: b.Total, Done: b.Done,
			Current: httpapi.TimePtr(b.Current), StartedAt: httpapi.TimePtr(b.StartedAt), FinishedAt: httpapi.TimePtr(b.EndAt),
		},
		PartialHours: st.Partial, PartialCount: st.PartialCount, Gaps: st.Gaps, HoursWithoutData: st.NoData,
		LastScan: httpapi.TimePtr(st.LastScan),
	}
	out.Backfill.SetProgress(b.Percent(), b.HoursPerMinute, b.ETA.Seconds())
	if out.PartialHours == nil {
		out.PartialHours = []time.Time{}
	}
	last := st.LiveThrough
	if c.prom != nil {
		h := c.prom.Health()
		out.URL = c.prom.URL()
		out.LastSuccess = httpapi.TimePtr(h.LastSuccess)
		out.LastErrorKind = h.LastErrorKind
		if out.LastError == "" && h.ConsecutiveFailures > 0 {
			out.LastError, out.LastErrorAt = h.LastError, httpapi.TimePtr(h.LastErrorAt)
		}
		out.MissingLabels, out.Warnings, out.Queries = h.MissingLabels, h.Warnings, h.Queries
		last = h.LastSample
	}
	if !last.IsZero() {
		out.LastSample = httpapi.TimePtr(last)
		lag := c.now().Sub(last).Seconds()
		out.LagSeconds = &lag
	}
	if c.kube != nil {
		h := c.kube.Health()
		out.Kubernetes = &httpapi.KubernetesStatus{Synced: h.Synced, Events: h.Events, LastEvent: httpapi.TimePtr(h.LastEvent), LastError: h.LastError, Pods: h.Pods, Nodes: h.Nodes}
	}
	return out
}

func describe(c *clusterSource) string {
	if c.prom != nil {
		return fmt.Sprintf("prometheus %s", c.prom.URL())
	}
	return c.kind
}
