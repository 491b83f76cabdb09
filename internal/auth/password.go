package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id's cost parameters (SECURITY_MODEL.md "Password and
// token storage": m = 19456 KiB, t = 2, p = 1, 16-byte salt, 32-byte key).
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2 is the parameter set new hashes use.
var DefaultArgon2 = Argon2Params{Memory: 19456, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32

	// MinPasswordLen and MaxPasswordLen bound a password, counted in characters
	// (Unicode code points); no composition rules apply (NIST SP 800-63B).
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

// HashPassword returns the PHC string of password under params:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key> (unpadded standard base64).
func HashPassword(password string, params Argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, params.Time, params.Memory, params.Threads, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, params.Memory, params.Time, params.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

type phc struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

func parsePHC(s string) (phc, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return phc{}, errors.New("not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return phc{}, errors.New("unsupported argon2 version")
	}
	var p phc
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.params.Memory, &p.params.Time, &p.params.Threads); err != nil {
		return phc{}, errors.New("bad argon2 parameters")
	}
	if p.params.Memory < 8 || p.params.Memory > 4<<20 || p.params.Time < 1 || p.params.Time > 100 || p.params.Threads < 1 {
		return phc{}, errors.New("argon2 parameters out of range")
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return phc{}, errors.New("bad salt")
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 {
		return phc{}, errors.New("bad key")
	}
	return p, nil
}

// VerifyPassword checks password against a PHC string in constant time with
// respect to the key. It reports whether it matched and whether the hash should
// be recomputed because its parameters are below want.
func VerifyPassword(password, encoded string, want Argon2Params) (ok, rehash bool, err error) {
	p, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	key := argon2.IDKey([]byte(password), p.salt, p.params.Time, p.params.Memory, p.params.Threads, uint32(len(p.key)))
	ok = subtle.ConstantTimeCompare(key, p.key) == 1
	rehash = p.params.Memory < want.Memory || p.params.Time < want.Time || p.params.Threads < want.Threads || len(p.key) < keyLen || len(p.salt) < saltLen
	return ok, rehash, nil
}

// commonPasswords is the bundled list of common and breached passwords (see the
// header of common-passwords.txt for its source), lower-cased.
//
//go:embed common-passwords.txt
var commonPasswordsFile string

var commonOnce = sync.OnceValue(func() map[string]struct{} {
	m := map[string]struct{}{}
	sc := bufio.NewScanner(strings.NewReader(commonPasswordsFile))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m[strings.ToLower(line)] = struct{}{}
	}
	return m
})

// IsCommonPassword reports whether password (ignoring case) is on the bundled list.
func IsCommonPassword(password string) bool {
	_, ok := commonOnce()[strings.ToLower(password)]
	return ok
}

// CheckPassword applies the password policy: 12 to 256 characters of valid
// UTF-8 without control characters, not on the common-password list, not the
// username, not one repeated character. The password is used exactly as given:
// no trimming, no case folding, no Unicode normalisation.
func CheckPassword(password, username string) error {
	if !utf8.ValidString(password) {
		return fmt.Errorf("%w: password: not valid UTF-8", ErrInvalid)
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLen || n > MaxPasswordLen {
		return fmt.Errorf("%w: password: must be %d to %d characters, got %d", ErrInvalid, MinPasswordLen, MaxPasswordLen, n)
	}
	for _, r := range password {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: password: must not contain control characters", ErrInvalid)
		}
	}
	lower := strings.ToLower(password)
	if username != "" && strings.Contains(lower, strings.ToLower(username)) && utf8.RuneCountInString(username) >= 4 {
		return fmt.Errorf("%w: password: must not contain the username", ErrInvalid)
	}
	first, _ := utf8.DecodeRuneInString(password)
	if strings.Count(password, string(first)) == n {
		return fmt.Errorf("%w: password: must not be one character repeated", ErrInvalid)
	}
	if IsCommonPassword(password) || strings.Contains(lower, "costwarden") {
		return fmt.Errorf("%w: password: is on the list of common or breached passwords; choose another", ErrInvalid)
	}
	return nil
}
