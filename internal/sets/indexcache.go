package sets

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// indexCache keeps the keys of every stored window (no blobs) of one tenant, per
// resolution, loaded from the store once and kept current by the store's window
// change feed, which every listing follows first: windows other processes (other
// replicas, the CLI) store are seen at the next listing, and a deletion anywhere
// makes the next listing read everything again.
//
// Why: listing window keys (WindowStarts) is what every query plan, the rollup job
// and ingestion's gap check ask for, and in the embedded store it costs a read of
// every listed blob (updated_at is stored after the blob column, so SQLite walks the
// blob's overflow pages to reach it). A covering index in the store would remove the
// cost at its source.
//
// This Sets' own writes are noted at once as well, so a listing right after a
// write sees it even before the feed is read.
type indexCache struct {
	mu    sync.Mutex
	byRes map[uint8]*resIndex

	feedMu  sync.Mutex // serializes following the feed
	synced  bool       // version and deletes are set
	version int64      // the feed has been followed up to here
	deletes int64      // the deletion counter when last read
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
	s.index.feedMu.Lock()
	s.index.synced = false
	s.index.feedMu.Unlock()
	s.index.mu.Lock()
	s.index.byRes = nil
	s.index.mu.Unlock()
}

// follow brings the cached keys up to date with the store's change feed.
func (s *Sets) follow(ctx context.Context) error {
	ix := &s.index
	ix.feedMu.Lock()
	defer ix.feedMu.Unlock()
	after := ix.version
	if !ix.synced {
		after = -1
	}
	ch, err := s.st.WindowsSince(ctx, s.tenant, after)
	if err != nil {
		return err
	}
	if !ix.synced || ch.Deletes != ix.deletes || ch.Version < ix.version {
		// First use, windows deleted somewhere, or a store that went back (a
		// restore): list everything again from here on.
		ix.mu.Lock()
		ix.byRes = nil
		ix.mu.Unlock()
		ix.synced, ix.version, ix.deletes = true, ch.Version, ch.Deletes
		return nil
	}
	if len(ch.Windows) > 0 {
		ix.mu.Lock()
		for _, in := range ch.Windows {
			ri := ix.byRes[in.Resolution]
			if ri == nil {
				continue // not loaded: its first listing reads the store
			}
			// A resolution still loading takes the change too: its load never
			// replaces a newer version.
			k := indexKey{in.ClusterID, in.Start.UnixNano()}
			if cur, ok := ri.m[k]; !ok || in.Version >= cur.Version {
				ri.m[k] = in
			}
		}
		ix.mu.Unlock()
	}
	ix.version = ch.Version
	return nil
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
		if cur, ok := ri.m[k]; !ok || in.Version > cur.Version || (in.Version == cur.Version && in.UpdatedAt.After(cur.UpdatedAt)) {
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
	k := indexKey{w.ClusterID, w.Start.UnixNano()}
	if cur, ok := ri.m[k]; ok && cur.Version > 0 {
		// Known from the feed, which may already hold a newer write of another
		// process: the next listing's feed read brings this write's version.
		return
	}
	ri.m[k] = store.WindowInfo{WindowKey: w.WindowKey, End: w.End, Partial: w.Partial, UpdatedAt: w.UpdatedAt}
}

// listIndex lists the cached keys in r (cluster "" = every cluster), ordered like
// the store orders them: by start, then cluster.
func (s *Sets) listIndex(ctx context.Context, r store.WindowRange) ([]store.WindowInfo, error) {
	if err := s.follow(ctx); err != nil {
		return nil, err
	}
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
