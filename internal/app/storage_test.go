package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/seal/awskms/kmstest"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/postgres/pgtest"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

// demoNeedles are names of the demo cluster that must never be on disk.
func demoNeedles(t *testing.T, cfg config.Config) []string {
	t.Helper()
	cl, err := sim.New(sim.Config{Name: clusterName, Seed: cfg.Demo.Seed, Pods: cfg.Demo.Pods})
	if err != nil {
		t.Fatal(err)
	}
	h := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	obs, err := cl.Observe(context.Background(), cost.NewWindow(h, h.Add(time.Hour)), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{clusterName: true}
	for _, ns := range obs.Namespaces {
		set[ns.Name] = true
	}
	for i, p := range obs.Pods {
		if i%7 == 0 {
			set[p.Name] = true
		}
	}
	for _, n := range obs.Nodes {
		set[n.Name] = true
	}
	// Distinctive names only: plain words such as "logging" or "search" are
	// namespace names but also appear in PostgreSQL's own catalogs.
	var out []string
	for n := range set {
		if len(n) >= 9 || (len(n) >= 5 && strings.ContainsAny(n, "-.0123456789")) {
			out = append(out, n)
		}
	}
	return out
}

// grepDir fails the test for every needle found in any file under dir, and
// returns how many files it read.
func grepDir(t *testing.T, dir string, needles []string) int {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		files++
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%s contains the plaintext %q", p, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// totalCost is the summed cost of a window over the API.
func totalCost(t *testing.T, r *running, tok, window string) float64 {
	t.Helper()
	code, body := r.get(t, "/allocation?window="+window+"&aggregate=cluster", tok)
	if code != 200 {
		t.Fatalf("allocation: %d %s", code, body)
	}
	var ar allocResp
	if err := json.Unmarshal(body, &ar); err != nil || len(ar.Data) != 1 {
		t.Fatalf("allocation response: %v %s", err, body[:min(200, len(body))])
	}
	return sumRows(ar.Data[0])
}

// closedWindow is the first whole hour of the demo backfill: stored, not live.
func closedWindow() string {
	h := time.Now().UTC().Truncate(time.Hour).Add(-6 * time.Hour)
	return h.Format(time.RFC3339) + "," + h.Add(time.Hour).Format(time.RFC3339)
}

func TestKeysRotateReencryptStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir, 1)
	r := serve(t, cfg)
	tok := makeToken(t, cfg)
	r.waitLog(t, "backfill complete")
	before := totalCost(t, r, tok, closedWindow())
	// Rotation and re-encryption run next to the live server.
	var out bytes.Buffer
	if err := app.KeysRotate(context.Background(), cfg, env(io.Discard, &out), "", true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "new data key version 2") || !strings.Contains(out.String(), "every sealed row is at key version >= 2") {
		t.Errorf("rotate output: %s", out.String())
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := app.KeysStatus(context.Background(), cfg, env(io.Discard, &out)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tenant default", "1        decrypt", "2        active", "every blob at version >= 2", "scheduled rotation: every 2160h"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	// Every sealed row is at version 2, and the data reads back the same.
	st, err := sqlite.Open(context.Background(), cfg.Storage.SQLite.Path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	rows, _, err := st.ScanSealed(context.Background(), store.TableWindows, "default", "", 1000)
	st.Close()
	if err != nil || len(rows) < 20 {
		t.Fatalf("%d windows, %v", len(rows), err)
	}
	for _, row := range rows {
		if v := row.Blob[4:8]; v[3] != 2 {
			t.Fatalf("window %s still at key version %v", row.Window.Start, v)
		}
	}
	r = serve(t, cfg)
	if after := totalCost(t, r, tok, closedWindow()); after != before || after == 0 {
		t.Errorf("cost of a stored hour = %v after re-encryption, %v before", after, before)
	}
}

func TestBackupWhileServingRestoreAndMigrate(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir := t.TempDir()
	cfg := testConfig(t, dir, 1)
	r := serve(t, cfg)
	tok := makeToken(t, cfg)
	r.waitLog(t, "backfill complete")
	want := totalCost(t, r, tok, closedWindow())
	file := filepath.Join(dir, "backup.cwb")
	var out bytes.Buffer
	if err := app.BackupCreate(context.Background(), cfg, env(io.Discard, &out), file, false); err != nil {
		t.Fatal(err)
	}
	if err := app.BackupCreate(context.Background(), cfg, env(io.Discard, &out), file, false); err == nil {
		t.Error("backup create replaced an existing file without --force")
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	// Sealed: no demo name in the backup (nor anywhere in the data directory).
	needles := demoNeedles(t, cfg)
	if n := grepDir(t, dir, needles); n < 3 || len(needles) < 30 {
		t.Fatalf("grep saw %d files for %d names", n, len(needles))
	}

	// Restore into a new data directory holding only the key file.
	dir2 := t.TempDir()
	cfg2 := testConfig(t, dir2, 1)
	key, _ := os.ReadFile(cfg.Keys.File)
	if err := app.BackupRestore(context.Background(), cfg2, env(io.Discard, &out), file, false); err == nil || !strings.Contains(err.Error(), "key file") {
		t.Errorf("restore without the key file: %v", err)
	}
	if err := os.WriteFile(cfg2.Keys.File, key, 0o600); err != nil {
		t.Fatal(err)
	}
	// A damaged copy is refused before anything is written.
	b, _ := os.ReadFile(file)
	bad := filepath.Join(t.TempDir(), "bad.cwb")
	os.WriteFile(bad, b[:len(b)-100], 0o600)
	if err := app.BackupRestore(context.Background(), cfg2, env(io.Discard, &out), bad, false); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("truncated backup: %v", err)
	}
	if _, err := os.Stat(cfg2.Storage.SQLite.Path); err == nil {
		t.Error("a refused restore created the database")
	}
	if err := app.BackupRestore(context.Background(), cfg2, env(io.Discard, &out), file, false); err != nil {
		t.Fatal(err)
	}
	// Restoring over an existing database needs --force and keeps the old one.
	if err := app.BackupRestore(context.Background(), cfg2, env(io.Discard, &out), file, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("restore over an existing database: %v", err)
	}
	r2 := serve(t, cfg2)
	if got := totalCost(t, r2, tok, closedWindow()); got != want {
		t.Errorf("restored SQLite: cost %v, want %v (token made before the backup)", got, want)
	}
	r2.stop()

	// The same file migrates the installation to PostgreSQL.
	pg := pgtest.StartT(t)
	cfg3 := onPostgres(t, testConfig(t, t.TempDir(), 1), pg)
	if err := os.WriteFile(cfg3.Keys.File, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := app.BackupRestore(context.Background(), cfg3, env(io.Discard, &out), file, false); err != nil {
		t.Fatal(err)
	}
	if err := app.BackupRestore(context.Background(), cfg3, env(io.Discard, &out), file, false); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("restore into a non-empty PostgreSQL database: %v", err)
	}
	r3 := serve(t, cfg3)
	if got := totalCost(t, r3, tok, closedWindow()); got != want {
		t.Errorf("migrated to PostgreSQL: cost %v, want %v", got, want)
	}
}

// onPostgres points cfg at a new database of pg.
func onPostgres(t *testing.T, cfg config.Config, pg *pgtest.Server) config.Config {
	t.Helper()
	pc := pg.NewDatabase(t)
	pw := filepath.Join(cfg.DataDir, "pgpass")
	os.MkdirAll(cfg.DataDir, 0o700)
	if err := os.WriteFile(pw, pc.Password, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Storage.Driver = "postgres"
	cfg.Storage.Postgres.Host, cfg.Storage.Postgres.Port = pc.Host, pc.Port
	cfg.Storage.Postgres.Database, cfg.Storage.Postgres.User = pc.Database, pc.User
	cfg.Storage.Postgres.PasswordFile, cfg.Storage.Postgres.CAFile = pw, pc.CAFile
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	return cfg
}

// TestServeOnPostgresWithKMS: the whole server on PostgreSQL with its data keys
// in a KMS; no demo name in the PostgreSQL data directory; a wrong or
// unreachable KMS key stops the start with a clear message.
func TestServeOnPostgresWithKMS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	pg := pgtest.StartT(t)
	kms := kmstest.Start(t)
	cfg := onPostgres(t, testConfig(t, t.TempDir(), 1), pg)
	cfg.Keys.Provider = "awskms"
	cfg.Keys.AWSKMS.KeyID = kms.CreateKey(t)
	cfg.Keys.AWSKMS.Region = kmstest.Region
	cfg.Keys.AWSKMS.Endpoint = kms.Endpoint
	cfg.Keys.AWSKMS.CredentialsFile = kms.CredentialsFile
	r := serve(t, cfg)
	tok := makeToken(t, cfg)
	r.waitLog(t, "backfill complete")
	if got := totalCost(t, r, tok, closedWindow()); got <= 0 {
		t.Errorf("cost on PostgreSQL + KMS = %v", got)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if err := pg.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := grepDir(t, pg.DataDir, demoNeedles(t, cfg)); n < 100 {
		t.Fatalf("grep saw only %d files of the PostgreSQL data directory", n)
	}
	// Another KMS key: refused by id before anything runs.
	wrong := cfg
	wrong.Keys.AWSKMS.KeyID = kms.CreateKey(t)
	if err := startErr(t, wrong); err == nil || !strings.Contains(err.Error(), "wrong key-encryption key") {
		t.Errorf("start with another KMS key: %v", err)
	}
	// The KMS gone: refused, no fallback.
	kms.Stop()
	if err := startErr(t, cfg); err == nil || !strings.Contains(err.Error(), "reachable") {
		t.Errorf("start with the KMS down: %v", err)
	}
}

func TestTenantShredThroughCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	_, cfg := prepared(t)
	var out bytes.Buffer
	if err := app.TenantShred(context.Background(), cfg, env(io.Discard, &out), "default", false); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("shred without --yes: %v", err)
	}
	st, _ := sqlite.Open(context.Background(), cfg.Storage.SQLite.Path, sqlite.Options{ReadOnly: true})
	keys, _ := st.ListKeys(context.Background(), "default")
	st.Close()
	if len(keys) < 2 {
		t.Fatalf("shred without --yes left %d keys, want them all", len(keys))
	}
	if err := app.TenantShred(context.Background(), cfg, env(io.Discard, &out), "default", true); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), cfg.Storage.SQLite.Path, sqlite.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if ts, _ := st.ListTenants(context.Background()); len(ts) != 0 {
		t.Errorf("tenants after shred: %v", ts)
	}
	if keys, _ := st.ListKeys(context.Background(), "default"); len(keys) != 0 {
		t.Errorf("%d keys after shred", len(keys))
	}
	// The key bytes are gone from the files, not merely unlinked from a row.
	for _, k := range keys {
		b, _ := os.ReadFile(cfg.Storage.SQLite.Path)
		if bytes.Contains(b, k.Wrapped) {
			t.Errorf("wrapped key %d still in the database file", k.Version)
		}
	}
}

// TestServeWithSecretProvider: the key file moved into a Kubernetes-style Secret
// mount opens the same data with no rewrap; the default 0644 mode is warned
// about; a missing Secret stops the start and creates nothing.
func TestServeWithSecretProvider(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir, cfg := prepared(t)
	key, err := os.ReadFile(cfg.Keys.File)
	if err != nil {
		t.Fatal(err)
	}
	mount := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(mount, key, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(mount, 0o644)
	if err := os.Remove(cfg.Keys.File); err != nil {
		t.Fatal(err)
	}
	cfg.Keys.Provider, cfg.Keys.Secret.File = "secret", mount
	r := serve(t, cfg)
	r.waitLog(t, "defaultMode")
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.Keys.File); err == nil {
		t.Error("provider secret created a key file")
	}
	cfg.Keys.Secret.File = filepath.Join(t.TempDir(), "not-mounted")
	before := hashFiles(t, dir)
	if err := startErr(t, cfg); err == nil || !strings.Contains(err.Error(), "Secret mounted") {
		t.Errorf("missing Secret: %v", err)
	}
	assertUnchanged(t, before, hashFiles(t, dir))
}
