package store_test

import (
	"math"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// TestCursors: the ScanSealed cursors both backends share round-trip, start
// before everything when empty, and refuse anything else with an error that
// names the cursor.
func TestCursors(t *testing.T) {
	k := store.WindowKey{ClusterID: "edge/eu-1", Resolution: 2, Start: time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)}
	cluster, res, start, err := store.ParseWindowCursor(store.WindowCursor(k))
	if err != nil || cluster != k.ClusterID || res != 2 || start != k.Start.UnixNano() {
		t.Errorf("window cursor round trip = %q %d %d %v", cluster, res, start, err)
	}
	if cluster, res, start, err := store.ParseWindowCursor(""); err != nil || cluster != "" || res != -1 || start != math.MinInt64 {
		t.Errorf("empty window cursor = %q %d %d %v", cluster, res, start, err)
	}
	for _, bad := range []string{"x", "1/2", "a/2/c", "1/b/c"} {
		if _, _, _, err := store.ParseWindowCursor(bad); err == nil {
			t.Errorf("window cursor %q accepted", bad)
		}
	}
	if n, err := store.ParseAuditCursor(""); n != 0 || err != nil {
		t.Errorf("empty audit cursor = %d, %v", n, err)
	}
	if n, err := store.ParseAuditCursor("42"); n != 42 || err != nil {
		t.Errorf("audit cursor 42 = %d, %v", n, err)
	}
	if _, err := store.ParseAuditCursor("4x"); err == nil {
		t.Error("audit cursor 4x accepted")
	}
}
