package seal

import (
	"bytes"
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// KeyStore is what the keyring needs from storage; store.Keys satisfies it.
type KeyStore interface {
	ListKeys(ctx context.Context, tenant string) ([]store.WrappedKey, error)
	// InsertKey returns an error wrapping store.ErrConflict if the version exists.
	InsertKey(ctx context.Context, k store.WrappedKey) error
	// AddKeyUses adds to a version's count atomically (increments of several
	// processes all count).
	AddKeyUses(ctx context.Context, tenant string, version uint32, n uint64) error
	// SetKeyState changes a state only from the expected one (store.ErrConflict
	// otherwise), so a retired version is never made active again.
	SetKeyState(ctx context.Context, tenant string, version uint32, from, to string) error
	// RewrapKey replaces a wrapped key only if it still holds oldWrapped.
	RewrapKey(ctx context.Context, tenant string, version uint32, oldWrapped []byte, kekID string, wrapped []byte) error
	DeleteKeys(ctx context.Context, tenant string) error
}

// Options tunes a Keyring. The zero value is the production configuration.
type Options struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// RotateAfterUses rotates a tenant's data key once it has sealed this many
	// blobs; default 1<<30, far below the 2^32 limit of GCM with random nonces.
	RotateAfterUses uint64
	// Rand is the source of data keys and nonces; default crypto/rand.Reader.
	Rand io.Reader
	// RefreshAfter is how long key metadata read from the store is trusted before
	// it is read again, so rotations and shredding done by another process (the
	// CLI next to the server) are seen; default one minute.
	RefreshAfter time.Duration
}

const (
	defaultRotateAfterUses = 1 << 30
	defaultRefreshAfter    = time.Minute
	// flushEvery is how many seals with one key version may go uncounted in the
	// store. A crash loses at most this many counts per version and process, which
	// the margin between RotateAfterUses and 2^32 absorbs.
	flushEvery = 4096
	// maxInsertAttempts bounds retries when another process inserts the same key
	// version at the same moment.
	maxInsertAttempts = 5
)

// Keyring holds per-tenant data keys: it seals and opens blobs, computes blind
// indexes, rotates and destroys keys. Unwrapped keys are cached in memory (as
// cipher.AEAD values). A Keyring is safe for concurrent use, and several processes
// may share one KeyStore.
type Keyring struct {
	kek          KEK
	keys         KeyStore
	now          func() time.Time
	rotateAfter  uint64
	refreshAfter time.Duration
	rand         io.Reader

	mu      sync.Mutex // guards tenants (the map, not the entries)
	tenants map[string]*tenantKeys
}

// tenantKeys is the cached key state of one tenant. Its mutex serializes store
// access for the tenant within this process; sealing and opening themselves run
// outside it.
type tenantKeys struct {
	mu       sync.Mutex
	loaded   time.Time // zero: must (re)load from the store
	loads    uint64    // how many times the store was read
	versions map[uint32]*dataKey
	active   *dataKey // highest version in state active; nil if none
	maxVer   uint32   // highest data-key version stored, whatever its state
	index    *indexKey
}

type dataKey struct {
	rec     store.WrappedKey // as last read from (or written to) the store
	aead    cipher.AEAD      // nil until unwrapped
	pending uint64           // seals not yet added to rec.Uses in the store
}

func (d *dataKey) uses() uint64 { return d.rec.Uses + d.pending }

type indexKey struct {
	rec store.WrappedKey
	key []byte // nil until unwrapped
}

// KeyInfo describes one key version, without key material.
type KeyInfo struct {
	Version uint32
	State   string
	KEKID   string
	Created time.Time
	Uses    uint64 // stored count plus this process's uncounted uses
}

// NewKeyring returns a keyring wrapping data keys with kek and storing them in keys.
func NewKeyring(kek KEK, keys KeyStore, opts Options) *Keyring {
	k := &Keyring{
		kek:          kek,
		keys:         keys,
		now:          opts.Now,
		rotateAfter:  opts.RotateAfterUses,
		refreshAfter: opts.RefreshAfter,
		rand:         opts.Rand,
		tenants:      make(map[string]*tenantKeys),
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.rotateAfter == 0 {
		k.rotateAfter = defaultRotateAfterUses
	}
	if k.refreshAfter <= 0 {
		k.refreshAfter = defaultRefreshAfter
	}
	if k.rand == nil {
		k.rand = rand.Reader
	}
	return k
}

func (k *Keyring) tenant(tenant string) *tenantKeys {
	k.mu.Lock()
	defer k.mu.Unlock()
	ts := k.tenants[tenant]
	if ts == nil {
		ts = &tenantKeys{}
		k.tenants[tenant] = ts
	}
	return ts
}

// Seal encrypts plaintext with the active data key of ad.Tenant, creating the
// tenant's first key on first use and rotating when the key's use limit is reached.
func (k *Keyring) Seal(ctx context.Context, ad AD, plaintext []byte) ([]byte, error) {
	if err := ad.validate(); err != nil {
		return nil, err
	}
	aead, version, err := k.reserve(ctx, ad.Tenant)
	if err != nil {
		return nil, fmt.Errorf("seal: sealing %s/%s: %w", ad.Tenant, ad.Kind, err)
	}
	blob := make([]byte, headerLen+nonceLen, blobOverhead+len(plaintext))
	copy(blob, magic)
	blob[len(magic)] = formatV1
	binary.BigEndian.PutUint32(blob[len(magic)+1:], version)
	nonce := blob[headerLen : headerLen+nonceLen]
	if _, err := io.ReadFull(k.rand, nonce); err != nil {
		return nil, fmt.Errorf("seal: sealing %s/%s: reading nonce: %w", ad.Tenant, ad.Kind, err)
	}
	return aead.Seal(blob, nonce, plaintext, associatedData(blob[:headerLen], ad)), nil
}

// reserve returns the tenant's active key and counts one use of it.
func (k *Keyring) reserve(ctx context.Context, tenant string) (cipher.AEAD, uint32, error) {
	ts := k.tenant(tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := k.freshLocked(ctx, tenant, ts); err != nil {
		return nil, 0, err
	}
	if ts.active != nil && ts.active.uses() >= k.rotateAfter {
		exhausted := ts.active.rec.Version
		if _, err := k.rotateLocked(ctx, tenant, ts); err != nil {
			return nil, 0, fmt.Errorf("key version %d reached %d uses and could not rotate: %w", exhausted, k.rotateAfter, err)
		}
	}
	if ts.active == nil {
		if err := k.createActiveLocked(ctx, tenant, ts); err != nil {
			return nil, 0, err
		}
	}
	dk := ts.active
	if dk.aead == nil {
		if err := k.unwrapLocked(ctx, dk); err != nil {
			return nil, 0, err
		}
	}
	// Count before use: over-counting after a failure is safe, under-counting not.
	dk.pending++
	if dk.pending >= flushEvery {
		if err := k.flushLocked(ctx, tenant, ts); err != nil {
			return nil, 0, fmt.Errorf("persisting key use count: %w", err)
		}
	}
	return dk.aead, dk.rec.Version, nil
}

// Open decrypts blob, which must have been sealed with the same AD.
func (k *Keyring) Open(ctx context.Context, ad AD, blob []byte) ([]byte, error) {
	if err := ad.validate(); err != nil {
		return nil, err
	}
	if len(blob) < blobOverhead {
		return nil, fmt.Errorf("seal: opening %s/%s: blob is %d bytes, shorter than any sealed blob: %w", ad.Tenant, ad.Kind, len(blob), ErrDecrypt)
	}
	// The magic and format are public; compared in constant time all the same.
	if subtle.ConstantTimeCompare(blob[:len(magic)], []byte(magic)) != 1 {
		return nil, fmt.Errorf("seal: opening %s/%s: not a sealed blob: %w", ad.Tenant, ad.Kind, ErrDecrypt)
	}
	if f := blob[len(magic)]; f != formatV1 {
		return nil, fmt.Errorf("seal: opening %s/%s: unknown blob format %d: %w", ad.Tenant, ad.Kind, f, ErrDecrypt)
	}
	version := binary.BigEndian.Uint32(blob[len(magic)+1 : headerLen])
	if version == indexVersion {
		return nil, fmt.Errorf("seal: opening %s/%s: key version 0 is not a data key: %w", ad.Tenant, ad.Kind, ErrDecrypt)
	}
	aead, err := k.dataKey(ctx, ad.Tenant, version)
	if err != nil {
		return nil, fmt.Errorf("seal: opening %s/%s: %w", ad.Tenant, ad.Kind, err)
	}
	plaintext, err := aead.Open(nil, blob[headerLen:headerLen+nonceLen], blob[headerLen+nonceLen:], associatedData(blob[:headerLen], ad))
	if err != nil {
		return nil, fmt.Errorf("seal: opening %s/%s: %w", ad.Tenant, ad.Kind, ErrDecrypt)
	}
	return plaintext, nil
}

// dataKey returns the AEAD of a tenant's key version for decryption.
func (k *Keyring) dataKey(ctx context.Context, tenant string, version uint32) (cipher.AEAD, error) {
	ts := k.tenant(tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	loads := ts.loads
	if err := k.freshLocked(ctx, tenant, ts); err != nil {
		return nil, err
	}
	dk := ts.versions[version]
	if dk == nil && ts.loads == loads {
		// Another process may have rotated since the last load.
		if err := k.loadLocked(ctx, tenant, ts); err != nil {
			return nil, err
		}
		dk = ts.versions[version]
	}
	switch {
	case dk == nil && ts.maxVer == 0:
		return nil, fmt.Errorf("tenant has no data key version %d (%w, or %w: the blob belongs to another tenant)", version, ErrKeyDestroyed, ErrDecrypt)
	case dk == nil:
		return nil, fmt.Errorf("no data key version %d: %w", version, ErrDecrypt)
	case dk.rec.State == StateDestroyed:
		return nil, fmt.Errorf("data key version %d: %w", version, ErrKeyDestroyed)
	}
	if dk.aead == nil {
		if err := k.unwrapLocked(ctx, dk); err != nil {
			return nil, err
		}
	}
	return dk.aead, nil
}

// BlindIndex returns HMAC-SHA256(index key, kind, value) for lookups by a secret
// value (a cluster name, a username). The tenant's index key is separate from its
// data keys and survives rotation, so indexes stay stable; kind separates domains
// (the same value indexed as two kinds gives unrelated results).
func (k *Keyring) BlindIndex(ctx context.Context, tenant, kind, value string) ([]byte, error) {
	if tenant == "" || kind == "" {
		return nil, errors.New("seal: blind index needs a tenant and a kind")
	}
	key, err := k.indexKey(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("seal: blind index for tenant %q: %w", tenant, err)
	}
	defer clear(key)
	mac := hmac.New(sha256.New, key)
	mac.Write(appendFields(nil, indexDomain, kind, value))
	return mac.Sum(nil), nil
}

func (k *Keyring) indexKey(ctx context.Context, tenant string) ([]byte, error) {
	ts := k.tenant(tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := k.freshLocked(ctx, tenant, ts); err != nil {
		return nil, err
	}
	for attempt := 0; ts.index == nil; attempt++ {
		if attempt == maxInsertAttempts {
			return nil, fmt.Errorf("creating the index key: gave up after %d conflicts", attempt)
		}
		rec, key, err := k.newKey(ctx, tenant, indexVersion, StateIndex)
		if err != nil {
			return nil, err
		}
		err = k.keys.InsertKey(ctx, rec)
		if err == nil {
			ts.index = &indexKey{rec: rec, key: key}
			break
		}
		clear(key)
		if !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("storing the index key: %w", err)
		}
		// Another process created it first: use theirs.
		if err := k.loadLocked(ctx, tenant, ts); err != nil {
			return nil, err
		}
	}
	if ts.index.rec.State == StateDestroyed {
		return nil, fmt.Errorf("index key: %w", ErrKeyDestroyed)
	}
	if ts.index.key == nil {
		key, err := k.unwrap(ctx, ts.index.rec)
		if err != nil {
			return nil, err
		}
		ts.index.key = key
	}
	// A copy: the cached key is cleared when the tenant is reloaded or shredded.
	return bytes.Clone(ts.index.key), nil
}

// Rotate makes a new active key version for tenant and returns it; the previous
// versions stay available for decryption.
func (k *Keyring) Rotate(ctx context.Context, tenant string) (uint32, error) {
	if tenant == "" {
		return 0, errors.New("seal: rotate: empty tenant")
	}
	ts := k.tenant(tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	err := k.loadLocked(ctx, tenant, ts)
	var version uint32
	if err == nil {
		version, err = k.rotateLocked(ctx, tenant, ts)
	}
	if err != nil {
		return 0, fmt.Errorf("seal: rotating keys of tenant %q: %w", tenant, err)
	}
	return version, nil
}

// rotateLocked inserts version maxVer+1 as active, then demotes every older active
// version to decrypt (flushing its count). A crash in between leaves two active
// versions; the highest one wins, so that state is harmless.
func (k *Keyring) rotateLocked(ctx context.Context, tenant string, ts *tenantKeys) (uint32, error) {
	if err := k.createActiveLocked(ctx, tenant, ts); err != nil {
		return 0, err
	}
	active := ts.active
	for _, dk := range ts.versions {
		if dk == active || dk.rec.State != StateActive {
			continue
		}
		if dk.pending > 0 {
			if err := k.keys.AddKeyUses(ctx, tenant, dk.rec.Version, dk.pending); err != nil {
				return 0, fmt.Errorf("storing the use count of key version %d: %w", dk.rec.Version, err)
			}
			dk.rec.Uses, dk.pending = dk.rec.Uses+dk.pending, 0
		}
		// Conditional: another process may have retired it already.
		err := k.keys.SetKeyState(ctx, tenant, dk.rec.Version, StateActive, StateDecrypt)
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return 0, fmt.Errorf("retiring key version %d: %w", dk.rec.Version, err)
		}
		dk.rec.State = StateDecrypt
	}
	return active.rec.Version, nil
}

// createActiveLocked stores a new active data key one above the highest stored
// version. If another process inserts that version first, it reloads and, when
// a fresh active key now exists, uses that one.
func (k *Keyring) createActiveLocked(ctx context.Context, tenant string, ts *tenantKeys) error {
	before := ts.active
	for attempt := 0; ; attempt++ {
		if attempt == maxInsertAttempts {
			return fmt.Errorf("creating a data key: gave up after %d conflicts", attempt)
		}
		version := ts.maxVer + 1
		if version == 0 {
			return errors.New("key versions exhausted")
		}
		rec, key, err := k.newKey(ctx, tenant, version, StateActive)
		if err != nil {
			return err
		}
		aead, err := newAEAD(key)
		clear(key)
		if err != nil {
			return err
		}
		err = k.keys.InsertKey(ctx, rec)
		if err == nil {
			dk := &dataKey{rec: rec, aead: aead}
			ts.versions[version] = dk
			ts.active, ts.maxVer = dk, version
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("storing data key version %d: %w", version, err)
		}
		if err := k.loadLocked(ctx, tenant, ts); err != nil {
			return err
		}
		// Another process made a new active version meanwhile: that is the
		// rotation (or first key) asked for.
		if ts.active != nil && (before == nil || ts.active.rec.Version > before.rec.Version) && ts.active.uses() < k.rotateAfter {
			return nil
		}
	}
}

// newKey returns a fresh random key and its wrapped record. The caller clears key.
func (k *Keyring) newKey(ctx context.Context, tenant string, version uint32, state string) (store.WrappedKey, []byte, error) {
	var key, wrapped []byte
	if gen, ok := k.kek.(KeyGenerator); ok {
		var err error
		key, wrapped, err = gen.GenerateKey(ctx, wrapAD(tenant, version))
		if err != nil {
			return store.WrappedKey{}, nil, fmt.Errorf("generating key version %d with %s: %w", version, k.kek.ID(), err)
		}
		if len(key) != keyLen {
			clear(key)
			return store.WrappedKey{}, nil, fmt.Errorf("generating key version %d with %s: got %d bytes, want %d", version, k.kek.ID(), len(key), keyLen)
		}
	} else {
		key = make([]byte, keyLen)
		if _, err := io.ReadFull(k.rand, key); err != nil {
			return store.WrappedKey{}, nil, fmt.Errorf("generating a key: %w", err)
		}
		var err error
		wrapped, err = k.kek.Wrap(ctx, key, wrapAD(tenant, version))
		if err != nil {
			clear(key)
			return store.WrappedKey{}, nil, fmt.Errorf("wrapping key version %d with %s: %w", version, k.kek.ID(), err)
		}
	}
	rec := store.WrappedKey{
		Tenant:    tenant,
		Version:   version,
		KEKID:     k.kek.ID(),
		Wrapped:   wrapped,
		CreatedAt: k.now().UTC(),
		State:     state,
	}
	return rec, key, nil
}

// unwrap returns the raw key of rec. The caller clears it when done.
func (k *Keyring) unwrap(ctx context.Context, rec store.WrappedKey) ([]byte, error) {
	if rec.KEKID != k.kek.ID() {
		return nil, k.wrongKEK(rec.KEKID)
	}
	key, err := k.kek.Unwrap(ctx, rec.Wrapped, wrapAD(rec.Tenant, rec.Version))
	if err != nil {
		return nil, fmt.Errorf("key version %d does not unwrap (tampered with or moved): %w", rec.Version, err)
	}
	if len(key) != keyLen {
		clear(key)
		return nil, fmt.Errorf("key version %d unwraps to %d bytes, want %d: %w", rec.Version, len(key), keyLen, ErrDecrypt)
	}
	return key, nil
}

func (k *Keyring) unwrapLocked(ctx context.Context, dk *dataKey) error {
	key, err := k.unwrap(ctx, dk.rec)
	if err != nil {
		return err
	}
	aead, err := newAEAD(key)
	clear(key)
	if err != nil {
		return err
	}
	dk.aead = aead
	return nil
}

func (k *Keyring) wrongKEK(stored string) error {
	what := "the key file does not match this data directory"
	if !strings.HasPrefix(k.kek.ID(), "file:") {
		what = "the configured key does not match this data"
	}
	return fmt.Errorf("%w: %s (data keys were wrapped by KEK %s, the configured KEK is %s)", ErrWrongKEK, what, stored, k.kek.ID())
}

// newAEAD builds AES-256-GCM from key. The caller clears key afterwards; the
// expanded key schedule inside the cipher cannot be cleared from Go.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	return aead, nil
}

// freshLocked loads the tenant's keys unless they were loaded recently.
func (k *Keyring) freshLocked(ctx context.Context, tenant string, ts *tenantKeys) error {
	if !ts.loaded.IsZero() && k.now().Sub(ts.loaded) < k.refreshAfter {
		return nil
	}
	return k.loadLocked(ctx, tenant, ts)
}

// loadLocked reads the tenant's key records from the store. It keeps unwrapped
// keys whose stored record is unchanged and this process's uncounted uses, and
// forgets versions the store no longer has.
func (k *Keyring) loadLocked(ctx context.Context, tenant string, ts *tenantKeys) error {
	recs, err := k.keys.ListKeys(ctx, tenant)
	if err != nil {
		return fmt.Errorf("loading keys: %w", err)
	}
	versions := make(map[uint32]*dataKey, len(recs))
	var active *dataKey
	var maxVer uint32
	var index *indexKey
	for _, rec := range recs {
		if rec.Tenant != tenant {
			return fmt.Errorf("key store returned a key of tenant %q", rec.Tenant)
		}
		if rec.Version == indexVersion {
			index = &indexKey{rec: rec}
			if old := ts.index; old != nil && sameKey(old.rec, rec) && rec.State != StateDestroyed {
				index.key = old.key
			} else if old != nil {
				clear(old.key)
			}
			continue
		}
		dk := &dataKey{rec: rec}
		if old := ts.versions[rec.Version]; old != nil {
			dk.pending = old.pending
			if sameKey(old.rec, rec) && rec.State != StateDestroyed {
				dk.aead = old.aead
			}
		}
		versions[rec.Version] = dk
		maxVer = max(maxVer, rec.Version)
		if rec.State == StateActive && (active == nil || rec.Version > active.rec.Version) {
			active = dk
		}
	}
	if index == nil && ts.index != nil {
		clear(ts.index.key)
	}
	ts.versions, ts.active, ts.maxVer, ts.index = versions, active, maxVer, index
	ts.loaded = k.now()
	ts.loads++
	return nil
}

// sameKey reports whether two records hold the same wrapped key.
func sameKey(a, b store.WrappedKey) bool {
	return a.KEKID == b.KEKID && bytes.Equal(a.Wrapped, b.Wrapped)
}

// flushLocked adds this process's uncounted uses to the stored counts (atomic
// increments, so other processes' counts are kept), then reloads so the counts
// of every process decide the next rotation.
func (k *Keyring) flushLocked(ctx context.Context, tenant string, ts *tenantKeys) error {
	for _, dk := range ts.versions {
		if dk.pending == 0 {
			continue
		}
		err := k.keys.AddKeyUses(ctx, tenant, dk.rec.Version, dk.pending)
		if errors.Is(err, store.ErrNotFound) {
			dk.pending = 0 // shredded meanwhile: nothing left to count
			continue
		}
		if err != nil {
			return fmt.Errorf("storing the use count of key version %d: %w", dk.rec.Version, err)
		}
		dk.rec.Uses, dk.pending = dk.rec.Uses+dk.pending, 0
	}
	return k.loadLocked(ctx, tenant, ts)
}

// Flush persists the use counts of every tenant's keys. Call it before shutdown.
func (k *Keyring) Flush(ctx context.Context) error {
	k.mu.Lock()
	tenants := make(map[string]*tenantKeys, len(k.tenants))
	for name, ts := range k.tenants {
		tenants[name] = ts
	}
	k.mu.Unlock()
	var errs []error
	for name, ts := range tenants {
		ts.mu.Lock()
		dirty := false
		for _, dk := range ts.versions {
			dirty = dirty || dk.pending > 0
		}
		if dirty {
			if err := k.flushLocked(ctx, name, ts); err != nil {
				errs = append(errs, fmt.Errorf("seal: flushing key use counts of tenant %q: %w", name, err))
			}
		}
		ts.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Status lists the tenant's key versions (the index key is version 0), oldest
// first, without key material.
func (k *Keyring) Status(ctx context.Context, tenant string) ([]KeyInfo, error) {
	ts := k.tenant(tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := k.loadLocked(ctx, tenant, ts); err != nil {
		return nil, fmt.Errorf("seal: key status of tenant %q: %w", tenant, err)
	}
	var out []KeyInfo
	if ix := ts.index; ix != nil {
		out = append(out, KeyInfo{Version: ix.rec.Version, State: ix.rec.State, KEKID: ix.rec.KEKID, Created: ix.rec.CreatedAt, Uses: ix.rec.Uses})
	}
	for _, dk := range ts.versions {
		out = append(out, KeyInfo{Version: dk.rec.Version, State: dk.rec.State, KEKID: dk.rec.KEKID, Created: dk.rec.CreatedAt, Uses: dk.uses()})
	}
	slices.SortFunc(out, func(a, b KeyInfo) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

// Verify unwraps every stored key of the given tenants with the configured KEK.
// A key wrapped by another KEK gives an error wrapping ErrWrongKEK; a wrapped key
// that was edited or moved gives one wrapping ErrDecrypt.
func (k *Keyring) Verify(ctx context.Context, tenants ...string) error {
	for _, tenant := range tenants {
		recs, err := k.keys.ListKeys(ctx, tenant)
		if err != nil {
			return fmt.Errorf("seal: verifying keys of tenant %q: %w", tenant, err)
		}
		for _, rec := range recs {
			if rec.State == StateDestroyed {
				continue
			}
			key, err := k.unwrap(ctx, rec)
			if err != nil {
				return fmt.Errorf("seal: verifying keys of tenant %q: %w", tenant, err)
			}
			clear(key)
		}
	}
	return nil
}

// Shred destroys every key of tenant (crypto-shredding): its sealed data can no
// longer be opened, by this process or any other. A later Seal for the tenant
// starts a new, unrelated key.
func (k *Keyring) Shred(ctx context.Context, tenant string) error {
	if tenant == "" {
		return errors.New("seal: shred: empty tenant")
	}
	ts := k.tenant(tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := k.keys.DeleteKeys(ctx, tenant); err != nil {
		return fmt.Errorf("seal: shredding tenant %q: %w", tenant, err)
	}
	if ts.index != nil {
		clear(ts.index.key)
	}
	ts.versions, ts.active, ts.maxVer, ts.index = nil, nil, 0, nil
	ts.loaded = time.Time{}
	return nil
}
