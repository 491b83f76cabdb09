package sets

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// indexCache keeps the keys of every stored window (no blobs) of one tenant, per
// resolution, loaded from the store once and kept current by this Sets' own writes.
//
// Why: listing window keys (WindowStarts) is what every query plan, the rollup job
// and ingestion's gap check ask for, and in the embedded store it costs a read of
// every listed blob (updated_at is stored after the blob column, so SQLite walks the
// blob's overflow pages to reach it). A covering index in the store would remove the
// cost at its source.
//
// A Sets is the only writer of its tenant's windows in a process (ingestion, gap
// repair and rollups all store through it); windows written by another process are
// seen after Sets.Refresh.
type indexCache struct {
	mu    sync.Mutex
	byRes map[uint8]*resIndex
}

// resIndex is one resolution's keys. Writes made while it loads land in m too, and
// the loaded keys never replace newer ones.
type resIndex struct {
	ready chan struct{} // closed when loaded
	err   error
	m     map[indexKey]store.WindowInfo
}

type indexKey struct {
	cluster string
	start   int64
}

// Refresh drops the cached window keys; the next listing reads them from the store.
func (s *Sets) Refresh() {
	s.index.mu.Lock()
	s.index.byRes = nil
	s.index.mu.Unlock()
}

func (s *Sets) loadIndex(ctx context.Context, res uint8) (*resIndex, error) {
	s.index.mu.Lock()
	ri := s.index.byRes[res]
	if ri != nil {
		s.index.mu.Unlock()
		select {
		case <-ri.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if ri.err != nil {
			return nil, ri.err
		}
		return ri, nil
	}
	ri = &resIndex{ready: make(chan struct{}), m: map[indexKey]store.WindowInfo{}}
	if s.index.byRes == nil {
		s.index.byRes = map[uint8]*resIndex{}
	}
	s.index.byRes[res] = ri
	s.index.mu.Unlock()

	infos, err := s.st.WindowStarts(ctx, store.WindowRange{Tenant: s.tenant, Resolution: res, To: time.Unix(1<<40, 0)})
	s.index.mu.Lock()
	defer s.index.mu.Unlock()
	if err != nil {
		ri.err = err
		if s.index.byRes[res] == ri {
			delete(s.index.byRes, res)
		}
		close(ri.ready)
		return nil, err
	}
	for _, in := range infos {
		k := indexKey{in.ClusterID, in.Start.UnixNano()}
		if cur, ok := ri.m[k]; !ok || in.UpdatedAt.After(cur.UpdatedAt) {
			ri.m[k] = in
		}
	}
	close(ri.ready)
	return ri, nil
}

// noteStored records a window this Sets has just written.
func (s *Sets) noteStored(w store.Window) {
	s.index.mu.Lock()
	defer s.index.mu.Unlock()
	ri := s.index.byRes[w.Resolution]
	if ri == nil {
		return // not loaded yet: the first listing reads it from the store
	}
	ri.m[indexKey{w.ClusterID, w.Start.UnixNano()}] = store.WindowInfo{WindowKey: w.WindowKey, End: w.End, Partial: w.Partial, UpdatedAt: w.UpdatedAt}
}

// listIndex lists the cached keys in r (cluster "" = every cluster), ordered like
// the store orders them: by start, then cluster.
func (s *Sets) listIndex(ctx context.Context, r store.WindowRange) ([]store.WindowInfo, error) {
	ri, err := s.loadIndex(ctx, r.Resolution)
	if err != nil {
		return nil, err
	}
	s.index.mu.Lock()
	var out []store.WindowInfo
	for _, in := range ri.m {
		if r.ClusterID != "" && in.ClusterID != r.ClusterID {
			continue
		}
		if (!r.From.IsZero() && in.Start.Before(r.From)) || !in.Start.Before(r.To) {
			continue
		}
		out = append(out, in)
	}
	s.index.mu.Unlock()
	slices.SortFunc(out, func(a, b store.WindowInfo) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		switch {
		case a.ClusterID < b.ClusterID:
			return -1
		case a.ClusterID > b.ClusterID:
			return 1
		}
		return 0
	})
	return out, nil
}
