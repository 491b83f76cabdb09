package sets

import (
	"context"
	"fmt"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/store"
)

// Index lists the stored windows of resolution res (every cluster) whose start lies
// in [from, to), without their blobs: what a query needs to plan which windows to
// read and to key its cache (a window's UpdatedAt changes whenever it is re-stored).
func (s *Sets) Index(ctx context.Context, res cost.Resolution, from, to time.Time) ([]store.WindowInfo, error) {
	return s.listIndex(ctx, store.WindowRange{Tenant: s.tenant, Resolution: uint8(res), From: from, To: to})
}

// Load reads one stored window (sealed).
func (s *Sets) Load(ctx context.Context, k store.WindowKey) (store.Window, error) {
	k.Tenant = s.tenant
	return s.st.GetWindow(ctx, k)
}

// Stream decrypts a stored window and streams its allocation rows to fn without
// building them (see codec.Codec.Stream: the row passed to fn is reused). It returns
// the set's header, assets and warnings.
func (s *Sets) Stream(ctx context.Context, w store.Window, names bool, fn func(*cost.Allocation)) (*cost.Set, error) {
	plain, err := s.sealer.Open(ctx, s.windowAD(w.WindowKey), w.Blob)
	if err != nil {
		return nil, fmt.Errorf("window %s/%d/%s: %w", w.ClusterID, w.Resolution, w.Start.Format(time.RFC3339), err)
	}
	set, err := s.codec.Stream(plain, names, fn)
	if err != nil {
		return nil, fmt.Errorf("window %s/%d/%s: %w", w.ClusterID, w.Resolution, w.Start.Format(time.RFC3339), err)
	}
	if !set.Window.Start.Equal(w.Start) {
		return nil, fmt.Errorf("window %s/%d/%s: sealed set is for %s", w.ClusterID, w.Resolution, w.Start.Format(time.RFC3339), set.Window)
	}
	return set, nil
}

// PutAt stores a set like Put, but records updatedAt as the time it was stored. A
// set derived from others (a day built from its hours) is stamped with the newest of
// its inputs' times, so that any input stored again later is newer than it.
func (s *Sets) PutAt(ctx context.Context, set *cost.Set, updatedAt time.Time) (int, error) {
	id, err := s.ClusterID(ctx, set.Cluster)
	if err != nil {
		return 0, err
	}
	k := store.WindowKey{Tenant: s.tenant, ClusterID: id, Resolution: uint8(set.Resolution), Start: set.Window.Start.UTC()}
	blob, err := s.sealer.Seal(ctx, s.windowAD(k), s.codec.Encode(set))
	if err != nil {
		return 0, err
	}
	w := store.Window{WindowKey: k, End: set.Window.End.UTC(), Partial: set.Partial, Blob: blob, UpdatedAt: updatedAt.UTC()}
	if err := s.st.PutWindow(ctx, w); err != nil {
		return 0, fmt.Errorf("storing window %s of %s: %w", set.Window, id, err)
	}
	s.noteStored(w)
	return len(blob), nil
}
