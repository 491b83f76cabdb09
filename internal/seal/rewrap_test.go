package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRewrap(t *testing.T) {
	f := newFixture(t, Options{})
	old := mustSeal(t, f.ring, adWindow, []byte("before rotation"))
	if _, err := f.ring.Rotate(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	fresh := mustSeal(t, f.ring, adWindow, []byte("after rotation"))
	ad2 := AD{Tenant: "t2", Kind: "cluster", ID: "c9"}
	other := mustSeal(t, f.ring, ad2, []byte("tenant two"))
	if _, err := f.ring.BlindIndex(ctx, "t1", "cluster-name", "prod"); err != nil {
		t.Fatal(err)
	}
	idxBefore, _ := f.ring.BlindIndex(ctx, "t1", "cluster-name", "prod")
	if err := f.keys.DeleteKeys(ctx, "t3"); err != nil {
		t.Fatal(err)
	}
	blobsBefore := [][]byte{bytes.Clone(old), bytes.Clone(fresh), bytes.Clone(other)}

	newKEK := testKEK(t)
	var seen int
	st, err := Rewrap(ctx, f.keys, f.kek, newKEK, []string{"t1", "t2"}, func(string, uint32) { seen++ })
	if err != nil {
		t.Fatal(err)
	}
	// t1: index + 2 versions, t2: 1 version.
	if st.Rewrapped != 4 || seen != 4 || st.Already != 0 {
		t.Errorf("Rewrap = %+v (progress %d), want 4 rewrapped", st, seen)
	}
	for _, tenant := range []string{"t1", "t2"} {
		recs, _ := f.keys.ListKeys(ctx, tenant)
		for _, r := range recs {
			if r.KEKID != newKEK.ID() {
				t.Errorf("%s/%d still wrapped by %s", tenant, r.Version, r.KEKID)
			}
		}
	}
	// Blobs were not touched, and a keyring on the new KEK opens every one.
	for i, b := range [][]byte{old, fresh, other} {
		if !bytes.Equal(b, blobsBefore[i]) {
			t.Errorf("blob %d changed", i)
		}
	}
	ring := NewKeyring(newKEK, f.keys, Options{Now: f.clock.Now})
	for _, c := range []struct {
		ad   AD
		blob []byte
		want string
	}{{adWindow, old, "before rotation"}, {adWindow, fresh, "after rotation"}, {ad2, other, "tenant two"}} {
		got, err := ring.Open(ctx, c.ad, c.blob)
		if err != nil || string(got) != c.want {
			t.Errorf("Open after rewrap = %q, %v; want %q", got, err, c.want)
		}
	}
	if idx, _ := ring.BlindIndex(ctx, "t1", "cluster-name", "prod"); !bytes.Equal(idx, idxBefore) {
		t.Error("blind index changed across rewrap")
	}
	// The old KEK no longer opens anything (a fresh process with it).
	_, err = NewKeyring(f.kek, f.keys, Options{}).Open(ctx, adWindow, old)
	if !errors.Is(err, ErrWrongKEK) {
		t.Errorf("old KEK after rewrap: %v, want ErrWrongKEK", err)
	}
	// Running it again is a no-op (resumable).
	st, err = Rewrap(ctx, f.keys, f.kek, newKEK, []string{"t1", "t2"}, nil)
	if err != nil || st.Rewrapped != 0 || st.Already != 4 {
		t.Errorf("second Rewrap = %+v, %v; want 4 already done", st, err)
	}
	// Rewrapping to the same KEK, or with a third unrelated KEK as the source, fails.
	if _, err := Rewrap(ctx, f.keys, newKEK, newKEK, []string{"t1"}, nil); err == nil {
		t.Error("Rewrap to the same KEK succeeded")
	}
	if _, err := Rewrap(ctx, f.keys, testKEK(t), f.kek, []string{"t1"}, nil); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("Rewrap from an unrelated KEK = %v, want ErrWrongKEK", err)
	}
}

func TestRewrapStopsOnTamperedKeyAndResumes(t *testing.T) {
	f := newFixture(t, Options{})
	mustSeal(t, f.ring, adWindow, secret)
	if _, err := f.ring.Rotate(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	blob := mustSeal(t, f.ring, adWindow, secret)
	rec, _ := f.keys.get("t1", 2)
	good := bytes.Clone(rec.Wrapped)
	rec.Wrapped[len(rec.Wrapped)-1] ^= 1
	f.keys.put(rec)
	newKEK := testKEK(t)
	st, err := Rewrap(ctx, f.keys, f.kek, newKEK, []string{"t1"}, nil)
	if !errors.Is(err, ErrDecrypt) || st.Rewrapped != 1 {
		t.Fatalf("Rewrap over a tampered key = %+v, %v; want ErrDecrypt after 1", st, err)
	}
	if got, _ := f.keys.get("t1", 2); got.KEKID != f.kek.ID() {
		t.Error("the tampered key was replaced")
	}
	rec.Wrapped = good
	f.keys.put(rec)
	st, err = Rewrap(ctx, f.keys, f.kek, newKEK, []string{"t1"}, nil)
	if err != nil || st.Rewrapped != 1 || st.Already != 1 {
		t.Fatalf("resumed Rewrap = %+v, %v; want 1 rewrapped, 1 already", st, err)
	}
	if got, err := NewKeyring(newKEK, f.keys, Options{}).Open(ctx, adWindow, blob); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("Open after resumed rewrap = %v", err)
	}
}

func TestReseal(t *testing.T) {
	f := newFixture(t, Options{})
	b1 := mustSeal(t, f.ring, adWindow, []byte("one"))
	v, err := f.ring.Rotate(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	got, changed, err := f.ring.Reseal(ctx, adWindow, b1, v)
	if err != nil || !changed {
		t.Fatalf("Reseal = %v, %v", changed, err)
	}
	if blobVersion(got) != v {
		t.Errorf("resealed with version %d, want %d", blobVersion(got), v)
	}
	if pt, err := f.ring.Open(ctx, adWindow, got); err != nil || string(pt) != "one" {
		t.Errorf("Open(resealed) = %q, %v", pt, err)
	}
	// Already new enough: unchanged, same bytes.
	again, changed, err := f.ring.Reseal(ctx, adWindow, got, v)
	if err != nil || changed || !bytes.Equal(again, got) {
		t.Errorf("Reseal(current) = changed %v, %v", changed, err)
	}
	// The AD still binds: resealing under another identity fails.
	if _, _, err := f.ring.Reseal(ctx, AD{Tenant: "t1", Kind: "window", ID: "other"}, b1, v); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Reseal with another AD = %v, want ErrDecrypt", err)
	}
	if _, _, err := f.ring.Reseal(ctx, adWindow, []byte("garbage"), v); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Reseal(garbage) = %v, want ErrDecrypt", err)
	}
	if av, err := f.ring.ActiveVersion(ctx, "t1"); err != nil || av != v {
		t.Errorf("ActiveVersion = %d, %v; want %d", av, err, v)
	}
}

func TestRotateIfOlder(t *testing.T) {
	f := newFixture(t, Options{})
	const every = 90 * 24 * time.Hour
	if v, rotated, err := f.ring.RotateIfOlder(ctx, "t1", every); err != nil || rotated || v != 0 {
		t.Errorf("RotateIfOlder(no keys) = %d, %v, %v; want nothing done", v, rotated, err)
	}
	mustSeal(t, f.ring, adWindow, secret)
	f.clock.Advance(every - time.Second)
	if v, rotated, err := f.ring.RotateIfOlder(ctx, "t1", every); err != nil || rotated || v != 1 {
		t.Errorf("RotateIfOlder(young) = %d, %v, %v; want 1, false", v, rotated, err)
	}
	f.clock.Advance(time.Second)
	if v, rotated, err := f.ring.RotateIfOlder(ctx, "t1", every); err != nil || !rotated || v != 2 {
		t.Errorf("RotateIfOlder(due) = %d, %v, %v; want 2, true", v, rotated, err)
	}
	if got := blobVersion(mustSeal(t, f.ring, adWindow, secret)); got != 2 {
		t.Errorf("new seals use version %d, want 2", got)
	}
}

// TestUseCountsOfProcessesAddUp: several processes sealing with one key all
// have their counts stored (the store increments atomically).
func TestUseCountsOfProcessesAddUp(t *testing.T) {
	f := newFixture(t, Options{})
	mustSeal(t, f.ring, adWindow, secret)
	const procs, each = 4, flushEvery + 100
	var wg sync.WaitGroup
	rings := make([]*Keyring, procs)
	for i := range rings {
		rings[i] = f.another(Options{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if _, err := rings[i].Seal(ctx, adWindow, secret); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, r := range append(rings, f.ring) {
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rec, _ := f.keys.get("t1", 1)
	if want := uint64(procs*each + 1); rec.Uses != want {
		t.Errorf("stored uses = %d, want %d", rec.Uses, want)
	}
}

// TestRetiredKeyStaysRetired: a process flushing counts for a version another
// process retired does not make it active again.
func TestRetiredKeyStaysRetired(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.another(Options{})
	mustSeal(t, a, adWindow, secret) // a holds an uncounted use of version 1
	if _, err := f.ring.Rotate(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rec, _ := f.keys.get("t1", 1)
	if rec.State != StateDecrypt || rec.Uses != 1 {
		t.Errorf("version 1 = %s with %d uses, want decrypt with 1", rec.State, rec.Uses)
	}
	f.clock.Advance(2 * time.Minute) // a refreshes and moves on to version 2
	if got := blobVersion(mustSeal(t, a, adWindow, secret)); got != 2 {
		t.Errorf("after refresh the other process seals with %d, want 2", got)
	}
}

func writeSecret(t *testing.T, content []byte, mode os.FileMode) string {
	t.Helper()
	dir := t.TempDir()
	// As Kubernetes mounts it: ..data/kek behind a symlink.
	data := filepath.Join(dir, "..2026_03_01_12_00_00.000")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "kek"), content, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(data, "kek"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/kek", filepath.Join(dir, "kek")); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "kek")
}

func TestSecretFileFormats(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "costwarden.key")
	fileKEK, err := OpenKeyFile(keyFile, true)
	if err != nil {
		t.Fatal(err)
	}
	content, _ := os.ReadFile(keyFile)
	raw, err := parseKeyFile(content)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string][]byte{
		"key file format": content,
		"raw bytes":       raw,
		"base64":          []byte(base64.StdEncoding.EncodeToString(raw) + "\n"),
	} {
		t.Run(name, func(t *testing.T) {
			kek, warn, err := OpenSecretFile(writeSecret(t, c, 0o400))
			if err != nil {
				t.Fatal(err)
			}
			if warn != "" {
				t.Errorf("warning for a 0400 secret: %s", warn)
			}
			// The same key as the key file: same id, and it unwraps its keys.
			if kek.ID() != fileKEK.ID() {
				t.Errorf("ID = %s, want the key file's %s (moving a key into a Secret needs no rewrap)", kek.ID(), fileKEK.ID())
			}
			w, _ := fileKEK.Wrap(ctx, secret[:32], []byte("ad"))
			if got, err := kek.Unwrap(ctx, w, []byte("ad")); err != nil || !bytes.Equal(got, secret[:32]) {
				t.Errorf("Unwrap = %v", err)
			}
		})
	}
}

func TestSecretFileRefusals(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, 32)
	if _, _, err := OpenSecretFile(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "Secret mounted") {
		t.Errorf("missing secret: %v", err)
	}
	if _, err := os.Stat(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing secret file was created")
	}
	if _, _, err := OpenSecretFile(writeSecret(t, raw, 0o666)); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("world-writable secret: %v", err)
	}
	_, warn, err := OpenSecretFile(writeSecret(t, raw, 0o644))
	if err != nil || !strings.Contains(warn, "defaultMode") {
		t.Errorf("0644 secret (the Kubernetes default) = %q, %v; want accepted with a warning", warn, err)
	}
	// defaultMode 0400 with fsGroup: the kubelet makes it root-owned 0440. Only the
	// pod's group reads it: no warning. Owned by anyone else, group read warns.
	if os.Geteuid() == 0 {
		_, warn, err = OpenSecretFile(writeSecret(t, raw, 0o440))
		if err != nil || warn != "" {
			t.Errorf("root-owned 0440 secret (fsGroup mount) = %q, %v; want accepted without a warning", warn, err)
		}
		p := writeSecret(t, raw, 0o440)
		if err := os.Chown(p, 65532, 65532); err != nil {
			t.Fatal(err)
		}
		if _, warn, err = OpenSecretFile(p); err != nil || !strings.Contains(warn, "defaultMode") {
			t.Errorf("0440 secret owned by uid 65532 = %q, %v; want accepted with a warning", warn, err)
		}
	} else if _, warn, err = OpenSecretFile(writeSecret(t, raw, 0o440)); err != nil || !strings.Contains(warn, "defaultMode") {
		t.Errorf("0440 secret owned by a non-root user = %q, %v; want accepted with a warning", warn, err)
	}
	for name, c := range map[string][]byte{
		"short":        raw[:16],
		"bad base64":   []byte("not base64 at all!"),
		"empty":        {},
		"long base64":  []byte(base64.StdEncoding.EncodeToString(append(raw, raw...))),
		"bad key file": []byte("costwarden-kek-v1\nAAAA\n"),
	} {
		_, _, err := OpenSecretFile(writeSecret(t, c, 0o400))
		if err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("%s: err = %v, want malformed", name, err)
		}
	}
	dir := t.TempDir()
	if _, _, err := OpenSecretFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
}
