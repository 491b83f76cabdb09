package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/rekey"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

type fixture struct {
	dir  string
	path string
	st   *sqlite.Store
	ring *seal.Keyring
	a    *audit.Auditor
	mu   sync.Mutex
	now  time.Time
}

func newFixture(t testing.TB, sinks ...audit.Sink) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, path: filepath.Join(dir, "db"), now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	st, err := sqlite.Open(t.Context(), f.path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, err := seal.OpenKeyFile(filepath.Join(dir, "key"), true)
	if err != nil {
		t.Fatal(err)
	}
	f.st, f.ring = st, seal.NewKeyring(kek, st, seal.Options{})
	f.a = audit.New(st, f.ring, "default", audit.Options{Now: f.clock, Sinks: sinks, CheckpointEvery: 1000})
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(time.Second)
	return f.now
}

func event(i int) audit.Event {
	e := audit.Event{Action: audit.UserCreate, Outcome: audit.Success, Actor: audit.Actor{ID: fmt.Sprintf("u_%d", i%3), Name: fmt.Sprintf("admin%d", i%3), Kind: audit.KindUser},
		SourceIP: "192.0.2.7", Target: fmt.Sprintf("u_new%d", i), RequestID: fmt.Sprintf("req-%04d", i)}
	e.Detail("role", "viewer")
	return e
}

func (f *fixture) fill(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		if err := f.a.Record(t.Context(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := f.a.Checkpoint(t.Context()); err != nil || !ok {
		t.Fatalf("Checkpoint = %v, %v", ok, err)
	}
}

func (f *fixture) verify(t *testing.T) audit.Report {
	t.Helper()
	rep, err := f.a.Verify(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// db opens the database file as an attacker with write access would.
func (f *fixture) db(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+f.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func wantBad(t *testing.T, what string, rep audit.Report, seq uint64) {
	t.Helper()
	if rep.OK || rep.FirstBad == nil || rep.FirstBad.Seq != seq {
		t.Errorf("%s: report %+v, want first bad record %d", what, rep, seq)
	}
}

func TestIntactTrailVerifies(t *testing.T) {
	f := newFixture(t)
	f.fill(t, 12)
	rep := f.verify(t)
	if !rep.OK || rep.Records != 12 || rep.Checkpoints != 1 || rep.FirstBad != nil || rep.Head != 12 || !strings.HasPrefix(rep.KeyID, "ed25519:") {
		t.Fatalf("intact trail: %+v", rep)
	}
	// A second checkpoint of the same head is not made.
	if ok, _ := f.a.Checkpoint(t.Context()); ok {
		t.Error("checkpointed the same head twice")
	}
}

// TestEditAnyByte flips every byte of one sealed record and sampled bytes of
// every other: each edit is found at its record.
func TestEditAnyByte(t *testing.T) {
	f := newFixture(t)
	f.fill(t, 8)
	db := f.db(t)
	for seq := 1; seq <= 8; seq++ {
		var blob []byte
		if err := db.QueryRow("SELECT sealed FROM audit WHERE seq = ?", seq).Scan(&blob); err != nil {
			t.Fatal(err)
		}
		step := 1
		if seq != 5 {
			step = len(blob) / 7
		}
		for i := 0; i < len(blob); i += step {
			bad := bytes.Clone(blob)
			bad[i] ^= 0x20
			exec(t, db, "UPDATE audit SET sealed = ? WHERE seq = ?", bad, seq)
			wantBad(t, fmt.Sprintf("record %d byte %d", seq, i), f.verify(t), uint64(seq))
		}
		exec(t, db, "UPDATE audit SET sealed = ? WHERE seq = ?", blob, seq)
	}
}

// TestEditAnyColumn: every stored column beside the sealed record is covered.
func TestEditAnyColumn(t *testing.T) {
	for _, col := range []struct{ name, set string }{
		{"at", "at = at + 1"}, {"action", "action = 'user.delete'"}, {"outcome", "outcome = 'failure'"},
		{"actor_id", "actor_id = 'u_9'"}, {"actor_index", "actor_index = x'00'"}, {"hash", "hash = x'0011'"}, {"seq", "seq = 100"},
	} {
		t.Run(col.name, func(t *testing.T) {
			f := newFixture(t)
			f.fill(t, 6)
			exec(t, f.db(t), "UPDATE audit SET "+col.set+" WHERE seq = 4")
			wantBad(t, "edited column "+col.name, f.verify(t), 4)
		})
	}
}

func TestDeleteAnyRecord(t *testing.T) {
	for _, seq := range []int{1, 2, 5, 9, 10} {
		t.Run(fmt.Sprint(seq), func(t *testing.T) {
			f := newFixture(t)
			f.fill(t, 10)
			exec(t, f.db(t), "DELETE FROM audit WHERE seq = ?", seq)
			wantBad(t, "deleted", f.verify(t), uint64(seq))
		})
	}
	t.Run("tail of three", func(t *testing.T) {
		f := newFixture(t)
		f.fill(t, 10)
		exec(t, f.db(t), "DELETE FROM audit WHERE seq > 7")
		rep := f.verify(t)
		wantBad(t, "tail deleted", rep, 8)
		if !strings.Contains(rep.FirstBad.Reason, "checkpoint") {
			t.Errorf("reason %q should name the checkpoint", rep.FirstBad.Reason)
		}
	})
}

func TestReorderAndReplay(t *testing.T) {
	// Swapping two records' rows (every column) is found at the first of them.
	f := newFixture(t)
	f.fill(t, 10)
	db := f.db(t)
	exec(t, db, "UPDATE audit SET seq = 1000 WHERE seq = 4")
	exec(t, db, "UPDATE audit SET seq = 4 WHERE seq = 5")
	exec(t, db, "UPDATE audit SET seq = 5 WHERE seq = 1000")
	wantBad(t, "swapped 4 and 5", f.verify(t), 4)

	// Replaying (copying) an older record over a newer one.
	g := newFixture(t)
	g.fill(t, 10)
	db = g.db(t)
	exec(t, db, "UPDATE audit SET (at, action, outcome, actor_id, actor_index, hash, sealed) = (SELECT at, action, outcome, actor_id, actor_index, hash, sealed FROM audit WHERE seq = 2) WHERE seq = 7")
	wantBad(t, "replayed 2 over 7", g.verify(t), 7)
}

// TestRewriteWithTheKey: an insider holding the key-encryption key can seal
// records; inserting one, or reordering two, still breaks the chain at the
// position, and a full rewrite breaks the signed checkpoint.
func TestRewriteWithTheKey(t *testing.T) {
	ctx := context.Background()
	reseal := func(t *testing.T, f *fixture, seq uint64, plain []byte, prev []byte) {
		t.Helper()
		var rec audit.Record
		if err := json.Unmarshal(plain, &rec); err != nil {
			t.Fatal(err)
		}
		rec.Seq = seq
		b, _ := json.Marshal(rec)
		blob, err := f.ring.Seal(ctx, seal.AD{Tenant: "default", Kind: "audit", ID: fmt.Sprint(seq)}, b)
		if err != nil {
			t.Fatal(err)
		}
		exec(t, f.db(t), "UPDATE audit SET sealed = ? WHERE seq = ?", blob, seq)
	}
	opened := func(t *testing.T, f *fixture, seq int) []byte {
		var blob []byte
		if err := f.db(t).QueryRow("SELECT sealed FROM audit WHERE seq = ?", seq).Scan(&blob); err != nil {
			t.Fatal(err)
		}
		p, err := f.ring.Open(ctx, seal.AD{Tenant: "default", Kind: "audit", ID: fmt.Sprint(seq)}, blob)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("reorder", func(t *testing.T) {
		f := newFixture(t)
		f.fill(t, 10)
		p6, p7 := opened(t, f, 6), opened(t, f, 7)
		reseal(t, f, 6, p7, nil)
		reseal(t, f, 7, p6, nil)
		wantBad(t, "reordered 6 and 7 with the key", f.verify(t), 6)
	})
	t.Run("insert", func(t *testing.T) {
		f := newFixture(t)
		f.fill(t, 10)
		db := f.db(t)
		// Shift 5..10 up by one (re-sealed at their new positions) and put a
		// forged record at 5.
		for seq := 10; seq >= 5; seq-- {
			p := opened(t, f, seq)
			exec(t, db, "UPDATE audit SET seq = ? WHERE seq = ?", seq+1, seq)
			reseal(t, f, uint64(seq+1), p, nil)
		}
		exec(t, db, "INSERT INTO audit SELECT tenant, 5, at, action, outcome, actor_id, actor_index, hash, sealed FROM audit WHERE seq = 4")
		reseal(t, f, 5, opened(t, f, 4), nil)
		rep := f.verify(t)
		if rep.OK || rep.FirstBad == nil || (rep.FirstBad.Seq != 5 && rep.FirstBad.Seq != 6) {
			t.Errorf("insertion at 5: %+v", rep)
		}
	})
}

func TestConcurrentWritersKeepOneChain(t *testing.T) {
	f := newFixture(t)
	// A second auditor on a second connection to the same file: another process.
	st2, err := sqlite.Open(t.Context(), f.path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	kek, _ := seal.OpenKeyFile(filepath.Join(f.dir, "key"), false)
	other := audit.New(st2, seal.NewKeyring(kek, st2, seal.Options{}), "default", audit.Options{})
	var wg sync.WaitGroup
	for _, a := range []*audit.Auditor{f.a, other, f.a} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				if err := a.Record(t.Context(), event(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if rep := f.verify(t); !rep.OK || rep.Records != 45 {
		t.Errorf("after concurrent appends: %+v", rep)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	start := f.now
	for i := range 30 {
		e := event(i)
		if i%5 == 0 {
			e.Action, e.Outcome, e.Actor, e.ActorHint = audit.AuthLogin, audit.Failure, audit.Actor{Kind: audit.KindUser}, "mallory"
			e.Secret("username", "mallory")
		}
		if err := f.a.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	var seqs []uint64
	cursor, pages := "", 0
	for {
		recs, next, err := f.a.List(ctx, audit.Filter{Limit: 7, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range recs {
			seqs = append(seqs, r.Seq)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seqs) != 30 || seqs[0] != 30 || seqs[29] != 1 || pages != 5 {
		t.Errorf("paged %d records in %d pages: %v", len(seqs), pages, seqs)
	}
	failed, _, err := f.a.List(ctx, audit.Filter{Actor: "mallory"})
	if err != nil || len(failed) != 6 {
		t.Fatalf("actor=mallory: %d records, %v", len(failed), err)
	}
	h, _ := f.a.HMAC(ctx, "mallory")
	for _, r := range failed {
		if r.Details["username"] != h || r.Outcome != audit.Failure || r.Actor.Name != "" {
			t.Errorf("failed login record %+v", r)
		}
	}
	if got, _, _ := f.a.List(ctx, audit.Filter{Actor: "u_1"}); len(got) != 8 {
		t.Errorf("actor=u_1: %d", len(got))
	}
	if got, _, _ := f.a.List(ctx, audit.Filter{Actor: "admin2"}); len(got) != 8 {
		t.Errorf("actor=admin2 (by name): %d", len(got))
	}
	if got, _, _ := f.a.List(ctx, audit.Filter{ActionPrefix: "auth.", Outcome: audit.Failure}); len(got) != 6 {
		t.Errorf("auth. failures: %d", len(got))
	}
	if got, _, _ := f.a.List(ctx, audit.Filter{Since: start.Add(10 * time.Second), Until: start.Add(13 * time.Second)}); len(got) != 3 {
		t.Errorf("time range: %d", len(got))
	}
	if _, _, err := f.a.List(ctx, audit.Filter{Cursor: "nope"}); err == nil {
		t.Error("a made-up cursor was accepted")
	}
}

func TestExportAndSinks(t *testing.T) {
	var out bytes.Buffer
	fileSink, err := audit.NewFileSink(filepath.Join(t.TempDir(), "audit.jsonl"), true)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, audit.NewWriterSink("stdout", &out), fileSink)
	f.fill(t, 5)
	var exp bytes.Buffer
	n, err := f.a.Export(t.Context(), audit.Filter{}, &exp)
	if err != nil || n != 5 {
		t.Fatalf("Export = %d, %v", n, err)
	}
	// The sinks got exactly the exported lines: 5 records and a checkpoint.
	if out.String() != exp.String() {
		t.Errorf("stdout sink:\n%s\nexport:\n%s", out.String(), exp.String())
	}
	lines := strings.Split(strings.TrimSpace(exp.String()), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines", len(lines))
	}
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[5]), &last); err != nil || last["type"] != "checkpoint" || last["signature"] == "" || last["seq"] != 5.0 {
		t.Errorf("checkpoint line %s", lines[5])
	}
	var first map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &first)
	for _, k := range []string{"id", "seq", "time", "actor", "sourceIP", "action", "target", "outcome", "requestId", "details", "hash", "prev"} {
		if _, ok := first[k]; !ok {
			t.Errorf("exported record lacks %q: %s", k, lines[0])
		}
	}
	fileSink.Close()
}

func TestEveryCodeIsWellFormedAndUnique(t *testing.T) {
	seen := map[audit.Code]bool{}
	for _, c := range audit.Codes() {
		if seen[c] {
			t.Errorf("code %s listed twice", c)
		}
		seen[c] = true
		for _, part := range strings.Split(string(c), ".") {
			if part == "" || strings.Trim(part, "abcdefghijklmnopqrstuvwxyz-") != "" {
				t.Errorf("code %q: parts must be lower-case words", c)
			}
		}
	}
	if len(seen) < 40 {
		t.Errorf("only %d codes", len(seen))
	}
	// Unknown codes, outcomes and actor kinds are refused.
	f := newFixture(t)
	for _, e := range []audit.Event{
		{Action: "made.up", Outcome: audit.Success, Actor: audit.System},
		{Action: audit.UserCreate, Outcome: "maybe", Actor: audit.System},
		{Action: audit.UserCreate, Outcome: audit.Success},
	} {
		if err := f.a.Record(t.Context(), e); err == nil {
			t.Errorf("Record(%+v) accepted", e)
		}
	}
	if head, err := f.st.AuditHead(t.Context(), "default"); err == nil {
		t.Errorf("a refused event was stored: %+v", head)
	}
}

// TestControlCharactersCannotForgeLines: request input with newlines or
// terminal escapes is recorded with them replaced.
func TestControlCharactersCannotForgeLines(t *testing.T) {
	var out bytes.Buffer
	f := newFixture(t, audit.NewWriterSink("stdout", &out))
	e := event(1)
	e.Target = "bob\n{\"type\":\"record\",\"action\":\"user.delete\"}\x1b[2J"
	e.Detail("reason", "line1\r\nline2\u2028")
	if err := f.a.Record(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != 1 || strings.Contains(out.String(), "\x1b") {
		t.Errorf("sink output %q", out.String())
	}
	recs, _, _ := f.a.List(t.Context(), audit.Filter{})
	if strings.ContainsAny(recs[0].Target, "\n\x1b") || strings.ContainsAny(recs[0].Details["reason"], "\r\n\u2028") {
		t.Errorf("stored %q %q", recs[0].Target, recs[0].Details["reason"])
	}
}

// TestDocsListEveryCode: docs/audit.md's table names each code.
func TestDocsListEveryCode(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "audit.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range audit.Codes() {
		if !strings.Contains(string(b), "| `"+string(c)+"` |") {
			t.Errorf("docs/audit.md does not list %s", c)
		}
	}
}

// TestReencryptionKeepsTheChain: after a key rotation the re-encryption job
// (whose row → associated-data rule must match the audit trail's) moves every
// record to the new key, and the chain still verifies.
func TestReencryptionKeepsTheChain(t *testing.T) {
	f := newFixture(t)
	f.fill(t, 20)
	ctx := t.Context()
	if _, err := f.ring.Rotate(ctx, "default"); err != nil {
		t.Fatal(err)
	}
	st, err := rekey.New(f.st, f.ring, nil, nil).Run(ctx, "default", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Resealed < 20 {
		t.Errorf("re-encryption moved %d blobs, want the 20 records at least", st.Resealed)
	}
	rows, _, err := f.st.ScanSealed(ctx, store.TableAudit, "default", "", 100)
	if err != nil || len(rows) != 20 {
		t.Fatalf("ScanSealed(audit) = %d rows, %v", len(rows), err)
	}
	for _, r := range rows {
		ad, err := rekey.ADFor(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.ring.Open(ctx, ad, r.Blob); err != nil {
			t.Errorf("record %s does not open with rekey's associated data: %v", r.ID, err)
		}
	}
	if rep := f.verify(t); !rep.OK || rep.Records != 20 {
		t.Errorf("after re-encryption: %+v", rep)
	}
}
