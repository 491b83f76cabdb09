package seal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

// TestNoPlaintextOnDisk seals customer data into a real SQLite store and greps
// the database file and its WAL for it (ARCHITECTURE invariant 1, SECURITY P1).
func TestNoPlaintextOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "costwarden.db")
	kek, err := seal.OpenKeyFile(filepath.Join(dir, "keys", "kek"), true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ring := seal.NewKeyring(kek, st, seal.Options{})

	known := []string{"payments-prod-eu-west-1", "team=ledger-core", "alice@example.com", "4711.93"}
	clusterName := known[0]
	idx, err := ring.BlindIndex(ctx, "t1", "cluster", clusterName)
	if err != nil {
		t.Fatal(err)
	}
	sealedName, err := ring.Seal(ctx, seal.AD{Tenant: "t1", Kind: "cluster", ID: "c1"}, []byte(clusterName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureCluster(ctx, store.Cluster{Tenant: "t1", ID: "c1", NameIndex: idx, Sealed: sealedName}); err != nil {
		t.Fatal(err)
	}
	payload := []byte(fmt.Sprintf("namespace %s label %s owner %s cost %s", known[0], known[1], known[2], known[3]))
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var keys []store.WindowKey
	for h := range 24 {
		k := store.WindowKey{Tenant: "t1", ClusterID: "c1", Resolution: 1, Start: start.Add(time.Duration(h) * time.Hour)}
		blob, err := ring.Seal(ctx, windowAD(k), payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutWindow(ctx, store.Window{WindowKey: k, End: k.Start.Add(time.Hour), Blob: blob}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if _, err := ring.Rotate(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := ring.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Grep while the store is open (data in the WAL) and after Close (checkpointed).
	grep(t, dbPath, known)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	grep(t, dbPath, known)

	// A restart reads everything back; a window moved to another hour does not open.
	st, err = sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ring = seal.NewKeyring(kek, st, seal.Options{})
	if err := ring.Verify(ctx, "t1"); err != nil {
		t.Fatalf("Verify = %v", err)
	}
	w, err := st.GetWindow(ctx, keys[3])
	if err != nil {
		t.Fatal(err)
	}
	got, err := ring.Open(ctx, windowAD(w.WindowKey), w.Blob)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("Open after restart = %q, %v", got, err)
	}
	if _, err := ring.Open(ctx, windowAD(keys[4]), w.Blob); !errors.Is(err, seal.ErrDecrypt) {
		t.Errorf("window blob opened at another hour: err = %v, want ErrDecrypt", err)
	}
	cs, err := st.ListClusters(ctx, "t1")
	if err != nil || len(cs) != 1 {
		t.Fatalf("ListClusters = %v, %v", cs, err)
	}
	name, err := ring.Open(ctx, seal.AD{Tenant: "t1", Kind: "cluster", ID: cs[0].ID}, cs[0].Sealed)
	if err != nil || string(name) != clusterName {
		t.Errorf("cluster name = %q, %v; want %q", name, err, clusterName)
	}

	// Another key file on this data directory is refused with a clear error.
	wrong, err := seal.OpenKeyFile(filepath.Join(t.TempDir(), "kek"), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := seal.NewKeyring(wrong, st, seal.Options{}).Verify(ctx, "t1"); !errors.Is(err, seal.ErrWrongKEK) {
		t.Errorf("Verify with another key file = %v, want ErrWrongKEK", err)
	}

	// Shredding makes the tenant's data unrecoverable.
	if err := ring.Shred(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := seal.NewKeyring(kek, st, seal.Options{}).Open(ctx, windowAD(w.WindowKey), w.Blob); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Errorf("Open after Shred = %v, want ErrKeyDestroyed", err)
	}
}

func windowAD(k store.WindowKey) seal.AD {
	return seal.AD{Tenant: k.Tenant, Kind: "window", ID: fmt.Sprintf("%s/%d/%d", k.ClusterID, k.Resolution, k.Start.Unix())}
}

func grep(t *testing.T, dbPath string, needles []string) {
	t.Helper()
	for _, p := range []string{dbPath, dbPath + "-wal"} {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%s contains plaintext %q", filepath.Base(p), n)
			}
		}
	}
}
