package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/store"
)

// Sealer is what the audit trail needs from internal/seal.
type Sealer interface {
	Seal(ctx context.Context, ad seal.AD, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, ad seal.AD, blob []byte) ([]byte, error)
	BlindIndex(ctx context.Context, tenant, kind, value string) ([]byte, error)
}

// Store is what the audit trail needs from internal/store.
type Store interface {
	store.Audit
	store.Meta
}

// Options tune an Auditor.
type Options struct {
	Now func() time.Time
	Log *slog.Logger
	// Sinks receive a copy of every record and checkpoint after it is stored.
	Sinks []Sink
	// CheckpointEvery signs a checkpoint after every this many records (default
	// 100); Checkpoint signs one on demand.
	CheckpointEvery uint64
}

// Auditor records events of one tenant. It is safe for concurrent use, and
// several processes (the server and the CLI) may append to one store: a
// record that loses the race for the next sequence number is rebuilt on the
// new head.
type Auditor struct {
	st     Store
	sealer Sealer
	tenant string
	now    func() time.Time
	log    *slog.Logger
	sinks  []Sink
	every  uint64

	mu     sync.Mutex // serialises this process's appends and checkpoints
	signer ed25519.PrivateKey
	lastCP uint64 // highest checkpointed sequence number known here
}

// New returns an Auditor.
func New(st Store, sealer Sealer, tenant string, opts Options) *Auditor {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.CheckpointEvery == 0 {
		opts.CheckpointEvery = 100
	}
	return &Auditor{st: st, sealer: sealer, tenant: tenant, now: opts.Now, log: opts.Log, sinks: opts.Sinks, every: opts.CheckpointEvery}
}

// Tenant is the tenant whose trail this is.
func (a *Auditor) Tenant() string { return a.tenant }

const hmacPrefix = "hmac-sha256:"

// HMAC returns how a sensitive value is recorded: "hmac-sha256:" and the hex
// HMAC under the install's audit key. Investigators use it to check a guess.
func (a *Auditor) HMAC(ctx context.Context, v string) (string, error) {
	b, err := a.sealer.BlindIndex(ctx, a.tenant, "audit", v)
	if err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	return hmacPrefix + hex.EncodeToString(b), nil
}

func (a *Auditor) actorIndex(ctx context.Context, name string) ([]byte, error) {
	if name == "" {
		return nil, nil
	}
	return a.sealer.BlindIndex(ctx, a.tenant, "audit-actor", name)
}

func recordAD(tenant string, seq uint64) seal.AD {
	return seal.AD{Tenant: tenant, Kind: "audit", ID: strconv.FormatUint(seq, 10)}
}

// chainHash is record n's link: SHA-256 over a domain label, the tenant and
// the record's exact plaintext, which includes record n-1's hash.
func chainHash(tenant string, plain []byte) []byte {
	h := sha256.New()
	h.Write([]byte("costwarden-audit-v1\n" + tenant + "\n"))
	h.Write(plain)
	return h.Sum(nil)
}

// Preflight checks that a record could be written now: the store takes a
// probe write and every required sink is reachable. Callers check it before a
// state-changing action, so an action is refused rather than left unaudited.
func (a *Auditor) Preflight(ctx context.Context) error {
	if err := a.st.ProbeAudit(ctx, a.tenant); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	for _, s := range a.sinks {
		if s.Required() {
			if err := s.Ready(ctx); err != nil {
				return fmt.Errorf("audit: required sink %s: %w", s.Name(), err)
			}
		}
	}
	return nil
}

// Record stores e as the tenant's next record and copies it to the sinks. An
// error means the record is not stored (or a required sink did not take it):
// the caller must treat the action as failed.
func (a *Auditor) Record(ctx context.Context, e Event) error {
	_, err := a.record(ctx, e)
	return err
}

func (a *Auditor) record(ctx context.Context, e Event) (Record, error) {
	if err := e.validate(); err != nil {
		return Record{}, err
	}
	rec := Record{
		Time:     a.now().UTC(),
		Actor:    Actor{ID: clean(e.Actor.ID, 64), Name: clean(e.Actor.Name, 256), Kind: e.Actor.Kind},
		SourceIP: clean(e.SourceIP, 64), Action: e.Action, Target: clean(e.Target, 256), Outcome: e.Outcome,
		RequestID: clean(e.RequestID, 64), Details: cleanMap(e.Details),
	}
	for k, v := range e.Sensitive {
		h, err := a.HMAC(ctx, v)
		if err != nil {
			return Record{}, err
		}
		rec.Details[clean(k, 64)] = h
	}
	name := rec.Actor.Name
	if name == "" {
		name = e.ActorHint
	}
	idx, err := a.actorIndex(ctx, name)
	if err != nil {
		return Record{}, fmt.Errorf("audit: %w", err)
	}
	rec.ActorIndex = hex.EncodeToString(idx)

	a.mu.Lock()
	defer a.mu.Unlock()
	var hash []byte
	for attempt := 0; ; attempt++ {
		head, err := a.st.AuditHead(ctx, a.tenant)
		switch {
		case errors.Is(err, store.ErrNotFound):
			rec.Seq, rec.Prev = 1, ""
		case err != nil:
			return Record{}, fmt.Errorf("audit: reading the trail's head: %w", err)
		default:
			rec.Seq, rec.Prev = head.Seq+1, hex.EncodeToString(head.Hash)
		}
		rec.ID = "a-" + strconv.FormatUint(rec.Seq, 10)
		plain, err := json.Marshal(rec)
		if err != nil {
			return Record{}, fmt.Errorf("audit: %w", err)
		}
		hash = chainHash(a.tenant, plain)
		sealed, err := a.sealer.Seal(ctx, recordAD(a.tenant, rec.Seq), plain)
		if err != nil {
			return Record{}, fmt.Errorf("audit: sealing record %d: %w", rec.Seq, err)
		}
		err = a.st.AppendAudit(ctx, store.AuditRecord{Tenant: a.tenant, Seq: rec.Seq, Time: rec.Time, Action: string(rec.Action),
			Outcome: string(rec.Outcome), ActorID: rec.Actor.ID, ActorIndex: idx, Hash: hash, Sealed: sealed})
		if errors.Is(err, store.ErrConflict) && attempt < 50 {
			continue // another process appended first
		}
		if err != nil {
			return Record{}, fmt.Errorf("audit: storing record %d: %w", rec.Seq, err)
		}
		break
	}
	if err := a.toSinks(ctx, recordLine(rec, hash)); err != nil {
		return rec, err
	}
	if rec.Seq%a.every == 0 {
		if _, err := a.checkpointLocked(ctx); err != nil {
			a.log.Error("audit: signing a checkpoint", "error", err)
		}
	}
	return rec, nil
}

// line is one exported record or checkpoint (JSON lines, sinks, export).
type line struct {
	Type string `json:"type"`
	*Record
	Hash      string     `json:"hash"`
	Seq       uint64     `json:"seq,omitempty"`
	Time      *time.Time `json:"time,omitempty"`
	KeyID     string     `json:"keyId,omitempty"`
	PublicKey string     `json:"publicKey,omitempty"`
	Signature string     `json:"signature,omitempty"`
}

func recordLine(r Record, hash []byte) []byte {
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		Record
		Hash string `json:"hash"`
	}{"record", r, hex.EncodeToString(hash)})
	return b
}

func checkpointLine(c store.AuditCheckpoint, pub ed25519.PublicKey) []byte {
	t := c.Time.UTC()
	b, _ := json.Marshal(line{Type: "checkpoint", Seq: c.Seq, Hash: hex.EncodeToString(c.Hash), Time: &t, KeyID: c.KeyID,
		PublicKey: hex.EncodeToString(pub), Signature: hex.EncodeToString(c.Signature)})
	return b
}

func (a *Auditor) toSinks(ctx context.Context, b []byte) error {
	var errs []error
	for _, s := range a.sinks {
		if err := s.Write(ctx, b); err != nil {
			a.log.Error("audit: a sink did not take a record", "sink", s.Name(), "error", err)
			if s.Required() {
				errs = append(errs, fmt.Errorf("audit: required sink %s: %w", s.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// Close closes the sinks.
func (a *Auditor) Close() error {
	var errs []error
	for _, s := range a.sinks {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// signingKeyMeta is where a tenant's checkpoint signing key lives (sealed).
func signingKeyMeta(tenant string) string { return "audit/signing-key/" + tenant }

func signingAD(tenant string) seal.AD {
	return seal.AD{Tenant: tenant, Kind: "audit-signing-key", ID: "1"}
}

// signingKey returns the tenant's ed25519 checkpoint key, creating it (sealed
// in the store's meta area) on first use.
func (a *Auditor) signingKey(ctx context.Context) (ed25519.PrivateKey, error) {
	if a.signer != nil {
		return a.signer, nil
	}
	blob, err := a.st.GetMeta(ctx, signingKeyMeta(a.tenant))
	if errors.Is(err, store.ErrNotFound) {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		sealed, serr := a.sealer.Seal(ctx, signingAD(a.tenant), seed)
		clear(seed)
		if serr != nil {
			return nil, fmt.Errorf("audit: sealing the signing key: %w", serr)
		}
		if _, err := a.st.PutMetaIfAbsent(ctx, signingKeyMeta(a.tenant), sealed); err != nil {
			return nil, fmt.Errorf("audit: storing the signing key: %w", err)
		}
		blob, err = a.st.GetMeta(ctx, signingKeyMeta(a.tenant)) // whoever stored first wins
	}
	if err != nil {
		return nil, fmt.Errorf("audit: reading the signing key: %w", err)
	}
	seed, err := a.sealer.Open(ctx, signingAD(a.tenant), blob)
	if err != nil {
		// After crypto-shredding the tenant (its trail and checkpoints deleted
		// with its keys) the old signing key is unreadable: start a new one.
		cps, lerr := a.st.ListAuditCheckpoints(ctx, a.tenant)
		if lerr != nil || len(cps) > 0 {
			return nil, fmt.Errorf("audit: opening the signing key: %w", err)
		}
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
		sealed, serr := a.sealer.Seal(ctx, signingAD(a.tenant), seed)
		if serr != nil {
			return nil, fmt.Errorf("audit: sealing the signing key: %w", serr)
		}
		if err := a.st.PutMeta(ctx, signingKeyMeta(a.tenant), sealed); err != nil {
			return nil, fmt.Errorf("audit: storing the signing key: %w", err)
		}
	}
	if len(seed) != ed25519.SeedSize {
		return nil, errors.New("audit: the stored signing key has the wrong size")
	}
	a.signer = ed25519.NewKeyFromSeed(seed)
	clear(seed)
	return a.signer, nil
}

// KeyID names a public key: "ed25519:" and the first 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return "ed25519:" + hex.EncodeToString(s[:8])
}

// PublicKey returns the checkpoint signing key's public half; pin it (or its
// KeyID) outside the installation to verify exports independently.
func (a *Auditor) PublicKey(ctx context.Context) (ed25519.PublicKey, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k, err := a.signingKey(ctx)
	if err != nil {
		return nil, err
	}
	return k.Public().(ed25519.PublicKey), nil
}

func checkpointMessage(tenant string, seq uint64, hash []byte, at time.Time) []byte {
	return fmt.Appendf(nil, "costwarden-audit-checkpoint-v1\n%s\n%d\n%x\n%s", tenant, seq, hash, at.UTC().Format(time.RFC3339Nano))
}

// Checkpoint signs the trail's head unless it is signed already, and reports
// whether it signed.
func (a *Auditor) Checkpoint(ctx context.Context) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.checkpointLocked(ctx)
}

func (a *Auditor) checkpointLocked(ctx context.Context) (bool, error) {
	head, err := a.st.AuditHead(ctx, a.tenant)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if a.lastCP == 0 {
		cs, err := a.st.ListAuditCheckpoints(ctx, a.tenant)
		if err != nil {
			return false, err
		}
		if len(cs) > 0 {
			a.lastCP = cs[len(cs)-1].Seq
		}
	}
	if head.Seq <= a.lastCP {
		return false, nil
	}
	key, err := a.signingKey(ctx)
	if err != nil {
		return false, err
	}
	at := a.now().UTC()
	pub := key.Public().(ed25519.PublicKey)
	c := store.AuditCheckpoint{Tenant: a.tenant, Seq: head.Seq, Hash: head.Hash, Time: at, KeyID: KeyID(pub),
		Signature: ed25519.Sign(key, checkpointMessage(a.tenant, head.Seq, head.Hash, at))}
	err = a.st.InsertAuditCheckpoint(ctx, c)
	if errors.Is(err, store.ErrConflict) {
		a.lastCP = head.Seq // another process signed it
		return false, nil
	}
	if err != nil {
		return false, err
	}
	a.lastCP = head.Seq
	if err := a.toSinks(ctx, checkpointLine(c, pub)); err != nil {
		a.log.Error("audit: a required sink did not take a checkpoint", "error", err)
	}
	return true, nil
}
