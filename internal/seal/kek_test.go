package seal

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestOpenKeyFileCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets", "nested")
	path := filepath.Join(dir, "kek")
	kek, err := OpenKeyFile(path, true)
	if err != nil {
		t.Fatalf("OpenKeyFile(create) = %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), fs.FileMode(0o600); got != want {
		t.Errorf("key file mode = %04o, want %04o", got, want)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := di.Mode().Perm(), fs.FileMode(0o700); got != want {
		t.Errorf("key dir mode = %04o, want %04o", got, want)
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(content), "\n")
	if len(lines) != 3 || lines[0] != "costwarden-kek-v1" || lines[2] != "" {
		t.Fatalf("key file has %d lines, first %q; want header, base64 line, final newline", len(lines), lines[0])
	}
	key, err := base64.StdEncoding.DecodeString(lines[1])
	if err != nil || len(key) != 32 {
		t.Fatalf("key line decodes to %d bytes (err %v), want 32", len(key), err)
	}
	if !regexp.MustCompile(`^file:[0-9a-f]{16}$`).MatchString(kek.ID()) {
		t.Errorf("ID() = %q, want file: and 16 hex digits", kek.ID())
	}
	if strings.Contains(kek.ID(), lines[1]) {
		t.Error("ID() contains the key")
	}
}

func TestOpenKeyFileDoesNotOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	first, err := OpenKeyFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	second, err := OpenKeyFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("OpenKeyFile(create) rewrote an existing key file")
	}
	if first.ID() != second.ID() {
		t.Errorf("ID changed from %s to %s on reopen", first.ID(), second.ID())
	}
	// A key wrapped by the first handle unwraps with the second: same key.
	ad := []byte("ad")
	w, err := first.Wrap(context.Background(), make([]byte, 32), ad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.Unwrap(context.Background(), w, ad); err != nil {
		t.Errorf("reopened key does not unwrap: %v", err)
	}
}

func TestOpenKeyFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent", "kek")
	_, err := OpenKeyFile(path, false)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	if _, serr := os.Stat(filepath.Dir(path)); !errors.Is(serr, fs.ErrNotExist) {
		t.Error("OpenKeyFile(create=false) created the directory")
	}
}

func TestOpenKeyFileRefusesLoosePermissions(t *testing.T) {
	for _, mode := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o700} {
		t.Run(mode.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek")
			if _, err := OpenKeyFile(path, true); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := OpenKeyFile(path, true)
			if mode&0o077 == 0 {
				if err != nil {
					t.Fatalf("mode %04o refused: %v", mode, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("mode %04o accepted", mode)
			}
			want := fmt.Sprintf("key file %s is readable by others (mode %04o); run chmod 600 %s", path, uint32(mode), path)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("err = %q, want it to contain %q", err, want)
			}
		})
	}
}

func TestOpenKeyFileMalformed(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	short := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 16))
	tests := []struct {
		name, content string
	}{
		{"empty", ""},
		{"no header", good + "\n"},
		{"wrong header", "costwarden-kek-v2\n" + good + "\n"},
		{"header only", "costwarden-kek-v1\n"},
		{"not base64", "costwarden-kek-v1\n!!!!" + good[4:] + "\n"},
		{"short key", "costwarden-kek-v1\n" + short + "\n"},
		{"trailing content", "costwarden-kek-v1\n" + good + "\nextra\n"},
		{"raw key", string(bytes.Repeat([]byte{0x5a}, 32))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenKeyFile(path, true)
			if err == nil {
				t.Fatal("malformed key file accepted")
			}
			if !strings.Contains(err.Error(), "malformed") || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %q, want it to say malformed and name the file", err)
			}
			for _, secret := range []string{good, short, good[4:], string(bytes.Repeat([]byte{0x5a}, 8))} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals key material", err)
				}
			}
			if got, _ := os.ReadFile(path); string(got) != tt.content {
				t.Error("malformed key file was modified")
			}
		})
	}
}

func TestOpenKeyFileAcceptsCRLFAndNoFinalNewline(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	for _, content := range []string{
		"costwarden-kek-v1\n" + good,
		"costwarden-kek-v1\r\n" + good + "\r\n",
	} {
		path := filepath.Join(t.TempDir(), "kek")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenKeyFile(path, false); err != nil {
			t.Errorf("OpenKeyFile(%q) = %v", strings.ReplaceAll(content, good, "<key>"), err)
		}
	}
}

func TestFileKEKWrapBinding(t *testing.T) {
	ctx := context.Background()
	kek := testKEK(t)
	other := testKEK(t)
	key := bytes.Repeat([]byte{7}, 32)
	w, err := kek.Wrap(ctx, key, []byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(w, key) {
		t.Error("wrapped key contains the key")
	}
	got, err := kek.Unwrap(ctx, w, []byte("a"))
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Unwrap = %x, %v; want the key", got, err)
	}
	if _, err := kek.Unwrap(ctx, w, []byte("b")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Unwrap with other ad: err = %v, want ErrDecrypt", err)
	}
	if _, err := other.Unwrap(ctx, w, []byte("a")); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Unwrap with other KEK: err = %v, want ErrDecrypt", err)
	}
	for i := range w {
		bad := bytes.Clone(w)
		bad[i] ^= 0x80
		if _, err := kek.Unwrap(ctx, bad, []byte("a")); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Unwrap with byte %d flipped: err = %v, want ErrDecrypt", i, err)
		}
	}
	if kek.ID() == other.ID() {
		t.Error("two random KEKs share an ID")
	}
}

func testKEK(t testing.TB) *FileKEK {
	t.Helper()
	kek, err := OpenKeyFile(filepath.Join(t.TempDir(), "kek"), true)
	if err != nil {
		t.Fatal(err)
	}
	return kek
}
