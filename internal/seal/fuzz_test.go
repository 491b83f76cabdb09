package seal

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to Open: it must return ErrDecrypt (or, for the
// one valid blob, its plaintext), never panic.
func FuzzOpen(f *testing.F) {
	fx := newFixture(f, Options{})
	valid := mustSeal(f, fx.ring, adWindow, secret)
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:headerLen])
	f.Add([]byte{})
	f.Add([]byte("CWS"))
	f.Add([]byte("CWS\x01\x00\x00\x00\x00"))
	f.Add([]byte("CWS\x01\xff\xff\xff\xff" + string(make([]byte, 40))))
	f.Add(bytes.Repeat([]byte{0xff}, 100))
	f.Fuzz(func(t *testing.T, blob []byte) {
		got, err := fx.ring.Open(ctx, adWindow, blob)
		if err == nil {
			if !bytes.Equal(blob, valid) || !bytes.Equal(got, secret) {
				t.Fatalf("Open accepted a forged blob of %d bytes", len(blob))
			}
			return
		}
		if !errors.Is(err, ErrDecrypt) {
			t.Fatalf("Open = %v, want ErrDecrypt", err)
		}
	})
}
