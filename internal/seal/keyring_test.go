package seal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// fakeClock is an injectable clock that tests advance by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	kek   *FileKEK
	keys  *memKeys
	clock *fakeClock
	ring  *Keyring
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	f := &fixture{kek: testKEK(t), keys: newMemKeys(), clock: newFakeClock()}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	f.ring = NewKeyring(f.kek, f.keys, opts)
	return f
}

// another returns a second keyring on the same store and KEK: another process.
func (f *fixture) another(opts Options) *Keyring {
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	return NewKeyring(f.kek, f.keys, opts)
}

var (
	ctx      = context.Background()
	adWindow = AD{Tenant: "t1", Kind: "window", ID: "c1/1/2026-03-01T00:00:00Z"}
	secret   = []byte("namespace=payments-prod label team=ledger cost=1234.56 USD")
)

func mustSeal(t testing.TB, k *Keyring, ad AD, pt []byte) []byte {
	t.Helper()
	blob, err := k.Seal(ctx, ad, pt)
	if err != nil {
		t.Fatalf("Seal(%v) = %v", ad, err)
	}
	return blob
}

func blobVersion(blob []byte) uint32 { return binary.BigEndian.Uint32(blob[4:8]) }

func TestSelfTest(t *testing.T) {
	if err := SelfTest(); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t, Options{})
	tests := []struct {
		name string
		ad   AD
		pt   []byte
	}{
		{"empty plaintext", adWindow, nil},
		{"one byte", adWindow, []byte{0}},
		{"text", adWindow, secret},
		{"empty ID", AD{Tenant: "t1", Kind: "settings"}, secret},
		{"other tenant", AD{Tenant: "t2", Kind: "cluster", ID: "c9"}, secret},
		{"1 MiB", adWindow, bytes.Repeat([]byte("0123456789abcdef"), 1<<16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			blob := mustSeal(t, f.ring, tt.ad, tt.pt)
			if got, want := len(blob), len(tt.pt)+blobOverhead; got != want {
				t.Errorf("len(blob) = %d, want %d", got, want)
			}
			if got := string(blob[:3]); got != "CWS" {
				t.Errorf("magic = %q, want CWS", got)
			}
			if got := blob[3]; got != 1 {
				t.Errorf("format = %d, want 1", got)
			}
			if got := blobVersion(blob); got != 1 {
				t.Errorf("key version = %d, want 1", got)
			}
			got, err := f.ring.Open(ctx, tt.ad, blob)
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			if !bytes.Equal(got, tt.pt) {
				t.Errorf("Open = %q, want %q", got, tt.pt)
			}
		})
	}
}

func TestSealRejectsIncompleteAD(t *testing.T) {
	f := newFixture(t, Options{})
	for _, ad := range []AD{{Kind: "window", ID: "x"}, {Tenant: "t1", ID: "x"}} {
		if _, err := f.ring.Seal(ctx, ad, secret); err == nil {
			t.Errorf("Seal(%+v) succeeded, want an error", ad)
		}
		if _, err := f.ring.Open(ctx, ad, make([]byte, 64)); err == nil {
			t.Errorf("Open(%+v) succeeded, want an error", ad)
		}
	}
}

func TestConfidentiality(t *testing.T) {
	f := newFixture(t, Options{})
	blob := mustSeal(t, f.ring, adWindow, secret)
	for _, needle := range [][]byte{secret, []byte("payments-prod"), []byte("ledger"), []byte("1234.56")} {
		if bytes.Contains(blob, needle) {
			t.Errorf("blob contains plaintext %q", needle)
		}
	}
	// Same plaintext twice: different ciphertexts (random nonces).
	if again := mustSeal(t, f.ring, adWindow, secret); bytes.Equal(again, blob) {
		t.Error("sealing the same plaintext twice gave the same blob")
	}
	// No key material in the store either: the wrapped key does not contain the
	// raw key, and the data key cannot be derived from the blob (checked by the
	// integrity tests); here: the stored record is wrapped, not raw.
	rec, ok := f.keys.get("t1", 1)
	if !ok {
		t.Fatal("no stored key version 1")
	}
	if got, want := len(rec.Wrapped), 1+12+32+16; got != want {
		t.Errorf("wrapped key is %d bytes, want %d", got, want)
	}
}

func TestIntegrityEveryByte(t *testing.T) {
	f := newFixture(t, Options{})
	blob := mustSeal(t, f.ring, adWindow, secret)
	for i := range blob {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(blob)
			bad[i] ^= mask
			got, err := f.ring.Open(ctx, adWindow, bad)
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("byte %d ^ %#x: Open = %q, %v; want ErrDecrypt", i, mask, got, err)
			}
			if got != nil {
				t.Fatalf("byte %d ^ %#x: Open returned plaintext with its error", i, mask)
			}
		}
	}
}

func TestTruncatedAndExtendedBlobs(t *testing.T) {
	f := newFixture(t, Options{})
	blob := mustSeal(t, f.ring, adWindow, secret)
	for n := 0; n < len(blob); n++ {
		if _, err := f.ring.Open(ctx, adWindow, blob[:n]); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("blob[:%d]: err = %v, want ErrDecrypt", n, err)
		}
	}
	if _, err := f.ring.Open(ctx, adWindow, append(bytes.Clone(blob), 0)); !errors.Is(err, ErrDecrypt) {
		t.Errorf("blob + 1 byte: err = %v, want ErrDecrypt", err)
	}
	garbage := bytes.Repeat([]byte{0xde, 0xad}, 100)
	if _, err := f.ring.Open(ctx, adWindow, garbage); !errors.Is(err, ErrDecrypt) {
		t.Errorf("garbage: err = %v, want ErrDecrypt", err)
	}
}

func TestMoveIntegrity(t *testing.T) {
	f := newFixture(t, Options{})
	sealedAt := AD{Tenant: "ab", Kind: "cluster", ID: "c1"}
	blob := mustSeal(t, f.ring, sealedAt, secret)
	mustSeal(t, f.ring, AD{Tenant: "other", Kind: "cluster", ID: "c1"}, secret) // other has keys
	tests := []struct {
		name string
		ad   AD
	}{
		{"other tenant with keys", AD{Tenant: "other", Kind: "cluster", ID: "c1"}},
		{"tenant without keys", AD{Tenant: "nobody", Kind: "cluster", ID: "c1"}},
		{"other kind", AD{Tenant: "ab", Kind: "principal", ID: "c1"}},
		{"other id", AD{Tenant: "ab", Kind: "cluster", ID: "c2"}},
		{"empty id", AD{Tenant: "ab", Kind: "cluster"}},
		{"field boundary tenant/kind", AD{Tenant: "a", Kind: "bcluster", ID: "c1"}},
		{"field boundary kind/id", AD{Tenant: "ab", Kind: "clusterc", ID: "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.ring.Open(ctx, tt.ad, blob)
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open(%+v) = %q, %v; want ErrDecrypt", tt.ad, got, err)
			}
		})
	}
	if _, err := f.ring.Open(ctx, sealedAt, blob); err != nil {
		t.Fatalf("Open at the right place = %v", err)
	}
}

func TestSwapBlobsBetweenRows(t *testing.T) {
	f := newFixture(t, Options{})
	a := AD{Tenant: "t1", Kind: "window", ID: "a"}
	b := AD{Tenant: "t1", Kind: "window", ID: "b"}
	blobA, blobB := mustSeal(t, f.ring, a, []byte("A")), mustSeal(t, f.ring, b, []byte("B"))
	if _, err := f.ring.Open(ctx, a, blobB); !errors.Is(err, ErrDecrypt) {
		t.Errorf("row a holding b's blob: err = %v, want ErrDecrypt", err)
	}
	if _, err := f.ring.Open(ctx, b, blobA); !errors.Is(err, ErrDecrypt) {
		t.Errorf("row b holding a's blob: err = %v, want ErrDecrypt", err)
	}
}

func TestUniqueNonces(t *testing.T) {
	const n = 100_000
	f := newFixture(t, Options{})
	seen := make(map[[12]byte]int, n)
	for i := range n {
		blob := mustSeal(t, f.ring, adWindow, []byte{1})
		nonce := [12]byte(blob[headerLen : headerLen+nonceLen])
		if j, dup := seen[nonce]; dup {
			t.Fatalf("seal %d reused the nonce of seal %d", i, j)
		}
		seen[nonce] = i
	}
}

func TestRotateThenReadOld(t *testing.T) {
	f := newFixture(t, Options{})
	old := mustSeal(t, f.ring, adWindow, []byte("old"))
	v, err := f.ring.Rotate(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if v != 2 {
		t.Fatalf("Rotate = %d, want 2", v)
	}
	fresh := mustSeal(t, f.ring, adWindow, []byte("new"))
	if got, want := blobVersion(old), uint32(1); got != want {
		t.Errorf("old blob key version = %d, want %d", got, want)
	}
	if got, want := blobVersion(fresh), uint32(2); got != want {
		t.Errorf("new blob key version = %d, want %d", got, want)
	}
	// Both open, in this process and in a fresh one (keys from the store only).
	for name, k := range map[string]*Keyring{"same": f.ring, "fresh": f.another(Options{})} {
		for _, c := range []struct {
			blob []byte
			want string
		}{{old, "old"}, {fresh, "new"}} {
			got, err := k.Open(ctx, adWindow, c.blob)
			if err != nil || string(got) != c.want {
				t.Errorf("%s keyring: Open = %q, %v; want %q", name, got, err, c.want)
			}
		}
	}
	st, err := f.ring.Status(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := statesOf(st), "1:decrypt 2:active"; got != want {
		t.Errorf("Status = %s, want %s", got, want)
	}
}

func statesOf(st []KeyInfo) string {
	var parts []string
	for _, s := range st {
		parts = append(parts, fmt.Sprintf("%d:%s", s.Version, s.State))
	}
	return strings.Join(parts, " ")
}

func TestAutomaticRotation(t *testing.T) {
	f := newFixture(t, Options{RotateAfterUses: 5})
	var blobs [][]byte
	for range 5 {
		blobs = append(blobs, mustSeal(t, f.ring, adWindow, secret))
	}
	for i, b := range blobs {
		if got := blobVersion(b); got != 1 {
			t.Errorf("seal %d used key version %d, want 1", i+1, got)
		}
	}
	sixth := mustSeal(t, f.ring, adWindow, secret)
	if got := blobVersion(sixth); got != 2 {
		t.Errorf("seal 6 used key version %d, want 2 (rotation after 5 uses)", got)
	}
	for range 5 {
		blobs = append(blobs, mustSeal(t, f.ring, adWindow, secret))
	}
	if got := blobVersion(mustSeal(t, f.ring, adWindow, secret)); got != 3 {
		t.Errorf("seal 12 used key version %d, want 3", got)
	}
	for i, b := range append(blobs, sixth) {
		if _, err := f.ring.Open(ctx, adWindow, b); err != nil {
			t.Errorf("blob %d: Open = %v", i, err)
		}
	}
	st, err := f.ring.Status(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := statesOf(st), "1:decrypt 2:decrypt 3:active"; got != want {
		t.Errorf("Status = %s, want %s", got, want)
	}
	// Retired versions had their counts stored when they were retired.
	for _, v := range []uint32{1, 2} {
		rec, _ := f.keys.get("t1", v)
		if rec.Uses != 5 {
			t.Errorf("stored uses of version %d = %d, want 5", v, rec.Uses)
		}
	}
}

func TestUseCountsPersist(t *testing.T) {
	f := newFixture(t, Options{})
	for range 10 {
		mustSeal(t, f.ring, adWindow, secret)
	}
	if rec, _ := f.keys.get("t1", 1); rec.Uses != 0 {
		t.Errorf("stored uses before Flush = %d, want 0 (batched)", rec.Uses)
	}
	st, _ := f.ring.Status(ctx, "t1")
	if got := st[0].Uses; got != 10 {
		t.Errorf("Status uses = %d, want 10", got)
	}
	if err := f.ring.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if rec, _ := f.keys.get("t1", 1); rec.Uses != 10 {
		t.Errorf("stored uses after Flush = %d, want 10", rec.Uses)
	}
	// Batches reach the store without Flush, and another process's counts add up.
	other := f.another(Options{})
	for range flushEvery {
		mustSeal(t, other, adWindow, secret)
	}
	if rec, _ := f.keys.get("t1", 1); rec.Uses != 10+flushEvery {
		t.Errorf("stored uses after a batch = %d, want %d", rec.Uses, 10+flushEvery)
	}
	// A restarted process continues from the stored count.
	restarted := f.another(Options{RotateAfterUses: 10 + flushEvery + 1})
	if got := blobVersion(mustSeal(t, restarted, adWindow, secret)); got != 1 {
		t.Errorf("seal at count %d used version %d, want 1", 10+flushEvery+1, got)
	}
	if got := blobVersion(mustSeal(t, restarted, adWindow, secret)); got != 2 {
		t.Errorf("seal past the limit used version %d, want 2", got)
	}
}

func TestWrongKEK(t *testing.T) {
	f := newFixture(t, Options{})
	blob := mustSeal(t, f.ring, adWindow, secret)
	if _, err := f.ring.BlindIndex(ctx, "t1", "cluster", "prod"); err != nil {
		t.Fatal(err)
	}
	wrong := testKEK(t)
	k := NewKeyring(wrong, f.keys, Options{Now: f.clock.Now})
	want := fmt.Sprintf("the key file does not match this data directory (data keys were wrapped by KEK %s, the configured KEK is %s)", f.kek.ID(), wrong.ID())

	_, err := k.Open(ctx, adWindow, blob)
	if !errors.Is(err, ErrWrongKEK) || !strings.Contains(err.Error(), want) {
		t.Errorf("Open with the wrong KEK: err = %v, want ErrWrongKEK saying %q", err, want)
	}
	err = k.Verify(ctx, "t1")
	if !errors.Is(err, ErrWrongKEK) || !strings.Contains(err.Error(), want) {
		t.Errorf("Verify with the wrong KEK: err = %v, want ErrWrongKEK saying %q", err, want)
	}
	if _, err := k.BlindIndex(ctx, "t1", "cluster", "prod"); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("BlindIndex with the wrong KEK: err = %v, want ErrWrongKEK", err)
	}
	if _, err := k.Seal(ctx, adWindow, secret); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("Seal with the wrong KEK: err = %v, want ErrWrongKEK", err)
	}
	if err := f.ring.Verify(ctx, "t1", "never-used"); err != nil {
		t.Errorf("Verify with the right KEK = %v", err)
	}
}

func TestWrappedKeyCannotMove(t *testing.T) {
	f := newFixture(t, Options{})
	mustSeal(t, f.ring, adWindow, secret)
	blobB := mustSeal(t, f.ring, AD{Tenant: "t2", Kind: "window", ID: "x"}, secret)
	recA, _ := f.keys.get("t1", 1)
	moved := recA
	moved.Tenant = "t2"
	f.keys.put(moved) // t2's version 1 now holds t1's wrapped key

	k := f.another(Options{})
	if _, err := k.Open(ctx, AD{Tenant: "t2", Kind: "window", ID: "x"}, blobB); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Open with a moved wrapped key: err = %v, want ErrDecrypt", err)
	}
	if err := k.Verify(ctx, "t2"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Verify of a moved wrapped key: err = %v, want ErrDecrypt", err)
	}
	// Moving it to another version of the same tenant fails the same way.
	moved = recA
	moved.Version = 7
	f.keys.put(moved)
	if err := k.Verify(ctx, "t1"); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Verify of a key moved to another version: err = %v, want ErrDecrypt", err)
	}
}

func TestShredThenReadFails(t *testing.T) {
	f := newFixture(t, Options{})
	blob := mustSeal(t, f.ring, adWindow, secret)
	before, err := f.ring.BlindIndex(ctx, "t1", "cluster", "prod")
	if err != nil {
		t.Fatal(err)
	}
	other := mustSeal(t, f.ring, AD{Tenant: "t2", Kind: "window", ID: "x"}, secret)
	if err := f.ring.Shred(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]*Keyring{"same": f.ring, "fresh": f.another(Options{})} {
		got, err := k.Open(ctx, adWindow, blob)
		if !errors.Is(err, ErrKeyDestroyed) {
			t.Errorf("%s keyring: Open after Shred = %q, %v; want ErrKeyDestroyed", name, got, err)
		}
	}
	if _, err := f.ring.Open(ctx, AD{Tenant: "t2", Kind: "window", ID: "x"}, other); err != nil {
		t.Errorf("other tenant after Shred: Open = %v", err)
	}
	after, err := f.ring.BlindIndex(ctx, "t1", "cluster", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(before, after) {
		t.Error("blind index unchanged after Shred: the index key survived")
	}
	// New data after shredding uses a new key; the old blob stays unreadable.
	mustSeal(t, f.ring, adWindow, secret)
	if _, err := f.ring.Open(ctx, adWindow, blob); err == nil {
		t.Error("old blob opened with the tenant's new key")
	}
}

func TestDestroyedVersion(t *testing.T) {
	f := newFixture(t, Options{})
	blob := mustSeal(t, f.ring, adWindow, secret)
	if _, err := f.ring.Rotate(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	rec, _ := f.keys.get("t1", 1)
	rec.State, rec.Wrapped = StateDestroyed, nil
	f.keys.put(rec)
	if _, err := f.another(Options{}).Open(ctx, adWindow, blob); !errors.Is(err, ErrKeyDestroyed) {
		t.Errorf("Open of a destroyed version: err = %v, want ErrKeyDestroyed", err)
	}
	if err := f.ring.Verify(ctx, "t1"); err != nil {
		t.Errorf("Verify skips destroyed versions, got %v", err)
	}
}

func TestBlindIndex(t *testing.T) {
	f := newFixture(t, Options{})
	bi := func(k *Keyring, tenant, kind, value string) []byte {
		t.Helper()
		b, err := k.BlindIndex(ctx, tenant, kind, value)
		if err != nil {
			t.Fatalf("BlindIndex(%s, %s, %s) = %v", tenant, kind, value, err)
		}
		if len(b) != 32 {
			t.Fatalf("BlindIndex is %d bytes, want 32", len(b))
		}
		return b
	}
	base := bi(f.ring, "t1", "cluster", "prod-eu")
	if !bytes.Equal(base, bi(f.ring, "t1", "cluster", "prod-eu")) {
		t.Error("BlindIndex not deterministic")
	}
	if bytes.Contains(base, []byte("prod-eu")) {
		t.Error("BlindIndex contains its value")
	}
	if _, err := f.ring.Rotate(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ring.Rotate(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(base, bi(f.ring, "t1", "cluster", "prod-eu")) {
		t.Error("BlindIndex changed after Rotate")
	}
	if !bytes.Equal(base, bi(f.another(Options{}), "t1", "cluster", "prod-eu")) {
		t.Error("BlindIndex differs in another process")
	}
	differs := []struct {
		name                string
		tenant, kind, value string
	}{
		{"other kind", "t1", "user", "prod-eu"},
		{"other tenant", "t2", "cluster", "prod-eu"},
		{"other value", "t1", "cluster", "prod-us"},
		{"kind/value boundary", "t1", "clusterp", "rod-eu"},
	}
	for _, d := range differs {
		if bytes.Equal(base, bi(f.ring, d.tenant, d.kind, d.value)) {
			t.Errorf("%s: same BlindIndex", d.name)
		}
	}
	st, err := f.ring.Status(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := statesOf(st), "0:index 1:decrypt 2:active"; got != want {
		t.Errorf("Status = %s, want %s", got, want)
	}
	if _, err := f.ring.BlindIndex(ctx, "t1", "", "x"); err == nil {
		t.Error("BlindIndex with an empty kind succeeded")
	}
}

func TestFirstKeyRaceBetweenProcesses(t *testing.T) {
	f := newFixture(t, Options{})
	cli := f.another(Options{})
	// The CLI looks at the tenant before any key exists and caches that.
	if _, err := cli.Status(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	serverBlob := mustSeal(t, f.ring, adWindow, []byte("server"))
	// The CLI's cached view is stale: its insert of version 1 conflicts, and it
	// must adopt the server's key rather than fail or make another.
	cliBlob := mustSeal(t, cli, adWindow, []byte("cli"))
	if got := blobVersion(cliBlob); got != 1 {
		t.Errorf("CLI sealed with version %d, want the server's version 1", got)
	}
	for _, b := range [][]byte{serverBlob, cliBlob} {
		for _, k := range []*Keyring{f.ring, cli} {
			if _, err := k.Open(ctx, adWindow, b); err != nil {
				t.Errorf("Open = %v", err)
			}
		}
	}
	// Same for the index key.
	if _, err := cli.Status(ctx, "t3"); err != nil {
		t.Fatal(err)
	}
	a, err := f.ring.BlindIndex(ctx, "t3", "user", "alice")
	if err != nil {
		t.Fatal(err)
	}
	b, err := cli.BlindIndex(ctx, "t3", "user", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("two processes created different index keys")
	}
}

func TestRotationByAnotherProcess(t *testing.T) {
	f := newFixture(t, Options{RefreshAfter: time.Minute})
	mustSeal(t, f.ring, adWindow, secret)
	cli := f.another(Options{})
	if _, err := cli.Rotate(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	// A blob from the new version opens at once (unknown version → reload).
	newBlob := mustSeal(t, cli, adWindow, secret)
	if _, err := f.ring.Open(ctx, adWindow, newBlob); err != nil {
		t.Errorf("Open of a blob sealed after another process rotated = %v", err)
	}
	// After RefreshAfter, the server seals with the new version too.
	f.clock.Advance(time.Minute)
	if got := blobVersion(mustSeal(t, f.ring, adWindow, secret)); got != 2 {
		t.Errorf("after refresh the server sealed with version %d, want 2", got)
	}
	if err := f.ring.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The server's flush did not undo the CLI's retirement of version 1.
	if rec, _ := f.keys.get("t1", 1); rec.State != StateDecrypt {
		t.Errorf("version 1 state = %s, want decrypt", rec.State)
	}
}

func TestRandFailure(t *testing.T) {
	f := newFixture(t, Options{Rand: failingReader{}})
	if _, err := f.ring.Seal(ctx, adWindow, secret); err == nil {
		t.Fatal("Seal succeeded without randomness")
	}
	// The data key came from the failing reader too, so nothing was stored.
	if _, ok := f.keys.get("t1", 1); ok {
		t.Error("a key was stored although randomness failed")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestErrorsDoNotRevealPlaintextOrKeys(t *testing.T) {
	f := newFixture(t, Options{})
	blob := mustSeal(t, f.ring, adWindow, secret)
	rec, _ := f.keys.get("t1", 1)
	bad := bytes.Clone(blob)
	bad[len(bad)-1] ^= 1
	_, err := f.ring.Open(ctx, adWindow, bad)
	if err == nil {
		t.Fatal("tampered blob opened")
	}
	msg := err.Error()
	for _, s := range []string{string(secret), "payments", fmt.Sprintf("%x", rec.Wrapped[:8])} {
		if strings.Contains(msg, s) {
			t.Errorf("error %q contains %q", msg, s)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	f := newFixture(t, Options{RotateAfterUses: 50})
	other := f.another(Options{RotateAfterUses: 50})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := f.ring
			if g%2 == 1 {
				k = other
			}
			tenant := fmt.Sprintf("t%d", g%3)
			for i := range 200 {
				ad := AD{Tenant: tenant, Kind: "window", ID: fmt.Sprintf("%d/%d", g, i)}
				pt := fmt.Appendf(nil, "payload %d/%d", g, i)
				blob, err := k.Seal(ctx, ad, pt)
				if err != nil {
					errs <- err
					return
				}
				got, err := k.Open(ctx, ad, blob)
				if err != nil || !bytes.Equal(got, pt) {
					errs <- fmt.Errorf("Open = %q, %v; want %q", got, err, pt)
					return
				}
				if i%50 == 0 {
					if _, err := k.BlindIndex(ctx, tenant, "cluster", "x"); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 10 {
			if _, err := f.ring.Rotate(ctx, "t0"); err != nil {
				errs <- err
				return
			}
			if err := other.Flush(ctx); err != nil {
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
	// Exactly one active version per tenant survives the races.
	for _, tenant := range []string{"t0", "t1", "t2"} {
		st, err := f.ring.Status(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		active := 0
		for _, s := range st {
			if s.State == StateActive {
				active++
			}
		}
		if active != 1 {
			t.Errorf("tenant %s: %d active versions (%s), want 1", tenant, active, statesOf(st))
		}
	}
}

var _ store.Keys = (*memKeys)(nil)

func TestShredAndRecreateByAnotherProcess(t *testing.T) {
	f := newFixture(t, Options{})
	mustSeal(t, f.ring, adWindow, secret) // caches version 1
	cli := f.another(Options{})
	if err := cli.Shred(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	recreated := mustSeal(t, cli, adWindow, []byte("after")) // a new, unrelated version 1
	f.clock.Advance(time.Minute)
	got, err := f.ring.Open(ctx, adWindow, recreated)
	if err != nil || string(got) != "after" {
		t.Errorf("after refresh: Open = %q, %v; want the recreated key to be used", got, err)
	}
}
