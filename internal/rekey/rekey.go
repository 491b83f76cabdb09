// Package rekey is the background re-encryption job: after a data key rotates,
// it moves every sealed blob of a tenant still sealed with an older version to
// the active one, so old versions stop protecting live data (and a leaked old
// data key exposes nothing current).
//
// It walks the store's sealed tables in pages, re-seals each old blob (open
// with its version, seal with the active one; the plaintext never leaves
// internal/seal) and swaps it in with a compare-and-swap, so a row rewritten
// meanwhile by ingestion keeps the newer value. Progress — target version,
// table, cursor, counts — is saved in the store's meta area after every page:
// a killed job resumes where it stopped, and rows it had already moved are
// skipped because their version is current. Several replicas may run it at
// once: every step is idempotent.
//
// It owns the mapping from a stored row to the associated data its owner
// sealed it with (sets for windows and clusters, auth for principals and
// tokens); a test proves the mapping against those packages.
package rekey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store"
)

// Store is what the job needs from the store.
type Store interface {
	store.Sealed
	store.Meta
	ListTenants(ctx context.Context) ([]string, error)
}

// Sealer is what the job needs from the keyring.
type Sealer interface {
	ActiveVersion(ctx context.Context, tenant string) (uint32, error)
	Reseal(ctx context.Context, ad seal.AD, blob []byte, minVersion uint32) ([]byte, bool, error)
}

// ADFor returns the associated data the row's blob was sealed with.
func ADFor(r store.SealedRow) (seal.AD, error) {
	switch r.Table {
	case store.TableWindows:
		k := r.Window
		k.Tenant = r.Tenant
		return sets.WindowAD(k), nil
	case store.TableClusters:
		return sets.ClusterAD(r.Tenant, r.ID), nil
	case store.TablePrincipals:
		return seal.AD{Tenant: r.Tenant, Kind: "principal", ID: r.ID}, nil // internal/auth
	case store.TableTokens:
		return seal.AD{Tenant: r.Tenant, Kind: "token", ID: r.ID}, nil // internal/auth
	case store.TableSessions:
		return seal.AD{Tenant: r.Tenant, Kind: "session", ID: r.ID}, nil // internal/auth
	case store.TableAccessRequests:
		return seal.AD{Tenant: r.Tenant, Kind: "access-request", ID: r.ID}, nil // internal/auth
	case store.TableAudit:
		return seal.AD{Tenant: r.Tenant, Kind: "audit", ID: r.ID}, nil // internal/audit: ID is the sequence number
	}
	return seal.AD{}, fmt.Errorf("rekey: no associated-data rule for table %q", r.Table)
}

// State is the saved progress of one tenant's re-encryption.
type State struct {
	Target    uint32    `json:"target"` // blobs below this version are moved
	Table     string    `json:"table"`  // table in progress ("" when done)
	Cursor    string    `json:"cursor"` // last row done in Table
	Scanned   int       `json:"scanned"`
	Resealed  int       `json:"resealed"`
	Conflicts int       `json:"conflicts"` // rows rewritten meanwhile by someone else
	Done      bool      `json:"done"`
	Started   time.Time `json:"started"`
	Updated   time.Time `json:"updated"`
}

// metaKey is where a tenant's State is saved.
func metaKey(tenant string) string { return "rekey/" + tenant }

// LoadState returns the saved state of tenant (zero State if none).
func LoadState(ctx context.Context, st store.Meta, tenant string) (State, error) {
	b, err := st.GetMeta(ctx, metaKey(tenant))
	if errors.Is(err, store.ErrNotFound) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("rekey: loading progress of tenant %q: %w", tenant, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return State{}, fmt.Errorf("rekey: progress of tenant %q is unreadable: %w", tenant, err)
	}
	return s, nil
}

// Job re-encrypts.
type Job struct {
	st     Store
	sealer Sealer
	now    func() time.Time
	log    *slog.Logger
	// Batch is how many rows one page holds; default 200.
	Batch int
}

// New returns a job.
func New(st Store, sealer Sealer, now func() time.Time, log *slog.Logger) *Job {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Job{st: st, sealer: sealer, now: now, log: log, Batch: 200}
}

// RunAll runs Run for every tenant.
func (j *Job) RunAll(ctx context.Context, progress func(tenant string, s State)) error {
	tenants, err := j.st.ListTenants(ctx)
	if err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	var errs []error
	for _, t := range tenants {
		if _, err := j.Run(ctx, t, func(s State) {
			if progress != nil {
				progress(t, s)
			}
		}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run moves every blob of tenant sealed below the active version to the active
// version, resuming saved progress, and returns the final state. progress, if
// set, is called after every page.
func (j *Job) Run(ctx context.Context, tenant string, progress func(State)) (State, error) {
	target, err := j.sealer.ActiveVersion(ctx, tenant)
	if err != nil {
		return State{}, fmt.Errorf("rekey: tenant %q: %w", tenant, err)
	}
	s, err := LoadState(ctx, j.st, tenant)
	if err != nil {
		return State{}, err
	}
	if s.Target == target && s.Done {
		return s, nil
	}
	if s.Target != target {
		// First run, or a rotation since: start over for the new target.
		s = State{Target: target, Started: j.now().UTC()}
	}
	tables := store.SealedTables()
	if s.Table == "" {
		s.Table, s.Cursor = tables[0], ""
	}
	i := slices.Index(tables, s.Table)
	if i < 0 {
		s.Table, s.Cursor, i = tables[0], "", 0
	}
	j.log.Info("re-encryption running", "tenant", tenant, "target", target, "table", s.Table, "resumed", s.Scanned > 0)
	for ; i < len(tables); i++ {
		if s.Table != tables[i] {
			s.Table, s.Cursor = tables[i], ""
		}
		for {
			if err := ctx.Err(); err != nil {
				return s, err
			}
			rows, next, err := j.st.ScanSealed(ctx, s.Table, tenant, s.Cursor, j.Batch)
			if err != nil {
				return s, fmt.Errorf("rekey: tenant %q: %w", tenant, err)
			}
			for _, r := range rows {
				if err := j.one(ctx, r, &s); err != nil {
					return s, err
				}
			}
			if next == "" {
				break
			}
			s.Cursor = next
			if err := j.save(ctx, tenant, &s); err != nil {
				return s, err
			}
			if progress != nil {
				progress(s)
			}
		}
	}
	s.Table, s.Cursor, s.Done = "", "", true
	if err := j.save(ctx, tenant, &s); err != nil {
		return s, err
	}
	if progress != nil {
		progress(s)
	}
	j.log.Info("re-encryption done", "tenant", tenant, "target", target, "scanned", s.Scanned, "resealed", s.Resealed, "conflicts", s.Conflicts)
	return s, nil
}

func (j *Job) one(ctx context.Context, r store.SealedRow, s *State) error {
	s.Scanned++
	if len(r.Blob) == 0 {
		return nil
	}
	ad, err := ADFor(r)
	if err != nil {
		return err
	}
	blob, changed, err := j.sealer.Reseal(ctx, ad, r.Blob, s.Target)
	if err != nil {
		return fmt.Errorf("rekey: %s row %s of tenant %q: %w", r.Table, rowName(r), r.Tenant, err)
	}
	if !changed {
		return nil
	}
	ok, err := j.st.ReplaceSealed(ctx, r, blob)
	if err != nil {
		return fmt.Errorf("rekey: %w", err)
	}
	if ok {
		s.Resealed++
	} else {
		s.Conflicts++
	}
	return nil
}

func rowName(r store.SealedRow) string {
	if r.Table == store.TableWindows {
		return fmt.Sprintf("%s/%d/%s", r.Window.ClusterID, r.Window.Resolution, r.Window.Start.Format(time.RFC3339))
	}
	return r.ID
}

func (j *Job) save(ctx context.Context, tenant string, s *State) error {
	s.Updated = j.now().UTC()
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := j.st.PutMeta(ctx, metaKey(tenant), b); err != nil {
		return fmt.Errorf("rekey: saving progress of tenant %q: %w", tenant, err)
	}
	return nil
}
