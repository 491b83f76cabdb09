package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/postgres"
	"github.com/costwarden/costwarden/internal/store/postgres/pgtest"
	"github.com/costwarden/costwarden/internal/store/sqlite"
	"github.com/costwarden/costwarden/internal/store/storetest"
)

func TestTLSAndAuthentication(t *testing.T) {
	ctx := t.Context()
	good := srv.NewDatabase(t)
	st, err := postgres.Open(ctx, good, postgres.Options{})
	if err != nil {
		t.Fatalf("verify-full with the right CA: %v", err)
	}
	st.Close()

	// Another CA: the server certificate does not verify.
	wrongCA := good
	wrongCA.CAFile = filepath.Join(t.TempDir(), "other-ca.pem")
	if err := pgtest.SelfSignedCA(wrongCA.CAFile); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(ctx, wrongCA, postgres.Options{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a CA that did not sign the server: %v, want a certificate error", err)
	}
	// System roots (no CA file) do not know the test CA either.
	noCA := good
	noCA.CAFile = ""
	if _, err := postgres.Open(ctx, noCA, postgres.Options{}); err == nil {
		t.Error("connected with the system roots to a server signed by a private CA")
	}
	// The host name is checked in verify-full ...
	byName := good
	byName.Host = "localhost" // the certificate names localhost too: accepted
	if st, err := postgres.Open(ctx, byName, postgres.Options{}); err != nil {
		t.Errorf("localhost is in the certificate: %v", err)
	} else {
		st.Close()
	}
	// ... plain TCP is refused by the server, and never tried as a fallback.
	plain := good
	plain.SSLMode = "disable"
	if _, err := postgres.Open(ctx, plain, postgres.Options{}); err == nil {
		t.Error("plain TCP connection accepted")
	}
	remote := good
	remote.Host, remote.SSLMode = "db.example.com", "disable"
	if _, err := postgres.Open(ctx, remote, postgres.Options{}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("sslMode disable to a remote host: %v", err)
	}
	badPW := good
	badPW.Password = []byte("wrong")
	if _, err := postgres.Open(ctx, badPW, postgres.Options{}); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("wrong password: %v", err)
	}
	ca := good
	ca.SSLMode = "verify-ca"
	ca.Host = "localhost"
	if st, err := postgres.Open(ctx, ca, postgres.Options{}); err != nil {
		t.Errorf("verify-ca: %v", err)
	} else {
		st.Close()
	}
}

func TestSchemaTooNewIsRefusedUntouched(t *testing.T) {
	ctx := t.Context()
	cfg := srv.NewDatabase(t)
	st, err := postgres.Open(ctx, cfg, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutMeta(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := srv.Exec(ctx, cfg.Database, fmt.Sprintf("INSERT INTO schema_migrations VALUES (999, %d)", time.Now().UnixNano())); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(ctx, cfg, postgres.Options{})
	if !errors.Is(err, store.ErrSchemaTooNew) || !strings.Contains(err.Error(), "999") {
		t.Fatalf("Open = %v, want ErrSchemaTooNew naming 999", err)
	}
	// Nothing changed: remove the marker and the data is as it was.
	if err := srv.Exec(ctx, cfg.Database, "DELETE FROM schema_migrations WHERE version = 999"); err != nil {
		t.Fatal(err)
	}
	st, err = postgres.Open(ctx, cfg, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, err := st.GetMeta(ctx, "k"); err != nil || string(v) != "v" {
		t.Errorf("meta after a refused open = %q, %v", v, err)
	}
}

// TestReplicasStartAndWriteTogether: several replicas (separate pools) migrate
// one fresh database at once, then upsert the same windows and count key uses
// concurrently: one schema, one row per window, no lost count.
func TestReplicasStartAndWriteTogether(t *testing.T) {
	ctx := t.Context()
	cfg := srv.NewDatabase(t)
	const replicas = 4
	stores := make([]*postgres.Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = postgres.Open(ctx, cfg, postgres.Options{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	if v, _ := stores[0].SchemaVersion(ctx); v != postgres.LatestVersion() {
		t.Errorf("schema version %d", v)
	}
	if err := stores[0].InsertKey(ctx, store.WrappedKey{Tenant: "t", Version: 1, KEKID: "k", Wrapped: []byte("w"), State: "active"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for h := range 30 {
				w := store.Window{WindowKey: store.WindowKey{Tenant: "t", ClusterID: "c", Resolution: 1, Start: t0.Add(time.Duration(h) * time.Hour)}, Blob: fmt.Appendf(nil, "r%d", i)}
				if err := st.PutWindow(ctx, w); err != nil {
					t.Error(err)
					return
				}
				if err := st.AddKeyUses(ctx, "t", 1, 1); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	infos, err := stores[1].WindowStarts(ctx, store.WindowRange{Tenant: "t", Resolution: 1, To: t0.Add(100 * time.Hour)})
	if err != nil || len(infos) != 30 {
		t.Errorf("%d windows after 4 replicas wrote the same 30, %v", len(infos), err)
	}
	keys, _ := stores[2].ListKeys(ctx, "t")
	if len(keys) != 1 || keys[0].Uses != replicas*30 {
		t.Errorf("key uses = %+v, want %d", keys, replicas*30)
	}
}

// TestNoPlaintextInDataDirectory greps every file of the PostgreSQL data
// directory (heap pages, TOAST, WAL) for names stored through the keyring.
func TestNoPlaintextInDataDirectory(t *testing.T) {
	ctx := t.Context()
	st := srv.Open(t)
	kek, err := seal.OpenKeyFile(filepath.Join(t.TempDir(), "k"), true)
	if err != nil {
		t.Fatal(err)
	}
	ring := seal.NewKeyring(kek, st, seal.Options{})
	ss := sets.New(st, ring, "default", time.Now)
	needles := []string{"payments-prod-eu-cluster", "namespace-ledger-secret", "team-label-value-zebra"}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for h := range 48 {
		w := cost.NewWindow(t0.Add(time.Duration(h)*time.Hour), t0.Add(time.Duration(h+1)*time.Hour))
		set := &cost.Set{Cluster: needles[0], Window: w, Resolution: cost.Hourly, Warnings: []string{needles[1], needles[2], strings.Repeat(needles[2], 100)}}
		if _, err := ss.Put(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	// Control: the needles are findable in the data directory when stored in
	// the clear (a meta value), so a miss below means something.
	control := "control-plaintext-marker-4242"
	if err := st.PutMeta(ctx, "control", []byte(control)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	files := 0
	err = filepath.WalkDir(srv.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil // sockets, files removed meanwhile
		}
		files++
		for _, n := range append(needles, control) {
			if bytes.Contains(b, []byte(n)) {
				found[n] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found[control] {
		t.Fatalf("control string not found in %d files: the grep does not see the data", files)
	}
	for _, n := range needles {
		if found[n] {
			t.Errorf("the PostgreSQL data directory contains the plaintext %q", n)
		}
	}
}

// TestBackupsMoveBetweenBackends: rows dumped from SQLite load into PostgreSQL
// and back, identically (the SQLite -> PostgreSQL migration path).
func TestDumpLoadAcrossBackends(t *testing.T) {
	open := func(t *testing.T) *sqlite.Store {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	t.Run("sqlite to postgres", func(t *testing.T) { storetest.RoundTrip(t, open(t), srv.Open(t)) })
	t.Run("postgres to sqlite", func(t *testing.T) { storetest.RoundTrip(t, srv.Open(t), open(t)) })
}
