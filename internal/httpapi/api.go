// Package httpapi holds costwarden's HTTP API handlers: the OpenCost-compatible
// endpoints (/allocation, /allocation/compute, /assets) and costwarden's own API,
// the JSON shapes they return, and the one place that maps errors to HTTP statuses.
// Routes() declares every route with its access and permission.
//
// Handlers return a value or an error; they must not build listeners or decide
// authentication (internal/server does), and must not compute costs (query and
// allocation do).
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
)

// API serves the HTTP API.
type API struct {
	Query    *query.Service
	Settings query.Settings
	Now      func() time.Time
	Log      *slog.Logger
	// Ready reports whether the server can answer cost queries (an hour is stored).
	Ready func() bool
	// Sources reports the cluster sources for GET /api/v1/status.
	Sources func() []SourceStatus
}

// Routes declares every route of the public listener.
func (a *API) Routes() []server.Route {
	return []server.Route{
		{Method: "GET", Path: "/healthz", Access: server.Public, Summary: "Liveness: the process serves requests.", Handler: a.handle(a.healthz)},
		{Method: "GET", Path: "/readyz", Access: server.Public, Summary: "Readiness: cost data is available.", Handler: http.HandlerFunc(a.readyz)},
		{Method: "GET", Path: "/allocation", Access: server.Authenticated, Permission: rbac.ReadCosts, Summary: "OpenCost-compatible cost allocation.", Handler: a.handle(a.allocation)},
		{Method: "GET", Path: "/allocation/compute", Access: server.Authenticated, Permission: rbac.ReadCosts, Summary: "Alias of /allocation (OpenCost).", Handler: a.handle(a.allocation)},
		{Method: "GET", Path: "/assets", Access: server.Authenticated, Permission: rbac.ReadAssets, Summary: "OpenCost-compatible assets: nodes, disks, load balancers.", Handler: a.handle(a.assets)},
		{Method: "GET", Path: "/api/v1/status", Access: server.Authenticated, Permission: rbac.ReadStatus, Summary: "Cluster sources: health, lag, backfill progress, partial and missing hours (admin).", Handler: a.handle(a.status)},
	}
}

// handlerFunc returns a value to encode as JSON, or an error.
type handlerFunc func(r *http.Request) (any, error)

func (a *API) handle(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		if err := enc.Encode(v); err != nil {
			a.Log.WarnContext(r.Context(), "writing response", "request_id", server.RequestID(r.Context()), "error", err)
		}
	})
}

// writeError is the one mapping from errors to statuses. Only messages written for
// the caller (parameter errors) are shown; anything else is logged with the request
// id and answered generically.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if pe, ok := query.IsParamError(err); ok {
		server.WriteError(w, r, http.StatusBadRequest, pe.Error(), pe.Param)
		return
	}
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		server.WriteError(w, r, http.StatusUnauthorized, "authentication required", "")
		return
	case errors.Is(err, context.Canceled):
		server.WriteError(w, r, 499, "request cancelled", "")
		return
	case errors.Is(err, context.DeadlineExceeded):
		server.WriteError(w, r, http.StatusServiceUnavailable, "the query took too long; narrow the window or use a larger step", "")
		return
	}
	a.Log.ErrorContext(r.Context(), "request failed", "request_id", server.RequestID(r.Context()), "path", r.URL.Path, "error", err)
	server.WriteError(w, r, http.StatusInternalServerError, "internal error; quote the request id when reporting it", "")
}

func (a *API) healthz(*http.Request) (any, error) {
	return map[string]string{"status": "ok"}, nil
}

func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if a.Ready != nil && !a.Ready() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "not ready: no hour of cost data is stored yet"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "ready"})
}

func (a *API) allocation(r *http.Request) (any, error) {
	req, err := query.ParseAllocation(r.URL.Query(), a.Now(), a.Settings)
	if err != nil {
		return nil, err
	}
	results, err := a.Query.Allocation(r.Context(), req)
	if err != nil {
		return nil, err
	}
	resp := allocationResponse{Code: http.StatusOK, Data: make([]map[string]*allocationJSON, len(results))}
	warn := map[string]bool{}
	for i, res := range results {
		m := make(map[string]*allocationJSON, len(res.Allocations))
		for _, al := range res.Allocations {
			m[al.Name] = newAllocationJSON(al)
		}
		resp.Data[i] = m
		for _, w := range res.Warnings {
			if !warn[w] {
				warn[w] = true
				resp.Warnings = append(resp.Warnings, w)
			}
		}
	}
	return resp, nil
}

func (a *API) assets(r *http.Request) (any, error) {
	v := r.URL.Query()
	for k := range v {
		if k != "window" {
			return nil, &query.ParamError{Param: k, Message: "unknown parameter (window)"}
		}
	}
	w, err := query.ParseWindow(v.Get("window"), a.Now(), a.Settings.Location)
	if err != nil {
		return nil, &query.ParamError{Param: "window", Message: err.Error()}
	}
	res, err := a.Query.Assets(r.Context(), w)
	if err != nil {
		return nil, err
	}
	data := map[string]any{}
	for k, n := range res.Nodes {
		data[clusterKey(k, "Node")] = newNodeJSON(n)
	}
	for k, d := range res.Disks {
		data[clusterKey(k, "Disk")] = newDiskJSON(d)
	}
	for k, l := range res.LoadBalancers {
		data[clusterKey(k, "LoadBalancer")] = newLBJSON(l)
	}
	return map[string]any{"code": http.StatusOK, "data": []map[string]any{data}}, nil
}

// clusterKey turns "cluster/name..." into "cluster/Type/name...".
func clusterKey(k, typ string) string {
	c, rest, _ := strings.Cut(k, "/")
	return c + "/" + typ + "/" + rest
}
