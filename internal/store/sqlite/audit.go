package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/costwarden/costwarden/internal/store"
)

// The audit trail (issue 7): append-only records with gapless sequence numbers
// per tenant, and signed checkpoints.

const auditCols = "tenant, seq, at, action, outcome, actor_id, actor_index, hash, sealed"

func scanAudit(sc rowScanner) (store.AuditRecord, error) {
	var r store.AuditRecord
	var seq, at int64
	if err := sc.Scan(&r.Tenant, &seq, &at, &r.Action, &r.Outcome, &r.ActorID, &r.ActorIndex, &r.Hash, &r.Sealed); err != nil {
		return store.AuditRecord{}, err
	}
	r.Seq, r.Time = uint64(seq), fromNanos(sql.NullInt64{Int64: at, Valid: true})
	return r, nil
}

func checkAuditRecord(r store.AuditRecord) error {
	switch {
	case r.Tenant == "":
		return errors.New("tenant is required")
	case r.Seq == 0 || r.Seq > math.MaxInt64-1:
		return fmt.Errorf("sequence number %d out of range", r.Seq)
	case r.Time.IsZero() || !storable(r.Time):
		return errors.New("time is required (years 1678 to 2262)")
	case r.Action == "" || r.Outcome == "" || len(r.Hash) == 0 || len(r.Sealed) == 0:
		return errors.New("action, outcome, hash and sealed record are required")
	}
	return nil
}

// AppendAudit stores r if its Seq follows the tenant's highest one.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) error {
	if err := checkAuditRecord(r); err != nil {
		return fmt.Errorf("store: appending audit record: %w", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var head int64
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE tenant = ?", r.Tenant).Scan(&head); err != nil {
			return classify(err)
		}
		if uint64(head)+1 != r.Seq {
			return fmt.Errorf("%w: the audit trail's head is %d, not %d", store.ErrConflict, head, r.Seq-1)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO audit ("+auditCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			r.Tenant, int64(r.Seq), r.Time.UnixNano(), r.Action, r.Outcome, r.ActorID, blobArg(r.ActorIndex), r.Hash, r.Sealed)
		return conflictOr(err)
	})
	if err != nil {
		return fmt.Errorf("store: appending audit record %d: %w", r.Seq, err)
	}
	return nil
}

// AuditHead returns the tenant's newest record.
func (s *Store) AuditHead(ctx context.Context, tenant string) (store.AuditRecord, error) {
	r, err := scanAudit(s.r.QueryRowContext(ctx, "SELECT "+auditCols+" FROM audit WHERE tenant = ? ORDER BY seq DESC LIMIT 1", tenant))
	if errors.Is(err, sql.ErrNoRows) {
		return store.AuditRecord{}, fmt.Errorf("store: audit head of %q: %w", tenant, store.ErrNotFound)
	}
	if err != nil {
		return store.AuditRecord{}, fmt.Errorf("store: audit head of %q: %w", tenant, classify(err))
	}
	return r, nil
}

// ScanAudit calls fn for each record matching f.
func (s *Store) ScanAudit(ctx context.Context, f store.AuditFilter, fn func(store.AuditRecord) error) error {
	where := []string{"tenant = ?"}
	args := []any{f.Tenant}
	if f.AfterSeq > 0 {
		where, args = append(where, "seq > ?"), append(args, clampSeq(f.AfterSeq))
	}
	if f.BeforeSeq > 0 {
		where, args = append(where, "seq < ?"), append(args, clampSeq(f.BeforeSeq))
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, bound(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, bound(f.Until))
	}
	switch {
	case f.ActorID != "" && len(f.ActorIndex) > 0:
		where, args = append(where, "(actor_id = ? OR actor_index = ?)"), append(args, f.ActorID, f.ActorIndex)
	case f.ActorID != "":
		where, args = append(where, "actor_id = ?"), append(args, f.ActorID)
	case len(f.ActorIndex) > 0:
		where, args = append(where, "actor_index = ?"), append(args, f.ActorIndex)
	}
	if f.ActionPrefix != "" {
		where, args = append(where, "substr(action, 1, ?) = ?"), append(args, len(f.ActionPrefix), f.ActionPrefix)
	}
	if f.Outcome != "" {
		where, args = append(where, "outcome = ?"), append(args, f.Outcome)
	}
	q := "SELECT " + auditCols + " FROM audit WHERE " + strings.Join(where, " AND ") + " ORDER BY seq"
	if f.Descending {
		q += " DESC"
	}
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return queryEach(ctx, s.r, "scanning audit records", scanAudit, fn, q, args...)
}

func clampSeq(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// errProbe rolls the probe transaction back.
var errProbe = errors.New("probe")

// ProbeAudit inserts a probe record and rolls it back.
func (s *Store) ProbeAudit(ctx context.Context, tenant string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO audit ("+auditCols+") VALUES (?, ?, 0, 'probe', 'probe', '', x'', x'00', x'00')", tenant, int64(math.MaxInt64))
		if err != nil {
			return classify(err)
		}
		return errProbe
	})
	if errors.Is(err, errProbe) {
		return nil
	}
	return fmt.Errorf("store: the audit trail cannot be written: %w", err)
}

const checkpointCols = "tenant, seq, hash, at, key_id, signature"

func scanCheckpoint(sc rowScanner) (store.AuditCheckpoint, error) {
	var c store.AuditCheckpoint
	var seq, at int64
	if err := sc.Scan(&c.Tenant, &seq, &c.Hash, &at, &c.KeyID, &c.Signature); err != nil {
		return store.AuditCheckpoint{}, err
	}
	c.Seq, c.Time = uint64(seq), fromNanos(sql.NullInt64{Int64: at, Valid: true})
	return c, nil
}

// InsertAuditCheckpoint stores c.
func (s *Store) InsertAuditCheckpoint(ctx context.Context, c store.AuditCheckpoint) error {
	db, err := s.writer()
	if err != nil {
		return err
	}
	if c.Tenant == "" || c.Seq == 0 || c.Seq > math.MaxInt64 || c.Time.IsZero() || !storable(c.Time) || len(c.Hash) == 0 || len(c.Signature) == 0 {
		return errors.New("store: inserting audit checkpoint: tenant, seq, time, hash and signature are required")
	}
	_, err = db.ExecContext(ctx, "INSERT INTO audit_checkpoints ("+checkpointCols+") VALUES (?, ?, ?, ?, ?, ?)",
		c.Tenant, int64(c.Seq), c.Hash, c.Time.UnixNano(), c.KeyID, c.Signature)
	if err != nil {
		return fmt.Errorf("store: inserting audit checkpoint %d: %w", c.Seq, conflictOr(err))
	}
	return nil
}

// ListAuditCheckpoints lists the tenant's checkpoints by Seq.
func (s *Store) ListAuditCheckpoints(ctx context.Context, tenant string) ([]store.AuditCheckpoint, error) {
	return queryAll(ctx, s.r, "listing audit checkpoints", scanCheckpoint, "SELECT "+checkpointCols+" FROM audit_checkpoints WHERE tenant = ? ORDER BY seq", tenant)
}

var _ store.Audit = (*Store)(nil)
