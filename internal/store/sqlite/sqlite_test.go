package sqlite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openTemp(t, filepath.Join(t.TempDir(), "costwarden.db"))
	})
}

func openTemp(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return s
}

// fileHash is the SHA-256 of a file's bytes.
func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// populate writes n windows of 1 KiB to a new database at path and closes it,
// leaving a checkpointed file of a few hundred pages.
func populate(t *testing.T, path string, n int) {
	t.Helper()
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		blob := make([]byte, 1024)
		for j := range blob {
			blob[j] = byte(rng.Uint32())
		}
		w := store.Window{WindowKey: store.WindowKey{Tenant: "t1", ClusterID: "c1", Resolution: 1, Start: time.Unix(int64(i)*3600, 0)}, Blob: blob}
		if err := s.PutWindow(t.Context(), w); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("WAL still present after Close (err %v): the file is not checkpointed", err)
	}
}

// rawExec runs statements on path with a plain connection, bypassing Open.
func rawExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

func TestFileMode(t *testing.T) {
	// Even with a permissive umask the database and its WAL are owner-only.
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "costwarden.db")
	s := openTemp(t, path)
	if err := s.PutMeta(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode = %04o, want 0600", filepath.Base(p), got)
		}
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "costwarden.db")
	populate(t, path, 10)
	rawExec(t, path, fmt.Sprintf("INSERT INTO schema_migrations (version, applied_at) VALUES (999, %d)", time.Now().UnixNano()))
	before := fileHash(t, path)

	_, err := Open(t.Context(), path, Options{})
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{path, "999", fmt.Sprintf("up to %d", currentVersion(t))} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if fileHash(t, path) != before {
		t.Error("Open modified a database whose schema is too new")
	}
	if _, err := Open(t.Context(), path, Options{ReadOnly: true}); !errors.Is(err, store.ErrSchemaTooNew) {
		t.Errorf("Open(ReadOnly) = %v, want ErrSchemaTooNew", err)
	}
}

func TestCorruptPage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "costwarden.db")
	populate(t, path, 400)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	const pageSize = 4096
	pages := fi.Size() / pageSize
	if pages < 50 {
		t.Fatalf("database has only %d pages", pages)
	}
	garbage := bytes.Repeat([]byte{0xa5, 0x5a, 0xde, 0xad}, pageSize/4)
	if _, err := f.WriteAt(garbage, (pages/2)*pageSize); err != nil {
		t.Fatal(err)
	}
	f.Close()
	before := fileHash(t, path)

	_, err = Open(t.Context(), path, Options{})
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Open(corrupt) = %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	if fileHash(t, path) != before {
		t.Error("Open modified a corrupt database")
	}
}

func TestNotADatabase(t *testing.T) {
	for name, content := range map[string][]byte{
		"text":         bytes.Repeat([]byte("this is not a database\n"), 400),
		"short":        []byte("hello"),
		"random bytes": bytes.Repeat([]byte{0x13, 0x37, 0xc0, 0xde}, 2048),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "costwarden.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(t.Context(), path, Options{})
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, content) {
				t.Error("Open modified the file")
			}
		})
	}
}

func TestForeignDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "grafana.db")
	rawExec(t, path, "CREATE TABLE dashboard (id INTEGER PRIMARY KEY, title TEXT)", "INSERT INTO dashboard VALUES (1, 'x')")
	before := fileHash(t, path)
	_, err := Open(t.Context(), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "not a costwarden") {
		t.Fatalf("Open(foreign database) = %v, want a refusal", err)
	}
	if fileHash(t, path) != before {
		t.Error("Open modified a foreign database")
	}
}

func TestReopenAndEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "costwarden.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil { // e.g. a crash right after creation
		t.Fatal(err)
	}
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("Open(empty file) = %v", err)
	}
	if err := s.PutMeta(t.Context(), "install.id", []byte("abc")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTemp(t, path)
	if got, err := s.GetMeta(t.Context(), "install.id"); err != nil || string(got) != "abc" {
		t.Errorf("after reopen GetMeta = %q, %v", got, err)
	}
	if v, err := s.SchemaVersion(t.Context()); err != nil || v != currentVersion(t) {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, currentVersion(t))
	}
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "costwarden.db")
	_, err := Open(t.Context(), path, Options{ReadOnly: true})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open(ReadOnly, missing) = %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Open(ReadOnly) created the file")
	}
	rw := openTemp(t, path)
	if err := rw.PutMeta(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(t.Context(), path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got, err := ro.GetMeta(t.Context(), "k"); err != nil || string(got) != "v" {
		t.Errorf("read-only GetMeta = %q, %v", got, err)
	}
	if err := ro.PutMeta(t.Context(), "k", []byte("w")); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only PutMeta = %v, want ErrReadOnly", err)
	}
	if _, err := ro.UpdatePrincipal(t.Context(), store.Principal{Tenant: "t", ID: "p", NameIndex: []byte("x")}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only UpdatePrincipal = %v, want ErrReadOnly", err)
	}
}

func TestPathNeedsEscaping(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data dir?x=1#frag%20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cost warden.db")
	s := openTemp(t, path)
	if err := s.PutMeta(t.Context(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 && !fileExists(path+"-wal") {
		t.Errorf("database not at %s: %v", path, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "cost warden.db") {
			t.Errorf("unexpected file %q next to the database", e.Name())
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestTwoProcesses uses two Stores on one file at once, as the server and the
// CLI do: concurrent opens (and migration), writes from both, optimistic
// concurrency between them.
func TestTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "costwarden.db")
	ctx := t.Context()
	var stores [2]*Store
	var wg sync.WaitGroup
	openErrs := make([]error, 2)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], openErrs[i] = Open(ctx, path, Options{})
		}()
	}
	wg.Wait()
	for i, err := range openErrs {
		if err != nil {
			t.Fatalf("Open %d = %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	server, cli := stores[0], stores[1]
	if v, _ := cli.SchemaVersion(ctx); v != currentVersion(t) {
		t.Fatalf("SchemaVersion = %d, want %d", v, currentVersion(t))
	}

	p := store.Principal{Tenant: "t1", ID: "p1", Kind: "user", NameIndex: []byte("idx"), State: "active", Role: "viewer", Sealed: []byte("s"), Version: 1}
	if err := server.InsertPrincipal(ctx, p); err != nil {
		t.Fatal(err)
	}

	const perStore = 60
	errs := make(chan error, 16)
	var conflicts, updates, clusterIDs sync.Map
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perStore {
				w := store.Window{WindowKey: store.WindowKey{Tenant: "t1", ClusterID: fmt.Sprintf("c%d", i), Resolution: 1, Start: time.Unix(int64(j)*3600, 0)}, Blob: bytes.Repeat([]byte{byte(j)}, 4096)}
				if err := s.PutWindow(ctx, w); err != nil {
					errs <- fmt.Errorf("store %d PutWindow: %w", i, err)
					return
				}
				// Both register the same cluster: one inserts, both get it.
				c, err := s.EnsureCluster(ctx, store.Cluster{Tenant: "t1", ID: fmt.Sprintf("c-%d-%d", i, j%5), NameIndex: fmt.Appendf(nil, "idx-%d", j%5), Sealed: []byte("s")})
				if err != nil {
					errs <- fmt.Errorf("store %d EnsureCluster: %w", i, err)
					return
				}
				if prev, loaded := clusterIDs.LoadOrStore(j%5, c.ID); loaded && prev != c.ID {
					errs <- fmt.Errorf("EnsureCluster returned %s, earlier %s", c.ID, prev)
				}
				// Read-modify-write of one principal from both sides.
				cur, err := s.GetPrincipal(ctx, "t1", "p1")
				if err != nil {
					errs <- err
					return
				}
				cur.Role = fmt.Sprintf("r%d-%d", i, j)
				_, err = s.UpdatePrincipal(ctx, cur)
				switch {
				case errors.Is(err, store.ErrConflict):
					conflicts.Store(fmt.Sprint(i, j), true)
				case err != nil:
					errs <- fmt.Errorf("store %d UpdatePrincipal: %w", i, err)
					return
				default:
					updates.Store(fmt.Sprint(i, j), true)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	nUpdates := 0
	updates.Range(func(any, any) bool { nUpdates++; return true })
	final, err := cli.GetPrincipal(ctx, "t1", "p1")
	if err != nil {
		t.Fatal(err)
	}
	if final.Version != int64(1+nUpdates) {
		t.Errorf("principal version = %d after %d successful updates, want %d (a lost update)", final.Version, nUpdates, 1+nUpdates)
	}
	for _, s := range stores {
		infos, err := s.WindowStarts(ctx, store.WindowRange{Tenant: "t1", Resolution: 1, To: time.Unix(perStore*3600, 0)})
		if err != nil || len(infos) != 2*perStore {
			t.Errorf("WindowStarts = %d, %v; want %d", len(infos), err, 2*perStore)
		}
	}
	if cs, err := server.ListClusters(ctx, "t1"); err != nil || len(cs) != 5 {
		t.Errorf("ListClusters = %d, %v; want 5 (one per name index)", len(cs), err)
	}
	if err := server.Check(ctx); err != nil {
		t.Error(err)
	}
}

// TestDeletedKeysLeaveNoTrace: after DeleteKeys the wrapped key bytes are in
// neither the database file nor its WAL (crypto-shredding).
func TestDeletedKeysLeaveNoTrace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "costwarden.db")
	s := openTemp(t, path)
	ctx := t.Context()
	wrapped := []byte("WRAPPED-KEY-MATERIAL-0123456789abcdef")
	k := store.WrappedKey{Tenant: "t1", Version: 1, KEKID: "file:00", Wrapped: wrapped, State: "active", CreatedAt: time.Now()}
	if err := s.InsertKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	other := k
	other.Tenant = "t2"
	other.Wrapped = []byte("OTHER-TENANT-KEY")
	if err := s.InsertKey(ctx, other); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := s.AddKeyUses(ctx, "t1", 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	// Make sure the key has reached the main file too, not only the WAL.
	if _, err := s.w.ExecContext(ctx, "PRAGMA wal_checkpoint(FULL)"); err != nil {
		t.Fatal(err)
	}
	if !containsInFiles(t, path, wrapped) {
		t.Fatal("test setup: key bytes not found before deletion")
	}
	if err := s.DeleteKeys(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if containsInFiles(t, path, wrapped) {
		t.Error("wrapped key bytes still on disk after DeleteKeys")
	}
	if !containsInFiles(t, path, other.Wrapped) {
		t.Error("the other tenant's key vanished")
	}
}

func containsInFiles(t *testing.T, path string, needle []byte) bool {
	t.Helper()
	for _, p := range []string{path, path + "-wal", path + "-journal"} {
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, needle) {
			return true
		}
	}
	return false
}

func TestTimeOutOfRange(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "costwarden.db"))
	w := store.Window{WindowKey: store.WindowKey{Tenant: "t1", ClusterID: "c1", Resolution: 1, Start: time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if err := s.PutWindow(t.Context(), w); err == nil {
		t.Error("PutWindow with a start in 2500 succeeded; nanoseconds cannot hold it")
	}
	w.Start = time.Time{}
	if err := s.PutWindow(t.Context(), w); err == nil {
		t.Error("PutWindow with a zero start succeeded")
	}
}

func BenchmarkPutWindow(b *testing.B) {
	s := openTemp(b, filepath.Join(b.TempDir(), "costwarden.db"))
	blob := make([]byte, 2<<20)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	b.SetBytes(int64(len(blob)))
	i := 0
	for b.Loop() {
		w := store.Window{WindowKey: store.WindowKey{Tenant: "t1", ClusterID: "c1", Resolution: 2, Start: time.Unix(int64(i%32)*86400, 0)}, Blob: blob}
		if err := s.PutWindow(context.Background(), w); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkScanWindows scans a month of hourly windows (720) of 16 KiB each.
func BenchmarkScanWindows(b *testing.B) {
	const n, size = 720, 16 << 10
	s := openTemp(b, filepath.Join(b.TempDir(), "costwarden.db"))
	ctx := context.Background()
	blob := make([]byte, size)
	for i := range n {
		for c := range 2 { // a second cluster the scan filters out
			w := store.Window{WindowKey: store.WindowKey{Tenant: "t1", ClusterID: fmt.Sprintf("c%d", c), Resolution: 1, Start: time.Unix(int64(i)*3600, 0)}, Blob: blob}
			if err := s.PutWindow(ctx, w); err != nil {
				b.Fatal(err)
			}
		}
	}
	r := store.WindowRange{Tenant: "t1", ClusterID: "c0", Resolution: 1, To: time.Unix(n*3600, 0)}
	b.SetBytes(n * size)
	for b.Loop() {
		got := 0
		if err := s.ScanWindows(ctx, r, func(store.Window) error { got++; return nil }); err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("scanned %d windows, want %d", got, n)
		}
	}
}

// currentVersion is the schema version this binary migrates to.
func currentVersion(t *testing.T) int {
	t.Helper()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	return latestVersion(ms)
}
