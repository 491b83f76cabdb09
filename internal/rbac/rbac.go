// Package rbac decides what a principal may do: roles, their permissions, and the
// scopes (clusters, namespaces, label selectors) that narrow what a principal may
// see of the costs. A decision is a pure function of its inputs and comes with a
// reason that can be logged and audited.
//
// It must not do I/O or know how principals authenticate.
package rbac

import (
	"fmt"
	"strings"
)

// Role is a named set of permissions.
type Role string

// The roles. There is no implicit role: a principal without one (a pending
// account) may do nothing but manage itself and ask for access.
const (
	Admin   Role = "admin"   // everything
	Editor  Role = "editor"  // settings, reports, alerts, and reading costs
	Viewer  Role = "viewer"  // reading costs within scope
	Auditor Role = "auditor" // reading the audit log and the security posture
	// Provisioner is the role of SCIM tokens only: it provisions users and
	// nothing else. It cannot be given to a principal (ParseRole refuses it).
	Provisioner Role = "scim"
)

// Roles lists every role a principal can hold.
func Roles() []Role { return []Role{Admin, Editor, Viewer, Auditor} }

// ParseRole validates a role name a principal can hold.
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
	// ManageSelf: one's own profile, password, second factor, sessions and API
	// tokens, and asking for access. Every principal has it, even without a role.
	ManageSelf Permission = "self:manage"
	// ProvisionUsers: SCIM 2.0 provisioning (Provisioner only).
	ProvisionUsers Permission = "users:provision"
	// ManageClusters: enrolling clusters' agents (join tokens) and revoking
	// them (admins only; issue 9).
	ManageClusters Permission = "clusters:manage"
	// ManageTelemetry: previewing the telemetry payload and giving or
	// withdrawing consent (admins only; issue 7).
	ManageTelemetry Permission = "telemetry:manage"
)

func grants(r Role) []Permission {
	switch r {
	case Admin:
		return []Permission{ReadCosts, ReadAssets, ReadStatus, ManageUsers, ManageSettings, ReadAudit, ReadPosture, ManageSelf, ManageTelemetry, ManageClusters}
	case Editor:
		return []Permission{ReadCosts, ReadAssets, ManageSettings, ManageSelf}
	case Viewer:
		return []Permission{ReadCosts, ReadAssets, ManageSelf}
	case Auditor:
		return []Permission{ReadAudit, ReadPosture, ManageSelf}
	case Provisioner:
		return []Permission{ProvisionUsers}
	case "":
		return []Permission{ManageSelf}
	}
	return nil
}

// Grants reports whether role grants perm.
func Grants(r Role, perm Permission) bool {
	for _, p := range grants(r) {
		if p == perm {
			return true
		}
	}
	return false
}

// Decision is the answer with its reason.
type Decision struct {
	Allowed bool
	Reason  string
}

// Decide answers whether role may perform perm. Deny by default.
func Decide(role Role, perm Permission) Decision {
	if Grants(role, perm) {
		return Decision{Allowed: true, Reason: fmt.Sprintf("role %s grants %s", role, perm)}
	}
	if role == "" {
		return Decision{Reason: fmt.Sprintf("principal has no role (only %s)", ManageSelf)}
	}
	return Decision{Reason: fmt.Sprintf("role %s does not grant %s", role, perm)}
}

// DecideAll answers whether every one of roles grants perm: a token acts with its
// own role and its owner's current one, so it may do only what both allow. No
// roles at all is a denial.
func DecideAll(perm Permission, roles ...Role) Decision {
	if len(roles) == 0 {
		return Decision{Reason: "no role"}
	}
	var reasons []string
	for _, r := range roles {
		d := Decide(r, perm)
		if !d.Allowed {
			return d
		}
		reasons = append(reasons, d.Reason)
	}
	return Decision{Allowed: true, Reason: strings.Join(reasons, " and ")}
}

// RoleWithin reports whether inner grants nothing that outer does not.
func RoleWithin(inner, outer Role) bool {
	for _, p := range grants(inner) {
		if !Grants(outer, p) {
			return false
		}
	}
	return true
}
