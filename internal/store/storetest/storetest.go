// Package storetest is the conformance suite of the persistence contract: every
// store.Store backend (sqlite, postgres) runs Run from its own tests and so is held
// to the same behaviour — not found and conflict errors, idempotent window writes,
// range and ordering rules, tenant isolation, time round-trips, token revocation,
// and safety under concurrent use.
//
// It owns test code only. It must not depend on a particular backend, and the
// values it stores are opaque bytes standing in for sealed blobs and blind indexes.
package storetest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// Run runs the suite. open must return a new, empty store for each call and
// arrange (with t.Cleanup) for it to be closed.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Meta", testMeta},
		{"MetaIfAbsentRace", testMetaIfAbsentRace},
		{"Keys", testKeys},
		{"KeyUsesAddUpConcurrently", testKeyUsesConcurrent},
		{"KeyStateRace", testKeyStateRace},
		{"Tenants", testTenants},
		{"SealedRows", testSealedRows},
		{"DumpLoad", testDumpLoad},
		{"LoadIsAllOrNothing", testLoadNonEmpty},
		{"Reclaim", testReclaim},
		{"Clusters", testClusters},
		{"WindowRoundTrip", testWindowRoundTrip},
		{"PutWindowIdempotent", testPutWindowIdempotent},
		{"ScanWindowsOrderAndBounds", testScanWindows},
		{"ScanWindowsStopsOnError", testScanStops},
		{"ScanWindowsCallbackMayUseStore", testScanCallbackUsesStore},
		{"DeleteWindows", testDeleteWindows},
		{"Principals", testPrincipals},
		{"PrincipalVersion", testPrincipalVersion},
		{"Tokens", testTokens},
		{"TokenRevocation", testTokenRevocation},
		{"TokensDieWithPrincipal", testTokensDieWithPrincipal},
		{"TenantIsolation", testTenantIsolation},
		{"TimeRoundTrip", testTimeRoundTrip},
		{"ConcurrentPutWindow", testConcurrentPutWindow},
		{"CheckAndSchemaVersion", testCheck},
		{"PrincipalIndexes", testPrincipalIndexes},
		{"PrincipalLastSeen", testPrincipalLastSeen},
		{"Sessions", testSessions},
		{"SessionRevocation", testSessionRevocation},
		{"SessionsPurge", testSessionsPurge},
		{"Lockouts", testLockouts},
		{"LockoutsConcurrent", testLockoutsConcurrent},
		{"AccessRequests", testAccessRequests},
		{"DependentsDieWithPrincipal", testDependentsDieWithPrincipal},
		{"IdentityTenantIsolation", testIdentityTenantIsolation},
		{"WindowFeed", testWindowFeed},
		{"WindowFeedConcurrent", testWindowFeedConcurrent},
		{"Agents", testAgents},
		{"TenantRegistry", testTenantRegistry},
		{"Locker", testLocker},
		{"TenantBound", testTenantBound},
		{"Audit", testAudit},
		{"AuditConcurrentAppends", testAuditConcurrentAppends},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
	t.Run("DumpLoadRoundTrip", func(t *testing.T) {
		RoundTrip(t, open(t), open(t))
	})
}

var (
	t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// east is a non-UTC zone: stored times come back as the same instant in UTC.
	east = time.FixedZone("UTC+5:30", 5*3600+1800)
)

const (
	hourly uint8 = 1
	daily  uint8 = 2
)

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// sameTime checks that got is want's instant, in UTC, or exactly time.Time{} for
// a zero want.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if got != (time.Time{}) {
			t.Errorf("%s = %v, want time.Time{}", what, got)
		}
		return
	}
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s = %v (%s), want %v in UTC", what, got, got.Location(), want)
	}
}

func testMeta(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetMeta(ctx, "install.id")
	wantErr(t, "GetMeta(absent)", err, store.ErrNotFound)

	must(t, "PutMeta", s.PutMeta(ctx, "install.id", []byte("id-1")))
	got, err := s.GetMeta(ctx, "install.id")
	if err != nil || string(got) != "id-1" {
		t.Errorf("GetMeta = %q, %v; want id-1", got, err)
	}
	must(t, "PutMeta(replace)", s.PutMeta(ctx, "install.id", []byte("id-2")))
	if got, _ := s.GetMeta(ctx, "install.id"); string(got) != "id-2" {
		t.Errorf("GetMeta after replace = %q, want id-2", got)
	}

	stored, err := s.PutMetaIfAbsent(ctx, "install.id", []byte("id-3"))
	if err != nil || stored {
		t.Errorf("PutMetaIfAbsent(present) = %v, %v; want false, nil", stored, err)
	}
	if got, _ := s.GetMeta(ctx, "install.id"); string(got) != "id-2" {
		t.Errorf("PutMetaIfAbsent(present) changed the value to %q", got)
	}
	stored, err = s.PutMetaIfAbsent(ctx, "bootstrap", []byte{0, 1, 2})
	if err != nil || !stored {
		t.Errorf("PutMetaIfAbsent(absent) = %v, %v; want true, nil", stored, err)
	}
	if got, _ := s.GetMeta(ctx, "bootstrap"); !bytes.Equal(got, []byte{0, 1, 2}) {
		t.Errorf("GetMeta(bootstrap) = %x, want 000102", got)
	}

	must(t, "PutMeta(empty)", s.PutMeta(ctx, "empty", []byte{}))
	got, err = s.GetMeta(ctx, "empty")
	if err != nil || len(got) != 0 {
		t.Errorf("GetMeta(empty) = %q, %v; want an empty value, no error", got, err)
	}
}

func testMetaIfAbsentRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 8
	var wg sync.WaitGroup
	results := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.PutMetaIfAbsent(ctx, "leader", fmt.Appendf(nil, "%d", i))
		}()
	}
	wg.Wait()
	winners := 0
	for i := range n {
		must(t, "PutMetaIfAbsent", errs[i])
		if results[i] {
			winners++
			if got, _ := s.GetMeta(ctx, "leader"); string(got) != fmt.Sprint(i) {
				t.Errorf("winner %d, stored value %q", i, got)
			}
		}
	}
	if winners != 1 {
		t.Errorf("%d of %d racing PutMetaIfAbsent stored, want exactly 1", winners, n)
	}
}

func key(tenant string, v uint32, state string) store.WrappedKey {
	return store.WrappedKey{
		Tenant: tenant, Version: v, KEKID: "file:0011223344556677",
		Wrapped: fmt.Appendf(nil, "wrapped-%s-%d", tenant, v), CreatedAt: t0.Add(time.Duration(v) * time.Hour).In(east),
		State: state, Uses: uint64(v) * 1000,
	}
}

func testKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListKeys(ctx, "t1")
	if err != nil || len(got) != 0 {
		t.Fatalf("ListKeys(empty) = %v, %v; want none", got, err)
	}
	// Inserted out of order; listed by version.
	for _, k := range []store.WrappedKey{key("t1", 2, "active"), key("t1", 0, "index"), key("t1", 1, "decrypt"), key("t1", 4294967295, "decrypt"), key("t2", 1, "active")} {
		must(t, fmt.Sprintf("InsertKey(%s/%d)", k.Tenant, k.Version), s.InsertKey(ctx, k))
	}
	wantErr(t, "InsertKey(duplicate version)", s.InsertKey(ctx, key("t1", 2, "active")), store.ErrConflict)

	got, err = s.ListKeys(ctx, "t1")
	must(t, "ListKeys", err)
	if len(got) != 4 {
		t.Fatalf("ListKeys returned %d keys, want 4", len(got))
	}
	for i, v := range []uint32{0, 1, 2, 4294967295} {
		want := key("t1", v, got[i].State)
		checkKey(t, got[i], want)
	}

	must(t, "AddKeyUses", s.AddKeyUses(ctx, "t1", 2, 5))
	must(t, "AddKeyUses(large)", s.AddKeyUses(ctx, "t1", 2, 1<<40))
	must(t, "SetKeyState", s.SetKeyState(ctx, "t1", 2, "active", "decrypt"))
	wantErr(t, "SetKeyState(stale from)", s.SetKeyState(ctx, "t1", 2, "active", "destroyed"), store.ErrConflict)
	must(t, "RewrapKey", s.RewrapKey(ctx, "t1", 2, key("t1", 2, "").Wrapped, "file:8899aabbccddeeff", []byte("rewrapped")))
	wantErr(t, "RewrapKey(stale)", s.RewrapKey(ctx, "t1", 2, key("t1", 2, "").Wrapped, "file:00", []byte("again")), store.ErrConflict)
	got, _ = s.ListKeys(ctx, "t1")
	want := key("t1", 2, "decrypt")
	want.Uses += 5 + 1<<40
	want.KEKID, want.Wrapped = "file:8899aabbccddeeff", []byte("rewrapped")
	checkKey(t, got[2], want)
	checkKey(t, got[1], key("t1", 1, "decrypt")) // untouched

	wantErr(t, "AddKeyUses(missing)", s.AddKeyUses(ctx, "t1", 3, 1), store.ErrNotFound)
	wantErr(t, "SetKeyState(missing)", s.SetKeyState(ctx, "t1", 3, "active", "decrypt"), store.ErrNotFound)
	wantErr(t, "RewrapKey(missing)", s.RewrapKey(ctx, "t1", 3, nil, "x", []byte("x")), store.ErrNotFound)
	wantErr(t, "AddKeyUses(other tenant)", s.AddKeyUses(ctx, "t3", 1, 1), store.ErrNotFound)

	must(t, "DeleteKeys", s.DeleteKeys(ctx, "t1"))
	if got, _ := s.ListKeys(ctx, "t1"); len(got) != 0 {
		t.Errorf("ListKeys after DeleteKeys = %d keys, want 0", len(got))
	}
	if got, _ := s.ListKeys(ctx, "t2"); len(got) != 1 {
		t.Errorf("DeleteKeys(t1) left t2 with %d keys, want 1", len(got))
	}
	must(t, "DeleteKeys(no keys)", s.DeleteKeys(ctx, "t1"))
	// A shredded tenant may start again from version 1.
	must(t, "InsertKey after DeleteKeys", s.InsertKey(ctx, key("t1", 1, "active")))
}

func checkKey(t *testing.T, got, want store.WrappedKey) {
	t.Helper()
	if got.Tenant != want.Tenant || got.Version != want.Version || got.KEKID != want.KEKID ||
		!bytes.Equal(got.Wrapped, want.Wrapped) || got.State != want.State || got.Uses != want.Uses {
		t.Errorf("key = %+v, want %+v", got, want)
	}
	sameTime(t, fmt.Sprintf("key %d CreatedAt", want.Version), got.CreatedAt, want.CreatedAt)
}

func testClusters(t *testing.T, s store.Store) {
	ctx := t.Context()
	if got, err := s.ListClusters(ctx, "t1"); err != nil || len(got) != 0 {
		t.Fatalf("ListClusters(empty) = %v, %v; want none", got, err)
	}
	c := store.Cluster{Tenant: "t1", ID: "c1", NameIndex: []byte("idx-prod"), Sealed: []byte("sealed-prod"), CreatedAt: t0.In(east)}
	got, err := s.EnsureCluster(ctx, c)
	must(t, "EnsureCluster(new)", err)
	checkCluster(t, got, c)

	// Same name index: the stored cluster comes back, nothing changes.
	again := store.Cluster{Tenant: "t1", ID: "c-other", NameIndex: []byte("idx-prod"), Sealed: []byte("other"), CreatedAt: t0.Add(time.Hour)}
	got, err = s.EnsureCluster(ctx, again)
	must(t, "EnsureCluster(existing)", err)
	checkCluster(t, got, c)

	// Same ID, other name index: a conflict, not a silent overwrite.
	_, err = s.EnsureCluster(ctx, store.Cluster{Tenant: "t1", ID: "c1", NameIndex: []byte("idx-dev"), Sealed: []byte("x"), CreatedAt: t0})
	wantErr(t, "EnsureCluster(ID taken)", err, store.ErrConflict)

	// The same name index in another tenant is another cluster.
	c2 := store.Cluster{Tenant: "t2", ID: "c1", NameIndex: []byte("idx-prod"), Sealed: []byte("t2"), CreatedAt: t0}
	got, err = s.EnsureCluster(ctx, c2)
	must(t, "EnsureCluster(other tenant)", err)
	checkCluster(t, got, c2)

	c3 := store.Cluster{Tenant: "t1", ID: "c0", NameIndex: []byte("idx-dev"), Sealed: []byte("dev")}
	got, err = s.EnsureCluster(ctx, c3)
	must(t, "EnsureCluster(zero CreatedAt)", err)
	if got.CreatedAt.IsZero() {
		t.Error("EnsureCluster with zero CreatedAt stored a zero time, want now")
	}

	list, err := s.ListClusters(ctx, "t1")
	must(t, "ListClusters", err)
	slices.SortFunc(list, func(a, b store.Cluster) int { return cmp.Compare(a.ID, b.ID) })
	if len(list) != 2 || list[0].ID != "c0" || list[1].ID != "c1" {
		t.Fatalf("ListClusters = %v, want c0 and c1", clusterIDs(list))
	}
	checkCluster(t, list[1], c)
}

func clusterIDs(cs []store.Cluster) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Tenant+"/"+c.ID)
	}
	return out
}

func checkCluster(t *testing.T, got, want store.Cluster) {
	t.Helper()
	if got.Tenant != want.Tenant || got.ID != want.ID || !bytes.Equal(got.NameIndex, want.NameIndex) || !bytes.Equal(got.Sealed, want.Sealed) {
		t.Errorf("cluster = %s/%s %q %q, want %s/%s %q %q", got.Tenant, got.ID, got.NameIndex, got.Sealed, want.Tenant, want.ID, want.NameIndex, want.Sealed)
	}
	sameTime(t, "cluster CreatedAt", got.CreatedAt, want.CreatedAt)
}

func window(tenant, cluster string, res uint8, start time.Time, blob string) store.Window {
	d := time.Hour
	if res == daily {
		d = 24 * time.Hour
	}
	return store.Window{
		WindowKey: store.WindowKey{Tenant: tenant, ClusterID: cluster, Resolution: res, Start: start},
		End:       start.Add(d),
		Blob:      []byte(blob),
		UpdatedAt: start.Add(d + time.Minute),
	}
}

func checkWindow(t *testing.T, got, want store.Window) {
	t.Helper()
	if got.Tenant != want.Tenant || got.ClusterID != want.ClusterID || got.Resolution != want.Resolution ||
		got.Partial != want.Partial || !bytes.Equal(got.Blob, want.Blob) {
		t.Errorf("window = %s/%s/%d partial=%v blob=%q, want %s/%s/%d partial=%v blob=%q",
			got.Tenant, got.ClusterID, got.Resolution, got.Partial, got.Blob,
			want.Tenant, want.ClusterID, want.Resolution, want.Partial, want.Blob)
	}
	sameTime(t, "window Start", got.Start, want.Start)
	sameTime(t, "window End", got.End, want.End)
	sameTime(t, "window UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func testWindowRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := window("t1", "c1", hourly, t0.In(east), "blob")
	w.Partial = true
	_, err := s.GetWindow(ctx, w.WindowKey)
	wantErr(t, "GetWindow(absent)", err, store.ErrNotFound)
	must(t, "PutWindow", s.PutWindow(ctx, w))
	got, err := s.GetWindow(ctx, w.WindowKey)
	must(t, "GetWindow", err)
	checkWindow(t, got, w)

	for name, k := range map[string]store.WindowKey{
		"other resolution": {Tenant: "t1", ClusterID: "c1", Resolution: daily, Start: t0},
		"other cluster":    {Tenant: "t1", ClusterID: "c2", Resolution: hourly, Start: t0},
		"other start":      {Tenant: "t1", ClusterID: "c1", Resolution: hourly, Start: t0.Add(time.Nanosecond)},
	} {
		_, err := s.GetWindow(ctx, k)
		wantErr(t, "GetWindow("+name+")", err, store.ErrNotFound)
	}

	// A 2 MB blob (a large daily window) round-trips byte for byte.
	big := window("t1", "c1", daily, t0, "")
	big.Blob = bytes.Repeat([]byte{0x00, 0xff, 0x5a, 0xa5}, 512*1024)
	must(t, "PutWindow(2 MB)", s.PutWindow(ctx, big))
	got, err = s.GetWindow(ctx, big.WindowKey)
	must(t, "GetWindow(2 MB)", err)
	if !bytes.Equal(got.Blob, big.Blob) {
		t.Errorf("2 MB blob came back as %d different bytes", len(got.Blob))
	}
}

func testPutWindowIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := window("t1", "c1", hourly, t0, "first")
	first.Partial = true
	second := window("t1", "c1", hourly, t0, "second")
	second.UpdatedAt = first.UpdatedAt.Add(time.Hour)
	must(t, "PutWindow(first)", s.PutWindow(ctx, first))
	must(t, "PutWindow(first again)", s.PutWindow(ctx, first))
	must(t, "PutWindow(second)", s.PutWindow(ctx, second))
	infos, err := s.WindowStarts(ctx, store.WindowRange{Tenant: "t1", Resolution: hourly, From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	must(t, "WindowStarts", err)
	if len(infos) != 1 {
		t.Fatalf("three puts of one key left %d rows, want 1", len(infos))
	}
	got, err := s.GetWindow(ctx, first.WindowKey)
	must(t, "GetWindow", err)
	checkWindow(t, got, second) // the latest write wins, partial flag included
}

// scanKeys collects "cluster@hour" for every window ScanWindows yields.
func scanKeys(t *testing.T, s store.Store, r store.WindowRange) []string {
	t.Helper()
	var out []string
	err := s.ScanWindows(t.Context(), r, func(w store.Window) error {
		out = append(out, fmt.Sprintf("%s@%d", w.ClusterID, int(w.Start.Sub(t0).Hours())))
		if string(w.Blob) != fmt.Sprintf("%s/%d/%s", w.ClusterID, w.Resolution, w.Start.Format(time.RFC3339)) {
			t.Errorf("window %s at %s carries blob %q", w.ClusterID, w.Start, w.Blob)
		}
		return nil
	})
	must(t, "ScanWindows", err)
	return out
}

func startKeys(t *testing.T, s store.Store, r store.WindowRange) []string {
	t.Helper()
	infos, err := s.WindowStarts(t.Context(), r)
	must(t, "WindowStarts", err)
	var out []string
	for _, w := range infos {
		out = append(out, fmt.Sprintf("%s@%d", w.ClusterID, int(w.Start.Sub(t0).Hours())))
	}
	return out
}

// seedWindows stores hourly windows for hours 0..5 of clusters b, a, c (inserted
// in a scrambled order), daily windows for a, and windows of tenant t2.
func seedWindows(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	put := func(tenant, cluster string, res uint8, start time.Time) {
		w := window(tenant, cluster, res, start, fmt.Sprintf("%s/%d/%s", cluster, res, start.Format(time.RFC3339)))
		w.Partial = cluster == "c" && start.Equal(t0.Add(5*time.Hour))
		must(t, "PutWindow", s.PutWindow(ctx, w))
	}
	for _, h := range []int{3, 0, 5, 1, 4, 2} {
		for _, c := range []string{"b", "c", "a"} {
			put("t1", c, hourly, t0.Add(time.Duration(h)*time.Hour))
		}
	}
	put("t1", "a", daily, t0)
	put("t1", "a", daily, t0.Add(24*time.Hour))
	put("t2", "a", hourly, t0.Add(time.Hour))
}

func testScanWindows(t *testing.T, s store.Store) {
	seedWindows(t, s)
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	tests := []struct {
		name string
		r    store.WindowRange
		want []string
	}{
		{"all clusters ordered by start then cluster", store.WindowRange{Tenant: "t1", Resolution: hourly, From: h(1), To: h(3)},
			[]string{"a@1", "b@1", "c@1", "a@2", "b@2", "c@2"}},
		{"From inclusive To exclusive", store.WindowRange{Tenant: "t1", Resolution: hourly, From: h(2), To: h(3)},
			[]string{"a@2", "b@2", "c@2"}},
		{"just past a start excludes it", store.WindowRange{Tenant: "t1", Resolution: hourly, From: h(2).Add(time.Nanosecond), To: h(3).Add(time.Nanosecond)},
			[]string{"a@3", "b@3", "c@3"}},
		{"cluster filter", store.WindowRange{Tenant: "t1", ClusterID: "b", Resolution: hourly, From: h(0), To: h(6)},
			[]string{"b@0", "b@1", "b@2", "b@3", "b@4", "b@5"}},
		{"resolution filter", store.WindowRange{Tenant: "t1", Resolution: daily, From: h(0), To: h(48)},
			[]string{"a@0", "a@24"}},
		{"zero From is unbounded below", store.WindowRange{Tenant: "t1", ClusterID: "a", Resolution: hourly, To: h(2)},
			[]string{"a@0", "a@1"}},
		{"empty range", store.WindowRange{Tenant: "t1", Resolution: hourly, From: h(3), To: h(3)}, nil},
		{"inverted range", store.WindowRange{Tenant: "t1", Resolution: hourly, From: h(4), To: h(2)}, nil},
		{"unknown cluster", store.WindowRange{Tenant: "t1", ClusterID: "z", Resolution: hourly, From: h(0), To: h(6)}, nil},
		{"other tenant", store.WindowRange{Tenant: "t2", Resolution: hourly, From: h(0), To: h(6)}, []string{"a@1"}},
		{"non-UTC bounds", store.WindowRange{Tenant: "t1", ClusterID: "c", Resolution: hourly, From: h(4).In(east), To: h(6).In(east)},
			[]string{"c@4", "c@5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scanKeys(t, s, tt.r); !slices.Equal(got, tt.want) {
				t.Errorf("ScanWindows = %v, want %v", got, tt.want)
			}
			if got := startKeys(t, s, tt.r); !slices.Equal(got, tt.want) {
				t.Errorf("WindowStarts = %v, want %v", got, tt.want)
			}
		})
	}

	// WindowStarts carries the flags and times, and is consistent with GetWindow.
	infos, err := s.WindowStarts(t.Context(), store.WindowRange{Tenant: "t1", ClusterID: "c", Resolution: hourly, From: h(4), To: h(6)})
	must(t, "WindowStarts", err)
	if len(infos) != 2 || infos[0].Partial || !infos[1].Partial {
		t.Fatalf("WindowStarts partial flags = %+v, want [false true]", infos)
	}
	full, err := s.GetWindow(t.Context(), infos[1].WindowKey)
	must(t, "GetWindow", err)
	sameTime(t, "WindowInfo.End", infos[1].End, full.End)
	sameTime(t, "WindowInfo.UpdatedAt", infos[1].UpdatedAt, full.UpdatedAt)
	if infos[1].Tenant != "t1" || infos[1].Resolution != hourly {
		t.Errorf("WindowInfo key = %+v, want tenant t1, hourly", infos[1].WindowKey)
	}
}

func testScanStops(t *testing.T, s store.Store) {
	seedWindows(t, s)
	stop := errors.New("enough")
	calls := 0
	err := s.ScanWindows(t.Context(), store.WindowRange{Tenant: "t1", Resolution: hourly, From: t0, To: t0.Add(6 * time.Hour)}, func(store.Window) error {
		calls++
		if calls == 4 {
			return stop
		}
		return nil
	})
	if err != stop { // the contract: fn's error is returned as is, not wrapped
		t.Errorf("ScanWindows = %v, want fn's error returned as is", err)
	}
	if calls != 4 {
		t.Errorf("fn called %d times, want 4 (stop at the first error)", calls)
	}
}

func testScanCallbackUsesStore(t *testing.T, s store.Store) {
	seedWindows(t, s)
	ctx := t.Context()
	n := 0
	err := s.ScanWindows(ctx, store.WindowRange{Tenant: "t1", Resolution: hourly, From: t0, To: t0.Add(2 * time.Hour)}, func(w store.Window) error {
		n++
		// Reading and writing from inside the callback (a rollup does both)
		// must neither deadlock nor disturb the scan.
		if _, err := s.GetWindow(ctx, w.WindowKey); err != nil {
			return err
		}
		day := window("t1", w.ClusterID, daily, t0.Add(72*time.Hour), "rollup")
		return s.PutWindow(ctx, day)
	})
	must(t, "ScanWindows", err)
	if n != 6 {
		t.Errorf("scan visited %d windows, want 6", n)
	}
}

func testDeleteWindows(t *testing.T, s store.Store) {
	seedWindows(t, s)
	ctx := t.Context()
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	n, err := s.DeleteWindows(ctx, store.WindowRange{Tenant: "t1", ClusterID: "a", Resolution: hourly, From: h(1), To: h(3)})
	must(t, "DeleteWindows(cluster)", err)
	if n != 2 {
		t.Errorf("DeleteWindows(cluster a, hours 1-2) = %d, want 2", n)
	}
	n, err = s.DeleteWindows(ctx, store.WindowRange{Tenant: "t1", Resolution: hourly, To: h(2)})
	must(t, "DeleteWindows(retention)", err)
	if want := 5; n != want { // a@0, b@0, c@0, b@1, c@1 (a@1 is already gone)
		t.Errorf("DeleteWindows(all clusters, before hour 2) = %d, want %d", n, want)
	}
	if got, want := startKeys(t, s, store.WindowRange{Tenant: "t1", Resolution: hourly, To: h(100)}),
		[]string{"b@2", "c@2", "a@3", "b@3", "c@3", "a@4", "b@4", "c@4", "a@5", "b@5", "c@5"}; !slices.Equal(got, want) {
		t.Errorf("after deletes: %v, want %v", got, want)
	}
	if got := startKeys(t, s, store.WindowRange{Tenant: "t1", Resolution: daily, To: h(100)}); len(got) != 2 {
		t.Errorf("deleting hourly windows touched daily ones: %v", got)
	}
	if got := startKeys(t, s, store.WindowRange{Tenant: "t2", Resolution: hourly, To: h(100)}); len(got) != 1 {
		t.Errorf("deleting t1's windows touched t2's: %v", got)
	}
	n, err = s.DeleteWindows(ctx, store.WindowRange{Tenant: "t1", Resolution: hourly, To: h(2)})
	if err != nil || n != 0 {
		t.Errorf("DeleteWindows(again) = %d, %v; want 0, nil", n, err)
	}
}

func principal(tenant, id, name string) store.Principal {
	return store.Principal{
		Tenant: tenant, ID: id, Kind: "user", NameIndex: []byte("idx-" + name),
		State: "active", Role: "viewer", Sealed: []byte("sealed-" + name),
		CreatedAt: t0.In(east), UpdatedAt: t0.Add(time.Minute), Version: 1,
	}
}

func checkPrincipal(t *testing.T, got, want store.Principal) {
	t.Helper()
	if got.Tenant != want.Tenant || got.ID != want.ID || got.Kind != want.Kind || !bytes.Equal(got.NameIndex, want.NameIndex) ||
		!bytes.Equal(got.EmailIndex, want.EmailIndex) || !bytes.Equal(got.SubjectIndex, want.SubjectIndex) ||
		got.State != want.State || got.Role != want.Role || !bytes.Equal(got.Sealed, want.Sealed) || got.Version != want.Version {
		t.Errorf("principal = %+v, want %+v", got, want)
	}
	sameTime(t, "principal CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "principal UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	sameTime(t, "principal LastSeenAt", got.LastSeenAt, want.LastSeenAt)
}

func testPrincipals(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := principal("t1", "p1", "alice")
	_, err := s.GetPrincipal(ctx, "t1", "p1")
	wantErr(t, "GetPrincipal(absent)", err, store.ErrNotFound)
	_, err = s.GetPrincipalByName(ctx, "t1", alice.NameIndex)
	wantErr(t, "GetPrincipalByName(absent)", err, store.ErrNotFound)

	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, alice))
	got, err := s.GetPrincipal(ctx, "t1", "p1")
	must(t, "GetPrincipal", err)
	checkPrincipal(t, got, alice)
	got, err = s.GetPrincipalByName(ctx, "t1", alice.NameIndex)
	must(t, "GetPrincipalByName", err)
	checkPrincipal(t, got, alice)

	dupID := principal("t1", "p1", "bob")
	wantErr(t, "InsertPrincipal(duplicate ID)", s.InsertPrincipal(ctx, dupID), store.ErrConflict)
	dupName := principal("t1", "p2", "alice")
	wantErr(t, "InsertPrincipal(duplicate name index)", s.InsertPrincipal(ctx, dupName), store.ErrConflict)
	otherTenant := principal("t2", "p2", "alice") // same name, other tenant: fine
	must(t, "InsertPrincipal(same name, other tenant)", s.InsertPrincipal(ctx, otherTenant))
	svc := principal("t1", "p0", "ci")
	svc.Kind, svc.Role = "service", "editor"
	must(t, "InsertPrincipal(service)", s.InsertPrincipal(ctx, svc))

	list, err := s.ListPrincipals(ctx, "t1")
	must(t, "ListPrincipals", err)
	slices.SortFunc(list, func(a, b store.Principal) int { return cmp.Compare(a.ID, b.ID) })
	if len(list) != 2 || list[0].ID != "p0" || list[1].ID != "p1" {
		t.Fatalf("ListPrincipals(t1) = %d principals, want p0 and p1", len(list))
	}
	checkPrincipal(t, list[0], svc)

	must(t, "DeletePrincipal", s.DeletePrincipal(ctx, "t1", "p1"))
	_, err = s.GetPrincipal(ctx, "t1", "p1")
	wantErr(t, "GetPrincipal(deleted)", err, store.ErrNotFound)
	wantErr(t, "DeletePrincipal(deleted)", s.DeletePrincipal(ctx, "t1", "p1"), store.ErrNotFound)
	// The name is free again.
	must(t, "InsertPrincipal(reused name)", s.InsertPrincipal(ctx, principal("t1", "p3", "alice")))
}

func testPrincipalVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal("t1", "p1", "alice")
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, p))
	must(t, "InsertPrincipal(bob)", s.InsertPrincipal(ctx, principal("t1", "p2", "bob")))

	// Two editors read version 1; the first update wins.
	first := p
	first.State, first.Role, first.Sealed = "disabled", "admin", []byte("sealed-alice-2")
	first.UpdatedAt = t0.Add(time.Hour)
	first.CreatedAt = t0.Add(1000 * time.Hour) // never updated
	got, err := s.UpdatePrincipal(ctx, first)
	must(t, "UpdatePrincipal", err)
	want := first
	want.Version, want.CreatedAt = p.Version+1, p.CreatedAt
	checkPrincipal(t, got, want)
	stored, _ := s.GetPrincipal(ctx, "t1", "p1")
	checkPrincipal(t, stored, want)

	second := p
	second.Role = "editor"
	_, err = s.UpdatePrincipal(ctx, second)
	wantErr(t, "UpdatePrincipal(stale version)", err, store.ErrConflict)
	if stored, _ := s.GetPrincipal(ctx, "t1", "p1"); stored.Role != "admin" {
		t.Errorf("a stale update changed the role to %s", stored.Role)
	}

	// Renaming onto another principal's name index conflicts.
	rename := got
	rename.NameIndex = []byte("idx-bob")
	_, err = s.UpdatePrincipal(ctx, rename)
	wantErr(t, "UpdatePrincipal(name taken)", err, store.ErrConflict)

	rename.NameIndex = []byte("idx-alice2")
	got, err = s.UpdatePrincipal(ctx, rename)
	must(t, "UpdatePrincipal(rename)", err)
	if got.Version != p.Version+2 {
		t.Errorf("Version after two updates = %d, want %d", got.Version, p.Version+2)
	}
	if _, err := s.GetPrincipalByName(ctx, "t1", []byte("idx-alice2")); err != nil {
		t.Errorf("GetPrincipalByName(new name) = %v", err)
	}
	_, err = s.GetPrincipalByName(ctx, "t1", []byte("idx-alice"))
	wantErr(t, "GetPrincipalByName(old name)", err, store.ErrNotFound)

	missing := principal("t1", "p9", "zed")
	_, err = s.UpdatePrincipal(ctx, missing)
	wantErr(t, "UpdatePrincipal(missing)", err, store.ErrNotFound)
}

func token(tenant, id, principalID string) store.Token {
	return store.Token{
		ID: id, Tenant: tenant, PrincipalID: principalID,
		Hash: []byte("sha256-of-" + id), Sealed: []byte("sealed-" + id), Role: "viewer",
		CreatedAt: t0.In(east), ExpiresAt: t0.Add(90 * 24 * time.Hour),
	}
}

func checkToken(t *testing.T, got, want store.Token) {
	t.Helper()
	if got.ID != want.ID || got.Tenant != want.Tenant || got.PrincipalID != want.PrincipalID || !bytes.Equal(got.Hash, want.Hash) ||
		!bytes.Equal(got.Sealed, want.Sealed) || got.Role != want.Role {
		t.Errorf("token = %+v, want %+v", got, want)
	}
	sameTime(t, "token CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "token ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	sameTime(t, "token RevokedAt", got.RevokedAt, want.RevokedAt)
	sameTime(t, "token LastUsedAt", got.LastUsedAt, want.LastUsedAt)
}

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p1", "alice")))
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p2", "bob")))
	tok := token("t1", "k1", "p1")
	_, err := s.GetTokenByHash(ctx, tok.Hash)
	wantErr(t, "GetTokenByHash(absent)", err, store.ErrNotFound)
	must(t, "InsertToken", s.InsertToken(ctx, tok))
	got, err := s.GetTokenByHash(ctx, tok.Hash)
	must(t, "GetTokenByHash", err)
	checkToken(t, got, tok)

	dupID := token("t1", "k1", "p1")
	dupID.Hash = []byte("another hash")
	wantErr(t, "InsertToken(duplicate ID)", s.InsertToken(ctx, dupID), store.ErrConflict)
	dupHash := token("t1", "k2", "p1")
	dupHash.Hash = tok.Hash
	wantErr(t, "InsertToken(duplicate hash)", s.InsertToken(ctx, dupHash), store.ErrConflict)
	wantErr(t, "InsertToken(unknown principal)", s.InsertToken(ctx, token("t1", "k3", "nobody")), store.ErrNotFound)
	wantErr(t, "InsertToken(principal of another tenant)", s.InsertToken(ctx, token("t2", "k4", "p1")), store.ErrNotFound)

	never := token("t1", "k5", "p1")
	never.ExpiresAt = time.Time{}
	must(t, "InsertToken(no expiry)", s.InsertToken(ctx, never))
	must(t, "InsertToken(bob)", s.InsertToken(ctx, token("t1", "k6", "p2")))

	list, err := s.ListTokens(ctx, "t1", "p1")
	must(t, "ListTokens", err)
	slices.SortFunc(list, func(a, b store.Token) int { return cmp.Compare(a.ID, b.ID) })
	if len(list) != 2 || list[0].ID != "k1" || list[1].ID != "k5" {
		t.Fatalf("ListTokens(p1) = %d tokens, want k1 and k5", len(list))
	}
	checkToken(t, list[1], never)
	all, err := s.ListTokens(ctx, "t1", "")
	must(t, "ListTokens(all of tenant)", err)
	if len(all) != 3 {
		t.Errorf("ListTokens(t1, \"\") = %d tokens, want all 3 of the tenant", len(all))
	}

	// TouchToken records the latest use; an older touch does not move it back.
	used := t0.Add(2 * time.Hour).In(east)
	must(t, "TouchToken", s.TouchToken(ctx, "k1", used))
	must(t, "TouchToken(older)", s.TouchToken(ctx, "k1", used.Add(-time.Hour)))
	got, _ = s.GetTokenByHash(ctx, tok.Hash)
	sameTime(t, "LastUsedAt", got.LastUsedAt, used)
	wantErr(t, "TouchToken(missing)", s.TouchToken(ctx, "nope", used), store.ErrNotFound)
}

func testTokenRevocation(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p1", "alice")))
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p2", "bob")))
	for _, tk := range []store.Token{token("t1", "k1", "p1"), token("t1", "k2", "p1"), token("t1", "k3", "p1"), token("t1", "k4", "p2")} {
		must(t, "InsertToken", s.InsertToken(ctx, tk))
	}
	at := t0.Add(3 * time.Hour)
	must(t, "RevokeToken", s.RevokeToken(ctx, "t1", "k1", at))
	got, _ := s.GetTokenByHash(ctx, []byte("sha256-of-k1"))
	sameTime(t, "RevokedAt", got.RevokedAt, at)
	// Revoking again keeps the first revocation time.
	must(t, "RevokeToken(again)", s.RevokeToken(ctx, "t1", "k1", at.Add(time.Hour)))
	got, _ = s.GetTokenByHash(ctx, []byte("sha256-of-k1"))
	sameTime(t, "RevokedAt after a second revoke", got.RevokedAt, at)
	wantErr(t, "RevokeToken(missing)", s.RevokeToken(ctx, "t1", "k9", at), store.ErrNotFound)

	later := at.Add(time.Hour)
	n, err := s.RevokePrincipalTokens(ctx, "t1", "p1", later)
	must(t, "RevokePrincipalTokens", err)
	if n != 2 {
		t.Errorf("RevokePrincipalTokens = %d, want 2 (k1 was already revoked)", n)
	}
	for id, want := range map[string]time.Time{"k1": at, "k2": later, "k3": later, "k4": {}} {
		got, _ := s.GetTokenByHash(ctx, []byte("sha256-of-"+id))
		sameTime(t, id+" RevokedAt", got.RevokedAt, want)
	}
	n, err = s.RevokePrincipalTokens(ctx, "t1", "p1", later)
	if err != nil || n != 0 {
		t.Errorf("RevokePrincipalTokens(again) = %d, %v; want 0, nil", n, err)
	}
}

func testTokensDieWithPrincipal(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p1", "alice")))
	must(t, "InsertToken", s.InsertToken(ctx, token("t1", "k1", "p1")))
	must(t, "DeletePrincipal", s.DeletePrincipal(ctx, "t1", "p1"))
	_, err := s.GetTokenByHash(ctx, []byte("sha256-of-k1"))
	wantErr(t, "GetTokenByHash(token of a deleted principal)", err, store.ErrNotFound)
}

func testTenantIsolation(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertKey", s.InsertKey(ctx, key("t1", 1, "active")))
	_, err := s.EnsureCluster(ctx, store.Cluster{Tenant: "t1", ID: "c1", NameIndex: []byte("idx"), Sealed: []byte("s"), CreatedAt: t0})
	must(t, "EnsureCluster", err)
	w := window("t1", "c1", hourly, t0, "blob")
	must(t, "PutWindow", s.PutWindow(ctx, w))
	p := principal("t1", "p1", "alice")
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, p))
	must(t, "InsertToken", s.InsertToken(ctx, token("t1", "k1", "p1")))

	const other = "t2"
	if got, err := s.ListKeys(ctx, other); err != nil || len(got) != 0 {
		t.Errorf("ListKeys(other) = %d, %v", len(got), err)
	}
	if got, err := s.ListClusters(ctx, other); err != nil || len(got) != 0 {
		t.Errorf("ListClusters(other) = %d, %v", len(got), err)
	}
	k := w.WindowKey
	k.Tenant = other
	_, err = s.GetWindow(ctx, k)
	wantErr(t, "GetWindow(other)", err, store.ErrNotFound)
	r := store.WindowRange{Tenant: other, Resolution: hourly, To: t0.Add(time.Hour)}
	if got := scanKeys(t, s, r); len(got) != 0 {
		t.Errorf("ScanWindows(other) = %v", got)
	}
	if got := startKeys(t, s, r); len(got) != 0 {
		t.Errorf("WindowStarts(other) = %v", got)
	}
	if n, err := s.DeleteWindows(ctx, r); err != nil || n != 0 {
		t.Errorf("DeleteWindows(other) = %d, %v", n, err)
	}
	_, err = s.GetPrincipal(ctx, other, "p1")
	wantErr(t, "GetPrincipal(other)", err, store.ErrNotFound)
	_, err = s.GetPrincipalByName(ctx, other, p.NameIndex)
	wantErr(t, "GetPrincipalByName(other)", err, store.ErrNotFound)
	if got, err := s.ListPrincipals(ctx, other); err != nil || len(got) != 0 {
		t.Errorf("ListPrincipals(other) = %d, %v", len(got), err)
	}
	moved := p
	moved.Tenant = other
	_, err = s.UpdatePrincipal(ctx, moved)
	wantErr(t, "UpdatePrincipal(other)", err, store.ErrNotFound)
	wantErr(t, "DeletePrincipal(other)", s.DeletePrincipal(ctx, other, "p1"), store.ErrNotFound)
	if got, err := s.ListTokens(ctx, other, "p1"); err != nil || len(got) != 0 {
		t.Errorf("ListTokens(other) = %d, %v", len(got), err)
	}
	if got, err := s.ListTokens(ctx, other, ""); err != nil || len(got) != 0 {
		t.Errorf("ListTokens(other, all) = %d, %v", len(got), err)
	}
	wantErr(t, "RevokeToken(other)", s.RevokeToken(ctx, other, "k1", t0), store.ErrNotFound)
	if n, err := s.RevokePrincipalTokens(ctx, other, "p1", t0); err != nil || n != 0 {
		t.Errorf("RevokePrincipalTokens(other) = %d, %v", n, err)
	}
	must(t, "DeleteKeys(other)", s.DeleteKeys(ctx, other))

	// And t1 still has everything.
	if got, _ := s.ListKeys(ctx, "t1"); len(got) != 1 {
		t.Errorf("t1 keys = %d after other-tenant calls, want 1", len(got))
	}
	if _, err := s.GetWindow(ctx, w.WindowKey); err != nil {
		t.Errorf("t1 window: %v", err)
	}
	if got, _ := s.GetPrincipal(ctx, "t1", "p1"); got.Version != p.Version {
		t.Errorf("t1 principal version = %d, want %d", got.Version, p.Version)
	}
	if got, _ := s.GetTokenByHash(ctx, []byte("sha256-of-k1")); !got.RevokedAt.IsZero() {
		t.Error("t1 token revoked by another tenant's call")
	}
}

func testTimeRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p1", "alice")))
	times := []struct {
		name string
		at   time.Time
	}{
		{"zero", time.Time{}},
		{"UTC", t0},
		{"nanoseconds", t0.Add(123456789 * time.Nanosecond)},
		{"non-UTC zone", time.Date(2026, 7, 1, 9, 30, 0, 1, east)},
		{"before 1970", time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"with monotonic reading", time.Now()},
	}
	for i, tt := range times {
		t.Run(tt.name, func(t *testing.T) {
			tok := token("t1", fmt.Sprintf("k%d", i), "p1")
			tok.ExpiresAt, tok.LastUsedAt = tt.at, tt.at
			if !tt.at.IsZero() {
				tok.CreatedAt = tt.at
			}
			must(t, "InsertToken", s.InsertToken(ctx, tok))
			got, err := s.GetTokenByHash(ctx, tok.Hash)
			must(t, "GetTokenByHash", err)
			sameTime(t, "ExpiresAt", got.ExpiresAt, tt.at)
			sameTime(t, "LastUsedAt", got.LastUsedAt, tt.at)
			sameTime(t, "RevokedAt (never set)", got.RevokedAt, time.Time{})

			k := key("t1", uint32(i), "active")
			k.CreatedAt = tt.at
			must(t, "InsertKey", s.InsertKey(ctx, k))
			keys, _ := s.ListKeys(ctx, "t1")
			for _, g := range keys {
				if g.Version == uint32(i) {
					sameTime(t, "key CreatedAt", g.CreatedAt, tt.at)
				}
			}
			if tt.at.IsZero() {
				return
			}
			w := window("t1", "c1", hourly, tt.at, "x")
			w.End = time.Time{}
			must(t, "PutWindow", s.PutWindow(ctx, w))
			gw, err := s.GetWindow(ctx, w.WindowKey)
			must(t, "GetWindow", err)
			sameTime(t, "window Start", gw.Start, tt.at)
			sameTime(t, "window End (zero)", gw.End, time.Time{})
		})
	}
}

func testConcurrentPutWindow(t *testing.T, s store.Store) {
	ctx := t.Context()
	const goroutines, perG = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*2)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				// Every goroutine writes its own windows and also hour i of a
				// shared cluster: upserts racing on one key.
				own := window("t1", fmt.Sprintf("c%d", g), hourly, t0.Add(time.Duration(i)*time.Hour), fmt.Sprintf("g%d-%d", g, i))
				shared := window("t1", "shared", hourly, t0.Add(time.Duration(i)*time.Hour), fmt.Sprintf("g%d", g))
				for _, w := range []store.Window{own, shared} {
					if err := s.PutWindow(ctx, w); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	// A reader scanning throughout.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 10 {
			if err := s.ScanWindows(ctx, store.WindowRange{Tenant: "t1", Resolution: hourly, To: t0.Add(perG * time.Hour)}, func(store.Window) error { return nil }); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	infos, err := s.WindowStarts(ctx, store.WindowRange{Tenant: "t1", Resolution: hourly, To: t0.Add(perG * time.Hour)})
	must(t, "WindowStarts", err)
	if want := goroutines*perG + perG; len(infos) != want {
		t.Errorf("%d windows stored, want %d", len(infos), want)
	}
}

func testCheck(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "Check", s.Check(ctx))
	v, err := s.SchemaVersion(ctx)
	must(t, "SchemaVersion", err)
	if v < 1 {
		t.Errorf("SchemaVersion = %d, want >= 1 on a migrated store", v)
	}
}
