package backup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// Record bodies are sequences of fields: strings and byte slices as uint32
// length + bytes, integers as big-endian uint64, booleans as one byte, times as
// one byte (0 = zero time) followed by int64 Unix nanoseconds when set.

type enc struct{ b []byte }

func (e *enc) bytes(v []byte) {
	e.b = binary.BigEndian.AppendUint32(e.b, uint32(len(v)))
	e.b = append(e.b, v...)
}
func (e *enc) str(v string) { e.bytes([]byte(v)) }
func (e *enc) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *enc) boolean(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}
func (e *enc) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.u64(uint64(t.UnixNano()))
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) fail() {
	if d.err == nil {
		d.err = errors.New("record too short")
	}
}
func (d *dec) bytes() []byte {
	if d.err != nil || len(d.b) < 4 {
		d.fail()
		return nil
	}
	n := binary.BigEndian.Uint32(d.b)
	if uint64(len(d.b)-4) < uint64(n) {
		d.fail()
		return nil
	}
	v := append([]byte{}, d.b[4:4+n]...)
	d.b = d.b[4+n:]
	return v
}
func (d *dec) str() string { return string(d.bytes()) }
func (d *dec) u64() uint64 {
	if d.err != nil || len(d.b) < 8 {
		d.fail()
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}
func (d *dec) byte1() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail()
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}
func (d *dec) boolean() bool {
	switch d.byte1() {
	case 0:
		return false
	case 1:
		return true
	}
	if d.err == nil {
		d.err = errors.New("bad boolean")
	}
	return false
}
func (d *dec) time() time.Time {
	switch d.byte1() {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, int64(d.u64())).UTC()
	}
	if d.err == nil {
		d.err = errors.New("bad time")
	}
	return time.Time{}
}

func encodeRow(r store.Row) (byte, []byte, error) {
	var e enc
	switch {
	case r.Meta != nil:
		e.str(r.Meta.Key)
		e.bytes(r.Meta.Value)
		return tagMeta, e.b, nil
	case r.Key != nil:
		k := r.Key
		e.str(k.Tenant)
		e.u64(uint64(k.Version))
		e.str(k.KEKID)
		e.bytes(k.Wrapped)
		e.time(k.CreatedAt)
		e.str(k.State)
		e.u64(k.Uses)
		return tagKey, e.b, nil
	case r.Cluster != nil:
		c := r.Cluster
		e.str(c.Tenant)
		e.str(c.ID)
		e.bytes(c.NameIndex)
		e.bytes(c.Sealed)
		e.time(c.CreatedAt)
		return tagCluster, e.b, nil
	case r.Principal != nil:
		p := r.Principal
		e.str(p.Tenant)
		e.str(p.ID)
		e.str(p.Kind)
		e.bytes(p.NameIndex)
		e.str(p.State)
		e.str(p.Role)
		e.bytes(p.Sealed)
		e.time(p.CreatedAt)
		e.time(p.UpdatedAt)
		e.u64(uint64(p.Version))
		e.bytes(p.EmailIndex)
		e.bytes(p.SubjectIndex)
		e.time(p.LastSeenAt)
		return tagPrincipal2, e.b, nil
	case r.Session != nil:
		x := r.Session
		e.str(x.ID)
		e.str(x.Tenant)
		e.str(x.PrincipalID)
		e.bytes(x.Hash)
		e.str(x.Stage)
		e.bytes(x.Sealed)
		e.time(x.CreatedAt)
		e.time(x.LastSeenAt)
		e.time(x.ExpiresAt)
		e.time(x.RevokedAt)
		return tagSession, e.b, nil
	case r.AccessRequest != nil:
		a := r.AccessRequest
		e.str(a.Tenant)
		e.str(a.ID)
		e.str(a.PrincipalID)
		e.str(a.Role)
		e.bytes(a.Sealed)
		e.str(a.State)
		e.time(a.CreatedAt)
		e.time(a.DecidedAt)
		e.str(a.DecidedBy)
		return tagAccessRequest, e.b, nil
	case r.Token != nil:
		t := r.Token
		e.str(t.ID)
		e.str(t.Tenant)
		e.str(t.PrincipalID)
		e.bytes(t.Hash)
		e.bytes(t.Sealed)
		e.str(t.Role)
		e.time(t.CreatedAt)
		e.time(t.ExpiresAt)
		e.time(t.RevokedAt)
		e.time(t.LastUsedAt)
		return tagToken, e.b, nil
	case r.Audit != nil:
		a := r.Audit
		e.str(a.Tenant)
		e.u64(a.Seq)
		e.time(a.Time)
		e.str(a.Action)
		e.str(a.Outcome)
		e.str(a.ActorID)
		e.bytes(a.ActorIndex)
		e.bytes(a.Hash)
		e.bytes(a.Sealed)
		return tagAudit, e.b, nil
	case r.AuditCheckpoint != nil:
		c := r.AuditCheckpoint
		e.str(c.Tenant)
		e.u64(c.Seq)
		e.bytes(c.Hash)
		e.time(c.Time)
		e.str(c.KeyID)
		e.bytes(c.Signature)
		return tagAuditCheckpoint, e.b, nil
	case r.Window != nil:
		w := r.Window
		e.str(w.Tenant)
		e.str(w.ClusterID)
		e.u64(uint64(w.Resolution))
		e.time(w.Start)
		e.time(w.End)
		e.boolean(w.Partial)
		e.bytes(w.Blob)
		e.time(w.UpdatedAt)
		return tagWindow, e.b, nil
	case r.Agent != nil:
		a := r.Agent
		e.str(a.Tenant)
		e.str(a.ID)
		e.str(a.ClusterID)
		e.str(a.State)
		e.u64(uint64(a.Generation))
		e.bytes(a.TokenHash)
		e.time(a.TokenExpiresAt)
		e.time(a.TokenUsedAt)
		e.str(a.CertSerial)
		e.time(a.CertNotAfter)
		e.time(a.CreatedAt)
		e.time(a.RevokedAt)
		e.time(a.LastSeenAt)
		e.u64(uint64(a.ClockSkew))
		return tagAgent, e.b, nil
	case r.Tenant != nil:
		t := r.Tenant
		e.str(t.ID)
		e.str(t.State)
		e.time(t.CreatedAt)
		e.u64(uint64(len(t.Hosts)))
		for _, h := range t.Hosts {
			e.str(h)
		}
		return tagTenant, e.b, nil
	}
	return 0, nil, errors.New("backup: empty row")
}

func decodeRow(tag byte, body []byte) (store.Row, error) {
	d := &dec{b: body}
	var r store.Row
	switch tag {
	case tagMeta:
		r.Meta = &store.MetaRow{Key: d.str(), Value: d.bytes()}
	case tagKey:
		k := store.WrappedKey{Tenant: d.str()}
		v := d.u64()
		if v > math.MaxUint32 {
			d.err = errors.New("key version out of range")
		}
		k.Version = uint32(v)
		k.KEKID, k.Wrapped, k.CreatedAt, k.State, k.Uses = d.str(), d.bytes(), d.time(), d.str(), d.u64()
		r.Key = &k
	case tagCluster:
		r.Cluster = &store.Cluster{Tenant: d.str(), ID: d.str(), NameIndex: d.bytes(), Sealed: d.bytes(), CreatedAt: d.time()}
	case tagPrincipal, tagPrincipal2:
		p := store.Principal{Tenant: d.str(), ID: d.str(), Kind: d.str(), NameIndex: d.bytes(), State: d.str(), Role: d.str(), Sealed: d.bytes()}
		p.CreatedAt, p.UpdatedAt, p.Version = d.time(), d.time(), int64(d.u64())
		if tag == tagPrincipal2 {
			p.EmailIndex, p.SubjectIndex, p.LastSeenAt = d.bytes(), d.bytes(), d.time()
			if len(p.EmailIndex) == 0 {
				p.EmailIndex = nil
			}
			if len(p.SubjectIndex) == 0 {
				p.SubjectIndex = nil
			}
		}
		r.Principal = &p
	case tagSession:
		x := store.Session{ID: d.str(), Tenant: d.str(), PrincipalID: d.str(), Hash: d.bytes(), Stage: d.str(), Sealed: d.bytes()}
		x.CreatedAt, x.LastSeenAt, x.ExpiresAt, x.RevokedAt = d.time(), d.time(), d.time(), d.time()
		r.Session = &x
	case tagAccessRequest:
		a := store.AccessRequest{Tenant: d.str(), ID: d.str(), PrincipalID: d.str(), Role: d.str(), Sealed: d.bytes(), State: d.str()}
		a.CreatedAt, a.DecidedAt, a.DecidedBy = d.time(), d.time(), d.str()
		r.AccessRequest = &a
	case tagToken:
		t := store.Token{ID: d.str(), Tenant: d.str(), PrincipalID: d.str(), Hash: d.bytes(), Sealed: d.bytes(), Role: d.str()}
		t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.LastUsedAt = d.time(), d.time(), d.time(), d.time()
		r.Token = &t
	case tagAudit:
		a := store.AuditRecord{Tenant: d.str(), Seq: d.u64(), Time: d.time()}
		a.Action, a.Outcome, a.ActorID, a.ActorIndex, a.Hash, a.Sealed = d.str(), d.str(), d.str(), d.bytes(), d.bytes(), d.bytes()
		r.Audit = &a
	case tagAuditCheckpoint:
		c := store.AuditCheckpoint{Tenant: d.str(), Seq: d.u64(), Hash: d.bytes(), Time: d.time()}
		c.KeyID, c.Signature = d.str(), d.bytes()
		r.AuditCheckpoint = &c
	case tagWindow:
		w := store.Window{}
		w.Tenant, w.ClusterID = d.str(), d.str()
		res := d.u64()
		if res > math.MaxUint8 {
			d.err = errors.New("resolution out of range")
		}
		w.Resolution = uint8(res)
		w.Start, w.End, w.Partial, w.Blob, w.UpdatedAt = d.time(), d.time(), d.boolean(), d.bytes(), d.time()
		r.Window = &w
	case tagAgent:
		a := store.Agent{Tenant: d.str(), ID: d.str(), ClusterID: d.str(), State: d.str(), Generation: int64(d.u64()), TokenHash: d.bytes()}
		if len(a.TokenHash) == 0 {
			a.TokenHash = nil
		}
		a.TokenExpiresAt, a.TokenUsedAt, a.CertSerial, a.CertNotAfter = d.time(), d.time(), d.str(), d.time()
		a.CreatedAt, a.RevokedAt, a.LastSeenAt, a.ClockSkew = d.time(), d.time(), d.time(), time.Duration(d.u64())
		r.Agent = &a
	case tagTenant:
		t := store.TenantRecord{ID: d.str(), State: d.str(), CreatedAt: d.time()}
		n := d.u64()
		if n > 1024 {
			d.err = errors.New("too many host names")
			n = 0
		}
		for i := uint64(0); i < n && d.err == nil; i++ {
			t.Hosts = append(t.Hosts, d.str())
		}
		r.Tenant = &t
	default:
		return store.Row{}, fmt.Errorf("backup: unknown record type %d: %w", tag, ErrDamaged)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("trailing bytes")
	}
	if d.err != nil {
		return store.Row{}, fmt.Errorf("backup: record type %d: %v: %w", tag, d.err, ErrDamaged)
	}
	return r, nil
}
