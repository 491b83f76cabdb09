package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/backup"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// Plaintext that must never appear in a backup.
var needles = []string{"payments-prod-cluster", "ledger-namespace-secret", "alice.smith"}

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type source struct {
	st   *sqlite.Store
	kek  *seal.FileKEK
	ring *seal.Keyring
	tok  string
}

func seeded(t *testing.T, hours int) *source {
	t.Helper()
	ctx := t.Context()
	s := &source{st: openStore(t, filepath.Join(t.TempDir(), "src.db"))}
	var err error
	s.kek, err = seal.OpenKeyFile(filepath.Join(t.TempDir(), "k"), true)
	if err != nil {
		t.Fatal(err)
	}
	s.ring = seal.NewKeyring(s.kek, s.st, seal.Options{})
	ss := sets.New(s.st, s.ring, "default", time.Now)
	for h := range hours {
		w := cost.NewWindow(t0.Add(time.Duration(h)*time.Hour), t0.Add(time.Duration(h+1)*time.Hour))
		set := &cost.Set{Cluster: needles[0], Window: w, Resolution: cost.Hourly, Warnings: []string{needles[1], fmt.Sprint(h)}}
		if _, err := ss.Put(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	a := auth.New(s.st, s.ring, "default", time.Now)
	u, err := a.AddUser(ctx, auth.NewUser{Name: needles[2], Email: needles[2] + "@example.com", Role: rbac.Admin})
	if err != nil {
		t.Fatal(err)
	}
	if s.tok, _, err = a.CreateToken(ctx, u.ID, auth.TokenRequest{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// Rows of the identity tables: a session and an access request.
	if _, _, err := a.StartSession(ctx, u.ID, auth.Client{Addr: "192.0.2.1:1"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RequestAccess(ctx, u, rbac.Viewer, rbac.Scope{Namespaces: []string{needles[1]}}, "backup test"); err != nil {
		t.Fatal(err)
	}
	if err := s.ring.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func create(t *testing.T, src backup.Source) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, _, err := backup.Create(t.Context(), src, &buf, "sqlite", "test", time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTripStaysSealed(t *testing.T) {
	const hours = 24
	src := seeded(t, hours)
	data := create(t, src.st)
	for _, n := range needles {
		if bytes.Contains(data, []byte(n)) {
			t.Errorf("backup contains the plaintext %q", n)
		}
	}
	dst := openStore(t, filepath.Join(t.TempDir(), "dst.db"))
	h, rows, err := backup.Restore(t.Context(), bytes.NewReader(data), dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.KEKIDs) != 1 || h.KEKIDs[0] != src.kek.ID() || h.Source != "sqlite" || h.Schema < 1 || len(h.Tenants) != 1 {
		t.Errorf("header = %+v", h)
	}
	if rows < hours+4 {
		t.Errorf("restored %d rows", rows)
	}
	// The restored store reads back with the same KEK, through the real packages.
	ring := seal.NewKeyring(src.kek, dst, seal.Options{})
	n := 0
	err = sets.New(dst, ring, "default", time.Now).Scan(t.Context(), cost.Hourly, t0, t0.Add(hours*time.Hour), func(s *cost.Set) error {
		if s.Cluster != needles[0] || s.Warnings[0] != needles[1] {
			t.Errorf("restored set = %s %v", s.Cluster, s.Warnings)
		}
		n++
		return nil
	})
	if err != nil || n != hours {
		t.Errorf("read %d restored windows, %v", n, err)
	}
	if p, err := auth.New(dst, ring, "default", time.Now).Authenticate(t.Context(), src.tok); err != nil || p.Name != needles[2] {
		t.Errorf("token after restore: %v, %v", p, err)
	}
	// Without the KEK the backup is useless.
	other, _ := seal.OpenKeyFile(filepath.Join(t.TempDir(), "other"), true)
	if err := seal.NewKeyring(other, dst, seal.Options{}).Verify(t.Context(), "default"); !errors.Is(err, seal.ErrWrongKEK) {
		t.Errorf("another KEK on the restored data: %v, want ErrWrongKEK", err)
	}
}

// rowCount is how many rows a store holds.
func rowCount(t *testing.T, st store.Dumper) int {
	t.Helper()
	n := 0
	if err := st.Dump(t.Context(), func(store.Row) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDamagedBackupsWriteNothing(t *testing.T) {
	src := seeded(t, 6)
	data := create(t, src.st)
	dst := openStore(t, filepath.Join(t.TempDir(), "dst.db"))
	try := func(name string, b []byte, want error) {
		t.Helper()
		_, _, err := backup.Restore(t.Context(), bytes.NewReader(b), dst)
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
		if n := rowCount(t, dst); n != 0 {
			t.Fatalf("%s: the target holds %d rows after a refused restore", name, n)
		}
	}
	for _, cut := range []int{0, 5, len(backup.Magic), len(backup.Magic) + 3, len(backup.Magic) + 40, len(data) / 2, len(data) - 33, len(data) - 1} {
		want := backup.ErrDamaged
		if cut < len(backup.Magic) {
			want = backup.ErrNotBackup
		}
		try(fmt.Sprintf("truncated at %d", cut), data[:cut], want)
	}
	// Any flipped byte past the magic is caught.
	for i := len(backup.Magic); i < len(data); i += max(1, len(data)/97) {
		b := bytes.Clone(data)
		b[i] ^= 0x20
		try(fmt.Sprintf("byte %d flipped", i), b, backup.ErrDamaged)
	}
	try("appended data", append(bytes.Clone(data), 0), backup.ErrDamaged)
	// Foreign files.
	sqliteFile, err := os.ReadFile(src.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	try("an SQLite database", sqliteFile, backup.ErrNotBackup)
	try("random bytes", bytes.Repeat([]byte{0x5a, 0x13}, 4096), backup.ErrNotBackup)
	try("a newer format", append([]byte("costwarden-backup v9\n"), data[len(backup.Magic):]...), backup.ErrNotBackup)
	try("a text file", []byte("hello\nworld\n"), backup.ErrNotBackup)
	try("empty", nil, backup.ErrNotBackup)
	// And the untouched file still restores.
	if _, _, err := backup.Restore(t.Context(), bytes.NewReader(data), dst); err != nil {
		t.Fatalf("the intact backup does not restore after all that: %v", err)
	}
}

func TestRestoreRefusesNonEmptyTarget(t *testing.T) {
	src := seeded(t, 2)
	data := create(t, src.st)
	other := seeded(t, 3)
	before := rowCount(t, other.st)
	_, _, err := backup.Restore(t.Context(), bytes.NewReader(data), other.st)
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("restore into a non-empty store = %v, want ErrConflict", err)
	}
	if rowCount(t, other.st) != before {
		t.Error("a refused restore changed the target")
	}
}

// TestConsistentWhileWriting: a backup taken while writers add principals with
// tokens and windows restores cleanly (no token without its principal, no
// half-seen state) and holds a prefix of the writes.
func TestConsistentWhileWriting(t *testing.T) {
	src := seeded(t, 1)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			p := store.Principal{Tenant: "default", ID: fmt.Sprintf("p%05d", i), Kind: "user", NameIndex: fmt.Appendf(nil, "n%d", i), State: "active", Role: "viewer", Sealed: []byte("x"), Version: 1}
			if err := src.st.InsertPrincipal(ctx, p); err != nil {
				return
			}
			tk := store.Token{ID: fmt.Sprintf("k%05d", i), Tenant: "default", PrincipalID: p.ID, Hash: fmt.Appendf(nil, "h%d", i), Sealed: []byte("x"), Role: "viewer"}
			if err := src.st.InsertToken(ctx, tk); err != nil {
				return
			}
			w := store.Window{WindowKey: store.WindowKey{Tenant: "default", ClusterID: "cx", Resolution: 1, Start: t0.Add(time.Duration(i) * time.Hour)}, Blob: bytes.Repeat([]byte{1}, 2048)}
			if err := src.st.PutWindow(ctx, w); err != nil {
				return
			}
			written.Add(1)
		}
	}()
	for written.Load() < 50 {
		time.Sleep(5 * time.Millisecond)
	}
	var backups [][]byte
	for range 3 {
		backups = append(backups, create(t, src.st))
	}
	cancel()
	wg.Wait()
	for i, data := range backups {
		dst := openStore(t, filepath.Join(t.TempDir(), "dst.db"))
		if _, _, err := backup.Restore(t.Context(), bytes.NewReader(data), dst); err != nil {
			t.Fatalf("backup %d taken while writing does not restore: %v", i, err)
		}
		if err := dst.Check(t.Context()); err != nil {
			t.Error(err)
		}
		ps, _ := dst.ListPrincipals(t.Context(), "default")
		toks, _ := dst.ListTokens(t.Context(), "default", "")
		// One snapshot: every principal but possibly the last has its token.
		if len(ps) < 50 || (len(toks) != len(ps) && len(toks) != len(ps)-1) {
			t.Errorf("backup %d: %d principals, %d tokens: not one snapshot", i, len(ps), len(toks))
		}
	}
}
