package seal

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// OpenSecretFile reads a key-encryption key from a file mounted from a
// Kubernetes Secret (or any file an orchestrator places). It never creates the
// file: a missing Secret is an error, never a reason to make a new key. The file
// holds either the key file format of OpenKeyFile (so a key file moves into a
// Secret unchanged: kubectl create secret generic costwarden-kek
// --from-file=kek=costwarden.key) or the 32-byte key itself, raw or in standard
// base64. The KEK id depends on the key only, so moving a key between a file
// and a Secret needs no rewrap.
//
// Kubernetes mounts Secrets through symbolic links and, unless defaultMode says
// otherwise, with mode 0644: a link is followed; a file others can write is
// refused; a file others can read is accepted and reported in warning, which the
// caller logs (set defaultMode: 0400 on the volume).
func OpenSecretFile(path string) (kek *FileKEK, warning string, err error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("seal: secret key file %s does not exist (is the Secret mounted?): %w", path, fs.ErrNotExist)
		}
		return nil, "", fmt.Errorf("seal: opening secret key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("seal: secret key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, "", fmt.Errorf("seal: secret key file %s is not a regular file (mode %s)", path, fi.Mode())
	}
	perm := fi.Mode().Perm()
	if perm&0o022 != 0 {
		return nil, "", fmt.Errorf("seal: secret key file %s is writable by others (mode %04o); anyone who can replace it controls the key", path, perm)
	}
	// 0440 owned by root is how a Secret reaches a non-root pod through fsGroup:
	// only the pod's group reads it, so there is nothing to warn about.
	if perm&0o044 != 0 && !(perm&0o004 == 0 && ownedByRoot(fi)) {
		warning = fmt.Sprintf("the secret key file %s is readable by group or others (mode %04o); set defaultMode: 0400 on the Secret volume", path, perm)
	}
	content, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, "", fmt.Errorf("seal: reading secret key file %s: %w", path, err)
	}
	defer clear(content)
	key, err := parseSecret(content)
	if err != nil {
		return nil, "", fmt.Errorf("seal: secret key file %s is malformed: %w", path, err)
	}
	defer clear(key)
	kek, err = newFileKEK(key)
	return kek, warning, err
}

// parseSecret accepts the key file format, 32 raw bytes, or 32 bytes in standard
// base64 (with optional surrounding whitespace). Errors describe the shape only.
func parseSecret(content []byte) ([]byte, error) {
	if bytes.HasPrefix(content, []byte(keyFileHeader)) {
		return parseKeyFile(content)
	}
	if len(content) == keyLen {
		return bytes.Clone(content), nil
	}
	line := bytes.TrimSpace(content)
	key := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
	n, err := base64.StdEncoding.Decode(key, line)
	if err != nil || n != keyLen {
		clear(key)
		return nil, fmt.Errorf("want the costwarden key file format, %d raw bytes, or %d bytes in standard base64 (got %d bytes)", keyLen, keyLen, len(content))
	}
	return key[:n], nil
}

// ownedByRoot reports whether the file belongs to uid 0.
func ownedByRoot(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0
}
