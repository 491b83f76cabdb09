package rekey_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/rekey"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

type fixture struct {
	st    *sqlite.Store
	ring  *seal.Keyring
	sets  *sets.Sets
	auth  *auth.Service
	token string
}

// newFixture stores hours windows of two clusters, a user and a token, all
// sealed with key version 1, through the packages that own them.
func newFixture(t *testing.T, hours int) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "costwarden.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, err := seal.OpenKeyFile(filepath.Join(t.TempDir(), "k"), true)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return t0.Add(1000 * time.Hour) }
	f := &fixture{st: st, ring: seal.NewKeyring(kek, st, seal.Options{Now: now})}
	f.sets = sets.New(st, f.ring, "default", now)
	f.auth = auth.New(st, f.ring, "default", now)
	for h := range hours {
		for _, c := range []string{"prod-eu", "staging"} {
			w := cost.NewWindow(t0.Add(time.Duration(h)*time.Hour), t0.Add(time.Duration(h+1)*time.Hour))
			set := &cost.Set{Cluster: c, Window: w, Resolution: cost.Hourly, Warnings: []string{fmt.Sprintf("%s hour %d", c, h)}}
			if _, err := f.sets.Put(ctx, set); err != nil {
				t.Fatal(err)
			}
		}
	}
	alice, err := f.auth.AddUser(ctx, auth.NewUser{Name: "alice", Role: rbac.Admin})
	if err != nil {
		t.Fatal(err)
	}
	f.auth.Policy.MaxTokenTTL = time.Hour * 24 * 365 * 10
	f.token, _, err = f.auth.CreateToken(ctx, alice.ID, auth.TokenRequest{TTL: time.Hour * 24 * 365 * 10})
	if err != nil {
		t.Fatal(err)
	}
	// Sealed rows of the identity tables too: a session and an access request.
	if _, _, err := f.auth.StartSession(ctx, alice.ID, auth.Client{Addr: "192.0.2.1:1"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.auth.RequestAccess(ctx, alice, rbac.Viewer, rbac.Scope{Namespaces: []string{"payments"}}, "rekey test"); err != nil {
		t.Fatal(err)
	}
	return f
}

// versions counts the store's sealed blobs by key version.
func versions(t *testing.T, st store.Sealed) map[uint32]int {
	t.Helper()
	out := map[uint32]int{}
	for _, table := range store.SealedTables() {
		cursor := ""
		for {
			rows, next, err := st.ScanSealed(t.Context(), table, "default", cursor, 50)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				v, err := seal.BlobVersion(r.Blob)
				if err != nil {
					t.Fatalf("%s %s: %v", table, r.ID, err)
				}
				out[v]++
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return out
}

// readAll reads everything back through the owning packages.
func (f *fixture) readAll(t *testing.T, hours int) {
	t.Helper()
	ctx := t.Context()
	n := 0
	err := f.sets.Scan(ctx, cost.Hourly, t0, t0.Add(time.Duration(hours)*time.Hour), func(s *cost.Set) error {
		if len(s.Warnings) != 1 || s.Warnings[0] != fmt.Sprintf("%s hour %d", s.Cluster, int(s.Window.Start.Sub(t0).Hours())) {
			t.Errorf("window %s of %s carries %v", s.Window, s.Cluster, s.Warnings)
		}
		n++
		return nil
	})
	if err != nil || n != 2*hours {
		t.Errorf("read %d windows, %v; want %d", n, err, 2*hours)
	}
	fresh := sets.New(f.st, f.ring, "default", time.Now)
	names, err := fresh.Clusters(ctx)
	if err != nil || len(names) != 2 {
		t.Errorf("Clusters = %v, %v", names, err)
	}
	p, err := f.auth.Authenticate(ctx, f.token)
	if err != nil || p.Name != "alice" {
		t.Errorf("Authenticate after re-encryption = %v, %v", p, err)
	}
	// The identity tables' blobs open too (sessions, access requests).
	if xs, err := f.auth.ListSessions(ctx, ""); err != nil || len(xs) != 1 || xs[0].Addr != "192.0.2.1:1" {
		t.Errorf("sessions after re-encryption = %v, %v", xs, err)
	}
	if rs, err := f.auth.AccessRequests(ctx, "", ""); err != nil || len(rs) != 1 || rs[0].Reason != "rekey test" {
		t.Errorf("access requests after re-encryption = %v, %v", rs, err)
	}
}

func TestMovesEveryBlobToTheActiveVersion(t *testing.T) {
	const hours = 30
	f := newFixture(t, hours)
	ctx := t.Context()
	before := versions(t, f.st)
	if before[1] != 2*hours+2+1+1+1+1 { // windows, clusters, principal, token, session, access request
		t.Fatalf("before rotation: %v", before)
	}
	v, err := f.ring.Rotate(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	job := rekey.New(f.st, f.ring, nil, nil)
	job.Batch = 7
	var pages int
	s, err := job.Run(ctx, "default", func(rekey.State) { pages++ })
	if err != nil {
		t.Fatal(err)
	}
	total := 2*hours + 6
	if !s.Done || s.Target != v || s.Resealed != total || s.Scanned != total || s.Conflicts != 0 {
		t.Errorf("state = %+v, want done, target %d, %d resealed", s, v, total)
	}
	if pages < total/7 {
		t.Errorf("progress reported %d times for %d rows in pages of 7", pages, total)
	}
	if after := versions(t, f.st); after[v] != total || len(after) != 1 {
		t.Errorf("after re-encryption: %v, want all %d at version %d", after, total, v)
	}
	f.readAll(t, hours)
	// Done is remembered: a second run does nothing.
	s2, err := job.Run(ctx, "default", nil)
	if err != nil || s2.Resealed != total || s2.Updated != s.Updated {
		t.Errorf("second run = %+v, %v; want the saved state unchanged", s2, err)
	}
	// A new rotation starts a new pass.
	if _, err := f.ring.Rotate(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	if err := job.RunAll(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if after := versions(t, f.st); after[v+1] != total {
		t.Errorf("after the second rotation: %v", after)
	}
}

func TestResumesAfterInterruption(t *testing.T) {
	const hours = 40
	f := newFixture(t, hours)
	if _, err := f.ring.Rotate(t.Context(), "default"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	job := rekey.New(f.st, f.ring, nil, nil)
	job.Batch = 10
	pages := 0
	_, err := job.Run(ctx, "default", func(rekey.State) {
		if pages++; pages == 4 {
			cancel() // killed after the 4th page
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run = %v", err)
	}
	saved, err := rekey.LoadState(t.Context(), f.st, "default")
	if err != nil || saved.Done || saved.Scanned == 0 || saved.Table == "" {
		t.Fatalf("saved state = %+v, %v; want progress saved mid-way", saved, err)
	}
	// A new job (a restarted process) continues from the cursor.
	s, err := rekey.New(f.st, f.ring, nil, nil).Run(t.Context(), "default", nil)
	if err != nil {
		t.Fatal(err)
	}
	total := 2*hours + 6
	if !s.Done || s.Resealed != total || s.Scanned > total+job.Batch {
		t.Errorf("resumed state = %+v; want done, %d resealed in all, nothing scanned twice beyond one page", s, total)
	}
	if after := versions(t, f.st); after[2] != total {
		t.Errorf("after resumed re-encryption: %v", after)
	}
	f.readAll(t, hours)
}

// racingStore rewrites a window just before the job swaps it, as ingestion
// re-closing an hour would.
type racingStore struct {
	*sqlite.Store
	sets  *sets.Sets
	raced int
}

func (r *racingStore) ReplaceSealed(ctx context.Context, row store.SealedRow, blob []byte) (bool, error) {
	if row.Table == store.TableWindows && r.raced == 0 {
		r.raced++
		set := &cost.Set{Cluster: "prod-eu", Window: cost.NewWindow(row.Window.Start, row.Window.Start.Add(time.Hour)), Resolution: cost.Hourly,
			Warnings: []string{fmt.Sprintf("prod-eu hour %d", int(row.Window.Start.Sub(t0).Hours()))}}
		if _, err := r.sets.Put(ctx, set); err != nil {
			return false, err
		}
	}
	return r.Store.ReplaceSealed(ctx, row, blob)
}

func TestConcurrentWriterWins(t *testing.T) {
	f := newFixture(t, 3)
	if _, err := f.ring.Rotate(t.Context(), "default"); err != nil {
		t.Fatal(err)
	}
	rs := &racingStore{Store: f.st, sets: f.sets}
	s, err := rekey.New(rs, f.ring, nil, nil).Run(t.Context(), "default", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Conflicts != 1 || s.Resealed != 2*3+6-1 {
		t.Errorf("state = %+v; want 1 conflict (the writer's row kept)", s)
	}
	if after := versions(t, f.st); after[2] != 2*3+6 {
		t.Errorf("versions = %v; the raced row must hold the writer's blob, sealed with version 2", after)
	}
	f.readAll(t, 3)
}

func TestUnreadableBlobStopsWithItsName(t *testing.T) {
	f := newFixture(t, 2)
	ctx := t.Context()
	if _, err := f.ring.Rotate(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	rows, _, err := f.st.ScanSealed(ctx, store.TableWindows, "default", "", 1)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]byte(nil), rows[0].Blob...)
	bad[len(bad)-1] ^= 1
	if ok, err := f.st.ReplaceSealed(ctx, rows[0], bad); !ok || err != nil {
		t.Fatal(ok, err)
	}
	_, err = rekey.New(f.st, f.ring, nil, nil).Run(ctx, "default", nil)
	if !errors.Is(err, seal.ErrDecrypt) || !containsAll(err.Error(), "windows", rows[0].Window.ClusterID) {
		t.Errorf("err = %v; want ErrDecrypt naming the row", err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
