package allocation_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/cost"
)

func row(ns, pod string, labels map[string]string, services ...string) *cost.Allocation {
	return &cost.Allocation{Properties: &cost.Properties{Cluster: "c1", Node: "n1", Namespace: ns, Pod: pod, Container: "app",
		ControllerKind: "deployment", Controller: "web", Labels: labels, Services: services,
		NamespaceLabels: map[string]string{"team": "ns-team"}}}
}

func TestFilterLanguage(t *testing.T) {
	web := row("payments", "web-1", map[string]string{"app": "web", "app.kubernetes.io/name": "checkout"}, "public")
	db := row("payments", "db-0", map[string]string{"app": "db", "team": "data"})
	sys := row("kube-system", "proxy-x", nil)
	for _, c := range []struct {
		filter string
		want   [3]bool // web, db, sys
	}{
		{`namespace:"payments"`, [3]bool{true, true, false}},
		{`namespace!:"payments"`, [3]bool{false, false, true}},
		{`namespace:"payments","kube-system"`, [3]bool{true, true, true}},
		{`pod<~:"web"`, [3]bool{true, false, false}},
		{`pod~>:"-0"`, [3]bool{false, true, false}},
		{`pod~:"roxy"`, [3]bool{false, false, true}},
		{`pod!~:"roxy"`, [3]bool{true, true, false}},
		{`label[app]:"web" | label[app]:"db"`, [3]bool{true, true, false}},
		{`label[app]!:"web"`, [3]bool{false, true, true}},
		{`label[app_kubernetes_io_name]:"checkout"`, [3]bool{true, false, false}},
		{`namespace:"payments" + label[app]:"db"`, [3]bool{false, true, false}},
		{`namespace:"kube-system" | namespace:"payments" + label[app]:"db"`, [3]bool{false, true, true}},
		{`(namespace:"kube-system" | namespace:"payments") + label[app]!:"db"`, [3]bool{true, false, true}},
		{`services:"public"`, [3]bool{true, false, false}},
		{`team:"data"`, [3]bool{false, true, false}},
		{`team:"ns-team"`, [3]bool{true, false, true}},
		{`controllerName:"web" + controllerKind:"deployment" + cluster:"c1" + node:"n1" + container:"app"`, [3]bool{true, true, true}},
		{`namespaceLabel[team]:"ns-team"`, [3]bool{true, true, true}},
		{"  namespace : \"payments\"\t", [3]bool{true, true, false}},
	} {
		f, err := allocation.ParseFilter(c.filter, nil)
		if err != nil {
			t.Errorf("%s: %v", c.filter, err)
			continue
		}
		for i, a := range []*cost.Allocation{web, db, sys} {
			if got := f.Match(a); got != c.want[i] {
				t.Errorf("%s on row %d = %v, want %v", c.filter, i, got, c.want[i])
			}
		}
		// The canonical form parses to the same filter.
		again, err := allocation.ParseFilter(f.String(), nil)
		if err != nil || again.String() != f.String() {
			t.Errorf("%s: canonical %q reparses to %v (%v)", c.filter, f.String(), again, err)
		}
	}
	if f, err := allocation.ParseFilter("   ", nil); f != nil || err != nil || f.Predicate() != nil || !f.Match(sys) {
		t.Errorf("blank filter = %v, %v; want nil, matching everything", f, err)
	}
}

func TestFilterErrorsPointAtThePosition(t *testing.T) {
	for _, c := range []struct {
		in      string
		pos     int
		message string
	}{
		{`namespace:"a`, 11, "unterminated"},
		{`namespac:"a"`, 1, "unknown field"},
		{`namespace="a"`, 10, "expected an operator"},
		{`namespace:a`, 11, "double-quoted"},
		{`namespace:"a" +`, 16, "expected a comparison"},
		{`namespace:"a" namespace:"b"`, 15, "expected '+', '|'"},
		{`(namespace:"a"`, 15, "expected ')'"},
		{`namespace:"a")`, 14, "unmatched ')'"},
		{`label:"x"`, 6, "expected '['"},
		{`label[a b]:"x"`, 7, "not a label key"},
		{`label[app:"x"`, 6, "unclosed"},
		{`namespace:"a\q"`, 13, "bad escape"},
		{strings.Repeat("(", 100) + `namespace:"a"` + strings.Repeat(")", 100), 65, "nested deeper"},
	} {
		_, err := allocation.ParseFilter(c.in, nil)
		var fe *allocation.FilterError
		if !errors.As(err, &fe) || fe.Pos+1 != c.pos || !strings.Contains(err.Error(), c.message) {
			t.Errorf("%s: err = %v, want position %d and %q", c.in, err, c.pos, c.message)
		}
	}
}

// FuzzParseFilter: any input parses or fails with a positioned error, never panics;
// a parsed filter's canonical form parses to itself and matches rows alike.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`namespace:"a"`, `(namespace:"a" | label[app]!~:"x") + pod<~:"p","q"`, `services~>:"\""`, `team:"x"`, `((((`, `a:"`, "", `label[`} {
		f.Add(s)
	}
	rows := []*cost.Allocation{row("a", "p", map[string]string{"app": "x"}, "s"), row("b", "q", nil), {}}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := allocation.ParseFilter(s, nil)
		if err != nil {
			var fe *allocation.FilterError
			if !errors.As(err, &fe) || fe.Pos < 0 || fe.Pos > len(s) {
				t.Fatalf("%q: error %v without a valid position", s, err)
			}
			return
		}
		again, err := allocation.ParseFilter(flt.String(), nil)
		if err != nil || again.String() != flt.String() {
			t.Fatalf("%q: canonical %q does not reparse to itself: %v", s, flt.String(), err)
		}
		for _, r := range rows {
			if flt.Match(r) != again.Match(r) {
				t.Fatalf("%q: canonical form matches differently", s)
			}
		}
	})
}
