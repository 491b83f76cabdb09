package seal

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// KEK is a key-encryption key provider: it wraps and unwraps data keys. The local
// key file (FileKEK) is the air-gapped default; a Kubernetes Secret file and
// external KMS providers implement the same interface.
type KEK interface {
	// ID is a stable, non-secret identifier of this key. It is stored next to
	// every wrapped key so a mismatched key is reported as such.
	ID() string
	// Wrap encrypts key under the KEK, bound to ad.
	Wrap(ctx context.Context, key, ad []byte) ([]byte, error)
	// Unwrap reverses Wrap; it fails unless wrapped was made by this KEK with ad.
	Unwrap(ctx context.Context, wrapped, ad []byte) ([]byte, error)
}

// KeyGenerator is implemented by KEKs that make data keys themselves (a KMS's
// GenerateDataKey): the keyring then asks the KEK for each new data key instead
// of drawing it locally and calling Wrap.
type KeyGenerator interface {
	// GenerateKey returns a new 256-bit key and the same key wrapped, bound to ad
	// exactly as Wrap would. The caller clears key.
	GenerateKey(ctx context.Context, ad []byte) (key, wrapped []byte, err error)
}

const (
	keyFileHeader = "costwarden-kek-v1"
	kekIDLabel    = "costwarden kek id"
	wrapFormatV1  = 0x01
)

// FileKEK is a 256-bit key-encryption key read from a local file (mode 0600). It
// wraps with AES-256-GCM and a random nonce. It is safe for concurrent use.
type FileKEK struct {
	id   string
	aead cipher.AEAD
}

var _ KEK = (*FileKEK)(nil)

// OpenKeyFile reads the key file at path. When the file does not exist and create is
// true it makes a new random key (parent directory 0700, file 0600, never replacing
// an existing file); otherwise a missing file is an error wrapping fs.ErrNotExist.
// A file that group or others can access is refused.
//
// The file holds the line "costwarden-kek-v1" followed by the key in standard
// base64 on the second line.
func OpenKeyFile(path string, create bool) (*FileKEK, error) {
	kek, err := readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !create {
		return kek, err
	}
	if err := createKeyFile(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	// Read back what is on disk: if another process won the creation race, its
	// key is the one to use.
	return readKeyFile(path)
}

func readKeyFile(path string) (*FileKEK, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("seal: key file %s does not exist: %w", path, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("seal: opening key file: %w", err)
	}
	defer f.Close()
	// Stat the open descriptor, not the path, so the checked file is the read one.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: key file %s is not a regular file (mode %s)", path, fi.Mode())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("seal: key file %s is readable by others (mode %04o); run chmod 600 %s", path, perm, path)
	}
	// A key file is under 100 bytes; refuse to read an arbitrary large file.
	content, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, fmt.Errorf("seal: reading key file %s: %w", path, err)
	}
	defer clear(content)
	key, err := parseKeyFile(content)
	if err != nil {
		return nil, fmt.Errorf("seal: key file %s is malformed: %w", path, err)
	}
	defer clear(key)
	return newFileKEK(key)
}

// parseKeyFile returns the key in content. Its errors describe the shape of the
// content only, never the content itself.
func parseKeyFile(content []byte) ([]byte, error) {
	header, rest, ok := bytes.Cut(content, []byte("\n"))
	if !ok || string(bytes.TrimSuffix(header, []byte("\r"))) != keyFileHeader {
		return nil, fmt.Errorf("the first line is not %q", keyFileHeader)
	}
	line, tail, _ := bytes.Cut(rest, []byte("\n"))
	line = bytes.TrimSpace(line)
	if len(bytes.TrimSpace(tail)) != 0 {
		return nil, errors.New("unexpected content after the key line")
	}
	key := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
	n, err := base64.StdEncoding.Decode(key, line)
	if err != nil {
		clear(key)
		return nil, errors.New("the second line is not standard base64")
	}
	if n != keyLen {
		clear(key)
		return nil, fmt.Errorf("the key is %d bytes, want %d", n, keyLen)
	}
	return key[:n], nil
}

func createKeyFile(path string) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("seal: creating key directory: %w", err)
	}
	key := make([]byte, keyLen)
	defer clear(key)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return fmt.Errorf("seal: generating key: %w", err)
	}
	content := make([]byte, 0, len(keyFileHeader)+base64.StdEncoding.EncodedLen(keyLen)+2)
	defer clear(content)
	content = append(content, keyFileHeader+"\n"...)
	content = base64.StdEncoding.AppendEncode(content, key)
	content = append(content, '\n')

	// O_EXCL: an existing key file is never replaced, whoever created it.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("seal: creating key file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("seal: writing key file %s: %w", path, cerr)
		}
		if err != nil {
			os.Remove(path) // a half-written key file would only be refused later
		}
	}()
	if _, err := f.Write(content); err != nil {
		return fmt.Errorf("seal: writing key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("seal: writing key file %s: %w", path, err)
	}
	// Losing the key file loses every sealed byte: make its directory entry durable.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// newFileKEK builds a FileKEK from key; the caller clears key afterwards.
func newFileKEK(key []byte) (*FileKEK, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("seal: key-encryption key: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(kekIDLabel))
	sum := mac.Sum(nil)
	return &FileKEK{id: "file:" + hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// ID is "file:" and 16 hex digits derived from the key (an HMAC, not the key).
func (k *FileKEK) ID() string { return k.id }

// Wrap returns 0x01 | nonce (12) | AES-256-GCM(key) with ad as associated data.
func (k *FileKEK) Wrap(_ context.Context, key, ad []byte) ([]byte, error) {
	out := make([]byte, 1+nonceLen, 1+nonceLen+len(key)+tagLen)
	out[0] = wrapFormatV1
	if _, err := io.ReadFull(rand.Reader, out[1:]); err != nil {
		return nil, fmt.Errorf("seal: wrapping key: nonce: %w", err)
	}
	return k.aead.Seal(out, out[1:], key, ad), nil
}

// Unwrap reverses Wrap; any mismatch (other KEK, other ad, edited bytes) is
// ErrDecrypt.
func (k *FileKEK) Unwrap(_ context.Context, wrapped, ad []byte) ([]byte, error) {
	if len(wrapped) < 1+nonceLen+tagLen || wrapped[0] != wrapFormatV1 {
		return nil, fmt.Errorf("seal: unwrapping key with %s: malformed wrapped key: %w", k.id, ErrDecrypt)
	}
	key, err := k.aead.Open(nil, wrapped[1:1+nonceLen], wrapped[1+nonceLen:], ad)
	if err != nil {
		return nil, fmt.Errorf("seal: unwrapping key with %s: %w", k.id, ErrDecrypt)
	}
	return key, nil
}
