package awskms_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/seal/awskms"
	"github.com/costwarden/costwarden/internal/seal/awskms/kmstest"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

func config(s *kmstest.Server, keyID string) awskms.Config {
	return awskms.Config{KeyID: keyID, Region: kmstest.Region, Endpoint: s.Endpoint, CredentialsFile: s.CredentialsFile, Timeout: 5 * time.Second}
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "costwarden.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var ad = seal.AD{Tenant: "default", Kind: "window", ID: "c1/1/1767225600"}

// TestKeyringOnKMS: data keys are generated and unwrapped by a real KMS API
// server; a second process (new KEK client, new keyring) reads what the first
// sealed; rotation works.
func TestKeyringOnKMS(t *testing.T) {
	srv := kmstest.Start(t)
	arn := srv.CreateKey(t)
	ctx := t.Context()
	kek, err := awskms.Open(ctx, config(srv, arn))
	if err != nil {
		t.Fatal(err)
	}
	if kek.ID() != "awskms:"+arn {
		t.Errorf("ID = %s, want awskms:%s", kek.ID(), arn)
	}
	st := openStore(t)
	ring := seal.NewKeyring(kek, st, seal.Options{})
	blob, err := ring.Seal(ctx, ad, []byte("payments-prod 1234.56"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Rotate(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	blob2, err := ring.Seal(ctx, ad, []byte("after rotation"))
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := st.ListKeys(ctx, "default")
	if len(keys) != 2 {
		t.Fatalf("%d keys stored, want 2", len(keys))
	}
	for _, k := range keys {
		if k.KEKID != kek.ID() {
			t.Errorf("key %d wrapped by %s", k.Version, k.KEKID)
		}
	}
	kek2, err := awskms.Open(ctx, config(srv, arn))
	if err != nil {
		t.Fatal(err)
	}
	other := seal.NewKeyring(kek2, st, seal.Options{})
	if err := other.Verify(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	for b, want := range map[*[]byte]string{&blob: "payments-prod 1234.56", &blob2: "after rotation"} {
		got, err := other.Open(ctx, ad, *b)
		if err != nil || string(got) != want {
			t.Errorf("Open = %q, %v; want %q", got, err, want)
		}
	}
}

func TestWrongKMSKey(t *testing.T) {
	srv := kmstest.Start(t)
	a, b := srv.CreateKey(t), srv.CreateKey(t)
	ctx := t.Context()
	kekA, err := awskms.Open(ctx, config(srv, a))
	if err != nil {
		t.Fatal(err)
	}
	kekB, err := awskms.Open(ctx, config(srv, b))
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	if _, err := seal.NewKeyring(kekA, st, seal.Options{}).Seal(ctx, ad, []byte("x")); err != nil {
		t.Fatal(err)
	}
	// Configured with the wrong KMS key: refused by id, before any KMS call.
	err = seal.NewKeyring(kekB, st, seal.Options{}).Verify(ctx, "default")
	if !errors.Is(err, seal.ErrWrongKEK) {
		t.Errorf("Verify with another KMS key = %v, want ErrWrongKEK", err)
	}
	// And KMS itself refuses a ciphertext of another key, or another context.
	wrapped, err := kekA.Wrap(ctx, bytes.Repeat([]byte{1}, 32), []byte("costwarden/dek/v1|default|1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kekB.Unwrap(ctx, wrapped, []byte("costwarden/dek/v1|default|1")); err == nil {
		t.Error("key B unwrapped key A's ciphertext")
	}
	if _, err := kekA.Unwrap(ctx, wrapped, []byte("costwarden/dek/v1|default|2")); !errors.Is(err, seal.ErrDecrypt) {
		t.Errorf("Unwrap with another encryption context = %v, want ErrDecrypt", err)
	}
	got, err := kekA.Unwrap(ctx, wrapped, []byte("costwarden/dek/v1|default|1"))
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{1}, 32)) {
		t.Errorf("Unwrap = %v", err)
	}
}

func TestKMSFailuresAreClear(t *testing.T) {
	srv := kmstest.Start(t)
	ctx := t.Context()

	// Unreachable: a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	c := config(srv, srv.CreateKey(t))
	c.Endpoint = dead
	c.Timeout = time.Second
	if _, err := awskms.Open(ctx, c); err == nil || !strings.Contains(err.Error(), "reachable") {
		t.Errorf("unreachable KMS: %v", err)
	}

	// A key that does not exist.
	if _, err := awskms.Open(ctx, config(srv, "arn:aws:kms:eu-west-2:111122223333:key/00000000-0000-0000-0000-000000000000")); err == nil || !strings.Contains(err.Error(), "does not encrypt") {
		t.Errorf("missing key: %v", err)
	}

	// A key disabled after start: sealing with a new data key and unwrapping
	// stored keys fail with KMS's error, never silently.
	arn := srv.CreateKey(t)
	kek, err := awskms.Open(ctx, config(srv, arn))
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	blob, err := seal.NewKeyring(kek, st, seal.Options{}).Seal(ctx, ad, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	srv.DisableKey(t, arn)
	if _, err := seal.NewKeyring(kek, st, seal.Options{}).Open(ctx, ad, blob); err == nil || !strings.Contains(err.Error(), "Decrypt") {
		t.Errorf("Open with a disabled KMS key = %v, want a KMS Decrypt error", err)
	}
	if _, err := seal.NewKeyring(kek, openStore(t), seal.Options{}).Seal(ctx, ad, []byte("x")); err == nil || !strings.Contains(err.Error(), "GenerateDataKey") {
		t.Errorf("Seal with a disabled KMS key = %v, want a GenerateDataKey error", err)
	}
	if _, err := awskms.Open(ctx, config(srv, arn)); err == nil {
		t.Error("Open with a disabled key succeeded")
	}

	// Configuration mistakes.
	for name, mod := range map[string]func(*awskms.Config){
		"plain http off loopback": func(c *awskms.Config) { c.Endpoint = "http://kms.example.com" },
		"no key":                  func(c *awskms.Config) { c.KeyID = "" },
		"missing credentials":     func(c *awskms.Config) { c.CredentialsFile = filepath.Join(t.TempDir(), "nope") },
		"bad CA file":             func(c *awskms.Config) { c.CAFile = filepath.Join(t.TempDir(), "nope.pem") },
	} {
		c := config(srv, arn)
		mod(&c)
		if _, err := awskms.Open(ctx, c); err == nil {
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

// TestRewrapFileToKMSAndBack moves every data key from the key file to KMS and
// back, without touching a blob.
func TestRewrapFileToKMSAndBack(t *testing.T) {
	srv := kmstest.Start(t)
	ctx := context.Background()
	fileKEK, err := seal.OpenKeyFile(filepath.Join(t.TempDir(), "costwarden.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	kmsKEK, err := awskms.Open(ctx, config(srv, srv.CreateKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	blob, err := seal.NewKeyring(fileKEK, st, seal.Options{}).Seal(ctx, ad, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.Rewrap(ctx, st, fileKEK, kmsKEK, []string{"default"}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := seal.NewKeyring(kmsKEK, st, seal.Options{}).Open(ctx, ad, blob); err != nil || string(got) != "secret" {
		t.Fatalf("Open via KMS after rewrap = %q, %v", got, err)
	}
	if _, err := seal.NewKeyring(fileKEK, st, seal.Options{}).Open(ctx, ad, blob); !errors.Is(err, seal.ErrWrongKEK) {
		t.Errorf("file KEK after rewrap to KMS = %v, want ErrWrongKEK", err)
	}
	if _, err := seal.Rewrap(ctx, st, kmsKEK, fileKEK, []string{"default"}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := seal.NewKeyring(fileKEK, st, seal.Options{}).Open(ctx, ad, blob); err != nil || string(got) != "secret" {
		t.Fatalf("Open via the file after rewrap back = %q, %v", got, err)
	}
}
