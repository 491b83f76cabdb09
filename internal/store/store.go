// Package store is costwarden's persistence contract: what is stored, keyed how, with
// which guarantees. Backends (store/sqlite, store/postgres) implement it and are held
// to it by one conformance suite (store/storetest).
//
// The store is untrusted, as Vault's storage is: every customer-data value it holds
// is a sealed blob (internal/seal). Keys and indexes are opaque identifiers, blind
// indexes (HMACs) or timestamps, never names, labels or costs. The store must not
// import internal/seal or see plaintext customer data.
package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Errors every backend returns (wrapped) so callers can test with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: a uniqueness rule or an expected version did not hold.
	ErrConflict = errors.New("conflict")
	// ErrSchemaTooNew: the database was written by a newer costwarden.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
	// ErrCorrupt: the backend's own integrity check failed.
	ErrCorrupt = errors.New("database failed its integrity check")
	// ErrReadOnlyStorage: the database's file system (or the database) is
	// read-only; nothing was written.
	ErrReadOnlyStorage = errors.New("storage is read-only")
	// ErrStorageFull: the disk (or the database's quota) is full; the write was
	// rolled back and what was stored before is intact.
	ErrStorageFull = errors.New("storage is full")
)

// Store is the whole contract. Consumers should depend on the smaller interfaces.
type Store interface {
	Meta
	Keys
	Clusters
	Windows
	Principals
	Tokens
	Tenants
	Sealed
	Dumper
	Sessions
	Lockouts
	AccessRequests
	// Added for many clusters and several replicas (issue 9).
	WindowFeed
	Agents
	TenantRegistry
	Locker
	TenantTokens
	Audit
	// Check runs the backend's integrity check (SQLite: PRAGMA quick_check).
	Check(ctx context.Context) error
	// SchemaVersion is the applied migration version.
	SchemaVersion(ctx context.Context) (int, error)
	Close() error
}

// Meta is a small key/value area for install-wide, non-customer values
// (install id, KEK id, bootstrap state). Values are opaque bytes.
type Meta interface {
	GetMeta(ctx context.Context, key string) ([]byte, error) // ErrNotFound when absent
	PutMeta(ctx context.Context, key string, value []byte) error
	// PutMetaIfAbsent stores value only when key is absent; it reports whether it stored.
	PutMetaIfAbsent(ctx context.Context, key string, value []byte) (bool, error)
}

// WrappedKey is one version of a tenant's data key, wrapped by a key-encryption key.
type WrappedKey struct {
	Tenant    string
	Version   uint32
	KEKID     string // which key-encryption key wrapped it
	Wrapped   []byte
	CreatedAt time.Time
	// State: "active" (encrypts new data), "decrypt" (decrypt only), "destroyed",
	// or "index" (version 0: the tenant's blind-index key).
	State string
	// Uses counts encryptions made with this version (persisted in batches).
	Uses uint64
}

// Keys stores tenants' wrapped data keys.
type Keys interface {
	ListKeys(ctx context.Context, tenant string) ([]WrappedKey, error)
	// InsertKey adds a new version; ErrConflict if (tenant, version) exists.
	InsertKey(ctx context.Context, k WrappedKey) error
	// AddKeyUses atomically adds n to the use count of a version, so counts of
	// several processes sealing with one key add up (ErrNotFound if absent).
	AddKeyUses(ctx context.Context, tenant string, version uint32, n uint64) error
	// SetKeyState changes a version's state from `from` to `to` atomically:
	// ErrConflict if the stored state is not `from`, ErrNotFound if absent.
	SetKeyState(ctx context.Context, tenant string, version uint32, from, to string) error
	// RewrapKey replaces a version's KEKID and Wrapped if its stored Wrapped still
	// equals oldWrapped (ErrConflict otherwise, ErrNotFound if absent).
	RewrapKey(ctx context.Context, tenant string, version uint32, oldWrapped []byte, kekID string, wrapped []byte) error
	// DeleteKeys destroys every key version of a tenant (crypto-shredding).
	DeleteKeys(ctx context.Context, tenant string) error
}

// Tenants lists and removes whole tenants.
type Tenants interface {
	// ListTenants returns every tenant that has keys or any stored row, sorted.
	ListTenants(ctx context.Context) ([]string, error)
	// DeleteTenantData deletes every row of tenant except its keys (windows,
	// clusters, principals, tokens, sessions, lockouts, access requests, agent
	// enrolments, its registry entry, ...) in one transaction and reports how
	// many.
	DeleteTenantData(ctx context.Context, tenant string) (int, error)
	// Reclaim makes deleted rows physically unrecoverable from the database files
	// and returns their space where the backend can (SQLite: secure delete,
	// WAL checkpoint and VACUUM when much is free; PostgreSQL: VACUUM).
	Reclaim(ctx context.Context) error
}

// Tables holding sealed blobs, as named in SealedRow.Table.
const (
	TableWindows    = "windows"
	TableClusters   = "clusters"
	TablePrincipals = "principals"
	TableTokens     = "tokens"
	// Added with identity and access (issue 5).
	TableSessions       = "sessions"
	TableAccessRequests = "access_requests"
	// Added with the audit trail (issue 7). SealedRow.ID is the record's
	// sequence number in decimal.
	TableAudit = "audit"
)

// SealedTables lists the tables holding sealed blobs, in the order the
// re-encryption job visits them.
func SealedTables() []string {
	return []string{TableClusters, TablePrincipals, TableTokens, TableSessions, TableAccessRequests, TableAudit, TableWindows}
}

// SealedRow is one sealed blob addressed for re-encryption: Table and Tenant, the
// row's ID (clusters, principals, tokens) or Window key (windows), and the blob.
type SealedRow struct {
	Table  string
	Tenant string
	ID     string
	Window WindowKey
	Blob   []byte
}

// WindowCursor is the ScanSealed cursor after window k:
// "resolution/startNanos/clusterID".
func WindowCursor(k WindowKey) string {
	return fmt.Sprintf("%d/%d/%s", k.Resolution, k.Start.UnixNano(), k.ClusterID)
}

// ParseWindowCursor reverses WindowCursor; "" is before the first window.
func ParseWindowCursor(c string) (cluster string, res int, start int64, err error) {
	if c == "" {
		return "", -1, math.MinInt64, nil
	}
	parts := strings.SplitN(c, "/", 3)
	if len(parts) == 3 {
		res, err = strconv.Atoi(parts[0])
		if err == nil {
			start, err = strconv.ParseInt(parts[1], 10, 64)
		}
		if err == nil {
			return parts[2], res, start, nil
		}
	}
	return "", 0, 0, fmt.Errorf("store: bad window cursor %q", c)
}

// ParseAuditCursor reads a ScanSealed cursor of the audit table: the sequence
// number of the last record returned, in decimal ("" is before the first).
func ParseAuditCursor(cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	after, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: bad audit cursor %q", cursor)
	}
	return after, nil
}

// Sealed walks and replaces sealed blobs for the re-encryption job.
type Sealed interface {
	// ScanSealed returns up to limit rows of table for tenant that follow cursor
	// ("" starts at the beginning) in a stable order, and the cursor of the last
	// row returned ("" when there are no more rows). A cursor is opaque.
	ScanSealed(ctx context.Context, table, tenant, cursor string, limit int) ([]SealedRow, string, error)
	// ReplaceSealed stores blob in row's place if the stored blob still equals
	// row.Blob (compare-and-swap: a concurrent writer wins), reporting whether it
	// replaced. A row that no longer exists is not replaced, without error.
	ReplaceSealed(ctx context.Context, row SealedRow, blob []byte) (bool, error)
}

// MetaRow is one meta entry in a dump.
type MetaRow struct {
	Key   string
	Value []byte
}

// Row is one row of a dump: exactly one field is set. Lockouts are not dumped:
// they are short-lived throttling state, not data worth restoring.
type Row struct {
	Meta          *MetaRow
	Key           *WrappedKey
	Cluster       *Cluster
	Window        *Window
	Principal     *Principal
	Token         *Token
	Session       *Session
	AccessRequest *AccessRequest
	Agent         *Agent
	Tenant        *TenantRecord
	// Added with the audit trail (issue 7).
	Audit           *AuditRecord
	AuditCheckpoint *AuditCheckpoint
}

// Dumper exports and imports every row, for backups and moving between backends.
type Dumper interface {
	// Dump calls fn with every row (but lockouts), read from one consistent
	// snapshot while writers continue, parents before children (principals
	// before tokens, sessions and access requests; clusters before agents).
	Dump(ctx context.Context, fn func(Row) error) error
	// Load inserts the rows next yields into an empty store, in one transaction:
	// on any error nothing is stored. ErrConflict if the store holds any row.
	// next returns io.EOF after the last row.
	Load(ctx context.Context, next func() (Row, error)) error
}

// Cluster is a registered cluster. Its name is customer data: NameIndex is a blind
// index (HMAC of the name) for lookups, Sealed holds the sealed name and settings.
type Cluster struct {
	Tenant    string
	ID        string
	NameIndex []byte
	Sealed    []byte
	CreatedAt time.Time
}

// Clusters registers clusters.
type Clusters interface {
	// EnsureCluster inserts c unless a cluster with the same (Tenant, NameIndex)
	// exists, and returns the stored one either way. An existing ID with a different
	// NameIndex is ErrConflict.
	EnsureCluster(ctx context.Context, c Cluster) (Cluster, error)
	ListClusters(ctx context.Context, tenant string) ([]Cluster, error)
}

// WindowKey identifies one stored window.
type WindowKey struct {
	Tenant     string
	ClusterID  string
	Resolution uint8 // cost.Resolution
	Start      time.Time
}

// Window is one stored, sealed window.
type Window struct {
	WindowKey
	End       time.Time
	Partial   bool
	Blob      []byte
	UpdatedAt time.Time
}

// WindowRange selects windows of one tenant and resolution whose Start lies in
// [From, To). An empty ClusterID means every cluster of the tenant. A zero From is
// unbounded below; a zero To selects nothing.
type WindowRange struct {
	Tenant     string
	ClusterID  string
	Resolution uint8
	From, To   time.Time
}

// Windows stores sealed cost windows.
type Windows interface {
	// PutWindow inserts or replaces the window with the same key (idempotent).
	PutWindow(ctx context.Context, w Window) error
	GetWindow(ctx context.Context, k WindowKey) (Window, error)
	// ScanWindows calls fn for each window in r, ordered by (Start, ClusterID). Stops
	// at the first error fn returns and returns it.
	ScanWindows(ctx context.Context, r WindowRange, fn func(Window) error) error
	// WindowStarts lists the keys (no blobs) in r, ordered like ScanWindows, with
	// their partial flags: cheap enough to find gaps.
	WindowStarts(ctx context.Context, r WindowRange) ([]WindowInfo, error)
	// DeleteWindows removes windows in r and reports how many.
	DeleteWindows(ctx context.Context, r WindowRange) (int, error)
}

// WindowInfo is a window's key and flags without its blob.
type WindowInfo struct {
	WindowKey
	End       time.Time
	Partial   bool
	UpdatedAt time.Time
	// Version is the tenant's window version the last PutWindow of this key
	// took (see WindowFeed); 0 for windows stored before the feed existed.
	Version int64
}

// Principal is a user or service account. NameIndex is a blind index of the
// username; Sealed holds everything personal (name, e-mail, password hash, MFA
// seed, recovery-code hashes, scope).
type Principal struct {
	Tenant    string
	ID        string
	Kind      string // "user" or "service"
	NameIndex []byte
	// EmailIndex is a blind index of the e-mail address; SubjectIndex a blind
	// index of an external identity (OIDC issuer and subject). Both are optional
	// (nil: none) and unique within the tenant when set.
	EmailIndex   []byte
	SubjectIndex []byte
	State        string // "active", "disabled", "pending"
	Role         string
	Sealed       []byte
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// LastSeenAt is the last successful authentication (zero: never). It moves
	// only forward, through TouchPrincipal, and does not change Version.
	LastSeenAt time.Time
	// Version increments on every update; UpdatePrincipal with a stale Version
	// returns ErrConflict (optimistic concurrency between replicas and the CLI).
	Version int64
}

// Principals stores accounts.
type Principals interface {
	// InsertPrincipal returns ErrConflict if the ID, (Tenant, NameIndex), or a
	// set (Tenant, EmailIndex) or (Tenant, SubjectIndex) exists.
	InsertPrincipal(ctx context.Context, p Principal) error
	GetPrincipal(ctx context.Context, tenant, id string) (Principal, error)
	GetPrincipalByName(ctx context.Context, tenant string, nameIndex []byte) (Principal, error)
	// GetPrincipalByEmail and GetPrincipalBySubject find a principal by its
	// optional indexes; an empty index is ErrNotFound.
	GetPrincipalByEmail(ctx context.Context, tenant string, emailIndex []byte) (Principal, error)
	GetPrincipalBySubject(ctx context.Context, tenant string, subjectIndex []byte) (Principal, error)
	ListPrincipals(ctx context.Context, tenant string) ([]Principal, error)
	// UpdatePrincipal writes Kind, NameIndex, EmailIndex, SubjectIndex, State,
	// Role, Sealed and UpdatedAt if the stored Version equals p.Version, then bumps
	// it. A stale Version or an index another principal holds is ErrConflict; a
	// missing principal ErrNotFound. CreatedAt and LastSeenAt are not written.
	UpdatePrincipal(ctx context.Context, p Principal) (Principal, error)
	// TouchPrincipal moves LastSeenAt forward to at (never back); ErrNotFound
	// when the principal does not exist.
	TouchPrincipal(ctx context.Context, tenant, id string, at time.Time) error
	// DeletePrincipal deletes the principal and everything that dies with it:
	// its tokens, sessions and access requests. ErrNotFound when missing.
	DeletePrincipal(ctx context.Context, tenant, id string) error
}

// Token is an API token. Only the SHA-256 of the token is stored.
type Token struct {
	ID          string
	Tenant      string
	PrincipalID string
	Hash        []byte // SHA-256 of the secret
	Sealed      []byte // name, scope (customer data)
	Role        string
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: never (discouraged; doctor flags it)
	RevokedAt   time.Time // zero: not revoked
	LastUsedAt  time.Time
}

// Tokens stores API tokens. Tokens die with their principal: deleting a principal
// deletes its tokens.
type Tokens interface {
	// InsertToken returns ErrNotFound when the principal does not exist in the
	// token's tenant, ErrConflict for a duplicate ID or hash.
	InsertToken(ctx context.Context, t Token) error
	// GetTokenByHash finds a token by the hash of its secret.
	GetTokenByHash(ctx context.Context, hash []byte) (Token, error)
	// ListTokens lists a principal's tokens (every token of the tenant when
	// principalID is empty), oldest first.
	ListTokens(ctx context.Context, tenant, principalID string) ([]Token, error)
	// RevokeToken is idempotent: the first revocation time is kept.
	RevokeToken(ctx context.Context, tenant, id string, at time.Time) error
	// RevokePrincipalTokens revokes every token of a principal and reports how many.
	RevokePrincipalTokens(ctx context.Context, tenant, principalID string, at time.Time) (int, error)
	// TouchToken moves LastUsedAt forward (never back).
	TouchToken(ctx context.Context, id string, at time.Time) error
}

// Session stages.
const (
	// SessionActive: a fully authenticated browser session.
	SessionActive = "active"
	// SessionMFA: the password was verified and the second factor is awaited;
	// such a session grants nothing but the second-factor step.
	SessionMFA = "mfa"
	// SessionSetup: a one-time setup code (first password and TOTP enrolment, or
	// a reset); it grants nothing but the setup step.
	SessionSetup = "setup"
)

// Session is a login session (or a pending login step). Only the SHA-256 of the
// session secret is stored.
type Session struct {
	ID          string
	Tenant      string
	PrincipalID string
	Hash        []byte // SHA-256 of the secret (unique)
	Stage       string // SessionActive, SessionMFA or SessionSetup
	Sealed      []byte // source address, user agent, how it was established
	CreatedAt   time.Time
	LastSeenAt  time.Time // last use (idle timeout); moves only forward
	ExpiresAt   time.Time // absolute end of life; never zero
	RevokedAt   time.Time // zero: not revoked
}

// Sessions stores sessions. Sessions die with their principal.
type Sessions interface {
	// InsertSession returns ErrNotFound when the principal does not exist in the
	// session's tenant, ErrConflict for a duplicate ID or hash. ExpiresAt is
	// required. A zero CreatedAt or LastSeenAt is set to now.
	InsertSession(ctx context.Context, s Session) error
	// GetSessionByHash finds a session by the hash of its secret (revoked and
	// expired ones included: the caller decides), or ErrNotFound.
	GetSessionByHash(ctx context.Context, hash []byte) (Session, error)
	// ListSessions lists a principal's sessions (every session of the tenant when
	// principalID is empty), oldest first, revoked and expired ones included.
	ListSessions(ctx context.Context, tenant, principalID string) ([]Session, error)
	// TouchSession moves LastSeenAt forward to at (never back); ErrNotFound when
	// the session does not exist.
	TouchSession(ctx context.Context, tenant, id string, at time.Time) error
	// RevokeSession is idempotent (the first revocation time is kept);
	// ErrNotFound when the session does not exist in the tenant.
	RevokeSession(ctx context.Context, tenant, id string, at time.Time) error
	// RevokePrincipalSessions revokes every unrevoked session of a principal and
	// reports how many.
	RevokePrincipalSessions(ctx context.Context, tenant, principalID string, at time.Time) (int, error)
	// PurgeSessions deletes sessions whose ExpiresAt, or whose RevokedAt, is before
	// before, in every tenant, and reports how many.
	PurgeSessions(ctx context.Context, before time.Time) (int, error)
}

// Lockout counts failed logins for one throttling key: a blind index of an
// account name or of a source address. It holds no plaintext.
type Lockout struct {
	Tenant         string
	Key            []byte
	Failures       int
	FirstFailureAt time.Time // start of the counting period
	LastFailureAt  time.Time
	LockedUntil    time.Time // zero: not locked
}

// Lockouts stores login throttling state, so that it survives restarts and is
// shared between replicas.
type Lockouts interface {
	// AddFailure atomically records one failure at at and returns the record as
	// stored. When no record exists, or its FirstFailureAt is before since, the
	// count restarts: Failures = 1 and FirstFailureAt = at. LockedUntil is kept.
	AddFailure(ctx context.Context, tenant string, key []byte, at, since time.Time) (Lockout, error)
	// LockUntil sets LockedUntil to until unless it is already later; it creates
	// the record when missing.
	LockUntil(ctx context.Context, tenant string, key []byte, until time.Time) error
	// GetLockout returns the record, or ErrNotFound.
	GetLockout(ctx context.Context, tenant string, key []byte) (Lockout, error)
	// ClearLockout deletes the record (after a successful login); idempotent.
	ClearLockout(ctx context.Context, tenant string, key []byte) error
	// PurgeLockouts deletes records, in every tenant, whose LastFailureAt and
	// LockedUntil are both before before, and reports how many.
	PurgeLockouts(ctx context.Context, before time.Time) (int, error)
}

// Access request states.
const (
	RequestPending  = "pending"
	RequestApproved = "approved"
	RequestRejected = "rejected"
)

// AccessRequest is a principal asking for a role (and scope, sealed).
type AccessRequest struct {
	Tenant      string
	ID          string
	PrincipalID string // who asks
	Role        string // the role asked for
	Sealed      []byte // the scope asked for and the reason (customer data)
	State       string // RequestPending, RequestApproved or RequestRejected
	CreatedAt   time.Time
	DecidedAt   time.Time // zero while pending
	DecidedBy   string    // principal ID of the deciding admin; "" while pending
}

// AccessRequests stores access requests. They die with the principal who asked.
type AccessRequests interface {
	// InsertAccessRequest stores r (State must be RequestPending). ErrNotFound when
	// the principal does not exist in the tenant; ErrConflict for a duplicate ID.
	InsertAccessRequest(ctx context.Context, r AccessRequest) error
	// GetAccessRequest returns the request, or ErrNotFound.
	GetAccessRequest(ctx context.Context, tenant, id string) (AccessRequest, error)
	// ListAccessRequests lists the tenant's requests in state (every state when
	// empty), oldest first.
	ListAccessRequests(ctx context.Context, tenant, state string) ([]AccessRequest, error)
	// DecideAccessRequest moves a pending request to state (RequestApproved or
	// RequestRejected), recording by and at, and returns it. ErrNotFound when
	// missing; ErrConflict when it is no longer pending (decided exactly once).
	DecideAccessRequest(ctx context.Context, tenant, id, state, by string, at time.Time) (AccessRequest, error)
}

// AuditRecord is one record of a tenant's audit trail (issue 7). Sealed holds
// the whole record (actor, target, source address, details, the previous
// record's hash); the other fields are what filters need, and are repeated
// inside Sealed so that an edit of a column is detected. Hash is the record's
// link in the hash chain (internal/audit computes and checks it; the store
// keeps it as given).
type AuditRecord struct {
	Tenant  string
	Seq     uint64 // 1, 2, 3, ... without gaps
	Time    time.Time
	Action  string // event code, e.g. "auth.login"
	Outcome string // "success", "failure" or "denied"
	ActorID string // opaque principal id, "local-cli" or "system"
	// ActorIndex is a keyed hash (HMAC) of the actor's name, for filtering by
	// name without storing it.
	ActorIndex []byte
	Hash       []byte
	Sealed     []byte
}

// AuditCheckpoint is a signed statement that a tenant's record Seq has Hash.
type AuditCheckpoint struct {
	Tenant    string
	Seq       uint64
	Hash      []byte
	Time      time.Time
	KeyID     string // which signing key (a fingerprint of its public key)
	Signature []byte
}

// AuditFilter selects audit records of one tenant. Zero fields do not filter.
type AuditFilter struct {
	Tenant string
	// AfterSeq and BeforeSeq bound Seq exclusively (BeforeSeq 0: unbounded).
	AfterSeq, BeforeSeq uint64
	// Since and Until bound Time: Since <= Time < Until.
	Since, Until time.Time
	// ActorID or ActorIndex: records whose actor id equals ActorID or whose
	// ActorIndex equals ActorIndex (either matches when both are set).
	ActorID    string
	ActorIndex []byte
	// ActionPrefix matches records whose Action starts with it.
	ActionPrefix string
	Outcome      string
	// Descending returns the newest (highest Seq) first.
	Descending bool
	Limit      int // 0: no limit
}

// Audit stores the append-only audit trail. Records are never updated (but
// for re-encryption through Sealed.ReplaceSealed) and are deleted only with
// their tenant.
type Audit interface {
	// AppendAudit stores r as its tenant's next record: r.Seq must be one more
	// than the highest stored Seq (1 for the first). Otherwise it returns
	// ErrConflict and stores nothing (another writer appended first: read the
	// head again and retry).
	AppendAudit(ctx context.Context, r AuditRecord) error
	// AuditHead returns the tenant's record with the highest Seq, or
	// ErrNotFound when there is none.
	AuditHead(ctx context.Context, tenant string) (AuditRecord, error)
	// ScanAudit calls fn for each record matching f in Seq order (descending
	// with f.Descending), at most f.Limit records. It stops at fn's first error
	// and returns it.
	ScanAudit(ctx context.Context, f AuditFilter, fn func(AuditRecord) error) error
	// ProbeAudit checks that an audit record could be written now, without
	// writing one: it inserts a probe row in a transaction that it rolls back.
	ProbeAudit(ctx context.Context, tenant string) error
	// InsertAuditCheckpoint stores c; ErrConflict when the tenant has a
	// checkpoint at c.Seq already.
	InsertAuditCheckpoint(ctx context.Context, c AuditCheckpoint) error
	// ListAuditCheckpoints lists the tenant's checkpoints by Seq.
	ListAuditCheckpoints(ctx context.Context, tenant string) ([]AuditCheckpoint, error)
}
