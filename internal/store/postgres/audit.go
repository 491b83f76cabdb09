package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/costwarden/costwarden/internal/store"
)

// The audit trail (issue 7): the same contract and semantics as the SQLite
// store. Appends of several replicas are serialised by a transaction-scoped
// advisory lock per tenant.

const auditCols = "tenant, seq, at, action, outcome, actor_id, actor_index, hash, sealed"

func scanAudit(row pgx.Row) (store.AuditRecord, error) {
	var r store.AuditRecord
	var seq, at int64
	if err := row.Scan(&r.Tenant, &seq, &at, &r.Action, &r.Outcome, &r.ActorID, &r.ActorIndex, &r.Hash, &r.Sealed); err != nil {
		return store.AuditRecord{}, err
	}
	r.Seq, r.Time = uint64(seq), fromNanos(&at)
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

// auditLock is the advisory lock class of audit appends ("CWAU").
const auditLock = 0x43574155

// AppendAudit stores r if its Seq follows the tenant's highest one.
func (s *Store) AppendAudit(ctx context.Context, r store.AuditRecord) error {
	if err := checkAuditRecord(r); err != nil {
		return fmt.Errorf("store: appending audit record: %w", err)
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", int32(auditLock), r.Tenant); err != nil {
			return mapErr(err)
		}
		var head int64
		if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(seq), 0) FROM audit WHERE tenant = $1", r.Tenant).Scan(&head); err != nil {
			return mapErr(err)
		}
		if uint64(head)+1 != r.Seq {
			return fmt.Errorf("%w: the audit trail's head is %d, not %d", store.ErrConflict, head, r.Seq-1)
		}
		_, err := tx.Exec(ctx, "INSERT INTO audit ("+auditCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
			r.Tenant, int64(r.Seq), r.Time.UnixNano(), r.Action, r.Outcome, r.ActorID, blobArg(r.ActorIndex), r.Hash, r.Sealed)
		return mapErr(err)
	})
	if err != nil {
		return fmt.Errorf("store: appending audit record %d: %w", r.Seq, err)
	}
	return nil
}

// AuditHead returns the tenant's newest record.
func (s *Store) AuditHead(ctx context.Context, tenant string) (store.AuditRecord, error) {
	r, err := scanAudit(s.pool.QueryRow(ctx, "SELECT "+auditCols+" FROM audit WHERE tenant = $1 ORDER BY seq DESC LIMIT 1", tenant))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.AuditRecord{}, fmt.Errorf("store: audit head of %q: %w", tenant, store.ErrNotFound)
	}
	if err != nil {
		return store.AuditRecord{}, fmt.Errorf("store: audit head of %q: %w", tenant, mapErr(err))
	}
	return r, nil
}

func clampSeq(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// ScanAudit calls fn for each record matching f.
func (s *Store) ScanAudit(ctx context.Context, f store.AuditFilter, fn func(store.AuditRecord) error) error {
	args := []any{f.Tenant}
	where := []string{"tenant = $1"}
	add := func(cond string, v ...any) {
		for _, x := range v {
			args = append(args, x)
			cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(args)), 1)
		}
		where = append(where, cond)
	}
	if f.AfterSeq > 0 {
		add("seq > ?", clampSeq(f.AfterSeq))
	}
	if f.BeforeSeq > 0 {
		add("seq < ?", clampSeq(f.BeforeSeq))
	}
	if !f.Since.IsZero() {
		add("at >= ?", bound(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", bound(f.Until))
	}
	switch {
	case f.ActorID != "" && len(f.ActorIndex) > 0:
		add("(actor_id = ? OR actor_index = ?)", f.ActorID, f.ActorIndex)
	case f.ActorID != "":
		add("actor_id = ?", f.ActorID)
	case len(f.ActorIndex) > 0:
		add("actor_index = ?", f.ActorIndex)
	}
	if f.ActionPrefix != "" {
		add("left(action, ?) = ?", len(f.ActionPrefix), f.ActionPrefix)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	q := "SELECT " + auditCols + " FROM audit WHERE " + strings.Join(where, " AND ") + " ORDER BY seq"
	if f.Descending {
		q += " DESC"
	}
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return queryEach(ctx, s.pool, "scanning audit records", scanAudit, fn, q, args...)
}

var errProbe = errors.New("probe")

// ProbeAudit inserts a probe record and rolls it back.
func (s *Store) ProbeAudit(ctx context.Context, tenant string) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO audit ("+auditCols+") VALUES ($1, $2, 0, 'probe', 'probe', '', '\\x'::bytea, '\\x00'::bytea, '\\x00'::bytea)", tenant, int64(math.MaxInt64))
		if err != nil {
			return mapErr(err)
		}
		return errProbe
	})
	if errors.Is(err, errProbe) {
		return nil
	}
	return fmt.Errorf("store: the audit trail cannot be written: %w", err)
}

const checkpointCols = "tenant, seq, hash, at, key_id, signature"

func scanCheckpoint(row pgx.Row) (store.AuditCheckpoint, error) {
	var c store.AuditCheckpoint
	var seq, at int64
	if err := row.Scan(&c.Tenant, &seq, &c.Hash, &at, &c.KeyID, &c.Signature); err != nil {
		return store.AuditCheckpoint{}, err
	}
	c.Seq, c.Time = uint64(seq), fromNanos(&at)
	return c, nil
}

// InsertAuditCheckpoint stores c.
func (s *Store) InsertAuditCheckpoint(ctx context.Context, c store.AuditCheckpoint) error {
	if c.Tenant == "" || c.Seq == 0 || c.Seq > math.MaxInt64 || c.Time.IsZero() || !storable(c.Time) || len(c.Hash) == 0 || len(c.Signature) == 0 {
		return errors.New("store: inserting audit checkpoint: tenant, seq, time, hash and signature are required")
	}
	_, err := s.pool.Exec(ctx, "INSERT INTO audit_checkpoints ("+checkpointCols+") VALUES ($1, $2, $3, $4, $5, $6)",
		c.Tenant, int64(c.Seq), c.Hash, c.Time.UnixNano(), c.KeyID, c.Signature)
	if err != nil {
		return fmt.Errorf("store: inserting audit checkpoint %d: %w", c.Seq, mapErr(err))
	}
	return nil
}

// ListAuditCheckpoints lists the tenant's checkpoints by Seq.
func (s *Store) ListAuditCheckpoints(ctx context.Context, tenant string) ([]store.AuditCheckpoint, error) {
	return queryAll(ctx, s.pool, "listing audit checkpoints", scanCheckpoint, "SELECT "+checkpointCols+" FROM audit_checkpoints WHERE tenant = $1 ORDER BY seq", tenant)
}

// scanSealedAudit pages through a tenant's audit records by sequence number.
func (s *Store) scanSealedAudit(ctx context.Context, tenant, cursor string, limit int) ([]store.SealedRow, string, error) {
	after, err := store.ParseAuditCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	out, err := queryAll(ctx, s.pool, "scanning sealed audit", func(sc pgx.Row) (store.SealedRow, error) {
		var seq int64
		r := store.SealedRow{Table: store.TableAudit, Tenant: tenant}
		err := sc.Scan(&seq, &r.Blob)
		r.ID = strconv.FormatInt(seq, 10)
		return r, err
	}, "SELECT seq, sealed FROM audit WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3", tenant, after, limit)
	if err != nil || len(out) == 0 {
		return nil, "", err
	}
	return out, out[len(out)-1].ID, nil
}

var _ store.Audit = (*Store)(nil)
