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

// The conformance tests of the contract added for many clusters and several
// replicas: the window change feed, agent enrolments, the tenant registry and
// leases.

func agent(tenant, id, cluster, token string) store.Agent {
	return store.Agent{Tenant: tenant, ID: id, ClusterID: cluster, State: store.AgentActive,
		TokenHash: []byte("sha256-of-" + token), TokenExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
}

func feedKeys(ws []store.WindowInfo) []string {
	var out []string
	for _, w := range ws {
		out = append(out, fmt.Sprintf("%s/%d/%s", w.ClusterID, w.Resolution, w.Start.Format("15")))
	}
	return out
}

func testWindowFeed(t *testing.T, s store.Store) {
	ctx := t.Context()
	ch, err := s.WindowsSince(ctx, "t1", 0)
	must(t, "WindowsSince(empty)", err)
	if ch.Version != 0 || ch.Deletes != 0 || len(ch.Windows) != 0 {
		t.Fatalf("WindowsSince(empty) = %+v, want zero", ch)
	}
	for h := range 3 {
		must(t, "PutWindow", s.PutWindow(ctx, window("t1", "c1", hourly, t0.Add(time.Duration(h)*time.Hour), "b")))
	}
	must(t, "PutWindow", s.PutWindow(ctx, window("t2", "c1", hourly, t0, "b")))
	ch, err = s.WindowsSince(ctx, "t1", 0)
	must(t, "WindowsSince", err)
	if ch.Version != 3 || !slices.Equal(feedKeys(ch.Windows), []string{"c1/1/00", "c1/1/01", "c1/1/02"}) {
		t.Fatalf("WindowsSince(0) = version %d, %v; want 3 and the three hours in order", ch.Version, feedKeys(ch.Windows))
	}
	for i, w := range ch.Windows {
		if w.Version != int64(i+1) || w.Tenant != "t1" || w.End.IsZero() || w.UpdatedAt.IsZero() {
			t.Errorf("window %d = %+v, want version %d with its end and store time", i, w, i+1)
		}
	}
	// Storing hour 0 again moves it after the others, once.
	w0 := window("t1", "c1", hourly, t0, "b2")
	w0.Partial = true
	must(t, "PutWindow", s.PutWindow(ctx, w0))
	ch, err = s.WindowsSince(ctx, "t1", 1)
	must(t, "WindowsSince", err)
	if ch.Version != 4 || !slices.Equal(feedKeys(ch.Windows), []string{"c1/1/01", "c1/1/02", "c1/1/00"}) || !ch.Windows[2].Partial {
		t.Fatalf("after re-storing hour 0: version %d, %v; want 4, hour 0 last and partial", ch.Version, feedKeys(ch.Windows))
	}
	ch, err = s.WindowsSince(ctx, "t1", 4)
	if err != nil || len(ch.Windows) != 0 || ch.Version != 4 {
		t.Errorf("WindowsSince(current) = %+v, %v; want nothing new", ch, err)
	}
	ch, err = s.WindowsSince(ctx, "t1", -1)
	if err != nil || len(ch.Windows) != 0 || ch.Version != 4 {
		t.Errorf("WindowsSince(-1) = %+v, %v; want the counters only", ch, err)
	}
	infos, err := s.WindowStarts(ctx, store.WindowRange{Tenant: "t1", Resolution: hourly, To: t0.Add(24 * time.Hour)})
	must(t, "WindowStarts", err)
	if len(infos) != 3 || infos[0].Version != 4 || infos[1].Version != 2 {
		t.Errorf("WindowStarts versions = %+v, want 4, 2, 3", infos)
	}
	// Another tenant counts apart.
	if ch, _ := s.WindowsSince(ctx, "t2", 0); ch.Version != 1 || len(ch.Windows) != 1 {
		t.Errorf("t2 feed = %+v, want its own window at version 1", ch)
	}
	// Deletions are counted, and only when something was deleted.
	if n, err := s.DeleteWindows(ctx, store.WindowRange{Tenant: "t1", Resolution: daily, To: t0.Add(48 * time.Hour)}); err != nil || n != 0 {
		t.Fatalf("DeleteWindows(nothing) = %d, %v", n, err)
	}
	if ch, _ := s.WindowsSince(ctx, "t1", -1); ch.Deletes != 0 {
		t.Errorf("deleting nothing counted a deletion: %+v", ch)
	}
	if n, err := s.DeleteWindows(ctx, store.WindowRange{Tenant: "t1", Resolution: hourly, To: t0.Add(time.Hour)}); err != nil || n != 1 {
		t.Fatalf("DeleteWindows = %d, %v", n, err)
	}
	ch, _ = s.WindowsSince(ctx, "t1", -1)
	if ch.Deletes != 1 {
		t.Errorf("deletes = %d after a deletion, want 1", ch.Deletes)
	}
	if _, err := s.DeleteTenantData(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	ch, _ = s.WindowsSince(ctx, "t1", -1)
	if ch.Deletes != 2 || ch.Version != 4 {
		t.Errorf("after DeleteTenantData counters = %+v, want deletes 2 and the version kept (4)", ch)
	}
	must(t, "PutWindow", s.PutWindow(ctx, window("t1", "c1", hourly, t0, "b")))
	if ch, _ := s.WindowsSince(ctx, "t1", 4); ch.Version != 5 || len(ch.Windows) != 1 {
		t.Errorf("a window stored after DeleteTenantData = %+v, want version 5: versions never go back", ch)
	}
}

// testWindowFeedConcurrent: a reader following the feed while writers store
// windows at once sees every window, and versions it is told are complete.
func testWindowFeedConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const writers, each = 4, 15
	var wg sync.WaitGroup
	errc := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				cl := fmt.Sprintf("c%d", w)
				if err := s.PutWindow(ctx, window("t1", cl, hourly, t0.Add(time.Duration(i)*time.Hour), "b")); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[string]int64{}
	var after int64
	finished := false
	for !finished {
		select {
		case <-done:
			finished = true
		default:
		}
		ch, err := s.WindowsSince(ctx, "t1", after)
		must(t, "WindowsSince", err)
		if ch.Version < after {
			t.Fatalf("version went back from %d to %d", after, ch.Version)
		}
		for _, w := range ch.Windows {
			if w.Version <= after || w.Version > ch.Version {
				t.Fatalf("window version %d outside (%d, %d]", w.Version, after, ch.Version)
			}
			seen[fmt.Sprintf("%s/%d", w.ClusterID, w.Start.Unix())] = w.Version
		}
		after = ch.Version
	}
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if len(seen) != writers*each || after != writers*each {
		t.Fatalf("the feed showed %d windows up to version %d, want %d", len(seen), after, writers*each)
	}
}

func testAgents(t *testing.T, s store.Store) {
	ctx := t.Context()
	wantErr(t, "InsertAgent(no cluster)", s.InsertAgent(ctx, agent("t1", "a1", "c1", "tok")), store.ErrNotFound)
	for _, tenant := range []string{"t1", "t2"} {
		_, err := s.EnsureCluster(ctx, store.Cluster{Tenant: tenant, ID: "c1", NameIndex: []byte("idx"), Sealed: []byte("s"), CreatedAt: t0})
		must(t, "EnsureCluster", err)
	}
	must(t, "InsertAgent", s.InsertAgent(ctx, agent("t1", "a1", "c1", "tok")))
	wantErr(t, "InsertAgent(duplicate id)", s.InsertAgent(ctx, agent("t1", "a1", "c1", "tok2")), store.ErrConflict)
	wantErr(t, "InsertAgent(duplicate token)", s.InsertAgent(ctx, agent("t1", "a2", "c1", "tok")), store.ErrConflict)
	a, err := s.GetAgent(ctx, "t1", "a1")
	must(t, "GetAgent", err)
	if a.State != store.AgentActive || a.Generation != 0 || a.ClusterID != "c1" || !a.TokenUsedAt.IsZero() {
		t.Fatalf("GetAgent = %+v", a)
	}
	sameTime(t, "TokenExpiresAt", a.TokenExpiresAt, t0.Add(time.Hour))
	_, err = s.GetAgent(ctx, "t2", "a1")
	wantErr(t, "GetAgent(other tenant)", err, store.ErrNotFound)
	if as, err := s.ListAgents(ctx, "t2"); err != nil || len(as) != 0 {
		t.Errorf("ListAgents(other tenant) = %v, %v", as, err)
	}

	// The join token: wrong hash, another tenant, expiry (T fails, T-1ns works).
	hash := []byte("sha256-of-tok")
	_, err = s.ClaimJoinToken(ctx, "t1", "a1", []byte("wrong"), t0)
	wantErr(t, "ClaimJoinToken(wrong hash)", err, store.ErrConflict)
	_, err = s.ClaimJoinToken(ctx, "t2", "a1", hash, t0)
	wantErr(t, "ClaimJoinToken(other tenant)", err, store.ErrNotFound)
	_, err = s.ClaimJoinToken(ctx, "t1", "a1", hash, t0.Add(time.Hour))
	wantErr(t, "ClaimJoinToken(at expiry)", err, store.ErrConflict)
	a, err = s.ClaimJoinToken(ctx, "t1", "a1", hash, t0.Add(time.Hour-time.Nanosecond))
	must(t, "ClaimJoinToken", err)
	if a.Generation != 1 || a.TokenUsedAt.IsZero() {
		t.Fatalf("claimed = %+v, want generation 1 and the use recorded", a)
	}
	_, err = s.ClaimJoinToken(ctx, "t1", "a1", hash, t0.Add(time.Minute))
	wantErr(t, "ClaimJoinToken(replayed)", err, store.ErrConflict)

	// Certificates are recorded for the current generation only.
	wantErr(t, "SetAgentCertificate(stale generation)", s.SetAgentCertificate(ctx, "t1", "a1", 0, "01", t0.Add(24*time.Hour)), store.ErrConflict)
	must(t, "SetAgentCertificate", s.SetAgentCertificate(ctx, "t1", "a1", 1, "0a0b", t0.Add(24*time.Hour)))

	// A new token (re-enrolment) moves the generation when it is claimed.
	_, err = s.NewJoinToken(ctx, "t1", "a1", []byte("sha256-of-tok2"), t0.Add(2*time.Hour))
	must(t, "NewJoinToken", err)
	a, _ = s.GetAgent(ctx, "t1", "a1")
	if a.Generation != 1 || !a.TokenUsedAt.IsZero() || a.CertSerial != "0a0b" {
		t.Errorf("after NewJoinToken = %+v, want generation 1, token unused, certificate kept", a)
	}
	a, err = s.ClaimJoinToken(ctx, "t1", "a1", []byte("sha256-of-tok2"), t0.Add(time.Hour))
	must(t, "ClaimJoinToken(new)", err)
	if a.Generation != 2 {
		t.Errorf("generation = %d after the second enrolment, want 2", a.Generation)
	}

	// Touch: last seen only forward, skew the latest.
	must(t, "TouchAgent", s.TouchAgent(ctx, "t1", "a1", t0.Add(3*time.Hour), 2*time.Second))
	must(t, "TouchAgent", s.TouchAgent(ctx, "t1", "a1", t0.Add(2*time.Hour), -time.Second))
	a, _ = s.GetAgent(ctx, "t1", "a1")
	sameTime(t, "LastSeenAt", a.LastSeenAt, t0.Add(3*time.Hour))
	if a.ClockSkew != -time.Second {
		t.Errorf("ClockSkew = %s, want -1s (the latest)", a.ClockSkew)
	}
	wantErr(t, "TouchAgent(other tenant)", s.TouchAgent(ctx, "t2", "a1", t0, 0), store.ErrNotFound)

	// Revocation: idempotent, first time kept; no token, no certificate after.
	wantErr(t, "RevokeAgent(other tenant)", s.RevokeAgent(ctx, "t2", "a1", t0), store.ErrNotFound)
	must(t, "RevokeAgent", s.RevokeAgent(ctx, "t1", "a1", t0.Add(4*time.Hour)))
	must(t, "RevokeAgent again", s.RevokeAgent(ctx, "t1", "a1", t0.Add(5*time.Hour)))
	a, _ = s.GetAgent(ctx, "t1", "a1")
	if a.State != store.AgentRevoked {
		t.Errorf("state = %s, want revoked", a.State)
	}
	sameTime(t, "RevokedAt", a.RevokedAt, t0.Add(4*time.Hour))
	_, err = s.NewJoinToken(ctx, "t1", "a1", []byte("sha256-of-tok3"), t0.Add(6*time.Hour))
	wantErr(t, "NewJoinToken(revoked)", err, store.ErrConflict)
	wantErr(t, "SetAgentCertificate(revoked)", s.SetAgentCertificate(ctx, "t1", "a1", 2, "0c", t0.Add(24*time.Hour)), store.ErrConflict)

	must(t, "InsertAgent", s.InsertAgent(ctx, agent("t1", "a2", "c1", "tok9")))
	as, err := s.ListAgents(ctx, "t1")
	must(t, "ListAgents", err)
	if len(as) != 2 || as[0].ID != "a1" || as[1].ID != "a2" {
		t.Errorf("ListAgents = %v, want a1, a2", as)
	}
	if ts, _ := s.ListTenants(ctx); !slices.Contains(ts, "t1") {
		t.Errorf("ListTenants = %v, want t1", ts)
	}
	if _, err := s.DeleteTenantData(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if as, _ := s.ListAgents(ctx, "t1"); len(as) != 0 {
		t.Errorf("%d agents left after DeleteTenantData", len(as))
	}
}

func testTenantRegistry(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetTenant(ctx, "acme")
	wantErr(t, "GetTenant(missing)", err, store.ErrNotFound)
	must(t, "PutTenant", s.PutTenant(ctx, store.TenantRecord{ID: "acme", State: store.TenantActive, Hosts: []string{"acme.example", "Costs.Acme.Example"}, CreatedAt: t0}))
	must(t, "PutTenant", s.PutTenant(ctx, store.TenantRecord{ID: "globex", State: store.TenantActive, Hosts: []string{"globex.example"}, CreatedAt: t0}))
	got, err := s.TenantByHost(ctx, "COSTS.acme.example")
	must(t, "TenantByHost", err)
	if got.ID != "acme" || !slices.Equal(got.Hosts, []string{"acme.example", "costs.acme.example"}) || got.State != store.TenantActive {
		t.Errorf("TenantByHost = %+v", got)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, t0)
	_, err = s.TenantByHost(ctx, "initech.example")
	wantErr(t, "TenantByHost(unknown)", err, store.ErrNotFound)
	// A host of another tenant is refused and changes nothing.
	err = s.PutTenant(ctx, store.TenantRecord{ID: "globex", State: store.TenantActive, Hosts: []string{"globex.example", "acme.example"}})
	wantErr(t, "PutTenant(taken host)", err, store.ErrConflict)
	if g, _ := s.GetTenant(ctx, "globex"); !slices.Equal(g.Hosts, []string{"globex.example"}) {
		t.Errorf("globex hosts = %v after a refused change", g.Hosts)
	}
	if a, _ := s.TenantByHost(ctx, "acme.example"); a.ID != "acme" {
		t.Errorf("acme.example belongs to %q after a refused change", a.ID)
	}
	// Hosts are replaced as a whole; the creation time stays.
	must(t, "PutTenant", s.PutTenant(ctx, store.TenantRecord{ID: "acme", State: store.TenantActive, Hosts: []string{"acme.example"}, CreatedAt: t0.Add(time.Hour)}))
	got, _ = s.GetTenant(ctx, "acme")
	if !slices.Equal(got.Hosts, []string{"acme.example"}) {
		t.Errorf("hosts = %v, want [acme.example]", got.Hosts)
	}
	sameTime(t, "CreatedAt after update", got.CreatedAt, t0)
	list, err := s.ListTenantRecords(ctx)
	must(t, "ListTenantRecords", err)
	if len(list) != 2 || list[0].ID != "acme" || list[1].ID != "globex" {
		t.Errorf("ListTenantRecords = %+v", list)
	}
	if ts, _ := s.ListTenants(ctx); !slices.Equal(ts, []string{"acme", "globex"}) {
		t.Errorf("ListTenants = %v, want registered tenants listed", ts)
	}
	if _, err := s.DeleteTenantData(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	_, err = s.TenantByHost(ctx, "acme.example")
	wantErr(t, "TenantByHost after DeleteTenantData", err, store.ErrNotFound)
	if g, err := s.GetTenant(ctx, "globex"); err != nil || g.ID != "globex" {
		t.Errorf("globex after acme's deletion: %+v, %v", g, err)
	}
}

func testLocker(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, err := s.TryLock(ctx, "job/a")
	if err != nil || a == nil {
		t.Fatalf("TryLock(job/a) = %v, %v", a, err)
	}
	again, err := s.TryLock(ctx, "job/a")
	if err != nil || again != nil {
		t.Fatalf("TryLock(job/a) while held = %v, %v; want nil, nil", again, err)
	}
	b, err := s.TryLock(ctx, "job/b")
	if err != nil || b == nil {
		t.Fatalf("TryLock(job/b) = %v, %v", b, err)
	}
	select {
	case <-a.Lost():
		t.Fatal("a held lock reports lost")
	default:
	}
	must(t, "Release", a.Release(ctx))
	select {
	case <-a.Lost():
	case <-time.After(5 * time.Second):
		t.Fatal("a released lock does not report lost")
	}
	a2, err := s.TryLock(ctx, "job/a")
	if err != nil || a2 == nil {
		t.Fatalf("TryLock(job/a) after release = %v, %v", a2, err)
	}
	must(t, "Release", a2.Release(ctx))
	must(t, "Release", b.Release(ctx))
	if err := a.Release(ctx); err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Release = %v, want nil", err)
	}
}

// testTenantBound: a store bound to t1 refuses every call naming t2, hides
// t2's rows from lookups not keyed by tenant, refuses operations over every
// tenant, and changes nothing of t2's.
func testTenantBound(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, tenant := range []string{"t1", "t2"} {
		_, err := s.EnsureCluster(ctx, store.Cluster{Tenant: tenant, ID: "c1", NameIndex: []byte("idx"), Sealed: []byte("s"), CreatedAt: t0})
		must(t, "EnsureCluster", err)
		must(t, "PutWindow", s.PutWindow(ctx, window(tenant, "c1", hourly, t0, "b-"+tenant)))
		p := principal(tenant, "p-"+tenant, "alice")
		p.EmailIndex, p.SubjectIndex = []byte("e"), []byte("s")
		must(t, "InsertPrincipal", s.InsertPrincipal(ctx, p))
		must(t, "InsertToken", s.InsertToken(ctx, token(tenant, "k-"+tenant, "p-"+tenant)))
		must(t, "InsertSession", s.InsertSession(ctx, session(tenant, "s-"+tenant, "p-"+tenant, store.SessionActive)))
		must(t, "InsertAccessRequest", s.InsertAccessRequest(ctx, request(tenant, "r-"+tenant, "p-"+tenant, t0)))
		_, err = s.AddFailure(ctx, tenant, []byte("lk"), t0, t0.Add(-time.Hour))
		must(t, "AddFailure", err)
		must(t, "InsertAgent", s.InsertAgent(ctx, agent(tenant, "a-"+tenant, "c1", "tok-"+tenant)))
	}
	before := dumpAll(t, s)
	b := store.ForTenant(s, "t1")
	const o = "t2"
	k := store.WindowKey{Tenant: o, ClusterID: "c1", Resolution: hourly, Start: t0}
	r := store.WindowRange{Tenant: o, Resolution: hourly, To: t0.Add(time.Hour)}
	calls := map[string]func() error{
		"EnsureCluster": func() error {
			_, err := b.EnsureCluster(ctx, store.Cluster{Tenant: o, ID: "c2", NameIndex: []byte("x"), Sealed: []byte("s")})
			return err
		},
		"ListClusters":  func() error { _, err := b.ListClusters(ctx, o); return err },
		"PutWindow":     func() error { return b.PutWindow(ctx, window(o, "c1", hourly, t0, "evil")) },
		"GetWindow":     func() error { _, err := b.GetWindow(ctx, k); return err },
		"ScanWindows":   func() error { return b.ScanWindows(ctx, r, func(store.Window) error { return nil }) },
		"WindowStarts":  func() error { _, err := b.WindowStarts(ctx, r); return err },
		"DeleteWindows": func() error { _, err := b.DeleteWindows(ctx, r); return err },
		"WindowsSince":  func() error { _, err := b.WindowsSince(ctx, o, 0); return err },
		"InsertPrincipal": func() error {
			return b.InsertPrincipal(ctx, principal(o, "p-new", "mallory"))
		},
		"GetPrincipal":          func() error { _, err := b.GetPrincipal(ctx, o, "p-t2"); return err },
		"GetPrincipalByName":    func() error { _, err := b.GetPrincipalByName(ctx, o, []byte("idx-alice")); return err },
		"GetPrincipalByEmail":   func() error { _, err := b.GetPrincipalByEmail(ctx, o, []byte("e")); return err },
		"GetPrincipalBySubject": func() error { _, err := b.GetPrincipalBySubject(ctx, o, []byte("s")); return err },
		"ListPrincipals":        func() error { _, err := b.ListPrincipals(ctx, o); return err },
		"UpdatePrincipal": func() error {
			p := principal(o, "p-t2", "alice")
			p.Version = 1
			_, err := b.UpdatePrincipal(ctx, p)
			return err
		},
		"TouchPrincipal":          func() error { return b.TouchPrincipal(ctx, o, "p-t2", t0.Add(time.Hour)) },
		"DeletePrincipal":         func() error { return b.DeletePrincipal(ctx, o, "p-t2") },
		"InsertToken":             func() error { return b.InsertToken(ctx, token(o, "k-new", "p-t2")) },
		"ListTokens":              func() error { _, err := b.ListTokens(ctx, o, ""); return err },
		"RevokeToken":             func() error { return b.RevokeToken(ctx, o, "k-t2", t0) },
		"RevokePrincipalTokens":   func() error { _, err := b.RevokePrincipalTokens(ctx, o, "p-t2", t0); return err },
		"InsertSession":           func() error { return b.InsertSession(ctx, session(o, "s-new", "p-t2", store.SessionActive)) },
		"ListSessions":            func() error { _, err := b.ListSessions(ctx, o, ""); return err },
		"TouchSession":            func() error { return b.TouchSession(ctx, o, "s-t2", t0.Add(time.Hour)) },
		"RevokeSession":           func() error { return b.RevokeSession(ctx, o, "s-t2", t0) },
		"RevokePrincipalSessions": func() error { _, err := b.RevokePrincipalSessions(ctx, o, "p-t2", t0); return err },
		"AddFailure":              func() error { _, err := b.AddFailure(ctx, o, []byte("lk"), t0, t0); return err },
		"LockUntil":               func() error { return b.LockUntil(ctx, o, []byte("lk"), t0.Add(time.Hour)) },
		"GetLockout":              func() error { _, err := b.GetLockout(ctx, o, []byte("lk")); return err },
		"ClearLockout":            func() error { return b.ClearLockout(ctx, o, []byte("lk")) },
		"InsertAccessRequest":     func() error { return b.InsertAccessRequest(ctx, request(o, "r-new", "p-t2", t0)) },
		"GetAccessRequest":        func() error { _, err := b.GetAccessRequest(ctx, o, "r-t2"); return err },
		"ListAccessRequests":      func() error { _, err := b.ListAccessRequests(ctx, o, ""); return err },
		"DecideAccessRequest": func() error {
			_, err := b.DecideAccessRequest(ctx, o, "r-t2", store.RequestApproved, "p-t1", t0)
			return err
		},
		"InsertAgent":    func() error { return b.InsertAgent(ctx, agent(o, "a-new", "c1", "tok-new")) },
		"GetAgent":       func() error { _, err := b.GetAgent(ctx, o, "a-t2"); return err },
		"ListAgents":     func() error { _, err := b.ListAgents(ctx, o); return err },
		"ClaimJoinToken": func() error { _, err := b.ClaimJoinToken(ctx, o, "a-t2", []byte("sha256-of-tok-t2"), t0); return err },
		"NewJoinToken": func() error {
			_, err := b.NewJoinToken(ctx, o, "a-t2", []byte("h"), t0.Add(time.Hour))
			return err
		},
		"SetAgentCertificate": func() error { return b.SetAgentCertificate(ctx, o, "a-t2", 0, "01", t0) },
		"RevokeAgent":         func() error { return b.RevokeAgent(ctx, o, "a-t2", t0) },
		"TouchAgent":          func() error { return b.TouchAgent(ctx, o, "a-t2", t0, 0) },
		"AppendAudit": func() error {
			return b.AppendAudit(ctx, store.AuditRecord{Tenant: o, Seq: 1, Time: t0, Action: "x.y", Outcome: "success", ActorID: "system",
				Hash: []byte("h"), Sealed: []byte("s")})
		},
		"AuditHead": func() error { _, err := b.AuditHead(ctx, o); return err },
		"ScanAudit": func() error {
			return b.ScanAudit(ctx, store.AuditFilter{Tenant: o}, func(store.AuditRecord) error { return nil })
		},
		"ProbeAudit": func() error { return b.ProbeAudit(ctx, o) },
		"InsertAuditCheckpoint": func() error {
			return b.InsertAuditCheckpoint(ctx, store.AuditCheckpoint{Tenant: o, Seq: 1, Hash: []byte("h"), Time: t0, KeyID: "k", Signature: []byte("s")})
		},
		"ListAuditCheckpoints": func() error { _, err := b.ListAuditCheckpoints(ctx, o); return err },
		// Metadata: only keys ending in the bound tenant's id.
		"GetMeta":         func() error { _, err := b.GetMeta(ctx, "audit/signing-key/"+o); return err },
		"PutMeta":         func() error { return b.PutMeta(ctx, "install-id", []byte("evil")) },
		"PutMetaIfAbsent": func() error { _, err := b.PutMetaIfAbsent(ctx, "audit/signing-key/"+o, []byte("evil")); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrOtherTenant) {
			t.Errorf("bound to t1, %s(t2) = %v, want ErrOtherTenant", name, err)
		}
	}
	// Lookups not keyed by tenant: another tenant's row is not found.
	_, err := b.GetTokenByHash(ctx, []byte("sha256-of-k-t2"))
	wantErr(t, "GetTokenByHash(t2's token)", err, store.ErrNotFound)
	_, err = b.GetSessionByHash(ctx, []byte("sha256-of-s-t2"))
	wantErr(t, "GetSessionByHash(t2's session)", err, store.ErrNotFound)
	wantErr(t, "TouchToken(t2's token)", b.TouchToken(ctx, "k-t2", t0.Add(time.Hour)), store.ErrNotFound)
	_, err = b.PurgeSessions(ctx, t0.Add(100*time.Hour))
	wantErr(t, "PurgeSessions", err, store.ErrGlobal)
	_, err = b.PurgeLockouts(ctx, t0.Add(100*time.Hour))
	wantErr(t, "PurgeLockouts", err, store.ErrGlobal)
	if after := dumpAll(t, s); !slices.Equal(after, before) {
		t.Errorf("calls refused by the bound store changed rows:\n%v\nwas\n%v", after, before)
	}
	// Its own tenant's rows are served.
	if tok, err := b.GetTokenByHash(ctx, []byte("sha256-of-k-t1")); err != nil || tok.Tenant != "t1" {
		t.Errorf("GetTokenByHash(own) = %+v, %v", tok, err)
	}
	must(t, "TouchToken(own)", b.TouchToken(ctx, "k-t1", t0.Add(time.Hour)))
	if ps, err := b.ListPrincipals(ctx, "t1"); err != nil || len(ps) != 1 {
		t.Errorf("ListPrincipals(own) = %d, %v", len(ps), err)
	}
	if ws, err := b.WindowStarts(ctx, store.WindowRange{Tenant: "t1", Resolution: hourly, To: t0.Add(time.Hour)}); err != nil || len(ws) != 1 {
		t.Errorf("WindowStarts(own) = %d, %v", len(ws), err)
	}
	must(t, "AppendAudit(own)", b.AppendAudit(ctx, store.AuditRecord{Tenant: "t1", Seq: 1, Time: t0, Action: "x.y", Outcome: "success",
		ActorID: "system", Hash: []byte("h"), Sealed: []byte("s")}))
	if head, err := b.AuditHead(ctx, "t1"); err != nil || head.Seq != 1 {
		t.Errorf("AuditHead(own) = %+v, %v", head, err)
	}
	must(t, "PutMeta(own)", b.PutMeta(ctx, "audit/signing-key/t1", []byte("k")))
	if v, err := b.GetMeta(ctx, "audit/signing-key/t1"); err != nil || string(v) != "k" {
		t.Errorf("GetMeta(own) = %q, %v", v, err)
	}
}
