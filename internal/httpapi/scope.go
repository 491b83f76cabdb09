package httpapi

import (
	"fmt"
	"maps"
	"net/http"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
)

// filterOf is the caller's effective cost scope (its own, intersected with its
// token's). Every cost route is authenticated, so a missing principal is an
// internal error, never "unrestricted".
func filterOf(r *http.Request) (*rbac.Filter, error) {
	p := server.PrincipalFrom(r.Context())
	if p == nil {
		return nil, fmt.Errorf("cost query without a principal")
	}
	return p.Filter()
}

// rowLabels are the labels a scope's selector sees: the namespace's, overlaid by
// the pod's own.
func rowLabels(p *cost.Properties) map[string]string {
	if len(p.NamespaceLabels) == 0 {
		return p.Labels
	}
	m := maps.Clone(p.NamespaceLabels)
	maps.Copy(m, p.Labels)
	return m
}

// scopeAllocation sets the query's row predicate and cluster coverage from the
// caller's scope: rows outside it are removed before aggregation (so names and
// costs outside it never appear, whatever the filter or aggregation), and idle
// and shared rows stay only for clusters the scope covers entirely. It reports
// whether the caller is restricted.
func (a *API) scopeAllocation(r *http.Request, q *allocation.Query) (bool, error) {
	f, err := filterOf(r)
	if err != nil {
		return false, err
	}
	if f.Unrestricted() {
		return false, nil
	}
	q.Scope = func(al *cost.Allocation) bool {
		if al.Properties == nil {
			return false
		}
		if al.Kind == cost.KindShared || al.Kind == cost.KindIdle {
			return f.CoversCluster(al.Properties.Cluster)
		}
		return f.Allows(al.Properties.Cluster, al.Properties.Namespace, rowLabels(al.Properties))
	}
	q.ScopeCoversCluster = f.CoversCluster
	q.ScopeKey = f.Key()
	return true, nil
}

// scopeRecommendations restricts right-sizing to workloads inside the caller's
// scope, composed with the request's own filter.
func (a *API) scopeRecommendations(r *http.Request, opts *allocation.RecommendOptions) error {
	f, err := filterOf(r)
	if err != nil {
		return err
	}
	if f.Unrestricted() {
		return nil
	}
	own := opts.Filter
	opts.Filter = func(al *cost.Allocation) bool {
		if al.Properties == nil || al.Kind != cost.KindContainer {
			return false
		}
		return f.Allows(al.Properties.Cluster, al.Properties.Namespace, rowLabels(al.Properties)) && (own == nil || own(al))
	}
	return nil
}

// scopeAssets removes nodes, disks and load balancers of clusters the caller's
// scope does not cover entirely: they are cluster-level resources.
func (a *API) scopeAssets(r *http.Request, res *query.AssetsResult) error {
	f, err := filterOf(r)
	if err != nil {
		return err
	}
	if f.Unrestricted() {
		return nil
	}
	for k, n := range res.Nodes {
		if !f.CoversCluster(n.Cluster) {
			delete(res.Nodes, k)
		}
	}
	for k, d := range res.Disks {
		if !f.CoversCluster(d.Cluster) {
			delete(res.Disks, k)
		}
	}
	for k, l := range res.LoadBalancers {
		if !f.CoversCluster(l.Cluster) {
			delete(res.LoadBalancers, k)
		}
	}
	return nil
}
