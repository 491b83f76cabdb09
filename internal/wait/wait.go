// Package wait holds the one way background loops pause: a real-time sleep
// that ends early when the context does.
package wait

import (
	"context"
	"time"
)

// Sleep waits d (in real time; at least a millisecond, so a loop never spins)
// or until ctx ends. It reports whether it waited the whole d.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		d = time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
