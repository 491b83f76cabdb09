package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"fmt"
)

// SelfTest is a known-answer test of AES-256-GCM: it seals and opens a NIST CAVP
// vector (gcmEncryptExtIV256.rsp, [Keylen=256][IVlen=96][PTlen=128][AADlen=128]
// [Taglen=128] Count=0) and checks that a forged tag is refused. It returns an
// error if this build's cryptography is broken; callers refuse to start then.
func SelfTest() error {
	key := mustHex("92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b")
	iv := mustHex("ac93a1a6145299bde902f21a")
	pt := mustHex("2d71bcfa914e4ac045b2aa60955fad24")
	aad := mustHex("1e0889016f67601c8ebea4943bc23ad6")
	want := mustHex("8995ae2e6df3dbf96fac7b7137bae67f" + "eca5aa77d51d4a0a14d9c51e1da474ab") // CT || Tag

	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("seal: self-test: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("seal: self-test: %w", err)
	}
	got := aead.Seal(nil, iv, pt, aad)
	if !bytes.Equal(got, want) {
		return errors.New("seal: self-test: AES-256-GCM encryption does not match the NIST vector")
	}
	opened, err := aead.Open(nil, iv, got, aad)
	if err != nil || !bytes.Equal(opened, pt) {
		return errors.New("seal: self-test: AES-256-GCM decryption does not match the NIST vector")
	}
	got[len(got)-1] ^= 0x01
	if _, err := aead.Open(nil, iv, got, aad); err == nil {
		return errors.New("seal: self-test: AES-256-GCM accepted a forged tag")
	}
	return nil
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("seal: bad hex constant") // constants above; unreachable
	}
	return b
}
