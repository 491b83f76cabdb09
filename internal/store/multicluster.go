package store

import (
	"context"
	"time"
)

// This file holds the contract added for many clusters and several replicas
// (issue 9): the window change feed that keeps replicas' caches current, agent
// enrolments, the hosted-mode tenant registry, and leases.

// WindowChanges is what changed in a tenant's windows after a version.
type WindowChanges struct {
	// Version is the tenant's window version after the listed changes: pass it
	// as after to the next call.
	Version int64
	// Deletes counts the deletions of the tenant's windows (DeleteWindows,
	// DeleteTenantData). When it differs from the value a reader saw before,
	// windows have gone and the reader must list everything again.
	Deletes int64
	// Windows were stored (or stored again) with a version above after,
	// ordered by version; a key appears once, with its latest state.
	Windows []WindowInfo
}

// WindowFeed lets a process see windows other processes store.
//
// Every PutWindow of a tenant takes the next value of the tenant's window
// version in the same transaction, and writers of one tenant take it one after
// the other, so versions become visible in order: a reader that has seen
// version v has seen every write numbered v or less.
type WindowFeed interface {
	// WindowsSince returns the tenant's windows stored with a version above
	// after (every resolution), and the current counters. after = -1 lists
	// nothing but returns the counters.
	WindowsSince(ctx context.Context, tenant string, after int64) (WindowChanges, error)
}

// Agent states.
const (
	AgentActive  = "active"
	AgentRevoked = "revoked"
)

// Agent is the enrolment of one cluster's agent. It holds no customer data: the
// cluster's name lives (sealed) in its Cluster row; the join token and the
// certificate are represented by a hash and a serial number only.
type Agent struct {
	Tenant    string
	ID        string
	ClusterID string
	State     string // AgentActive or AgentRevoked
	// Generation counts enrolments: every claimed join token increments it,
	// and certificates naming an older generation are refused.
	Generation int64
	// TokenHash is the SHA-256 of the current join token's secret (nil: none).
	TokenHash      []byte
	TokenExpiresAt time.Time
	TokenUsedAt    time.Time // zero: not yet used
	// The last certificate issued (serial in hex) and its end of validity.
	CertSerial   string
	CertNotAfter time.Time
	CreatedAt    time.Time
	RevokedAt    time.Time
	LastSeenAt   time.Time
	// ClockSkew is the agent's clock minus the server's at its last request.
	ClockSkew time.Duration
}

// Agents stores agent enrolments.
type Agents interface {
	// InsertAgent stores a new enrolment (State must be AgentActive).
	// ErrNotFound when the cluster does not exist in the tenant, ErrConflict
	// for a duplicate ID or token hash.
	InsertAgent(ctx context.Context, a Agent) error
	// GetAgent returns the enrolment, or ErrNotFound.
	GetAgent(ctx context.Context, tenant, id string) (Agent, error)
	// ListAgents lists the tenant's enrolments, oldest first.
	ListAgents(ctx context.Context, tenant string) ([]Agent, error)
	// ClaimJoinToken uses the join token once: when the enrolment is active, its
	// token hash equals hash, the token is unused and at is before its expiry,
	// it records the use, increments Generation and returns the enrolment as
	// stored. Otherwise it changes nothing and returns ErrConflict (the caller
	// reads the enrolment to say why), or ErrNotFound when it does not exist.
	ClaimJoinToken(ctx context.Context, tenant, id string, hash []byte, at time.Time) (Agent, error)
	// NewJoinToken gives an active enrolment a new, unused join token.
	// ErrConflict when the enrolment is revoked or the hash is taken,
	// ErrNotFound when it does not exist.
	NewJoinToken(ctx context.Context, tenant, id string, hash []byte, expiresAt time.Time) (Agent, error)
	// SetAgentCertificate records an issued certificate if the enrolment is
	// still active at generation gen (ErrConflict otherwise).
	SetAgentCertificate(ctx context.Context, tenant, id string, gen int64, serial string, notAfter time.Time) error
	// RevokeAgent revokes the enrolment (idempotent: the first time is kept).
	RevokeAgent(ctx context.Context, tenant, id string, at time.Time) error
	// TouchAgent records a request: LastSeenAt moves forward only, ClockSkew is
	// the latest measurement.
	TouchAgent(ctx context.Context, tenant, id string, at time.Time, skew time.Duration) error
}

// Tenant states.
const (
	TenantActive = "active"
)

// TenantRecord is a hosted-mode tenant (an organisation): its id and the host
// names its users reach it at. Both are routing keys, stored in plain text.
type TenantRecord struct {
	ID        string
	Hosts     []string // lower-case host names, sorted
	State     string   // TenantActive
	CreatedAt time.Time
}

// TenantRegistry stores hosted-mode tenants.
type TenantRegistry interface {
	// PutTenant inserts the tenant, or replaces its hosts and state.
	// ErrConflict when one of its hosts belongs to another tenant.
	PutTenant(ctx context.Context, t TenantRecord) error
	// GetTenant returns the tenant, or ErrNotFound.
	GetTenant(ctx context.Context, id string) (TenantRecord, error)
	// TenantByHost returns the tenant a host name belongs to, or ErrNotFound.
	TenantByHost(ctx context.Context, host string) (TenantRecord, error)
	// ListTenantRecords lists every registered tenant, sorted by id.
	ListTenantRecords(ctx context.Context) ([]TenantRecord, error)
}

// Lock is a held lease: a named lock that exactly one process of an
// installation holds at a time.
type Lock interface {
	// Lost is closed when the lock is no longer held (the database connection
	// holding it failed, or Release was called): stop the work it guards.
	Lost() <-chan struct{}
	// Release gives the lock up.
	Release(ctx context.Context) error
}

// Locker takes leases. PostgreSQL holds them as session advisory locks, so a
// replica that dies (its connection closes) loses them at once; SQLite's are
// local to the process, the only one that runs background jobs on that file.
type Locker interface {
	// TryLock takes the named lock if no one holds it. It returns (nil, nil)
	// when another process (or another caller here) holds it.
	TryLock(ctx context.Context, name string) (Lock, error)
}
