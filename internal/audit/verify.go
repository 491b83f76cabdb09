package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/costwarden/costwarden/internal/store"
)

// Problem is one thing Verify found wrong, at a record's sequence number.
type Problem struct {
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

// Report is the result of Verify.
type Report struct {
	OK          bool      `json:"ok"`
	Records     int       `json:"records"`
	Checkpoints int       `json:"checkpoints"`
	FirstBad    *Problem  `json:"firstBad"`
	Problems    []Problem `json:"problems,omitempty"`
	Head        uint64    `json:"head"`
	KeyID       string    `json:"keyId,omitempty"`
}

// maxProblems bounds the problems a report lists (the first one is what
// matters: everything after an edit may be reported as broken).
const maxProblems = 100

// Verify checks the whole trail: every record opens with its own position as
// associated data (a byte edited or a record moved fails), its stored columns
// equal its sealed content, its sequence number follows the previous one (a
// deletion leaves a gap), it names the previous record's hash (an insertion or
// a reordering breaks the chain), its hash is what its content gives, and every
// checkpoint is signed by the install's key (or pinned, when given) and
// matches the record it names (records deleted after a checkpoint are found).
func (a *Auditor) Verify(ctx context.Context, pinned ed25519.PublicKey) (Report, error) {
	rep := Report{}
	add := func(seq uint64, format string, args ...any) {
		if len(rep.Problems) < maxProblems {
			rep.Problems = append(rep.Problems, Problem{Seq: seq, Reason: fmt.Sprintf(format, args...)})
		}
	}
	hashes := map[uint64][]byte{}
	expected := uint64(1)
	prev := ""
	err := a.st.ScanAudit(ctx, store.AuditFilter{Tenant: a.tenant}, func(r store.AuditRecord) error {
		rep.Records++
		rep.Head = r.Seq
		hashes[r.Seq] = r.Hash
		if r.Seq != expected {
			if expected == r.Seq-1 {
				add(expected, "record %d is missing (deleted)", expected)
			} else {
				add(expected, "records %d to %d are missing (deleted)", expected, r.Seq-1)
			}
			prev = "" // the chain cannot be followed across the gap
		}
		defer func() { expected = r.Seq + 1 }()
		plain, err := a.sealer.Open(ctx, recordAD(a.tenant, r.Seq), r.Sealed)
		if err != nil {
			add(r.Seq, "record %d does not decrypt at its position: its bytes were edited, or it was moved from another position", r.Seq)
			prev = hex.EncodeToString(r.Hash)
			return nil
		}
		var rec Record
		if err := json.Unmarshal(plain, &rec); err != nil {
			add(r.Seq, "record %d is not a valid record: %v", r.Seq, err)
			prev = hex.EncodeToString(r.Hash)
			return nil
		}
		h := chainHash(a.tenant, plain)
		switch {
		case rec.Seq != r.Seq:
			add(r.Seq, "record %d holds sequence number %d: records were reordered", r.Seq, rec.Seq)
		case r.Seq == expected && rec.Prev != prev && (r.Seq == 1 || prev != ""):
			add(r.Seq, "record %d does not follow record %d: a record was inserted or reordered, or the previous one edited", r.Seq, r.Seq-1)
		case !bytes.Equal(h, r.Hash):
			add(r.Seq, "record %d: its stored hash is not the hash of its content (edited)", r.Seq)
		case !rec.Time.Equal(r.Time) || string(rec.Action) != r.Action || string(rec.Outcome) != r.Outcome || rec.Actor.ID != r.ActorID ||
			rec.ActorIndex != hex.EncodeToString(r.ActorIndex):
			add(r.Seq, "record %d: a stored column (time, action, outcome or actor) differs from the sealed record (edited)", r.Seq)
		}
		prev = hex.EncodeToString(h)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("audit: reading the trail: %w", err)
	}
	cps, err := a.st.ListAuditCheckpoints(ctx, a.tenant)
	if err != nil {
		return rep, fmt.Errorf("audit: reading checkpoints: %w", err)
	}
	rep.Checkpoints = len(cps)
	pub := pinned
	if pub == nil && len(cps) > 0 {
		if pub, err = a.PublicKey(ctx); err != nil {
			return rep, err
		}
	}
	if pub != nil {
		rep.KeyID = KeyID(pub)
	}
	for _, c := range cps {
		switch {
		case c.KeyID != KeyID(pub) || !ed25519.Verify(pub, checkpointMessage(a.tenant, c.Seq, c.Hash, c.Time), c.Signature):
			add(c.Seq, "the checkpoint at record %d is not signed by %s (forged or edited)", c.Seq, KeyID(pub))
		case c.Seq > rep.Head:
			add(rep.Head+1, "records %d to %d are missing (deleted): a signed checkpoint names record %d", rep.Head+1, c.Seq, c.Seq)
		case hashes[c.Seq] == nil:
			add(c.Seq, "record %d, named by a signed checkpoint, is missing (deleted)", c.Seq)
		case !bytes.Equal(hashes[c.Seq], c.Hash):
			add(c.Seq, "record %d differs from the signed checkpoint: the trail up to it was rewritten", c.Seq)
		}
	}
	slices.SortStableFunc(rep.Problems, func(x, y Problem) int {
		switch {
		case x.Seq < y.Seq:
			return -1
		case x.Seq > y.Seq:
			return 1
		}
		return 0
	})
	if len(rep.Problems) > 0 {
		rep.FirstBad = &rep.Problems[0]
	}
	rep.OK = len(rep.Problems) == 0
	return rep, nil
}

// ErrBadCursor: a List cursor that List did not hand out.
var ErrBadCursor = errors.New("not a cursor of this list")
