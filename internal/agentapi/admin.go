package agentapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/clusterca"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
)

// AdminStore is what cluster administration needs from the store.
type AdminStore interface {
	InsertAgent(ctx context.Context, a store.Agent) error
	ListAgents(ctx context.Context, tenant string) ([]store.Agent, error)
	RevokeAgent(ctx context.Context, tenant, id string, at time.Time) error
	NewJoinToken(ctx context.Context, tenant, id string, hash []byte, expiresAt time.Time) (store.Agent, error)
}

// Errors of cluster administration.
var (
	ErrClusterExists = errors.New("the cluster already has an active agent enrolment")
	ErrNoCluster     = errors.New("no such cluster")
	ErrNoAgent       = errors.New("the cluster has no active agent enrolment")
	ErrBadName       = errors.New("bad cluster name")
)

// Admin enrols, lists and revokes one tenant's clusters.
type Admin struct {
	Store    AdminStore
	Sets     *sets.Sets
	CA       *clusterca.CA
	TokenTTL time.Duration
	Now      func() time.Time
}

// ClusterInfo describes a cluster and its agent.
type ClusterInfo struct {
	Name         string    `json:"name"`
	ClusterID    string    `json:"clusterId"`
	Agent        string    `json:"agent,omitempty"` // enrolment id; "" for a local source
	State        string    `json:"state"`           // "active", "revoked", "local"
	Enrolled     bool      `json:"enrolled"`        // the join token has been used
	TokenExpires time.Time `json:"tokenExpires,omitzero"`
	CertNotAfter time.Time `json:"certNotAfter,omitzero"`
	LastSeen     time.Time `json:"lastSeen,omitzero"`
	ClockSkew    float64   `json:"clockSkewSeconds"`
	Created      time.Time `json:"created,omitzero"`
	Revoked      time.Time `json:"revoked,omitzero"`
}

// Enrolment is a new join token.
type Enrolment struct {
	Cluster   ClusterInfo `json:"cluster"`
	JoinToken string      `json:"joinToken"`
	ExpiresAt time.Time   `json:"expiresAt"`
}

// ValidateClusterName accepts 1-253 printable characters without spaces at
// either end.
func ValidateClusterName(name string) error {
	if name == "" || len(name) > 253 || strings.TrimSpace(name) != name || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return fmt.Errorf("%w: 1-253 printable characters, no leading or trailing space", ErrBadName)
	}
	return nil
}

func newAgentID() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "a_" + hex.EncodeToString(b), nil
}

// Add registers the cluster (if new) and a new agent enrolment for it, and
// returns its one-time join token. A cluster whose agent is enrolled and
// active is ErrClusterExists: revoke it first, or issue a new token.
func (a *Admin) Add(ctx context.Context, name string) (Enrolment, error) {
	if err := ValidateClusterName(name); err != nil {
		return Enrolment{}, err
	}
	clusterID, err := a.Sets.ClusterID(ctx, name)
	if err != nil {
		return Enrolment{}, err
	}
	agents, err := a.Store.ListAgents(ctx, a.Sets.Tenant())
	if err != nil {
		return Enrolment{}, err
	}
	for _, ag := range agents {
		if ag.ClusterID == clusterID && ag.State == store.AgentActive {
			return Enrolment{}, fmt.Errorf("%w: %s (costwarden cluster token %s issues a new join token; cluster revoke %s ends it)", ErrClusterExists, name, name, name)
		}
	}
	id, err := newAgentID()
	if err != nil {
		return Enrolment{}, err
	}
	tok, err := clusterca.NewJoinToken(a.Sets.Tenant(), id, a.CA.Pin())
	if err != nil {
		return Enrolment{}, err
	}
	now := a.Now()
	ag := store.Agent{Tenant: a.Sets.Tenant(), ID: id, ClusterID: clusterID, State: store.AgentActive,
		TokenHash: tok.Hash(), TokenExpiresAt: now.Add(a.TokenTTL), CreatedAt: now}
	if err := a.Store.InsertAgent(ctx, ag); err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Cluster: info(name, ag), JoinToken: tok.String(), ExpiresAt: ag.TokenExpiresAt}, nil
}

// Token issues a new join token for the cluster's active enrolment (an agent
// that lost its directory, or whose certificate expired, enrols with it; its
// older certificates stop working when the new token is used).
func (a *Admin) Token(ctx context.Context, name string) (Enrolment, error) {
	id, err := a.clusterID(ctx, name)
	if err != nil {
		return Enrolment{}, err
	}
	return a.TokenByID(ctx, id)
}

// TokenByID is Token for a cluster id.
func (a *Admin) TokenByID(ctx context.Context, clusterID string) (Enrolment, error) {
	name, ag, err := a.active(ctx, clusterID)
	if err != nil {
		return Enrolment{}, err
	}
	tok, err := clusterca.NewJoinToken(a.Sets.Tenant(), ag.ID, a.CA.Pin())
	if err != nil {
		return Enrolment{}, err
	}
	ag, err = a.Store.NewJoinToken(ctx, a.Sets.Tenant(), ag.ID, tok.Hash(), a.Now().Add(a.TokenTTL))
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Cluster: info(name, ag), JoinToken: tok.String(), ExpiresAt: ag.TokenExpiresAt}, nil
}

// Revoke revokes the cluster's active enrolment: its agent is refused from its
// next request. The cluster's stored costs stay.
func (a *Admin) Revoke(ctx context.Context, name string) (ClusterInfo, error) {
	id, err := a.clusterID(ctx, name)
	if err != nil {
		return ClusterInfo{}, err
	}
	return a.RevokeByID(ctx, id)
}

// RevokeByID is Revoke for a cluster id.
func (a *Admin) RevokeByID(ctx context.Context, clusterID string) (ClusterInfo, error) {
	name, ag, err := a.active(ctx, clusterID)
	if err != nil {
		return ClusterInfo{}, err
	}
	if err := a.Store.RevokeAgent(ctx, a.Sets.Tenant(), ag.ID, a.Now()); err != nil {
		return ClusterInfo{}, err
	}
	ag.State, ag.RevokedAt = store.AgentRevoked, a.Now()
	return info(name, ag), nil
}

func (a *Admin) clusterID(ctx context.Context, name string) (string, error) {
	clusters, err := a.Sets.Clusters(ctx)
	if err != nil {
		return "", err
	}
	for id, n := range clusters {
		if n == name {
			return id, nil
		}
	}
	return "", fmt.Errorf("%w: %q", ErrNoCluster, name)
}

// active returns the cluster's name and active enrolment.
func (a *Admin) active(ctx context.Context, clusterID string) (string, store.Agent, error) {
	clusters, err := a.Sets.Clusters(ctx)
	if err != nil {
		return "", store.Agent{}, err
	}
	name, ok := clusters[clusterID]
	if !ok {
		return "", store.Agent{}, ErrNoCluster
	}
	agents, err := a.Store.ListAgents(ctx, a.Sets.Tenant())
	if err != nil {
		return "", store.Agent{}, err
	}
	for _, ag := range agents {
		if ag.ClusterID == clusterID && ag.State == store.AgentActive {
			return name, ag, nil
		}
	}
	return "", store.Agent{}, fmt.Errorf("%w: %q", ErrNoAgent, name)
}

// List lists the tenant's clusters: those with agents (every enrolment, newest
// state first) and those fed by a local source.
func (a *Admin) List(ctx context.Context) ([]ClusterInfo, error) {
	clusters, err := a.Sets.Clusters(ctx)
	if err != nil {
		return nil, err
	}
	agents, err := a.Store.ListAgents(ctx, a.Sets.Tenant())
	if err != nil {
		return nil, err
	}
	var out []ClusterInfo
	withAgent := map[string]bool{}
	for _, ag := range agents {
		withAgent[ag.ClusterID] = true
		out = append(out, info(clusters[ag.ClusterID], ag))
	}
	for id, name := range clusters {
		if !withAgent[id] {
			out = append(out, ClusterInfo{Name: name, ClusterID: id, State: "local"})
		}
	}
	slices.SortFunc(out, func(x, y ClusterInfo) int {
		if c := strings.Compare(x.Name, y.Name); c != 0 {
			return c
		}
		return x.Created.Compare(y.Created)
	})
	return out, nil
}

func info(name string, ag store.Agent) ClusterInfo {
	ci := ClusterInfo{Name: name, ClusterID: ag.ClusterID, Agent: ag.ID, State: ag.State, Enrolled: !ag.TokenUsedAt.IsZero() || ag.Generation > 0,
		CertNotAfter: ag.CertNotAfter, LastSeen: ag.LastSeenAt, ClockSkew: ag.ClockSkew.Seconds(), Created: ag.CreatedAt, Revoked: ag.RevokedAt}
	if ag.TokenUsedAt.IsZero() && ag.State == store.AgentActive {
		ci.TokenExpires = ag.TokenExpiresAt
	}
	return ci
}
