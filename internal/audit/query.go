package audit

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/costwarden/costwarden/internal/store"
)

func (a *Auditor) filter(ctx context.Context, f Filter) (store.AuditFilter, error) {
	sf := store.AuditFilter{Tenant: a.tenant, Since: f.Since, Until: f.Until, ActionPrefix: f.ActionPrefix, Outcome: string(f.Outcome)}
	if f.Actor != "" {
		idx, err := a.actorIndex(ctx, f.Actor)
		if err != nil {
			return sf, err
		}
		sf.ActorID, sf.ActorIndex = f.Actor, idx
	}
	return sf, nil
}

func (a *Auditor) open(ctx context.Context, r store.AuditRecord) (Record, error) {
	plain, err := a.sealer.Open(ctx, recordAD(a.tenant, r.Seq), r.Sealed)
	if err != nil {
		return Record{}, fmt.Errorf("audit: record %d does not open (run audit verify): %w", r.Seq, err)
	}
	var rec Record
	if err := json.Unmarshal(plain, &rec); err != nil {
		return Record{}, fmt.Errorf("audit: record %d: %w", r.Seq, err)
	}
	if rec.Details == nil {
		rec.Details = map[string]string{}
	}
	return rec, nil
}

// List returns one page of records matching f, newest first, and the cursor of
// the next (older) page ("" when there is none).
func (a *Auditor) List(ctx context.Context, f Filter) ([]Record, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	sf, err := a.filter(ctx, f)
	if err != nil {
		return nil, "", err
	}
	if f.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		if err != nil || len(b) < 2 || b[0] != 'b' {
			return nil, "", ErrBadCursor
		}
		seq, err := strconv.ParseUint(string(b[1:]), 10, 64)
		if err != nil || seq == 0 {
			return nil, "", ErrBadCursor
		}
		sf.BeforeSeq = seq
	}
	sf.Descending, sf.Limit = true, limit+1
	out := []Record{}
	more := false
	err = a.st.ScanAudit(ctx, sf, func(r store.AuditRecord) error {
		if len(out) == limit {
			more = true
			return nil
		}
		rec, err := a.open(ctx, r)
		if err != nil {
			return err
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		next = base64.RawURLEncoding.EncodeToString([]byte("b" + strconv.FormatUint(out[len(out)-1].Seq, 10)))
	}
	return out, next, nil
}

// Export writes the records matching f (oldest first) as JSON lines, each with
// its hash, followed by the checkpoints that cover them, and returns how many
// records it wrote.
func (a *Auditor) Export(ctx context.Context, f Filter, w io.Writer) (int, error) {
	sf, err := a.filter(ctx, f)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(w)
	n := 0
	err = a.st.ScanAudit(ctx, sf, func(r store.AuditRecord) error {
		rec, err := a.open(ctx, r)
		if err != nil {
			return err
		}
		n++
		bw.Write(recordLine(rec, r.Hash))
		return bw.WriteByte('\n')
	})
	if err != nil {
		return n, err
	}
	cps, err := a.st.ListAuditCheckpoints(ctx, a.tenant)
	if err != nil {
		return n, err
	}
	if len(cps) > 0 {
		pub, err := a.PublicKey(ctx)
		if err != nil {
			return n, err
		}
		for _, c := range cps {
			if (!f.Since.IsZero() && c.Time.Before(f.Since)) || (!f.Until.IsZero() && !c.Time.Before(f.Until)) {
				continue
			}
			bw.Write(checkpointLine(c, pub))
			bw.WriteByte('\n')
		}
	}
	return n, bw.Flush()
}
