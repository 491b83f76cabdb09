package seal

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// BlobVersion returns the data-key version named in a sealed blob's header, or
// an error wrapping ErrDecrypt when blob is not a version 1 sealed blob.
func BlobVersion(blob []byte) (uint32, error) {
	if len(blob) < blobOverhead || string(blob[:len(magic)]) != magic || blob[len(magic)] != formatV1 {
		return 0, fmt.Errorf("seal: not a sealed blob: %w", ErrDecrypt)
	}
	return binary.BigEndian.Uint32(blob[len(magic)+1 : headerLen]), nil
}

// ActiveVersion returns the version that seals the tenant's new blobs, creating
// the tenant's first key if it has none.
func (k *Keyring) ActiveVersion(ctx context.Context, tenant string) (uint32, error) {
	if tenant == "" {
		return 0, errors.New("seal: active version: empty tenant")
	}
	ts := k.tenant(tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := k.loadLocked(ctx, tenant, ts); err != nil {
		return 0, fmt.Errorf("seal: active version of tenant %q: %w", tenant, err)
	}
	if ts.active == nil {
		if err := k.createActiveLocked(ctx, tenant, ts); err != nil {
			return 0, fmt.Errorf("seal: active version of tenant %q: %w", tenant, err)
		}
	}
	return ts.active.rec.Version, nil
}

// Reseal re-encrypts blob under the tenant's active data key when it was sealed
// with a version below minVersion; otherwise it returns blob unchanged and
// false. The plaintext never leaves this call.
func (k *Keyring) Reseal(ctx context.Context, ad AD, blob []byte, minVersion uint32) ([]byte, bool, error) {
	v, err := BlobVersion(blob)
	if err != nil {
		return nil, false, fmt.Errorf("seal: resealing %s/%s: %w", ad.Tenant, ad.Kind, err)
	}
	if v >= minVersion {
		return blob, false, nil
	}
	plain, err := k.Open(ctx, ad, blob)
	if err != nil {
		return nil, false, err
	}
	defer clear(plain)
	out, err := k.Seal(ctx, ad, plain)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// RotateIfOlder rotates the tenant's data key when its active version is at
// least maxAge old (scheduled rotation), and reports the active version and
// whether it rotated. A tenant without keys is left alone.
func (k *Keyring) RotateIfOlder(ctx context.Context, tenant string, maxAge time.Duration) (uint32, bool, error) {
	ts := k.tenant(tenant)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if err := k.loadLocked(ctx, tenant, ts); err != nil {
		return 0, false, fmt.Errorf("seal: scheduled rotation of tenant %q: %w", tenant, err)
	}
	if ts.active == nil || k.now().Sub(ts.active.rec.CreatedAt) < maxAge {
		var v uint32
		if ts.active != nil {
			v = ts.active.rec.Version
		}
		return v, false, nil
	}
	v, err := k.rotateLocked(ctx, tenant, ts)
	if err != nil {
		return 0, false, fmt.Errorf("seal: scheduled rotation of tenant %q: %w", tenant, err)
	}
	return v, true, nil
}

// RewrapStats counts what Rewrap did.
type RewrapStats struct {
	Rewrapped int // keys now wrapped by the new KEK
	Already   int // keys that were already wrapped by it
	Destroyed int // destroyed versions, skipped
}

// Rewrap re-wraps every stored key version of the given tenants from the KEK
// from to the KEK to, without touching any sealed blob. Each key is unwrapped
// with from, wrapped with to, checked to unwrap again, and replaced only if its
// stored record is unchanged (compare-and-swap). Keys already wrapped by to are
// skipped, so an interrupted rewrap is resumed by running it again. progress, if
// set, is called after each key.
func Rewrap(ctx context.Context, keys KeyStore, from, to KEK, tenants []string, progress func(tenant string, version uint32)) (RewrapStats, error) {
	var st RewrapStats
	if from.ID() == to.ID() {
		return st, fmt.Errorf("seal: rewrap: the new key-encryption key is the current one (%s)", to.ID())
	}
	for _, tenant := range tenants {
		recs, err := keys.ListKeys(ctx, tenant)
		if err != nil {
			return st, fmt.Errorf("seal: rewrap: listing keys of tenant %q: %w", tenant, err)
		}
		for _, rec := range recs {
			switch {
			case rec.State == StateDestroyed:
				st.Destroyed++
				continue
			case rec.KEKID == to.ID():
				st.Already++
				continue
			case rec.KEKID != from.ID():
				return st, fmt.Errorf("seal: rewrap: tenant %q key version %d is wrapped by %s, neither the current (%s) nor the new (%s) key-encryption key: %w", tenant, rec.Version, rec.KEKID, from.ID(), to.ID(), ErrWrongKEK)
			}
			if err := rewrapOne(ctx, keys, from, to, rec); err != nil {
				return st, fmt.Errorf("seal: rewrap: tenant %q key version %d: %w", tenant, rec.Version, err)
			}
			st.Rewrapped++
			if progress != nil {
				progress(tenant, rec.Version)
			}
		}
	}
	return st, nil
}

func rewrapOne(ctx context.Context, keys KeyStore, from, to KEK, rec store.WrappedKey) error {
	ad := wrapAD(rec.Tenant, rec.Version)
	key, err := from.Unwrap(ctx, rec.Wrapped, ad)
	if err != nil {
		return fmt.Errorf("unwrapping with %s: %w", from.ID(), err)
	}
	defer clear(key)
	wrapped, err := to.Wrap(ctx, key, ad)
	if err != nil {
		return fmt.Errorf("wrapping with %s: %w", to.ID(), err)
	}
	// Never store what the new KEK cannot open.
	check, err := to.Unwrap(ctx, wrapped, ad)
	if err != nil {
		return fmt.Errorf("the new key-encryption key %s cannot unwrap what it wrapped: %w", to.ID(), err)
	}
	same := subtle.ConstantTimeCompare(check, key) == 1
	clear(check)
	if !same {
		return fmt.Errorf("the new key-encryption key %s returned another key than it wrapped", to.ID())
	}
	return keys.RewrapKey(ctx, rec.Tenant, rec.Version, rec.Wrapped, to.ID(), wrapped)
}
