package seal

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/costwarden/costwarden/internal/store"
)

// store.Keys is what production passes as a KeyStore.
var _ KeyStore = store.Keys(nil)

// memKeys is an in-memory KeyStore with the store contract's semantics. The real
// backends are held to the same contract by internal/store/storetest.
type memKeys struct {
	mu   sync.Mutex
	keys map[string]map[uint32]store.WrappedKey
	// lists counts ListKeys calls.
	lists int
}

func newMemKeys() *memKeys { return &memKeys{keys: make(map[string]map[uint32]store.WrappedKey)} }

func clone(k store.WrappedKey) store.WrappedKey {
	k.Wrapped = bytes.Clone(k.Wrapped)
	return k
}

func (m *memKeys) ListKeys(_ context.Context, tenant string) ([]store.WrappedKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lists++
	var out []store.WrappedKey
	for _, k := range m.keys[tenant] {
		out = append(out, clone(k))
	}
	slices.SortFunc(out, func(a, b store.WrappedKey) int { return cmp.Compare(a.Version, b.Version) })
	return out, nil
}

func (m *memKeys) InsertKey(_ context.Context, k store.WrappedKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys[k.Tenant] == nil {
		m.keys[k.Tenant] = make(map[uint32]store.WrappedKey)
	}
	if _, ok := m.keys[k.Tenant][k.Version]; ok {
		return fmt.Errorf("memkeys: key %s/%d: %w", k.Tenant, k.Version, store.ErrConflict)
	}
	m.keys[k.Tenant][k.Version] = clone(k)
	return nil
}

func (m *memKeys) AddKeyUses(_ context.Context, tenant string, version uint32, n uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.keys[tenant][version]
	if !ok {
		return fmt.Errorf("memkeys: key %s/%d: %w", tenant, version, store.ErrNotFound)
	}
	old.Uses += n
	m.keys[tenant][version] = old
	return nil
}

func (m *memKeys) SetKeyState(_ context.Context, tenant string, version uint32, from, to string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.keys[tenant][version]
	if !ok {
		return fmt.Errorf("memkeys: key %s/%d: %w", tenant, version, store.ErrNotFound)
	}
	if old.State != from {
		return fmt.Errorf("memkeys: key %s/%d is %s: %w", tenant, version, old.State, store.ErrConflict)
	}
	old.State = to
	m.keys[tenant][version] = old
	return nil
}

func (m *memKeys) RewrapKey(_ context.Context, tenant string, version uint32, oldWrapped []byte, kekID string, wrapped []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.keys[tenant][version]
	if !ok {
		return fmt.Errorf("memkeys: key %s/%d: %w", tenant, version, store.ErrNotFound)
	}
	if !bytes.Equal(old.Wrapped, oldWrapped) {
		return fmt.Errorf("memkeys: key %s/%d: %w", tenant, version, store.ErrConflict)
	}
	old.KEKID, old.Wrapped = kekID, bytes.Clone(wrapped)
	m.keys[tenant][version] = old
	return nil
}

func (m *memKeys) DeleteKeys(_ context.Context, tenant string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, tenant)
	return nil
}

// get returns one stored record (test helper).
func (m *memKeys) get(tenant string, version uint32) (store.WrappedKey, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[tenant][version]
	return clone(k), ok
}

// put overwrites a record regardless of the contract (test helper for tampering).
func (m *memKeys) put(k store.WrappedKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys[k.Tenant] == nil {
		m.keys[k.Tenant] = make(map[uint32]store.WrappedKey)
	}
	m.keys[k.Tenant][k.Version] = clone(k)
}
