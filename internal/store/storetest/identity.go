package storetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

func testPrincipalIndexes(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := principal("t1", "p1", "alice")
	alice.EmailIndex, alice.SubjectIndex = []byte("email-alice"), []byte("sub-alice")
	must(t, "InsertPrincipal(with indexes)", s.InsertPrincipal(ctx, alice))
	// Principals without the optional indexes do not collide with each other.
	must(t, "InsertPrincipal(no indexes)", s.InsertPrincipal(ctx, principal("t1", "p2", "bob")))
	must(t, "InsertPrincipal(no indexes, 2)", s.InsertPrincipal(ctx, principal("t1", "p3", "carol")))

	for name, lookup := range map[string]func() (store.Principal, error){
		"GetPrincipalByEmail":   func() (store.Principal, error) { return s.GetPrincipalByEmail(ctx, "t1", []byte("email-alice")) },
		"GetPrincipalBySubject": func() (store.Principal, error) { return s.GetPrincipalBySubject(ctx, "t1", []byte("sub-alice")) },
	} {
		got, err := lookup()
		must(t, name, err)
		checkPrincipal(t, got, alice)
	}
	_, err := s.GetPrincipalByEmail(ctx, "t1", []byte("email-nobody"))
	wantErr(t, "GetPrincipalByEmail(absent)", err, store.ErrNotFound)
	_, err = s.GetPrincipalBySubject(ctx, "t1", nil)
	wantErr(t, "GetPrincipalBySubject(empty index)", err, store.ErrNotFound)
	_, err = s.GetPrincipalByEmail(ctx, "t1", []byte{})
	wantErr(t, "GetPrincipalByEmail(empty index)", err, store.ErrNotFound)
	if got, err := s.GetPrincipal(ctx, "t1", "p2"); err != nil || got.EmailIndex != nil || got.SubjectIndex != nil {
		t.Errorf("principal without indexes reads back with EmailIndex %x, SubjectIndex %x (err %v); want nil", got.EmailIndex, got.SubjectIndex, err)
	}

	dupEmail := principal("t1", "p4", "dave")
	dupEmail.EmailIndex = []byte("email-alice")
	wantErr(t, "InsertPrincipal(duplicate e-mail index)", s.InsertPrincipal(ctx, dupEmail), store.ErrConflict)
	dupSub := principal("t1", "p4", "dave")
	dupSub.SubjectIndex = []byte("sub-alice")
	wantErr(t, "InsertPrincipal(duplicate subject index)", s.InsertPrincipal(ctx, dupSub), store.ErrConflict)
	other := principal("t2", "p5", "alice")
	other.EmailIndex, other.SubjectIndex = alice.EmailIndex, alice.SubjectIndex
	must(t, "InsertPrincipal(same indexes, other tenant)", s.InsertPrincipal(ctx, other))

	// Updates set, move and clear the indexes, with the same uniqueness rules.
	bob, _ := s.GetPrincipal(ctx, "t1", "p2")
	bob.EmailIndex = []byte("email-alice")
	_, err = s.UpdatePrincipal(ctx, bob)
	wantErr(t, "UpdatePrincipal(e-mail taken)", err, store.ErrConflict)
	bob.EmailIndex, bob.SubjectIndex = []byte("email-bob"), []byte("sub-bob")
	got, err := s.UpdatePrincipal(ctx, bob)
	must(t, "UpdatePrincipal(set indexes)", err)
	if !bytes.Equal(got.EmailIndex, bob.EmailIndex) || !bytes.Equal(got.SubjectIndex, bob.SubjectIndex) {
		t.Errorf("UpdatePrincipal returned indexes %q %q", got.EmailIndex, got.SubjectIndex)
	}
	if got, err := s.GetPrincipalBySubject(ctx, "t1", []byte("sub-bob")); err != nil || got.ID != "p2" {
		t.Errorf("GetPrincipalBySubject(after update) = %s, %v; want p2", got.ID, err)
	}
	got.EmailIndex, got.SubjectIndex = nil, nil
	got, err = s.UpdatePrincipal(ctx, got)
	must(t, "UpdatePrincipal(clear indexes)", err)
	if got.EmailIndex != nil || got.SubjectIndex != nil {
		t.Errorf("cleared indexes read back as %x %x", got.EmailIndex, got.SubjectIndex)
	}
	_, err = s.GetPrincipalByEmail(ctx, "t1", []byte("email-bob"))
	wantErr(t, "GetPrincipalByEmail(cleared)", err, store.ErrNotFound)
}

func testPrincipalLastSeen(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal("t1", "p1", "alice")
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, p))
	if got, _ := s.GetPrincipal(ctx, "t1", "p1"); !got.LastSeenAt.IsZero() {
		t.Errorf("LastSeenAt of a new principal = %v, want zero", got.LastSeenAt)
	}
	seen := t0.Add(5 * time.Hour).In(east)
	must(t, "TouchPrincipal", s.TouchPrincipal(ctx, "t1", "p1", seen))
	must(t, "TouchPrincipal(older)", s.TouchPrincipal(ctx, "t1", "p1", seen.Add(-time.Hour)))
	got, err := s.GetPrincipal(ctx, "t1", "p1")
	must(t, "GetPrincipal", err)
	sameTime(t, "LastSeenAt", got.LastSeenAt, seen)
	if got.Version != p.Version {
		t.Errorf("TouchPrincipal changed Version from %d to %d", p.Version, got.Version)
	}
	// UpdatePrincipal does not write LastSeenAt.
	got.LastSeenAt = time.Time{}
	got.Role = "editor"
	upd, err := s.UpdatePrincipal(ctx, got)
	must(t, "UpdatePrincipal", err)
	sameTime(t, "LastSeenAt after UpdatePrincipal", upd.LastSeenAt, seen)
	wantErr(t, "TouchPrincipal(missing)", s.TouchPrincipal(ctx, "t1", "nobody", seen), store.ErrNotFound)
	wantErr(t, "TouchPrincipal(other tenant)", s.TouchPrincipal(ctx, "t2", "p1", seen), store.ErrNotFound)
	// Inserted with a LastSeenAt, it reads back.
	q := principal("t1", "p2", "bob")
	q.LastSeenAt = seen
	must(t, "InsertPrincipal(seen)", s.InsertPrincipal(ctx, q))
	got, _ = s.GetPrincipal(ctx, "t1", "p2")
	checkPrincipal(t, got, q)
}

func session(tenant, id, principalID, stage string) store.Session {
	return store.Session{
		ID: id, Tenant: tenant, PrincipalID: principalID, Hash: []byte("sha256-of-" + id), Stage: stage,
		Sealed: []byte("sealed-" + id), CreatedAt: t0.In(east), LastSeenAt: t0.Add(time.Minute),
		ExpiresAt: t0.Add(12 * time.Hour),
	}
}

func checkSession(t *testing.T, got, want store.Session) {
	t.Helper()
	if got.ID != want.ID || got.Tenant != want.Tenant || got.PrincipalID != want.PrincipalID || !bytes.Equal(got.Hash, want.Hash) ||
		got.Stage != want.Stage || !bytes.Equal(got.Sealed, want.Sealed) {
		t.Errorf("session = %+v, want %+v", got, want)
	}
	sameTime(t, "session CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "session LastSeenAt", got.LastSeenAt, want.LastSeenAt)
	sameTime(t, "session ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	sameTime(t, "session RevokedAt", got.RevokedAt, want.RevokedAt)
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p1", "alice")))
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p2", "bob")))
	x := session("t1", "s1", "p1", store.SessionActive)
	_, err := s.GetSessionByHash(ctx, x.Hash)
	wantErr(t, "GetSessionByHash(absent)", err, store.ErrNotFound)
	must(t, "InsertSession", s.InsertSession(ctx, x))
	got, err := s.GetSessionByHash(ctx, x.Hash)
	must(t, "GetSessionByHash", err)
	checkSession(t, got, x)

	dupID := session("t1", "s1", "p1", store.SessionActive)
	dupID.Hash = []byte("another hash")
	wantErr(t, "InsertSession(duplicate ID)", s.InsertSession(ctx, dupID), store.ErrConflict)
	dupHash := session("t1", "s2", "p1", store.SessionActive)
	dupHash.Hash = x.Hash
	wantErr(t, "InsertSession(duplicate hash)", s.InsertSession(ctx, dupHash), store.ErrConflict)
	wantErr(t, "InsertSession(unknown principal)", s.InsertSession(ctx, session("t1", "s3", "nobody", store.SessionActive)), store.ErrNotFound)
	wantErr(t, "InsertSession(principal of another tenant)", s.InsertSession(ctx, session("t2", "s4", "p1", store.SessionActive)), store.ErrNotFound)
	noExpiry := session("t1", "s5", "p1", store.SessionActive)
	noExpiry.ExpiresAt = time.Time{}
	if err := s.InsertSession(ctx, noExpiry); err == nil {
		t.Error("InsertSession accepted a session without an expiry")
	}
	if err := s.InsertSession(ctx, session("t1", "s6", "p1", "root")); err == nil {
		t.Error("InsertSession accepted an unknown stage")
	}

	mfa := session("t1", "s7", "p1", store.SessionMFA)
	mfa.LastSeenAt = time.Time{} // defaults to CreatedAt
	must(t, "InsertSession(mfa)", s.InsertSession(ctx, mfa))
	got, _ = s.GetSessionByHash(ctx, mfa.Hash)
	sameTime(t, "LastSeenAt defaulted", got.LastSeenAt, mfa.CreatedAt)
	must(t, "InsertSession(setup, bob)", s.InsertSession(ctx, session("t1", "s8", "p2", store.SessionSetup)))

	list, err := s.ListSessions(ctx, "t1", "p1")
	must(t, "ListSessions", err)
	if len(list) != 2 || list[0].ID != "s1" || list[1].ID != "s7" {
		t.Fatalf("ListSessions(p1) = %v, want s1 and s7", sessionIDs(list))
	}
	all, err := s.ListSessions(ctx, "t1", "")
	must(t, "ListSessions(all)", err)
	if len(all) != 3 {
		t.Errorf("ListSessions(t1, \"\") = %v, want all 3 of the tenant", sessionIDs(all))
	}

	used := t0.Add(2 * time.Hour).In(east)
	must(t, "TouchSession", s.TouchSession(ctx, "t1", "s1", used))
	must(t, "TouchSession(older)", s.TouchSession(ctx, "t1", "s1", used.Add(-time.Hour)))
	got, _ = s.GetSessionByHash(ctx, x.Hash)
	sameTime(t, "LastSeenAt after touches", got.LastSeenAt, used)
	wantErr(t, "TouchSession(missing)", s.TouchSession(ctx, "t1", "nope", used), store.ErrNotFound)
	wantErr(t, "TouchSession(other tenant)", s.TouchSession(ctx, "t2", "s1", used), store.ErrNotFound)
}

func sessionIDs(xs []store.Session) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.ID)
	}
	return out
}

func testSessionRevocation(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p1", "alice")))
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p2", "bob")))
	for _, x := range []store.Session{session("t1", "s1", "p1", store.SessionActive), session("t1", "s2", "p1", store.SessionMFA),
		session("t1", "s3", "p1", store.SessionActive), session("t1", "s4", "p2", store.SessionActive)} {
		must(t, "InsertSession", s.InsertSession(ctx, x))
	}
	at := t0.Add(3 * time.Hour)
	must(t, "RevokeSession", s.RevokeSession(ctx, "t1", "s1", at))
	must(t, "RevokeSession(again)", s.RevokeSession(ctx, "t1", "s1", at.Add(time.Hour)))
	got, _ := s.GetSessionByHash(ctx, []byte("sha256-of-s1"))
	sameTime(t, "RevokedAt after a second revoke", got.RevokedAt, at)
	wantErr(t, "RevokeSession(missing)", s.RevokeSession(ctx, "t1", "s9", at), store.ErrNotFound)
	wantErr(t, "RevokeSession(other tenant)", s.RevokeSession(ctx, "t2", "s2", at), store.ErrNotFound)

	later := at.Add(time.Hour)
	n, err := s.RevokePrincipalSessions(ctx, "t1", "p1", later)
	must(t, "RevokePrincipalSessions", err)
	if n != 2 {
		t.Errorf("RevokePrincipalSessions = %d, want 2 (s1 was already revoked)", n)
	}
	for id, want := range map[string]time.Time{"s1": at, "s2": later, "s3": later, "s4": {}} {
		got, _ := s.GetSessionByHash(ctx, []byte("sha256-of-"+id))
		sameTime(t, id+" RevokedAt", got.RevokedAt, want)
	}
	if n, err := s.RevokePrincipalSessions(ctx, "t1", "p1", later); err != nil || n != 0 {
		t.Errorf("RevokePrincipalSessions(again) = %d, %v; want 0, nil", n, err)
	}
}

func testSessionsPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p1", "alice")))
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t2", "q1", "alice")))
	expired := session("t1", "s1", "p1", store.SessionActive)
	expired.ExpiresAt = t0.Add(time.Hour)
	live := session("t1", "s2", "p1", store.SessionActive)
	live.ExpiresAt = t0.Add(10 * time.Hour)
	revoked := session("t1", "s3", "p1", store.SessionActive)
	revoked.ExpiresAt = t0.Add(10 * time.Hour)
	otherTenant := session("t2", "s4", "q1", store.SessionActive)
	otherTenant.ExpiresAt = t0.Add(time.Hour)
	for _, x := range []store.Session{expired, live, revoked, otherTenant} {
		must(t, "InsertSession", s.InsertSession(ctx, x))
	}
	must(t, "RevokeSession", s.RevokeSession(ctx, "t1", "s3", t0.Add(30*time.Minute)))
	// Exactly at the expiry nothing is purged (strictly before).
	n, err := s.PurgeSessions(ctx, t0.Add(30*time.Minute))
	if err != nil || n != 0 {
		t.Errorf("PurgeSessions(at the revocation) = %d, %v; want 0", n, err)
	}
	n, err = s.PurgeSessions(ctx, t0.Add(2*time.Hour))
	must(t, "PurgeSessions", err)
	if n != 3 {
		t.Errorf("PurgeSessions = %d, want 3 (expired, revoked, and the other tenant's expired)", n)
	}
	left, _ := s.ListSessions(ctx, "t1", "")
	if len(left) != 1 || left[0].ID != "s2" {
		t.Errorf("after purge t1 has %v, want s2", sessionIDs(left))
	}
}

func testLockouts(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := []byte("idx-account-alice")
	_, err := s.GetLockout(ctx, "t1", k)
	wantErr(t, "GetLockout(absent)", err, store.ErrNotFound)

	since := t0.Add(-15 * time.Minute)
	l, err := s.AddFailure(ctx, "t1", k, t0, since)
	must(t, "AddFailure", err)
	if l.Failures != 1 || l.Tenant != "t1" || !bytes.Equal(l.Key, k) {
		t.Errorf("first AddFailure = %+v, want 1 failure", l)
	}
	sameTime(t, "FirstFailureAt", l.FirstFailureAt, t0)
	for i := 2; i <= 4; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		l, err = s.AddFailure(ctx, "t1", k, at, at.Add(-15*time.Minute))
		must(t, "AddFailure", err)
		if l.Failures != i {
			t.Errorf("AddFailure #%d: Failures = %d", i, l.Failures)
		}
		sameTime(t, "FirstFailureAt kept", l.FirstFailureAt, t0)
		sameTime(t, "LastFailureAt", l.LastFailureAt, at)
	}
	got, err := s.GetLockout(ctx, "t1", k)
	must(t, "GetLockout", err)
	if got.Failures != 4 {
		t.Errorf("GetLockout Failures = %d, want 4", got.Failures)
	}
	// The counting period starts again once the first failure is older than since.
	late := t0.Add(time.Hour)
	l, err = s.AddFailure(ctx, "t1", k, late, late.Add(-15*time.Minute))
	must(t, "AddFailure(new period)", err)
	if l.Failures != 1 {
		t.Errorf("AddFailure after the period: Failures = %d, want 1", l.Failures)
	}
	sameTime(t, "FirstFailureAt restarted", l.FirstFailureAt, late)

	until := late.Add(15 * time.Minute)
	must(t, "LockUntil", s.LockUntil(ctx, "t1", k, until))
	must(t, "LockUntil(earlier: ignored)", s.LockUntil(ctx, "t1", k, until.Add(-10*time.Minute)))
	got, _ = s.GetLockout(ctx, "t1", k)
	sameTime(t, "LockedUntil", got.LockedUntil, until)
	l, _ = s.AddFailure(ctx, "t1", k, late.Add(time.Minute), late.Add(-14*time.Minute))
	sameTime(t, "LockedUntil kept by AddFailure", l.LockedUntil, until)
	if l.Failures != 2 {
		t.Errorf("Failures = %d, want 2", l.Failures)
	}

	// LockUntil creates a record; a later failure starts counting on it.
	ip := []byte("idx-ip-192.0.2.1")
	must(t, "LockUntil(new key)", s.LockUntil(ctx, "t1", ip, until))
	got, err = s.GetLockout(ctx, "t1", ip)
	must(t, "GetLockout(locked key)", err)
	if got.Failures != 0 {
		t.Errorf("a lock-only record has %d failures", got.Failures)
	}
	sameTime(t, "LockedUntil(new key)", got.LockedUntil, until)
	l, _ = s.AddFailure(ctx, "t1", ip, late, late.Add(-time.Minute))
	if l.Failures != 1 {
		t.Errorf("first failure on a lock-only record: Failures = %d, want 1", l.Failures)
	}
	sameTime(t, "FirstFailureAt on a lock-only record", l.FirstFailureAt, late)

	// Tenants and keys are separate.
	_, err = s.GetLockout(ctx, "t2", k)
	wantErr(t, "GetLockout(other tenant)", err, store.ErrNotFound)
	if l, _ := s.AddFailure(ctx, "t2", k, late, since); l.Failures != 1 {
		t.Errorf("other tenant's first failure = %d, want 1", l.Failures)
	}

	must(t, "ClearLockout", s.ClearLockout(ctx, "t1", k))
	must(t, "ClearLockout(again)", s.ClearLockout(ctx, "t1", k))
	_, err = s.GetLockout(ctx, "t1", k)
	wantErr(t, "GetLockout(cleared)", err, store.ErrNotFound)
	if _, err := s.GetLockout(ctx, "t2", k); err != nil {
		t.Errorf("clearing t1's record removed t2's: %v", err)
	}

	// Purge removes records whose failures and lock are both over.
	n, err := s.PurgeLockouts(ctx, until)
	must(t, "PurgeLockouts(at lock end)", err)
	if n != 1 { // t2's record (last failure at late); t1/ip is locked until `until`
		t.Errorf("PurgeLockouts(until) = %d, want 1", n)
	}
	n, err = s.PurgeLockouts(ctx, until.Add(time.Second))
	must(t, "PurgeLockouts", err)
	if n != 1 {
		t.Errorf("PurgeLockouts(after lock) = %d, want 1", n)
	}
	if _, err := s.AddFailure(ctx, "t1", nil, t0, since); err == nil {
		t.Error("AddFailure accepted an empty key")
	}
}

func testLockoutsConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 16
	k := []byte("idx-contended")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.AddFailure(ctx, "t1", k, t0.Add(time.Duration(i)*time.Second), t0.Add(-time.Hour))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, "AddFailure", err)
	}
	got, err := s.GetLockout(ctx, "t1", k)
	must(t, "GetLockout", err)
	if got.Failures != n {
		t.Errorf("%d concurrent failures counted as %d", n, got.Failures)
	}
	sameTime(t, "LastFailureAt is the latest", got.LastFailureAt, t0.Add((n-1)*time.Second))
}

func request(tenant, id, principalID string, created time.Time) store.AccessRequest {
	return store.AccessRequest{Tenant: tenant, ID: id, PrincipalID: principalID, Role: "viewer",
		Sealed: []byte("sealed-" + id), State: store.RequestPending, CreatedAt: created}
}

func testAccessRequests(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p1", "alice")))
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p2", "bob")))
	_, err := s.GetAccessRequest(ctx, "t1", "r1")
	wantErr(t, "GetAccessRequest(absent)", err, store.ErrNotFound)
	r1 := request("t1", "r1", "p1", t0.In(east))
	must(t, "InsertAccessRequest", s.InsertAccessRequest(ctx, r1))
	must(t, "InsertAccessRequest(r2)", s.InsertAccessRequest(ctx, request("t1", "r2", "p2", t0.Add(time.Minute))))
	must(t, "InsertAccessRequest(r3)", s.InsertAccessRequest(ctx, request("t1", "r3", "p1", t0.Add(2*time.Minute))))
	wantErr(t, "InsertAccessRequest(duplicate)", s.InsertAccessRequest(ctx, request("t1", "r1", "p2", t0)), store.ErrConflict)
	wantErr(t, "InsertAccessRequest(unknown principal)", s.InsertAccessRequest(ctx, request("t1", "r4", "nobody", t0)), store.ErrNotFound)
	decided := request("t1", "r5", "p1", t0)
	decided.State = store.RequestApproved
	if err := s.InsertAccessRequest(ctx, decided); err == nil {
		t.Error("InsertAccessRequest accepted a request that is not pending")
	}

	got, err := s.GetAccessRequest(ctx, "t1", "r1")
	must(t, "GetAccessRequest", err)
	if got.PrincipalID != "p1" || got.Role != "viewer" || !bytes.Equal(got.Sealed, r1.Sealed) || got.State != store.RequestPending || got.DecidedBy != "" {
		t.Errorf("GetAccessRequest = %+v, want %+v", got, r1)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, r1.CreatedAt)
	sameTime(t, "DecidedAt (pending)", got.DecidedAt, time.Time{})

	at := t0.Add(time.Hour)
	got, err = s.DecideAccessRequest(ctx, "t1", "r1", store.RequestApproved, "p2", at)
	must(t, "DecideAccessRequest", err)
	if got.State != store.RequestApproved || got.DecidedBy != "p2" {
		t.Errorf("decided request = %+v", got)
	}
	sameTime(t, "DecidedAt", got.DecidedAt, at)
	_, err = s.DecideAccessRequest(ctx, "t1", "r1", store.RequestRejected, "p2", at)
	wantErr(t, "DecideAccessRequest(twice)", err, store.ErrConflict)
	if got, _ := s.GetAccessRequest(ctx, "t1", "r1"); got.State != store.RequestApproved {
		t.Errorf("a second decision changed the state to %s", got.State)
	}
	_, err = s.DecideAccessRequest(ctx, "t1", "r9", store.RequestRejected, "p2", at)
	wantErr(t, "DecideAccessRequest(missing)", err, store.ErrNotFound)
	_, err = s.DecideAccessRequest(ctx, "t2", "r2", store.RequestRejected, "p2", at)
	wantErr(t, "DecideAccessRequest(other tenant)", err, store.ErrNotFound)
	if _, err := s.DecideAccessRequest(ctx, "t1", "r2", store.RequestPending, "p2", at); err == nil {
		t.Error("DecideAccessRequest accepted 'pending' as a decision")
	}
	_, err = s.DecideAccessRequest(ctx, "t1", "r2", store.RequestRejected, "p1", at)
	must(t, "DecideAccessRequest(reject)", err)

	for state, want := range map[string][]string{"": {"r1", "r2", "r3"}, store.RequestPending: {"r3"}, store.RequestApproved: {"r1"}, store.RequestRejected: {"r2"}} {
		list, err := s.ListAccessRequests(ctx, "t1", state)
		must(t, "ListAccessRequests", err)
		var ids []string
		for _, r := range list {
			ids = append(ids, r.ID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("ListAccessRequests(%q) = %v, want %v (oldest first)", state, ids, want)
		}
	}
}

func testDependentsDieWithPrincipal(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p1", "alice")))
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p2", "bob")))
	must(t, "InsertSession", s.InsertSession(ctx, session("t1", "s1", "p1", store.SessionActive)))
	must(t, "InsertSession", s.InsertSession(ctx, session("t1", "s2", "p2", store.SessionActive)))
	must(t, "InsertAccessRequest", s.InsertAccessRequest(ctx, request("t1", "r1", "p1", t0)))
	must(t, "InsertAccessRequest", s.InsertAccessRequest(ctx, request("t1", "r2", "p2", t0)))
	must(t, "DeletePrincipal", s.DeletePrincipal(ctx, "t1", "p1"))
	_, err := s.GetSessionByHash(ctx, []byte("sha256-of-s1"))
	wantErr(t, "GetSessionByHash(session of a deleted principal)", err, store.ErrNotFound)
	_, err = s.GetAccessRequest(ctx, "t1", "r1")
	wantErr(t, "GetAccessRequest(request of a deleted principal)", err, store.ErrNotFound)
	if _, err := s.GetSessionByHash(ctx, []byte("sha256-of-s2")); err != nil {
		t.Errorf("bob's session died with alice: %v", err)
	}
	if _, err := s.GetAccessRequest(ctx, "t1", "r2"); err != nil {
		t.Errorf("bob's request died with alice: %v", err)
	}
}

func testIdentityTenantIsolation(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p1", "alice")))
	must(t, "InsertSession", s.InsertSession(ctx, session("t1", "s1", "p1", store.SessionActive)))
	must(t, "InsertAccessRequest", s.InsertAccessRequest(ctx, request("t1", "r1", "p1", t0)))
	const other = "t2"
	if got, err := s.ListSessions(ctx, other, ""); err != nil || len(got) != 0 {
		t.Errorf("ListSessions(other) = %d, %v", len(got), err)
	}
	if got, err := s.ListSessions(ctx, other, "p1"); err != nil || len(got) != 0 {
		t.Errorf("ListSessions(other, p1) = %d, %v", len(got), err)
	}
	if n, err := s.RevokePrincipalSessions(ctx, other, "p1", t0); err != nil || n != 0 {
		t.Errorf("RevokePrincipalSessions(other) = %d, %v", n, err)
	}
	_, err := s.GetAccessRequest(ctx, other, "r1")
	wantErr(t, "GetAccessRequest(other)", err, store.ErrNotFound)
	if got, err := s.ListAccessRequests(ctx, other, ""); err != nil || len(got) != 0 {
		t.Errorf("ListAccessRequests(other) = %d, %v", len(got), err)
	}
	if got, _ := s.GetSessionByHash(ctx, []byte("sha256-of-s1")); !got.RevokedAt.IsZero() {
		t.Error("t1 session revoked by another tenant's call")
	}
}
