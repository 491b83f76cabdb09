// Package bundle moves cost windows between costwarden sites that share no
// network (an air-gapped cluster's site and a central one): export-bundle
// writes windows to a file sealed to the receiving site's public key, someone
// carries the file over, and import-bundle opens it with that site's private
// key and stores each window sealed under the receiving site's own data keys.
//
// Format: the line "costwarden-bundle v1", a length-prefixed JSON header (no
// customer data: counts, times, the sender's ephemeral X25519 key and the
// recipient's key id), then length-prefixed records, each AES-256-GCM under a
// key agreed by X25519 and HKDF-SHA256, with the header's hash and the record's
// position as associated data, and a final sealed end record with the count.
// An edited, truncated, reordered or foreign file is refused before anything
// is stored. The file is useless without the recipient's private key.
//
// It must not store anything itself: callers verify, then import.
package bundle

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/costwarden/costwarden/internal/codec"
	"github.com/costwarden/costwarden/internal/cost"
)

// Magic is the first line of every bundle.
const Magic = "costwarden-bundle v1\n"

// ErrDamaged: the bundle is truncated, edited, reordered or not for this key.
var ErrDamaged = errors.New("bundle is damaged or not sealed to this site")

// Header describes a bundle; it holds no customer data.
type Header struct {
	Created   time.Time `json:"created"`
	Program   string    `json:"program"`
	Since     time.Time `json:"since"`
	Until     time.Time `json:"until"`
	Ephemeral string    `json:"ephemeral"` // sender's X25519 public key, hex
	Recipient string    `json:"recipient"` // KeyID of the recipient key
}

// KeyID names a recipient public key.
func KeyID(pub *ecdh.PublicKey) string {
	s := sha256.Sum256(pub.Bytes())
	return "x25519:" + hex.EncodeToString(s[:8])
}

// ParsePublicKey reads a recipient key as printed by import-bundle.
func ParsePublicKey(s string) (*ecdh.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bundle: recipient key: not hex")
	}
	pub, err := ecdh.X25519().NewPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("bundle: recipient key: %w", err)
	}
	return pub, nil
}

func aead(shared, eph, recipient []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, shared, append(append([]byte{}, eph...), recipient...), "costwarden-bundle v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func recordAD(headerHash []byte, i uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{}, headerHash...), i)
}

func nonce(i uint64) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[4:], i)
	return n
}

// Writer writes a bundle.
type Writer struct {
	w     *bufio.Writer
	gcm   cipher.AEAD
	hh    []byte
	n     uint64
	codec *codec.Codec
}

// NewWriter writes the header; sets follow with Add, then Close.
func NewWriter(w io.Writer, to *ecdh.PublicKey, h Header) (*Writer, error) {
	eph, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	shared, err := eph.ECDH(to)
	if err != nil {
		return nil, err
	}
	gcm, err := aead(shared, eph.PublicKey().Bytes(), to.Bytes())
	if err != nil {
		return nil, err
	}
	h.Ephemeral, h.Recipient = hex.EncodeToString(eph.PublicKey().Bytes()), KeyID(to)
	hb, _ := json.Marshal(h)
	sum := sha256.Sum256(hb)
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(Magic)
	writeBlock(bw, hb)
	return &Writer{w: bw, gcm: gcm, hh: sum[:], codec: codec.New()}, nil
}

func writeBlock(w *bufio.Writer, b []byte) {
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(b)))
	w.Write(l[:])
	w.Write(b)
}

// Add seals one set into the bundle.
func (w *Writer) Add(s *cost.Set) error {
	plain := append([]byte{'s'}, w.codec.Encode(s)...)
	writeBlock(w.w, w.gcm.Seal(nil, nonce(w.n), plain, recordAD(w.hh, w.n)))
	w.n++
	return nil
}

// Close seals the end record and flushes; it returns how many sets were added.
func (w *Writer) Close() (uint64, error) {
	plain := binary.BigEndian.AppendUint64([]byte{'e'}, w.n)
	writeBlock(w.w, w.gcm.Seal(nil, nonce(w.n), plain, recordAD(w.hh, w.n)))
	return w.n, w.w.Flush()
}

// maxRecord bounds one record (a large daily window is a few MB).
const maxRecord = 256 << 20

// Read opens a bundle with the recipient's private key and calls fn with each
// set in order. fn is not called for anything after a damaged record, but sets
// before it were passed: verify with a first pass (fn nil) before importing.
func Read(r io.Reader, priv *ecdh.PrivateKey, fn func(*cost.Set) error) (Header, uint64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != Magic {
		return Header{}, 0, fmt.Errorf("%w: not a costwarden bundle", ErrDamaged)
	}
	hb, err := readBlock(br, 1<<16)
	if err != nil {
		return Header{}, 0, err
	}
	var h Header
	if err := json.Unmarshal(hb, &h); err != nil {
		return h, 0, fmt.Errorf("%w: header: %v", ErrDamaged, err)
	}
	if h.Recipient != KeyID(priv.PublicKey()) {
		return h, 0, fmt.Errorf("%w: it is sealed to %s, this site's key is %s", ErrDamaged, h.Recipient, KeyID(priv.PublicKey()))
	}
	ephB, err := hex.DecodeString(h.Ephemeral)
	if err != nil {
		return h, 0, fmt.Errorf("%w: header", ErrDamaged)
	}
	eph, err := ecdh.X25519().NewPublicKey(ephB)
	if err != nil {
		return h, 0, fmt.Errorf("%w: header", ErrDamaged)
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		return h, 0, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	gcm, err := aead(shared, ephB, priv.PublicKey().Bytes())
	if err != nil {
		return h, 0, err
	}
	sum := sha256.Sum256(hb)
	c := codec.New()
	for i := uint64(0); ; i++ {
		blk, err := readBlock(br, maxRecord)
		if err != nil {
			return h, i, err
		}
		plain, err := gcm.Open(nil, nonce(i), blk, recordAD(sum[:], i))
		if err != nil || len(plain) == 0 {
			return h, i, fmt.Errorf("%w: record %d does not open", ErrDamaged, i)
		}
		switch plain[0] {
		case 'e':
			if len(plain) != 9 || binary.BigEndian.Uint64(plain[1:]) != i {
				return h, i, fmt.Errorf("%w: end record", ErrDamaged)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				return h, i, fmt.Errorf("%w: data after the end record", ErrDamaged)
			}
			return h, i, nil
		case 's':
			set, err := c.Decode(plain[1:])
			if err != nil {
				return h, i, fmt.Errorf("%w: record %d: %v", ErrDamaged, i, err)
			}
			if fn != nil {
				if err := fn(set); err != nil {
					return h, i, err
				}
			}
		default:
			return h, i, fmt.Errorf("%w: record %d", ErrDamaged, i)
		}
	}
}

func readBlock(r io.Reader, limit int) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, fmt.Errorf("%w: truncated", ErrDamaged)
	}
	n := binary.BigEndian.Uint32(l[:])
	if int(n) > limit {
		return nil, fmt.Errorf("%w: record too large", ErrDamaged)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: truncated", ErrDamaged)
	}
	return b, nil
}
