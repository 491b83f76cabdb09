package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/costwarden/costwarden/internal/agentapi"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
)

// ClusterAdmin enrols and revokes the tenant's clusters' agents
// (agentapi.Admin implements it).
type ClusterAdmin interface {
	List(ctx context.Context) ([]agentapi.ClusterInfo, error)
	Add(ctx context.Context, name string) (agentapi.Enrolment, error)
	TokenByID(ctx context.Context, clusterID string) (agentapi.Enrolment, error)
	RevokeByID(ctx context.Context, clusterID string) (agentapi.ClusterInfo, error)
}

// clusterRoutes are the cluster and agent administration routes (issue 9).
func (a *API) clusterRoutes() []server.Route {
	api := func(method, path, summary string, fn handlerFunc) server.Route {
		return server.Route{Method: method, Path: path, Access: server.Authenticated, Permission: rbac.ManageClusters, Summary: summary, Handler: a.handle(fn)}
	}
	return []server.Route{
		api("GET", "/api/v1/clusters", "Clusters and their agents: enrolment, certificate expiry, last contact, clock skew (admin).", a.listClusters),
		api("POST", "/api/v1/clusters", "Registers a cluster and returns its agent's one-time join token (shown once; admin).", a.addCluster),
		api("POST", "/api/v1/clusters/{id}/token", "A new one-time join token for the cluster's agent (re-enrolment; admin).", a.clusterToken),
		api("POST", "/api/v1/clusters/{id}/revoke", "Revokes the cluster's agent: refused from its next request; its costs stay (admin).", a.revokeCluster),
	}
}

func (a *API) clusters() (ClusterAdmin, error) {
	if a.Clusters == nil {
		return nil, errNotConfigured
	}
	return a.Clusters, nil
}

type clusterList struct {
	Code int                    `json:"code"`
	Data []agentapi.ClusterInfo `json:"data"`
}

func (a *API) listClusters(r *http.Request) (any, error) {
	c, err := a.clusters()
	if err != nil {
		return nil, err
	}
	list, err := c.List(r.Context())
	if err != nil {
		return nil, err
	}
	if list == nil {
		list = []agentapi.ClusterInfo{}
	}
	return clusterList{Code: http.StatusOK, Data: list}, nil
}

func (a *API) addCluster(r *http.Request) (any, error) {
	c, err := a.clusters()
	if err != nil {
		return nil, err
	}
	var b struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	return c.Add(r.Context(), b.Name)
}

func (a *API) clusterToken(r *http.Request) (any, error) {
	c, err := a.clusters()
	if err != nil {
		return nil, err
	}
	return c.TokenByID(r.Context(), r.PathValue("id"))
}

func (a *API) revokeCluster(r *http.Request) (any, error) {
	c, err := a.clusters()
	if err != nil {
		return nil, err
	}
	return c.RevokeByID(r.Context(), r.PathValue("id"))
}

// writeClusterError maps cluster administration errors.
func (a *API) writeClusterError(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case errors.Is(err, agentapi.ErrBadName):
		pe := &query.ParamError{Param: "name", Message: "1-253 printable characters, no leading or trailing space"}
		server.WriteError(w, r, http.StatusBadRequest, pe.Error(), pe.Param)
	case errors.Is(err, agentapi.ErrClusterExists):
		server.WriteError(w, r, http.StatusConflict, "the cluster already has an active agent: revoke it, or ask for a new join token", "name")
	case errors.Is(err, agentapi.ErrNoCluster), errors.Is(err, agentapi.ErrNoAgent):
		server.WriteError(w, r, http.StatusNotFound, "not found", "")
	default:
		return false
	}
	return true
}
