package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// testKeyUsesConcurrent: increments from many goroutines (standing in for
// several processes or replicas) all count.
func testKeyUsesConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertKey", s.InsertKey(ctx, key("t1", 1, "active")))
	const goroutines, perG = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perG {
				if err := s.AddKeyUses(ctx, "t1", 1, 3); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.ListKeys(ctx, "t1")
	must(t, "ListKeys", err)
	if want := key("t1", 1, "").Uses + goroutines*perG*3; got[0].Uses != want {
		t.Errorf("uses = %d after concurrent increments, want %d (lost updates)", got[0].Uses, want)
	}
}

// testKeyStateRace: of several processes retiring the same version, exactly one
// succeeds; the others get ErrConflict.
func testKeyStateRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	must(t, "InsertKey", s.InsertKey(ctx, key("t1", 1, "active")))
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.SetKeyState(ctx, "t1", 1, "active", "decrypt")
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("SetKeyState: %v, want nil or ErrConflict", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d racing SetKeyState succeeded, want 1", ok, n)
	}
}

func testTenants(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListTenants(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("ListTenants(empty) = %v, %v", got, err)
	}
	must(t, "InsertKey", s.InsertKey(ctx, key("tk", 1, "active")))
	_, err = s.EnsureCluster(ctx, store.Cluster{Tenant: "tc", ID: "c1", NameIndex: []byte("i"), Sealed: []byte("s"), CreatedAt: t0})
	must(t, "EnsureCluster", err)
	must(t, "PutWindow", s.PutWindow(ctx, window("tw", "c1", hourly, t0, "b")))
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("tp", "p1", "alice")))
	must(t, "InsertKey", s.InsertKey(ctx, key("tc", 1, "active")))
	got, err = s.ListTenants(ctx)
	must(t, "ListTenants", err)
	if want := []string{"tc", "tk", "tp", "tw"}; !slices.Equal(got, want) {
		t.Errorf("ListTenants = %v, want %v", got, want)
	}

	// DeleteTenantData removes every row but the keys, of that tenant only.
	_, err = s.EnsureCluster(ctx, store.Cluster{Tenant: "tp", ID: "c1", NameIndex: []byte("i"), Sealed: []byte("s"), CreatedAt: t0})
	must(t, "EnsureCluster", err)
	must(t, "PutWindow", s.PutWindow(ctx, window("tp", "c1", hourly, t0, "b")))
	must(t, "PutWindow", s.PutWindow(ctx, window("tp", "c1", daily, t0, "b")))
	must(t, "InsertToken", s.InsertToken(ctx, token("tp", "k1", "p1")))
	must(t, "InsertKey", s.InsertKey(ctx, key("tp", 1, "active")))
	must(t, "InsertSession", s.InsertSession(ctx, session("tp", "s1", "p1", store.SessionActive)))
	must(t, "InsertAccessRequest", s.InsertAccessRequest(ctx, request("tp", "r1", "p1", t0)))
	_, err = s.AddFailure(ctx, "tp", []byte("idx-acct"), t0, t0.Add(-time.Hour))
	must(t, "AddFailure", err)
	_, err = s.AddFailure(ctx, "tw", []byte("idx-acct"), t0, t0.Add(-time.Hour))
	must(t, "AddFailure", err)
	must(t, "AppendAudit", s.AppendAudit(ctx, auditRecord("tp", 1, "auth.login")))
	must(t, "InsertAuditCheckpoint", s.InsertAuditCheckpoint(ctx, checkpoint("tp", 1)))
	must(t, "AppendAudit(tw)", s.AppendAudit(ctx, auditRecord("tw", 1, "auth.login")))
	n, err := s.DeleteTenantData(ctx, "tp")
	must(t, "DeleteTenantData", err)
	if n != 10 {
		t.Errorf("DeleteTenantData = %d rows, want 10 (cluster, 2 windows, principal, token, session, access request, lockout, audit record, checkpoint)", n)
	}
	if _, err := s.AuditHead(ctx, "tp"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("audit record left after DeleteTenantData: %v", err)
	}
	if cs, _ := s.ListAuditCheckpoints(ctx, "tp"); len(cs) != 0 {
		t.Errorf("%d audit checkpoints left after DeleteTenantData", len(cs))
	}
	if _, err := s.AuditHead(ctx, "tw"); err != nil {
		t.Errorf("another tenant's audit record was deleted: %v", err)
	}
	if _, err := s.GetSessionByHash(ctx, []byte("sha256-of-s1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("session left after DeleteTenantData: %v", err)
	}
	if _, err := s.GetLockout(ctx, "tp", []byte("idx-acct")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lockout left after DeleteTenantData: %v", err)
	}
	if _, err := s.GetLockout(ctx, "tw", []byte("idx-acct")); err != nil {
		t.Errorf("another tenant's lockout was deleted: %v", err)
	}
	if ks, _ := s.ListKeys(ctx, "tp"); len(ks) != 1 {
		t.Errorf("DeleteTenantData removed keys (%d left), want them kept for Shred", len(ks))
	}
	if ps, _ := s.ListPrincipals(ctx, "tp"); len(ps) != 0 {
		t.Errorf("%d principals left", len(ps))
	}
	if _, err := s.GetTokenByHash(ctx, []byte("sha256-of-k1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token left after DeleteTenantData: %v", err)
	}
	if got := startKeys(t, s, store.WindowRange{Tenant: "tp", Resolution: hourly, To: t0.Add(time.Hour)}); len(got) != 0 {
		t.Errorf("windows left: %v", got)
	}
	if got := startKeys(t, s, store.WindowRange{Tenant: "tw", Resolution: hourly, To: t0.Add(time.Hour)}); len(got) != 1 {
		t.Errorf("another tenant's windows = %v, want 1", got)
	}
}

func testSealedRows(t *testing.T, s store.Store) {
	ctx := t.Context()
	// 7 windows over two clusters and two resolutions, 3 clusters, 2 principals,
	// 1 token; and rows of another tenant that must never appear.
	for i := range 3 {
		id := fmt.Sprintf("c%d", i)
		_, err := s.EnsureCluster(ctx, store.Cluster{Tenant: "t1", ID: id, NameIndex: []byte("i" + id), Sealed: []byte("s" + id)})
		must(t, "EnsureCluster", err)
	}
	for i, c := range []string{"c1", "c0"} {
		for h := range 3 + i {
			res := hourly
			if h == 3 {
				res = daily
			}
			must(t, "PutWindow", s.PutWindow(ctx, window("t1", c, res, t0.Add(time.Duration(h)*time.Hour), fmt.Sprintf("w-%s-%d", c, h))))
		}
	}
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p2", "bob")))
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t1", "p1", "alice")))
	must(t, "InsertToken", s.InsertToken(ctx, token("t1", "k1", "p1")))
	must(t, "InsertSession", s.InsertSession(ctx, session("t1", "s1", "p1", store.SessionActive)))
	must(t, "InsertSession", s.InsertSession(ctx, session("t1", "s2", "p2", store.SessionMFA)))
	must(t, "InsertAccessRequest", s.InsertAccessRequest(ctx, request("t1", "r1", "p2", t0)))
	must(t, "InsertPrincipal", s.InsertPrincipal(ctx, principal("t2", "p9", "eve")))
	must(t, "PutWindow", s.PutWindow(ctx, window("t2", "c0", hourly, t0, "other")))
	for seq := uint64(1); seq <= 3; seq++ {
		must(t, "AppendAudit", s.AppendAudit(ctx, auditRecord("t1", seq, "user.create")))
	}
	must(t, "AppendAudit(t2)", s.AppendAudit(ctx, auditRecord("t2", 1, "other")))

	counts := map[string]int{}
	for _, table := range store.SealedTables() {
		cursor, seen := "", map[string]bool{}
		for range 100 {
			rows, next, err := s.ScanSealed(ctx, table, "t1", cursor, 2)
			must(t, "ScanSealed("+table+")", err)
			if len(rows) > 2 {
				t.Fatalf("ScanSealed returned %d rows, limit 2", len(rows))
			}
			for _, r := range rows {
				id := r.ID
				if table == store.TableWindows {
					id = fmt.Sprintf("%s/%d/%s", r.Window.ClusterID, r.Window.Resolution, r.Window.Start.Format(time.RFC3339))
					if r.Window.Tenant != "t1" {
						t.Errorf("window row of tenant %q", r.Window.Tenant)
					}
				}
				if r.Tenant != "t1" || r.Table != table || seen[id] {
					t.Errorf("ScanSealed(%s) row %s/%s/%s (seen before: %v)", table, r.Tenant, r.Table, id, seen[id])
				}
				seen[id] = true
				if bytes.Equal(r.Blob, []byte("other")) || bytes.Contains(r.Blob, []byte("eve")) {
					t.Errorf("ScanSealed(t1) returned another tenant's blob")
				}
				// Replace every blob; then a replace with the old value fails.
				newBlob := append([]byte("re-"), r.Blob...)
				ok, err := s.ReplaceSealed(ctx, r, newBlob)
				if err != nil || !ok {
					t.Fatalf("ReplaceSealed(%s %s) = %v, %v", table, id, ok, err)
				}
				ok, err = s.ReplaceSealed(ctx, r, []byte("stale"))
				if err != nil || ok {
					t.Errorf("ReplaceSealed with a stale blob = %v, %v; want false, nil", ok, err)
				}
			}
			if next == "" {
				break
			}
			cursor = next
		}
		counts[table] = len(seen)
	}
	if counts[store.TableWindows] != 7 || counts[store.TableClusters] != 3 || counts[store.TablePrincipals] != 2 || counts[store.TableTokens] != 1 ||
		counts[store.TableSessions] != 2 || counts[store.TableAccessRequests] != 1 || counts[store.TableAudit] != 3 {
		t.Errorf("ScanSealed counts = %v, want 7 windows, 3 clusters, 2 principals, 1 token, 2 sessions, 1 access request, 3 audit records", counts)
	}
	var audited []string
	must(t, "ScanAudit", s.ScanAudit(ctx, store.AuditFilter{Tenant: "t1"}, func(r store.AuditRecord) error {
		audited = append(audited, string(r.Sealed))
		return nil
	}))
	if want := []string{"re-sealed-t1-1", "re-sealed-t1-2", "re-sealed-t1-3"}; !slices.Equal(audited, want) {
		t.Errorf("audit records after ReplaceSealed = %v, want %v", audited, want)
	}
	if x, err := s.GetSessionByHash(ctx, []byte("sha256-of-s2")); err != nil || string(x.Sealed) != "re-sealed-s2" {
		t.Errorf("session sealed = %q, %v after ReplaceSealed", x.Sealed, err)
	}
	if r, err := s.GetAccessRequest(ctx, "t1", "r1"); err != nil || string(r.Sealed) != "re-sealed-r1" {
		t.Errorf("access request sealed = %q, %v after ReplaceSealed", r.Sealed, err)
	}
	// The replaced blobs are what the normal read paths return.
	w, err := s.GetWindow(ctx, store.WindowKey{Tenant: "t1", ClusterID: "c0", Resolution: daily, Start: t0.Add(3 * time.Hour)})
	must(t, "GetWindow", err)
	if string(w.Blob) != "re-w-c0-3" {
		t.Errorf("window blob = %q after ReplaceSealed", w.Blob)
	}
	p, err := s.GetPrincipal(ctx, "t1", "p1")
	must(t, "GetPrincipal", err)
	if string(p.Sealed) != "re-sealed-alice" || p.Version != 1 {
		t.Errorf("principal sealed = %q version %d after ReplaceSealed, want re-sealed-alice, version unchanged", p.Sealed, p.Version)
	}
	tk, err := s.GetTokenByHash(ctx, []byte("sha256-of-k1"))
	must(t, "GetTokenByHash", err)
	if string(tk.Sealed) != "re-sealed-k1" {
		t.Errorf("token sealed = %q", tk.Sealed)
	}
	cs, _ := s.ListClusters(ctx, "t1")
	if len(cs) != 3 || string(cs[0].Sealed) != "re-sc0" {
		t.Errorf("clusters after ReplaceSealed = %v", clusterIDs(cs))
	}
	// Other tenant untouched.
	ow, err := s.GetWindow(ctx, store.WindowKey{Tenant: "t2", ClusterID: "c0", Resolution: hourly, Start: t0})
	must(t, "GetWindow(t2)", err)
	if string(ow.Blob) != "other" {
		t.Errorf("another tenant's window changed to %q", ow.Blob)
	}
	// A vanished row is not replaced and not an error.
	gone := store.SealedRow{Table: store.TableClusters, Tenant: "t1", ID: "nope", Blob: []byte("x")}
	if ok, err := s.ReplaceSealed(ctx, gone, []byte("y")); ok || err != nil {
		t.Errorf("ReplaceSealed(missing row) = %v, %v; want false, nil", ok, err)
	}
	if _, _, err := s.ScanSealed(ctx, "nosuchtable", "t1", "", 10); err == nil {
		t.Error("ScanSealed(unknown table) succeeded")
	}
}

// seedAll stores one row of every kind in two tenants.
func seedAll(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	must(t, "PutMeta", s.PutMeta(ctx, "install.id", []byte("abc")))
	must(t, "PutMeta", s.PutMeta(ctx, "empty", []byte{}))
	for _, tenant := range []string{"t1", "t2"} {
		must(t, "InsertKey", s.InsertKey(ctx, key(tenant, 0, "index")))
		must(t, "InsertKey", s.InsertKey(ctx, key(tenant, 1, "decrypt")))
		must(t, "InsertKey", s.InsertKey(ctx, key(tenant, 2, "active")))
		_, err := s.EnsureCluster(ctx, store.Cluster{Tenant: tenant, ID: "c1", NameIndex: []byte("idx"), Sealed: []byte("s-" + tenant), CreatedAt: t0})
		must(t, "EnsureCluster", err)
		for h := range 3 {
			w := window(tenant, "c1", hourly, t0.Add(time.Duration(h)*time.Hour), fmt.Sprintf("%s-%d", tenant, h))
			w.Partial = h == 2
			must(t, "PutWindow", s.PutWindow(ctx, w))
		}
		must(t, "PutWindow", s.PutWindow(ctx, window(tenant, "c1", daily, t0, tenant+"-day")))
		p := principal(tenant, "p-"+tenant, "alice")
		p.EmailIndex, p.SubjectIndex, p.LastSeenAt = []byte("email-"+tenant), []byte("sub-"+tenant), t0.Add(2*time.Hour)
		must(t, "InsertPrincipal", s.InsertPrincipal(ctx, p))
		tok := token(tenant, "k-"+tenant, "p-"+tenant)
		tok.RevokedAt, tok.LastUsedAt = t0.Add(time.Hour), t0.Add(time.Minute)
		must(t, "InsertToken", s.InsertToken(ctx, tok))
		x := session(tenant, "s-"+tenant, "p-"+tenant, store.SessionActive)
		x.RevokedAt = t0.Add(3 * time.Hour)
		must(t, "InsertSession", s.InsertSession(ctx, x))
		must(t, "InsertAccessRequest", s.InsertAccessRequest(ctx, request(tenant, "r-"+tenant, "p-"+tenant, t0)))
		if tenant == "t2" {
			_, err := s.DecideAccessRequest(ctx, tenant, "r-"+tenant, store.RequestApproved, "p-admin", t0.Add(time.Hour))
			must(t, "DecideAccessRequest", err)
		}
		_, err = s.AddFailure(ctx, tenant, []byte("idx-acct"), t0, t0.Add(-time.Hour)) // not dumped
		must(t, "AddFailure", err)
		must(t, "InsertAgent", s.InsertAgent(ctx, agent(tenant, "a-"+tenant, "c1", "join-"+tenant)))
		must(t, "RevokeAgent", s.RevokeAgent(ctx, tenant, "a-"+tenant, t0.Add(4*time.Hour)))
		must(t, "PutTenant", s.PutTenant(ctx, store.TenantRecord{ID: tenant, State: store.TenantActive, Hosts: []string{tenant + ".example", "www." + tenant + ".example"}, CreatedAt: t0}))
		must(t, "AppendAudit", s.AppendAudit(ctx, auditRecord(tenant, 1, "auth.login")))
		must(t, "InsertAuditCheckpoint", s.InsertAuditCheckpoint(ctx, checkpoint(tenant, 1)))
	}
}

// dumpAll returns a canonical text form of every row.
func dumpAll(t *testing.T, s store.Store) []string {
	t.Helper()
	var out []string
	err := s.Dump(t.Context(), func(r store.Row) error {
		var line string
		switch {
		case r.Meta != nil:
			line = fmt.Sprintf("meta %s=%x", r.Meta.Key, r.Meta.Value)
		case r.Key != nil:
			k := r.Key
			line = fmt.Sprintf("key %s/%d %s %x %s %s %d", k.Tenant, k.Version, k.KEKID, k.Wrapped, k.CreatedAt.Format(time.RFC3339Nano), k.State, k.Uses)
		case r.Cluster != nil:
			c := r.Cluster
			line = fmt.Sprintf("cluster %s/%s %x %x %s", c.Tenant, c.ID, c.NameIndex, c.Sealed, c.CreatedAt.Format(time.RFC3339Nano))
		case r.Window != nil:
			w := r.Window
			line = fmt.Sprintf("window %s/%s/%d %s %s %v %x %s", w.Tenant, w.ClusterID, w.Resolution, w.Start.Format(time.RFC3339Nano), w.End.Format(time.RFC3339Nano), w.Partial, w.Blob, w.UpdatedAt.Format(time.RFC3339Nano))
		case r.Principal != nil:
			p := r.Principal
			line = fmt.Sprintf("principal %s/%s %s %x %s %s %x %s %s %d %x %x %s", p.Tenant, p.ID, p.Kind, p.NameIndex, p.State, p.Role, p.Sealed, p.CreatedAt.Format(time.RFC3339Nano), p.UpdatedAt.Format(time.RFC3339Nano), p.Version,
				p.EmailIndex, p.SubjectIndex, p.LastSeenAt.Format(time.RFC3339Nano))
		case r.Token != nil:
			k := r.Token
			line = fmt.Sprintf("token %s/%s %s %x %x %s %s %s %s %s", k.Tenant, k.ID, k.PrincipalID, k.Hash, k.Sealed, k.Role, k.CreatedAt.Format(time.RFC3339Nano), k.ExpiresAt.Format(time.RFC3339Nano), k.RevokedAt.Format(time.RFC3339Nano), k.LastUsedAt.Format(time.RFC3339Nano))
		case r.Session != nil:
			x := r.Session
			line = fmt.Sprintf("session %s/%s %s %x %s %x %s %s %s %s", x.Tenant, x.ID, x.PrincipalID, x.Hash, x.Stage, x.Sealed, x.CreatedAt.Format(time.RFC3339Nano), x.LastSeenAt.Format(time.RFC3339Nano), x.ExpiresAt.Format(time.RFC3339Nano), x.RevokedAt.Format(time.RFC3339Nano))
		case r.AccessRequest != nil:
			a := r.AccessRequest
			line = fmt.Sprintf("request %s/%s %s %s %x %s %s %s %s", a.Tenant, a.ID, a.PrincipalID, a.Role, a.Sealed, a.State, a.CreatedAt.Format(time.RFC3339Nano), a.DecidedAt.Format(time.RFC3339Nano), a.DecidedBy)
		case r.Agent != nil:
			a := r.Agent
			line = fmt.Sprintf("agent %s/%s %s %s %d %x %s %s %s %s %s %s %s %d", a.Tenant, a.ID, a.ClusterID, a.State, a.Generation, a.TokenHash,
				a.TokenExpiresAt.Format(time.RFC3339Nano), a.TokenUsedAt.Format(time.RFC3339Nano), a.CertSerial, a.CertNotAfter.Format(time.RFC3339Nano),
				a.CreatedAt.Format(time.RFC3339Nano), a.RevokedAt.Format(time.RFC3339Nano), a.LastSeenAt.Format(time.RFC3339Nano), a.ClockSkew)
		case r.Tenant != nil:
			x := r.Tenant
			line = fmt.Sprintf("tenant %s %s %v %s", x.ID, x.State, x.Hosts, x.CreatedAt.Format(time.RFC3339Nano))
		case r.Audit != nil:
			a := r.Audit
			line = fmt.Sprintf("audit %s/%d %s %s %s %s %x %x %x", a.Tenant, a.Seq, a.Time.Format(time.RFC3339Nano), a.Action, a.Outcome, a.ActorID, a.ActorIndex, a.Hash, a.Sealed)
		case r.AuditCheckpoint != nil:
			c := r.AuditCheckpoint
			line = fmt.Sprintf("checkpoint %s/%d %x %s %s %x", c.Tenant, c.Seq, c.Hash, c.Time.Format(time.RFC3339Nano), c.KeyID, c.Signature)
		default:
			t.Errorf("Dump yielded an empty row")
		}
		out = append(out, line)
		return nil
	})
	must(t, "Dump", err)
	return out
}

// rowsOf collects a store's dump as rows for Load.
func rowsOf(t *testing.T, s store.Store) []store.Row {
	t.Helper()
	var rows []store.Row
	must(t, "Dump", s.Dump(t.Context(), func(r store.Row) error { rows = append(rows, r); return nil }))
	return rows
}

func feed(rows []store.Row) func() (store.Row, error) {
	i := 0
	return func() (store.Row, error) {
		if i == len(rows) {
			return store.Row{}, io.EOF
		}
		i++
		return rows[i-1], nil
	}
}

func testDumpLoad(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedAll(t, s)
	before := dumpAll(t, s)
	// 2 meta, 6 keys, 2 clusters, 8 windows, 2 principals, 2 tokens, 2 sessions,
	// 2 access requests, 2 agents, 2 tenants, 2 audit records, 2 checkpoints (lockouts are not dumped).
	if len(before) != 34 {
		t.Fatalf("Dump returned %d rows, want 34:\n%v", len(before), before)
	}
	ai := slices.IndexFunc(before, func(l string) bool { return strings.HasPrefix(l, "agent ") })
	if cl := slices.IndexFunc(before, func(l string) bool { return strings.HasPrefix(l, "cluster ") }); ai < cl {
		t.Errorf("Dump yields agents (at %d) before clusters (at %d)", ai, cl)
	}
	// Parents come before children.
	pi := slices.IndexFunc(before, func(l string) bool { return len(l) > 9 && l[:9] == "principal" })
	for _, child := range []string{"token ", "session ", "request "} {
		ci := slices.IndexFunc(before, func(l string) bool { return strings.HasPrefix(l, child) })
		if pi < 0 || ci < pi {
			t.Errorf("Dump yields %s(at %d) before principals (at %d)", child, ci, pi)
		}
	}
	rows := rowsOf(t, s)
	// Loading into the same, non-empty store is refused and changes nothing.
	err := s.Load(ctx, feed(rows))
	wantErr(t, "Load(non-empty)", err, store.ErrConflict)
	if after := dumpAll(t, s); !slices.Equal(after, before) {
		t.Error("a refused Load changed the store")
	}
	// Round trip through a fresh store: delete everything, then load.
	for _, tenant := range []string{"t1", "t2"} {
		_, err := s.DeleteTenantData(ctx, tenant)
		must(t, "DeleteTenantData", err)
		must(t, "DeleteKeys", s.DeleteKeys(ctx, tenant))
	}
	// Meta rows cannot be deleted through the contract, so load into a store
	// whose only rows are those: refused too.
	wantErr(t, "Load(meta present)", s.Load(ctx, feed(rows)), store.ErrConflict)
}

// testLoadNonEmpty: a failed or interrupted Load stores nothing.
func testLoadNonEmpty(t *testing.T, s store.Store) {
	ctx := t.Context()
	// A load that fails midway stores nothing.
	bad := []store.Row{
		{Meta: &store.MetaRow{Key: "a", Value: []byte("1")}},
		{Key: ptr(key("t1", 1, "active"))},
		{Key: ptr(key("t1", 1, "active"))}, // duplicate: fails
	}
	if err := s.Load(ctx, feed(bad)); err == nil {
		t.Fatal("Load with a duplicate key succeeded")
	}
	if got := dumpAll(t, s); len(got) != 0 {
		t.Fatalf("a failed Load left %d rows: %v", len(got), got)
	}
	// A reader error stops the load and leaves nothing.
	boom := errors.New("truncated input")
	i := 0
	err := s.Load(ctx, func() (store.Row, error) {
		i++
		if i == 3 {
			return store.Row{}, boom
		}
		return store.Row{Meta: &store.MetaRow{Key: fmt.Sprint(i), Value: []byte("v")}}, nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("Load = %v, want the reader's error", err)
	}
	if got := dumpAll(t, s); len(got) != 0 {
		t.Fatalf("an interrupted Load left %d rows", len(got))
	}
}

func ptr[T any](v T) *T { return &v }

// RoundTrip checks that Dump of a seeded store loaded into an empty store (of
// the same or another backend) dumps identically. Backends call it with two
// stores; the backup package calls it across backends.
func RoundTrip(t *testing.T, from, to store.Store) {
	seedAll(t, from)
	want := dumpAll(t, from)
	must(t, "Load", to.Load(t.Context(), feed(rowsOf(t, from))))
	if got := dumpAll(t, to); !slices.Equal(got, want) {
		t.Errorf("after Load the dump differs:\n got %v\nwant %v", got, want)
	}
	// The loaded store works: reads by the normal paths.
	tk, err := to.GetTokenByHash(t.Context(), []byte("sha256-of-k-t2"))
	must(t, "GetTokenByHash", err)
	sameTime(t, "RevokedAt", tk.RevokedAt, t0.Add(time.Hour))
	if p, err := to.GetPrincipalBySubject(t.Context(), "t2", []byte("sub-t2")); err != nil || p.ID != "p-t2" {
		t.Errorf("GetPrincipalBySubject after Load = %v, %v", p.ID, err)
	}
	if x, err := to.GetSessionByHash(t.Context(), []byte("sha256-of-s-t1")); err != nil || x.RevokedAt.IsZero() {
		t.Errorf("session after Load = %+v, %v", x, err)
	}
	must(t, "Check", to.Check(t.Context()))
}

func testReclaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedAll(t, s)
	n, err := s.DeleteWindows(ctx, store.WindowRange{Tenant: "t1", Resolution: hourly, To: t0.Add(2 * time.Hour)})
	must(t, "DeleteWindows", err)
	if n != 2 {
		t.Errorf("DeleteWindows = %d, want 2", n)
	}
	must(t, "Reclaim", s.Reclaim(ctx))
	must(t, "Check", s.Check(ctx))
	if got := startKeys(t, s, store.WindowRange{Tenant: "t1", Resolution: hourly, To: t0.Add(5 * time.Hour)}); len(got) != 1 {
		t.Errorf("windows after Reclaim = %v, want the one not deleted", got)
	}
}
