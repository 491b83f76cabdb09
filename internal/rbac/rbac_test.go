package rbac

import "testing"

func TestDecide(t *testing.T) {
	for _, c := range []struct {
		role Role
		perm Permission
		want bool
	}{
		{Admin, ManageUsers, true},
		{Admin, ReadCosts, true},
		{Viewer, ReadCosts, true},
		{Viewer, ManageUsers, false},
		{Viewer, ReadAudit, false},
		{Auditor, ReadAudit, true},
		{Auditor, ReadCosts, false},
		{Editor, ManageSettings, true},
		{Editor, ManageUsers, false},
		{"", ReadCosts, false},
		{"root", ReadCosts, false},
	} {
		if got := Decide(c.role, c.perm); got.Allowed != c.want || got.Reason == "" {
			t.Errorf("Decide(%q, %q) = %+v, want allowed=%v with a reason", c.role, c.perm, got, c.want)
		}
	}
	if _, err := ParseRole("superuser"); err == nil {
		t.Error("ParseRole accepted an unknown role")
	}
}
