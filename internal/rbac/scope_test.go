package rbac

import (
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    string
		wantErr string
	}{
		{"", "all", ""},
		{"all", "all", ""},
		{"namespaces=payments|billing", "namespaces=payments|billing", ""},
		{"clusters=prod;namespaces=a", "clusters=prod;namespaces=a", ""},
		{"selector=team=payments,env in (prod,stage)", "selector=team=payments,env in (prod,stage)", ""},
		{"planets=earth", "", "unknown key"},
		{"namespaces", "", "expected"},
		{"selector=team===x", "", "selector"},
		{"selector=team in prod", "", "selector"},
		{"selector=a/b/c=x", "", "selector"},
		{"namespaces=" + strings.Repeat("n", 254), "", "1-253"},
		{"namespaces=a\x00b", "", "printable"},
	} {
		got, err := ParseScope(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseScope(%q) err = %v, want one containing %q", c.in, err, c.wantErr)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("ParseScope(%q) = %q, %v; want %q", c.in, got.String(), err, c.want)
		}
	}
}

func TestFilterAllows(t *testing.T) {
	payments := map[string]string{"team": "payments", "env": "prod"}
	batch := map[string]string{"team": "data", "env": "prod", "legacy": "yes"}
	for _, c := range []struct {
		scope              string
		cluster, ns        string
		labels             map[string]string
		allows, coversProd bool
	}{
		{"all", "prod", "payments", payments, true, true},
		{"clusters=prod", "prod", "payments", payments, true, true},
		{"clusters=prod", "dev", "payments", payments, false, true},
		{"namespaces=payments", "prod", "payments", payments, true, false},
		{"namespaces=payments", "prod", "search", payments, false, false},
		{"namespaces=payments", "prod", "", nil, false, false}, // idle/unmounted rows without a namespace
		{"selector=team=payments", "prod", "x", payments, true, false},
		{"selector=team=payments", "prod", "x", batch, false, false},
		{"selector=team!=payments", "prod", "x", batch, true, false},
		{"selector=team!=payments", "prod", "x", nil, true, false},
		{"selector=env in (prod,stage),!legacy", "prod", "x", payments, true, false},
		{"selector=env in (prod,stage),!legacy", "prod", "x", batch, false, false},
		{"selector=team notin (data)", "prod", "x", batch, false, false},
		{"selector=legacy", "prod", "x", batch, true, false},
		{"selector=env==prod", "prod", "x", batch, true, false},
	} {
		sc, err := ParseScope(c.scope)
		if err != nil {
			t.Fatalf("%q: %v", c.scope, err)
		}
		f, err := NewFilter(sc)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Allows(c.cluster, c.ns, c.labels); got != c.allows {
			t.Errorf("%q Allows(%s, %s, %v) = %v, want %v", c.scope, c.cluster, c.ns, c.labels, got, c.allows)
		}
		if got := f.CoversCluster("prod"); got != c.coversProd {
			t.Errorf("%q CoversCluster(prod) = %v, want %v", c.scope, got, c.coversProd)
		}
	}
}

func TestFilterIntersects(t *testing.T) {
	owner, _ := ParseScope("namespaces=a|b")
	token, _ := ParseScope("namespaces=b|c")
	f, err := NewFilter(owner, token)
	if err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string]bool{"a": false, "b": true, "c": false, "d": false} {
		if got := f.Allows("prod", ns, nil); got != want {
			t.Errorf("owner∩token allows %s = %v, want %v", ns, got, want)
		}
	}
	if f.Unrestricted() || f.CoversCluster("prod") {
		t.Error("an intersection of namespace scopes is unrestricted or covers the cluster")
	}
	all, _ := NewFilter(Scope{}, Scope{})
	if !all.Unrestricted() || !all.CoversCluster("any") || !all.Allows("x", "y", nil) {
		t.Error("zero scopes restrict")
	}
}

func TestScopeWithin(t *testing.T) {
	for _, c := range []struct {
		inner, outer string
		want         bool
	}{
		{"namespaces=a", "namespaces=a|b", true},
		{"namespaces=a|c", "namespaces=a|b", false},
		{"all", "namespaces=a", false},
		{"namespaces=a", "all", true},
		{"clusters=p;namespaces=a", "clusters=p", true},
		{"namespaces=a", "clusters=p", false},
		{"selector=team=x,env=prod", "selector=team=x", true},
		{"selector=env=prod", "selector=team=x", false},
	} {
		in, _ := ParseScope(c.inner)
		out, _ := ParseScope(c.outer)
		if got := in.Within(out); got != c.want {
			t.Errorf("%q within %q = %v, want %v", c.inner, c.outer, got, c.want)
		}
	}
}

func TestRolesAndTokens(t *testing.T) {
	if !RoleWithin(Viewer, Admin) || !RoleWithin(Viewer, Editor) || RoleWithin(Editor, Viewer) || RoleWithin(Auditor, Viewer) || !RoleWithin(Admin, Admin) {
		t.Error("RoleWithin")
	}
	// A viewer token of an owner demoted to auditor can no longer read costs.
	if DecideAll(ReadCosts, Viewer, Auditor).Allowed {
		t.Error("DecideAll allowed what one role does not grant")
	}
	if d := DecideAll(ReadCosts, Viewer, Admin); !d.Allowed || d.Reason == "" {
		t.Errorf("DecideAll(viewer, admin) = %+v", d)
	}
	if DecideAll(ReadCosts).Allowed {
		t.Error("no roles allowed")
	}
	if !Decide("", ManageSelf).Allowed || Decide("", ReadCosts).Allowed {
		t.Error("a principal without a role may manage itself only")
	}
	if !Decide(Provisioner, ProvisionUsers).Allowed || Decide(Provisioner, ManageSelf).Allowed || Decide(Admin, ProvisionUsers).Allowed {
		t.Error("SCIM provisioning is the provisioner's alone, and all it can do")
	}
	if _, err := ParseRole("scim"); err == nil {
		t.Error("the provisioner role can be given to a principal")
	}
}

func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "namespaces=a|b", "selector=a in (b,c),!d", "clusters=x;selector=k!=v", "selector=((", "selector=a/b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScope(s)
		if err != nil {
			return
		}
		// What parses round-trips, and compiles.
		again, err := ParseScope(sc.String())
		if err != nil || again.String() != sc.String() {
			t.Fatalf("round trip of %q: %q, %v", s, again.String(), err)
		}
		if _, err := NewFilter(sc); err != nil {
			t.Fatalf("NewFilter(%q): %v", s, err)
		}
	})
}
