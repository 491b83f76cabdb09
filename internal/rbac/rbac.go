// Package rbac decides what a principal may do: roles, their permissions, and (later)
// the scopes that narrow them. A decision is a pure function of its inputs and comes
// with a reason that can be logged and audited.
//
// It must not do I/O or know how principals authenticate.
package rbac

import "fmt"

// Role is a named set of permissions.
type Role string

// The roles. There is no implicit role: a principal without one may do nothing.
const (
	Admin   Role = "admin"   // everything
	Editor  Role = "editor"  // settings, reports, alerts, and reading costs
	Viewer  Role = "viewer"  // reading costs within scope
	Auditor Role = "auditor" // reading the audit log and the security posture
)

// Roles lists every role.
func Roles() []Role { return []Role{Admin, Editor, Viewer, Auditor} }

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles() {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (admin, editor, viewer, auditor)", s)
}

// Permission is one action on one kind of resource.
type Permission string

// Permissions.
const (
	ReadCosts      Permission = "costs:read"
	ReadAssets     Permission = "assets:read"
	ReadStatus     Permission = "status:read"
	ManageUsers    Permission = "users:manage"
	ManageSettings Permission = "settings:manage"
	ReadAudit      Permission = "audit:read"
	ReadPosture    Permission = "posture:read"
)

func grants(r Role) []Permission {
	switch r {
	case Admin:
		return []Permission{ReadCosts, ReadAssets, ReadStatus, ManageUsers, ManageSettings, ReadAudit, ReadPosture}
	case Editor:
		return []Permission{ReadCosts, ReadAssets, ManageSettings}
	case Viewer:
		return []Permission{ReadCosts, ReadAssets}
	case Auditor:
		return []Permission{ReadAudit, ReadPosture}
	}
	return nil
}

// Decision is the answer with its reason.
type Decision struct {
	Allowed bool
	Reason  string
}

// Decide answers whether role may perform perm. Deny by default.
func Decide(role Role, perm Permission) Decision {
	for _, p := range grants(role) {
		if p == perm {
			return Decision{Allowed: true, Reason: fmt.Sprintf("role %s grants %s", role, perm)}
		}
	}
	if role == "" {
		return Decision{Reason: "principal has no role"}
	}
	return Decision{Reason: fmt.Sprintf("role %s does not grant %s", role, perm)}
}
