// Package seal is costwarden's envelope encryption: every customer-data value the
// store holds is a blob sealed here with AES-256-GCM under a per-tenant data key,
// and every data key is wrapped by a key-encryption key (KEK) from a key provider.
//
// A sealed blob is bound to where it belongs: its header (format and key version)
// and its AD (tenant, kind, identity) are GCM associated data, so a blob that is
// edited, truncated or moved to another row fails to open with ErrDecrypt. Data
// keys rotate by version (old versions keep decrypting), are rotated automatically
// long before the 2^32 random-nonce limit of GCM, and are destroyed per tenant
// (crypto-shredding). The format is documented in docs/format/sealed-blob.md.
//
// The package owns key material and must never log it, return it, or put it in an
// error message; error messages never include plaintext either. It does not own
// storage: wrapped keys live behind KeyStore (internal/store satisfies it).
package seal

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors callers test with errors.Is.
var (
	// ErrWrongKEK: the stored data keys were wrapped by another key-encryption key
	// than the configured one (usually: the wrong key file for this data directory).
	ErrWrongKEK = errors.New("wrong key-encryption key")
	// ErrDecrypt: authentication failed. The blob was tampered with, truncated,
	// is not a sealed blob, or belongs to another tenant, kind or identity.
	ErrDecrypt = errors.New("decryption failed")
	// ErrKeyDestroyed: the data key that sealed the blob has been destroyed.
	ErrKeyDestroyed = errors.New("data key destroyed")
)

// Blob format v1 (docs/format/sealed-blob.md):
//
//	"CWS" | 0x01 | key version (uint32, big-endian) | nonce (12) | ciphertext | tag (16)
const (
	magic        = "CWS"
	formatV1     = 0x01
	headerLen    = len(magic) + 1 + 4
	nonceLen     = 12
	tagLen       = 16
	blobOverhead = headerLen + nonceLen + tagLen
	keyLen       = 32 // AES-256

	adDomain    = "costwarden/seal/v1"
	dekDomain   = "costwarden/dek/v1"
	indexDomain = "costwarden/index/v1"
)

// Key states stored in store.WrappedKey.State.
const (
	StateActive    = "active"    // encrypts new data
	StateDecrypt   = "decrypt"   // decrypts only
	StateDestroyed = "destroyed" // gone; its data cannot be opened
	StateIndex     = "index"     // the blind-index key (version 0)
)

// indexVersion is the key version reserved for a tenant's blind-index key; data
// keys start at 1, so a blob naming version 0 is never opened.
const indexVersion = 0

// AD binds a blob to where it belongs. Its canonical encoding is the GCM associated
// data, together with the blob header: opening a blob with any other Tenant, Kind
// or ID fails with ErrDecrypt.
type AD struct {
	Tenant string // the tenant whose data key seals the blob
	Kind   string // what the blob is ("window", "cluster", "principal", ...)
	ID     string // which one (the row's identity); may be empty for singletons
}

func (ad AD) validate() error {
	if ad.Tenant == "" {
		return errors.New("seal: AD.Tenant is empty")
	}
	if ad.Kind == "" {
		return errors.New("seal: AD.Kind is empty")
	}
	return nil
}

// associatedData returns header || canonical(AD): the domain string and each field
// length-prefixed (uint32 big-endian), so no two distinct ADs encode alike.
func associatedData(header []byte, ad AD) []byte {
	n := len(header) + 4*4 + len(adDomain) + len(ad.Tenant) + len(ad.Kind) + len(ad.ID)
	b := make([]byte, 0, n)
	b = append(b, header...)
	return appendFields(b, adDomain, ad.Tenant, ad.Kind, ad.ID)
}

// appendFields appends each field as a uint32 big-endian length and its bytes.
func appendFields(b []byte, fields ...string) []byte {
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// wrapAD is the associated data under which a tenant's key version is wrapped by
// the KEK, so a wrapped key moved to another tenant or version does not unwrap.
// The version is the last field and holds no '|', so the encoding is unambiguous.
func wrapAD(tenant string, version uint32) []byte {
	return fmt.Appendf(nil, "%s|%s|%d", dekDomain, tenant, version)
}
