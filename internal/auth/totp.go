package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" // #nosec G505 -- RFC 6238 TOTP as authenticator apps implement it is HMAC-SHA1 (HMAC-SHA1 is not affected by SHA-1 collisions)
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

// TOTP parameters (RFC 6238): HMAC-SHA-1, 6 digits, 30-second steps, accepted one
// step either side of now. SHA-1 and 6 digits are what every authenticator app
// supports; HMAC-SHA-1 is not weakened by SHA-1's collision attacks.
const (
	totpDigits = 6
	totpPeriod = 30
	totpSkew   = 1
	// totpSecretLen is 160 bits, the length RFC 4226 recommends.
	totpSecretLen = 20
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a random 160-bit secret.
func NewTOTPSecret() ([]byte, error) {
	s := make([]byte, totpSecretLen)
	if _, err := rand.Read(s); err != nil {
		return nil, fmt.Errorf("totp secret: %w", err)
	}
	return s, nil
}

// HOTP is RFC 4226's HMAC-based one-time password for counter.
func HOTP(secret []byte, counter uint64, digits int) string {
	mac := hmac.New(sha1.New, secret)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	mac.Write(c[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	code := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, code%mod)
}

// TOTPStep is the RFC 6238 time step holding t.
func TOTPStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// TOTP is the code for time t.
func TOTP(secret []byte, t time.Time) string {
	return HOTP(secret, uint64(TOTPStep(t)), totpDigits)
}

// verifyTOTP looks for code within ±totpSkew steps of now, among steps after
// lastStep (each code, and every earlier one, is usable once: RFC 6238 5.2). It
// returns the matching step.
func verifyTOTP(secret []byte, code string, now time.Time, lastStep int64) (int64, bool) {
	code = normaliseCode(code)
	if len(code) != totpDigits {
		return 0, false
	}
	cur := TOTPStep(now)
	found, step := 0, int64(0)
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		// Every candidate is compared, in constant time, whatever matched before.
		match := subtle.ConstantTimeCompare([]byte(HOTP(secret, uint64(s), totpDigits)), []byte(code))
		if match == 1 && s > lastStep && found == 0 {
			found, step = 1, s
		}
	}
	return step, found == 1
}

// normaliseCode removes the spaces and dashes people type inside codes.
func normaliseCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(code))
}

// TOTPURI is the otpauth:// URI authenticator apps read (Google Authenticator's
// Key Uri Format).
func TOTPURI(issuer, account string, secret []byte) string {
	label := url.PathEscape(issuer) + ":" + url.PathEscape(account)
	q := url.Values{}
	q.Set("secret", b32.EncodeToString(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(totpDigits))
	q.Set("period", fmt.Sprint(totpPeriod))
	return "otpauth://totp/" + label + "?" + q.Encode()
}

// QRCodePNG renders s as a QR code PNG (medium error correction).
func QRCodePNG(s string) ([]byte, error) {
	png, err := qrcode.Encode(s, qrcode.Medium, 256)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return png, nil
}

// QRCodeDataURI renders s as a data: URI of a PNG QR code, for an <img> (the CSP
// allows data: images, and the page needs no script).
func QRCodeDataURI(s string) (string, error) {
	png, err := QRCodePNG(s)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}

// Recovery codes: ten one-time codes of 80 random bits each, shown once and kept
// only as SHA-256 hashes (inside the principal's sealed record).
const (
	recoveryCodes   = 10
	recoveryCodeLen = 16 // base32 characters
)

var recoveryAlphabet = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

func newRecoveryCodes() (codes []string, hashes []string, err error) {
	for range recoveryCodes {
		raw := make([]byte, 10)
		if _, err := rand.Read(raw); err != nil {
			return nil, nil, fmt.Errorf("recovery code: %w", err)
		}
		c := recoveryAlphabet.EncodeToString(raw)[:recoveryCodeLen]
		codes = append(codes, c[0:4]+"-"+c[4:8]+"-"+c[8:12]+"-"+c[12:16])
		hashes = append(hashes, recoveryHash(c))
	}
	return codes, hashes, nil
}

func recoveryHash(normalised string) string {
	h := sha256.Sum256([]byte("costwarden/recovery/v1|" + normalised))
	return base64.RawStdEncoding.EncodeToString(h[:])
}

// matchRecovery returns the index of the hash code matches, or -1.
func matchRecovery(hashes []string, code string) int {
	c := strings.ToLower(normaliseCode(code))
	if len(c) != recoveryCodeLen {
		return -1
	}
	h := recoveryHash(c)
	idx := -1
	for i, x := range hashes {
		if subtle.ConstantTimeCompare([]byte(x), []byte(h)) == 1 {
			idx = i
		}
	}
	return idx
}
