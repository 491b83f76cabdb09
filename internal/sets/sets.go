// Package sets stores and loads cost sets: encode (internal/codec) → seal
// (internal/seal, bound to tenant, cluster, resolution and start) → store, and back.
// It also registers clusters, whose names are customer data: the store sees a random
// id, a blind index of the name and the sealed name.
//
// It owns that pipeline and nothing else: it must not compute costs or decide who
// may read what.
package sets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/costwarden/costwarden/internal/codec"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/store"
)

// Sealer is what sets needs from internal/seal.
type Sealer interface {
	Seal(ctx context.Context, ad seal.AD, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, ad seal.AD, blob []byte) ([]byte, error)
	BlindIndex(ctx context.Context, tenant, kind, value string) ([]byte, error)
}

// Store is what sets needs from internal/store.
type Store interface {
	store.Clusters
	store.Windows
	store.WindowFeed
}

// Sets reads and writes one tenant's sealed sets.
type Sets struct {
	st     Store
	sealer Sealer
	codec  *codec.Codec
	tenant string
	now    func() time.Time

	mu       sync.Mutex
	idByName map[string]string
	nameByID map[string]string

	index indexCache
}

// New returns a Sets for tenant.
func New(st Store, sealer Sealer, tenant string, now func() time.Time) *Sets {
	return &Sets{st: st, sealer: sealer, codec: codec.New(), tenant: tenant, now: now,
		idByName: map[string]string{}, nameByID: map[string]string{}}
}

// Tenant is the tenant these sets belong to.
func (s *Sets) Tenant() string { return s.tenant }

// ClusterID returns the id of the named cluster, registering it on first use.
func (s *Sets) ClusterID(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	id, ok := s.idByName[name]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	idx, err := s.sealer.BlindIndex(ctx, s.tenant, "cluster-name", name)
	if err != nil {
		return "", err
	}
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	newID := "c_" + hex.EncodeToString(b)
	sealed, err := s.sealer.Seal(ctx, ClusterAD(s.tenant, newID), []byte(name))
	if err != nil {
		return "", err
	}
	c, err := s.st.EnsureCluster(ctx, store.Cluster{Tenant: s.tenant, ID: newID, NameIndex: idx, Sealed: sealed, CreatedAt: s.now().UTC()})
	if err != nil {
		return "", fmt.Errorf("registering cluster: %w", err)
	}
	s.remember(c.ID, name)
	return c.ID, nil
}

func (s *Sets) remember(id, name string) {
	s.mu.Lock()
	s.idByName[name] = id
	s.nameByID[id] = name
	s.mu.Unlock()
}

// Clusters returns the registered clusters, id -> name.
func (s *Sets) Clusters(ctx context.Context) (map[string]string, error) {
	cs, err := s.st.ListClusters(ctx, s.tenant)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(cs))
	for _, c := range cs {
		s.mu.Lock()
		name, ok := s.nameByID[c.ID]
		s.mu.Unlock()
		if !ok {
			b, err := s.sealer.Open(ctx, ClusterAD(s.tenant, c.ID), c.Sealed)
			if err != nil {
				return nil, fmt.Errorf("cluster %s: %w", c.ID, err)
			}
			name = string(b)
			s.remember(c.ID, name)
		}
		out[c.ID] = name
	}
	return out, nil
}

// windowAD binds a sealed set to exactly one (tenant, cluster, resolution, start).
func (s *Sets) windowAD(k store.WindowKey) seal.AD {
	k.Tenant = s.tenant
	return WindowAD(k)
}

// WindowAD is the associated data a stored window is sealed with (the
// re-encryption job rebuilds it from the row's key).
func WindowAD(k store.WindowKey) seal.AD {
	return seal.AD{Tenant: k.Tenant, Kind: "window", ID: k.ClusterID + "/" + strconv.Itoa(int(k.Resolution)) + "/" + strconv.FormatInt(k.Start.Unix(), 10)}
}

// ClusterAD is the associated data a cluster's sealed name is sealed with.
func ClusterAD(tenant, id string) seal.AD { return seal.AD{Tenant: tenant, Kind: "cluster", ID: id} }

// Put stores a set (replacing any stored set with the same key) and returns the
// number of sealed bytes written.
func (s *Sets) Put(ctx context.Context, set *cost.Set) (int, error) {
	id, err := s.ClusterID(ctx, set.Cluster)
	if err != nil {
		return 0, err
	}
	k := store.WindowKey{Tenant: s.tenant, ClusterID: id, Resolution: uint8(set.Resolution), Start: set.Window.Start.UTC()}
	blob, err := s.sealer.Seal(ctx, s.windowAD(k), s.codec.Encode(set))
	if err != nil {
		return 0, err
	}
	w := store.Window{WindowKey: k, End: set.Window.End.UTC(), Partial: set.Partial, Blob: blob, UpdatedAt: s.now().UTC()}
	if err := s.st.PutWindow(ctx, w); err != nil {
		return 0, fmt.Errorf("storing window %s of %s: %w", set.Window, id, err)
	}
	s.noteStored(w)
	return len(blob), nil
}

// Open decrypts and decodes a stored window. The decoded set shares label maps
// between rows: treat it as read-only.
func (s *Sets) Open(ctx context.Context, w store.Window) (*cost.Set, error) {
	plain, err := s.sealer.Open(ctx, s.windowAD(w.WindowKey), w.Blob)
	if err != nil {
		return nil, fmt.Errorf("window %s/%d/%s: %w", w.ClusterID, w.Resolution, w.Start.Format(time.RFC3339), err)
	}
	set, err := s.codec.Decode(plain)
	if err != nil {
		return nil, fmt.Errorf("window %s/%d/%s: %w", w.ClusterID, w.Resolution, w.Start.Format(time.RFC3339), err)
	}
	if !set.Window.Start.Equal(w.Start) {
		return nil, fmt.Errorf("window %s/%d/%s: sealed set is for %s", w.ClusterID, w.Resolution, w.Start.Format(time.RFC3339), set.Window)
	}
	return set, nil
}

// Scan opens every stored window of resolution res whose start lies in [from, to),
// in time order, and calls fn with it.
func (s *Sets) Scan(ctx context.Context, res cost.Resolution, from, to time.Time, fn func(*cost.Set) error) error {
	return s.st.ScanWindows(ctx, store.WindowRange{Tenant: s.tenant, Resolution: uint8(res), From: from, To: to}, func(w store.Window) error {
		set, err := s.Open(ctx, w)
		if err != nil {
			return err
		}
		return fn(set)
	})
}

// Stored lists which windows of cluster exist in [from, to), keyed by start.
func (s *Sets) Stored(ctx context.Context, cluster string, res cost.Resolution, from, to time.Time) (map[time.Time]store.WindowInfo, error) {
	id, err := s.ClusterID(ctx, cluster)
	if err != nil {
		return nil, err
	}
	infos, err := s.listIndex(ctx, store.WindowRange{Tenant: s.tenant, ClusterID: id, Resolution: uint8(res), From: from, To: to})
	if err != nil {
		return nil, err
	}
	out := make(map[time.Time]store.WindowInfo, len(infos))
	for _, in := range infos {
		out[in.Start.UTC()] = in
	}
	return out, nil
}
