package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

func auditRecord(tenant string, seq uint64, action string) store.AuditRecord {
	return store.AuditRecord{
		Tenant: tenant, Seq: seq, Time: t0.Add(time.Duration(seq) * time.Minute).In(east), Action: action, Outcome: "success",
		ActorID: "u_1", ActorIndex: []byte("idx-alice"), Hash: fmt.Appendf(nil, "hash-%s-%d", tenant, seq),
		Sealed: fmt.Appendf(nil, "sealed-%s-%d", tenant, seq),
	}
}

func checkpoint(tenant string, seq uint64) store.AuditCheckpoint {
	return store.AuditCheckpoint{Tenant: tenant, Seq: seq, Hash: fmt.Appendf(nil, "hash-%s-%d", tenant, seq), Time: t0.Add(time.Hour),
		KeyID: "ed25519:0011", Signature: []byte("sig")}
}

func auditSeqs(t *testing.T, s store.Store, f store.AuditFilter) []uint64 {
	t.Helper()
	var out []uint64
	must(t, "ScanAudit", s.ScanAudit(t.Context(), f, func(r store.AuditRecord) error {
		out = append(out, r.Seq)
		return nil
	}))
	return out
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.AuditHead(ctx, "t1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("AuditHead(empty) = %v, want ErrNotFound", err)
	}
	must(t, "ProbeAudit(empty)", s.ProbeAudit(ctx, "t1"))
	// The first record is 1; a gap or a repeat is a conflict and stores nothing.
	wantErr(t, "AppendAudit(seq 2 first)", s.AppendAudit(ctx, auditRecord("t1", 2, "x")), store.ErrConflict)
	actions := []string{"auth.login", "auth.login", "user.create", "auth.logout", "user.delete", "auth.login"}
	for i, a := range actions {
		r := auditRecord("t1", uint64(i+1), a)
		if i == 1 {
			r.Outcome, r.ActorID, r.ActorIndex = "failure", "", []byte("idx-mallory")
		}
		if i == 4 {
			r.ActorID, r.ActorIndex = "local-cli", []byte("idx-root")
		}
		must(t, fmt.Sprintf("AppendAudit(%d)", i+1), s.AppendAudit(ctx, r))
	}
	wantErr(t, "AppendAudit(repeat)", s.AppendAudit(ctx, auditRecord("t1", 6, "x")), store.ErrConflict)
	wantErr(t, "AppendAudit(gap)", s.AppendAudit(ctx, auditRecord("t1", 8, "x")), store.ErrConflict)
	if err := s.AppendAudit(ctx, store.AuditRecord{Tenant: "t1", Seq: 7}); err == nil || errors.Is(err, store.ErrConflict) {
		t.Errorf("AppendAudit(incomplete record) = %v, want a validation error", err)
	}
	must(t, "AppendAudit(other tenant)", s.AppendAudit(ctx, auditRecord("t2", 1, "auth.login")))

	head, err := s.AuditHead(ctx, "t1")
	must(t, "AuditHead", err)
	want := auditRecord("t1", 6, "auth.login")
	if head.Seq != 6 || head.Action != want.Action || string(head.Hash) != string(want.Hash) || string(head.Sealed) != string(want.Sealed) ||
		head.Outcome != "success" || head.ActorID != "u_1" || string(head.ActorIndex) != "idx-alice" || head.Tenant != "t1" {
		t.Errorf("AuditHead = %+v", head)
	}
	sameTime(t, "AuditHead.Time", head.Time, want.Time)

	for _, tt := range []struct {
		name string
		f    store.AuditFilter
		want []uint64
	}{
		{"all", store.AuditFilter{}, []uint64{1, 2, 3, 4, 5, 6}},
		{"descending limit", store.AuditFilter{Descending: true, Limit: 2}, []uint64{6, 5}},
		{"after", store.AuditFilter{AfterSeq: 4}, []uint64{5, 6}},
		{"before descending", store.AuditFilter{BeforeSeq: 4, Descending: true}, []uint64{3, 2, 1}},
		{"since until", store.AuditFilter{Since: t0.Add(2 * time.Minute), Until: t0.Add(4 * time.Minute)}, []uint64{2, 3}},
		{"action prefix", store.AuditFilter{ActionPrefix: "auth."}, []uint64{1, 2, 4, 6}},
		{"action exact", store.AuditFilter{ActionPrefix: "user.delete"}, []uint64{5}},
		{"prefix is not a pattern", store.AuditFilter{ActionPrefix: "auth_%"}, nil},
		{"outcome", store.AuditFilter{Outcome: "failure"}, []uint64{2}},
		{"actor id", store.AuditFilter{ActorID: "local-cli"}, []uint64{5}},
		{"actor index", store.AuditFilter{ActorIndex: []byte("idx-mallory")}, []uint64{2}},
		{"actor id or index", store.AuditFilter{ActorID: "local-cli", ActorIndex: []byte("idx-mallory")}, []uint64{2, 5}},
		{"combined", store.AuditFilter{ActionPrefix: "auth.login", Outcome: "success", Descending: true}, []uint64{6, 1}},
	} {
		f := tt.f
		f.Tenant = "t1"
		if got := auditSeqs(t, s, f); !slices.Equal(got, tt.want) {
			t.Errorf("ScanAudit(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := auditSeqs(t, s, store.AuditFilter{Tenant: "t2"}); !slices.Equal(got, []uint64{1}) {
		t.Errorf("ScanAudit(t2) = %v", got)
	}
	stop := errors.New("stop")
	n := 0
	err = s.ScanAudit(ctx, store.AuditFilter{Tenant: "t1"}, func(store.AuditRecord) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("ScanAudit with a failing callback = %v after %d calls", err, n)
	}
	// The probe writes nothing.
	must(t, "ProbeAudit", s.ProbeAudit(ctx, "t1"))
	if got := auditSeqs(t, s, store.AuditFilter{Tenant: "t1"}); len(got) != 6 {
		t.Errorf("after ProbeAudit: %v", got)
	}

	// Checkpoints.
	must(t, "InsertAuditCheckpoint", s.InsertAuditCheckpoint(ctx, checkpoint("t1", 6)))
	must(t, "InsertAuditCheckpoint", s.InsertAuditCheckpoint(ctx, checkpoint("t1", 3)))
	wantErr(t, "InsertAuditCheckpoint(repeat)", s.InsertAuditCheckpoint(ctx, checkpoint("t1", 3)), store.ErrConflict)
	cs, err := s.ListAuditCheckpoints(ctx, "t1")
	must(t, "ListAuditCheckpoints", err)
	if len(cs) != 2 || cs[0].Seq != 3 || cs[1].Seq != 6 || string(cs[1].Hash) != "hash-t1-6" || cs[1].KeyID != "ed25519:0011" || string(cs[1].Signature) != "sig" {
		t.Errorf("ListAuditCheckpoints = %+v", cs)
	}
	sameTime(t, "checkpoint time", cs[0].Time, t0.Add(time.Hour))
	if cs, _ := s.ListAuditCheckpoints(ctx, "t2"); len(cs) != 0 {
		t.Errorf("another tenant's checkpoints: %+v", cs)
	}
	if tenants, _ := s.ListTenants(ctx); !slices.Equal(tenants, []string{"t1", "t2"}) {
		t.Errorf("ListTenants = %v, want the tenants with audit records", tenants)
	}
}

// testAuditConcurrentAppends: writers racing for the next number each either
// append or get ErrConflict; retried, every record lands once, without gaps.
func testAuditConcurrentAppends(t *testing.T, s store.Store) {
	ctx := t.Context()
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; {
				head, err := s.AuditHead(ctx, "t1")
				next := uint64(1)
				if err == nil {
					next = head.Seq + 1
				} else if !errors.Is(err, store.ErrNotFound) {
					errs <- err
					return
				}
				r := auditRecord("t1", next, fmt.Sprintf("w%d.%d", w, i))
				err = s.AppendAudit(ctx, r)
				if errors.Is(err, store.ErrConflict) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				i++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seqs := auditSeqs(t, s, store.AuditFilter{Tenant: "t1"})
	if len(seqs) != writers*each || seqs[0] != 1 || seqs[len(seqs)-1] != writers*each {
		t.Errorf("after concurrent appends: %d records %v", len(seqs), seqs)
	}
}
