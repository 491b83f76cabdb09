package app_test

import (
	"bytes"
	"context"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/app"
)

// TestBundleMovesWindowsBetweenSites: site A exports its windows sealed to
// site B's key; the file holds no plaintext; B imports them under its own keys
// and serves the same costs; a damaged bundle or one sealed to another site
// imports nothing.
func TestBundleMovesWindowsBetweenSites(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	ctx := context.Background()
	cfgA := testConfig(t, t.TempDir(), 1)
	a := serve(t, cfgA)
	a.waitLog(t, "backfill complete")
	tokA := makeToken(t, cfgA)
	want := totalCost(t, a, tokA, closedWindow())
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	cfgB := testConfig(t, t.TempDir(), 0)
	cfgB.Demo.Enabled = false
	var key bytes.Buffer
	if err := app.BundleRecipient(ctx, cfgB, env(io.Discard, &key)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "site-a.bundle")
	err := app.ExportBundle(ctx, cfgA, env(io.Discard, io.Discard), app.BundleOptions{To: strings.TrimSpace(key.String()), Out: file, Since: time.Now().Add(-72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(file)
	if fi, _ := os.Stat(file); len(raw) < 1000 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bundle of %d bytes, mode %v", len(raw), fi.Mode())
	}
	for _, n := range demoNeedles(t, cfgA) {
		if bytes.Contains(raw, []byte(n)) {
			t.Fatalf("the bundle holds the plaintext %q", n)
		}
	}
	if err := app.ExportBundle(ctx, cfgA, env(io.Discard, io.Discard), app.BundleOptions{To: strings.TrimSpace(key.String()), Out: file, Since: time.Now().Add(-time.Hour)}); err == nil {
		t.Error("export-bundle overwrote an existing file")
	}
	// Damaged, or sealed to another site: nothing is imported.
	bad := filepath.Join(t.TempDir(), "bad.bundle")
	flipped := bytes.Clone(raw)
	flipped[len(flipped)/2] ^= 1
	os.WriteFile(bad, flipped, 0o600)
	if err := app.ImportBundle(ctx, cfgB, env(io.Discard, io.Discard), bad); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("importing a damaged bundle: %v", err)
	}
	cfgC := testConfig(t, t.TempDir(), 0)
	if err := app.ImportBundle(ctx, cfgC, env(io.Discard, io.Discard), file); err == nil || !strings.Contains(err.Error(), "sealed to") {
		t.Errorf("importing another site's bundle: %v", err)
	}
	// The real import, twice (idempotent).
	for range 2 {
		var out bytes.Buffer
		if err := app.ImportBundle(ctx, cfgB, env(io.Discard, &out), file); err != nil || !strings.Contains(out.String(), "imported") {
			t.Fatalf("import: %v %s", err, out.String())
		}
	}
	b := serve(t, cfgB)
	tokB := makeToken(t, cfgB)
	if got := totalCost(t, b, tokB, closedWindow()); math.Abs(got-want) > 1e-6*math.Max(1, want) || want == 0 {
		t.Errorf("site B serves %.6f for the window, site A %.6f", got, want)
	}
	_ = b.stop()
	var vout bytes.Buffer
	if err := app.AuditVerify(ctx, cfgB, env(io.Discard, &vout), ""); err != nil || !strings.Contains(vout.String(), "ok:") {
		t.Errorf("site B's audit trail after imports: %v %s", err, vout.String())
	}
}
