// Package backup writes and restores costwarden backups: a logical export of
// every stored row — sealed blobs, wrapped data keys, blind indexes, opaque
// ids — read from one consistent snapshot while the server keeps running. A
// backup holds no plaintext customer data and no usable key: without the
// key-encryption key it is useless. The same file restores into either store
// backend, which is also how an installation moves from SQLite to PostgreSQL.
//
// Format (docs/keys.md has the full description): the line "costwarden-backup
// v1", a length-prefixed JSON header, length-prefixed binary records, an end
// record with the row count, and the SHA-256 of everything before it. Restore
// reads the whole file and checks the checksum and every record before it
// writes anything; the target store takes all rows in one transaction or none.
package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// Magic is the first line of every backup file.
const Magic = "costwarden-backup v1\n"

// Errors callers test with errors.Is.
var (
	// ErrNotBackup: the file is not a costwarden backup (another file, or a
	// newer format).
	ErrNotBackup = errors.New("not a costwarden backup")
	// ErrDamaged: the file is truncated, edited or corrupt (the checksum or a
	// record does not match).
	ErrDamaged = errors.New("backup file is damaged")
)

// Header describes a backup. It holds no secret.
type Header struct {
	Created time.Time `json:"created"`
	Source  string    `json:"source"`  // backend the rows came from
	Schema  int       `json:"schema"`  // its schema version
	KEKIDs  []string  `json:"kekIDs"`  // key-encryption keys the data keys are wrapped by
	Tenants []string  `json:"tenants"` // tenants with keys
	Program string    `json:"program"` // costwarden version that wrote it
}

// Record tags.
const (
	tagMeta byte = iota + 1
	tagKey
	tagCluster
	tagPrincipal
	tagToken
	tagWindow
	// Added with identity and access (issue 5). Principals are written as
	// tagPrincipal2 (with the e-mail and subject indexes and last-seen time);
	// tagPrincipal records of older backups are still read.
	tagSession
	tagAccessRequest
	tagPrincipal2
	// Added with the audit trail (issue 7).
	tagAudit
	tagAuditCheckpoint
	tagEnd = 0xff
)

// Record tags added for many clusters (issue 9), numbered apart from the
// sequence above so that tags added next to it elsewhere never collide.
const (
	tagAgent  byte = 0x20
	tagTenant byte = 0x21
)

// maxRecord bounds one record (a large daily window is a few MB).
const maxRecord = 256 << 20

// Source is what Create reads.
type Source interface {
	store.Dumper
	SchemaVersion(ctx context.Context) (int, error)
}

// Stats counts rows.
type Stats struct {
	Rows    int
	Windows int
	Keys    int
	Bytes   int64
}

// Create writes a backup of src to w. Keys are gathered in one Dump pass; the
// header (written first) needs the KEK ids, so rows are buffered in a
// temporary writer only as far as the keys, which come second in a dump.
func Create(ctx context.Context, src Source, w io.Writer, source, program string, now time.Time, progress func(Stats)) (Header, Stats, error) {
	schema, err := src.SchemaVersion(ctx)
	if err != nil {
		return Header{}, Stats{}, fmt.Errorf("backup: %w", err)
	}
	h := Header{Created: now.UTC(), Source: source, Schema: schema, Program: program}
	sum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 1<<20)
	var st Stats
	// Rows before the first window (meta, keys, clusters, principals, tokens)
	// are held back until the header, which names the KEKs, is written.
	var held []store.Row
	headerDone := false
	writeHeader := func() error {
		kekSet, tenantSet := map[string]bool{}, map[string]bool{}
		for _, r := range held {
			if r.Key != nil {
				kekSet[r.Key.KEKID] = true
				tenantSet[r.Key.Tenant] = true
			}
		}
		for k := range kekSet {
			h.KEKIDs = append(h.KEKIDs, k)
		}
		for k := range tenantSet {
			h.Tenants = append(h.Tenants, k)
		}
		slices.Sort(h.KEKIDs)
		slices.Sort(h.Tenants)
		hj, err := json.Marshal(h)
		if err != nil {
			return err
		}
		bw.WriteString(Magic)
		bw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(hj))))
		bw.Write(hj)
		for _, r := range held {
			if err := writeRow(bw, r, &st); err != nil {
				return err
			}
		}
		held, headerDone = nil, true
		return nil
	}
	err = src.Dump(ctx, func(r store.Row) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !headerDone {
			if r.Window == nil {
				held = append(held, r)
				return nil
			}
			if err := writeHeader(); err != nil {
				return err
			}
		}
		if err := writeRow(bw, r, &st); err != nil {
			return err
		}
		if progress != nil && st.Rows%1000 == 0 {
			progress(st)
		}
		return nil
	})
	if err == nil && !headerDone {
		err = writeHeader()
	}
	if err != nil {
		return h, st, fmt.Errorf("backup: %w", err)
	}
	end := []byte{tagEnd}
	end = binary.BigEndian.AppendUint32(end, 8)
	end = binary.BigEndian.AppendUint64(end, uint64(st.Rows))
	bw.Write(end)
	if err := bw.Flush(); err != nil {
		return h, st, fmt.Errorf("backup: writing: %w", err)
	}
	if _, err := w.Write(sum.Sum(nil)); err != nil {
		return h, st, fmt.Errorf("backup: writing: %w", err)
	}
	if progress != nil {
		progress(st)
	}
	return h, st, nil
}

func writeRow(w *bufio.Writer, r store.Row, st *Stats) error {
	tag, body, err := encodeRow(r)
	if err != nil {
		return err
	}
	w.WriteByte(tag)
	w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(body))))
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("writing: %w", err)
	}
	st.Rows++
	st.Bytes += int64(len(body)) + 5
	switch tag {
	case tagWindow:
		st.Windows++
	case tagKey:
		st.Keys++
	}
	return nil
}

// Reader reads a backup file. Verify must succeed before Rows is used.
type Reader struct {
	r      io.ReadSeeker
	size   int64
	Header Header
	Rows   int // from the end record, after Verify
	body   int64
	end    int // row count of the end record, once read
}

// Open reads and checks the magic and header of a backup.
func Open(r io.ReadSeeker) (*Reader, error) {
	size, err := r.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	br := bufio.NewReader(r)
	magic := make([]byte, len(Magic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != Magic {
		if bytes.HasPrefix(magic, []byte("costwarden-backup ")) {
			return nil, fmt.Errorf("backup: the file is a costwarden backup of another format version (%q); use the costwarden release that wrote it: %w", bytes.TrimSpace(magic), ErrNotBackup)
		}
		return nil, fmt.Errorf("backup: the file does not start with %q: %w", Magic[:len(Magic)-1], ErrNotBackup)
	}
	hj, err := readBlock(br, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("backup: reading the header: %w: %w", ErrDamaged, err)
	}
	var h Header
	if err := json.Unmarshal(hj, &h); err != nil {
		return nil, fmt.Errorf("backup: the header is not valid: %w", ErrDamaged)
	}
	body := int64(len(Magic)) + 4 + int64(len(hj))
	if size < body+5+8+sha256.Size {
		return nil, fmt.Errorf("backup: the file ends after %d bytes, before its end record (truncated?): %w", size, ErrDamaged)
	}
	return &Reader{r: r, size: size, Header: h, body: body}, nil
}

func readBlock(r io.Reader, limit int) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	l := binary.BigEndian.Uint32(n[:])
	if int64(l) > int64(limit) {
		return nil, fmt.Errorf("block of %d bytes exceeds %d", l, limit)
	}
	b := make([]byte, l)
	_, err := io.ReadFull(r, b)
	return b, err
}

// Verify reads the whole file: the checksum over everything before it must
// match, and every record must decode, with the count in the end record. It
// writes nothing.
func (b *Reader) Verify(ctx context.Context) error {
	if _, err := b.r.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	sum := sha256.New()
	content := io.LimitReader(b.r, b.size-sha256.Size)
	if _, err := io.Copy(sum, content); err != nil {
		return fmt.Errorf("backup: reading: %w", err)
	}
	want := make([]byte, sha256.Size)
	if _, err := io.ReadFull(b.r, want); err != nil {
		return fmt.Errorf("backup: reading the checksum: %w: %w", ErrDamaged, err)
	}
	if subtle.ConstantTimeCompare(sum.Sum(nil), want) != 1 {
		return fmt.Errorf("backup: the SHA-256 checksum does not match (the file was truncated or changed): %w", ErrDamaged)
	}
	n, err := b.each(ctx, nil)
	if err != nil {
		return err
	}
	b.Rows = n
	return nil
}

// Next returns an iterator over the rows for store.Dumper.Load; call after
// Verify. It returns io.EOF after the last row.
func (b *Reader) Next() (func() (store.Row, error), error) {
	if _, err := b.r.Seek(b.body, io.SeekStart); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	br := bufio.NewReaderSize(io.LimitReader(b.r, b.size-sha256.Size-b.body), 1<<20)
	done := false
	return func() (store.Row, error) {
		if done {
			return store.Row{}, io.EOF
		}
		tag, body, err := readRecord(br)
		if err != nil {
			return store.Row{}, err
		}
		if tag == tagEnd {
			done = true
			b.end = int(binary.BigEndian.Uint64(body))
			return store.Row{}, io.EOF
		}
		return decodeRow(tag, body)
	}, nil
}

// each decodes every record, calling fn for each row, and checks the end
// record; it returns the row count.
func (b *Reader) each(ctx context.Context, fn func(store.Row) error) (int, error) {
	next, err := b.Next()
	if err != nil {
		return 0, err
	}
	n := 0
	for {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
		r, err := next()
		if errors.Is(err, io.EOF) {
			if b.end != n {
				return n, fmt.Errorf("backup: %d rows read, the end record says %d: %w", n, b.end, ErrDamaged)
			}
			break
		}
		if err != nil {
			return n, err
		}
		n++
		if fn != nil {
			if err := fn(r); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func readRecord(br *bufio.Reader) (byte, []byte, error) {
	tag, err := br.ReadByte()
	if err != nil {
		return 0, nil, fmt.Errorf("backup: the records end without an end record: %w", ErrDamaged)
	}
	body, err := readBlock(br, maxRecord)
	if err != nil {
		return 0, nil, fmt.Errorf("backup: record: %w: %w", ErrDamaged, err)
	}
	if tag == tagEnd {
		if len(body) != 8 {
			return 0, nil, fmt.Errorf("backup: malformed end record: %w", ErrDamaged)
		}
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
			return 0, nil, fmt.Errorf("backup: data after the end record: %w", ErrDamaged)
		}
	}
	return tag, body, nil
}

// Restore verifies the backup completely, then loads it into dst (which must be
// empty) in one transaction. Nothing is written unless the whole file checks.
func Restore(ctx context.Context, r io.ReadSeeker, dst store.Dumper) (Header, int, error) {
	b, err := Open(r)
	if err != nil {
		return Header{}, 0, err
	}
	if err := b.Verify(ctx); err != nil {
		return b.Header, 0, err
	}
	next, err := b.Next()
	if err != nil {
		return b.Header, 0, err
	}
	if err := dst.Load(ctx, next); err != nil {
		return b.Header, 0, fmt.Errorf("backup: restoring: %w", err)
	}
	return b.Header, b.Rows, nil
}
