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
	// clusters, principals, tokens, ...) in one transaction and reports how many.
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
)

// SealedTables lists the tables holding sealed blobs, in the order the
// re-encryption job visits them.
func SealedTables() []string {
	return []string{TableClusters, TablePrincipals, TableTokens, TableWindows}
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

// Row is one row of a dump: exactly one field is set.
type Row struct {
	Meta      *MetaRow
	Key       *WrappedKey
	Cluster   *Cluster
	Window    *Window
	Principal *Principal
	Token     *Token
}

// Dumper exports and imports every row, for backups and moving between backends.
type Dumper interface {
	// Dump calls fn with every row, read from one consistent snapshot while
	// writers continue, parents before children (principals before tokens).
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
}

// Principal is a user or service account. NameIndex is a blind index of the
// username; Sealed holds everything personal (name, e-mail, password hash, MFA seed).
type Principal struct {
	Tenant    string
	ID        string
	Kind      string // "user" or "service"
	NameIndex []byte
	State     string // "active", "disabled", "pending"
	Role      string
	Sealed    []byte
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version increments on every update; UpdatePrincipal with a stale Version
	// returns ErrConflict (optimistic concurrency between replicas and the CLI).
	Version int64
}

// Principals stores accounts.
type Principals interface {
	// InsertPrincipal returns ErrConflict if the ID or (Tenant, NameIndex) exists.
	InsertPrincipal(ctx context.Context, p Principal) error
	GetPrincipal(ctx context.Context, tenant, id string) (Principal, error)
	GetPrincipalByName(ctx context.Context, tenant string, nameIndex []byte) (Principal, error)
	ListPrincipals(ctx context.Context, tenant string) ([]Principal, error)
	// UpdatePrincipal writes p if the stored Version equals p.Version, then bumps it.
	UpdatePrincipal(ctx context.Context, p Principal) (Principal, error)
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
