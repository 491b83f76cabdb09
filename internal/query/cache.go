package query

import (
	"container/list"
	"sync"

	"github.com/costwarden/costwarden/internal/allocation"
)

// partialCache keeps aggregators of single stored windows (partial results), keyed
// by the window's identity, the time it was stored and the query's fingerprint, so a
// repeated query only merges them. It is bounded by an estimate of the bytes it
// holds and evicts the least recently used. A re-stored window has a new UpdatedAt,
// so its old entries are never hit again and age out.
type partialCache struct {
	mu    sync.Mutex
	max   int
	size  int
	ll    *list.List
	items map[string]*list.Element
	hits  uint64
	miss  uint64
}

type cacheEntry struct {
	key  string
	agg  *allocation.Aggregator
	size int
}

func newPartialCache(maxBytes int) *partialCache {
	return &partialCache{max: maxBytes, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *partialCache) get(key string) *allocation.Aggregator {
	if c == nil || c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.ll.MoveToFront(e)
		c.hits++
		return e.Value.(*cacheEntry).agg
	}
	c.miss++
	return nil
}

// put stores agg unless it alone would take more than a quarter of the budget, and
// reports whether it stored it.
func (c *partialCache) put(key string, agg *allocation.Aggregator) bool {
	if c == nil || c.max <= 0 {
		return false
	}
	size := agg.SizeEstimate() + len(key) + 128
	if size > c.max/4 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.size -= e.Value.(*cacheEntry).size
		c.ll.Remove(e)
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, agg: agg, size: size})
	c.size += size
	for c.size > c.max {
		e := c.ll.Back()
		ce := e.Value.(*cacheEntry)
		c.ll.Remove(e)
		delete(c.items, ce.key)
		c.size -= ce.size
	}
	return true
}

// CacheStats is a snapshot of the partial-result cache.
type CacheStats struct {
	Entries      int
	Bytes        int
	Hits, Misses uint64
}

func (c *partialCache) stats() CacheStats {
	if c == nil {
		return CacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Entries: len(c.items), Bytes: c.size, Hits: c.hits, Misses: c.miss}
}
