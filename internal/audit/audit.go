// Package audit is costwarden's append-only, tamper-evident audit trail: typed
// events with stable codes, one record per security-relevant action, each record
// sealed like all customer data and linked into a SHA-256 hash chain (every
// record commits to the previous one's hash), with periodic ed25519-signed
// checkpoints; sinks that copy each record to a JSON-lines file, syslog (RFC
// 5424 over TCP or TLS) or stdout for central collection; and the verifier that
// names the first edited, deleted, inserted or reordered record.
//
// Sensitive values (an attempted username, an e-mail address) are never
// recorded in the clear: they are replaced by an HMAC under a per-install key,
// so records can be correlated and a guess checked, but nothing is revealed.
//
// The package must not drop an event silently: Record returns an error when a
// record cannot be stored (or a required sink cannot take it), and callers fail
// closed.
package audit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Code is an event's stable action code: lower-case dot-separated words. Codes
// are part of the API and of every exported record; they are never renamed.
type Code string

// Event codes. Codes() lists them all; docs/audit.md describes each.
const (
	// Authentication.
	AuthPassword     Code = "auth.password"     // #nosec G101 -- an event code: password step of a login (yields a second-factor ticket)
	AuthLogin        Code = "auth.login"        // #nosec G101 -- an event code: a session is started (second factor, passkey or SSO)
	AuthLogout       Code = "auth.logout"       // #nosec G101 -- an event code: a browser session is ended by its owner
	AuthSetup        Code = "auth.setup"        // #nosec G101 -- an event code: a one-time setup code is presented
	AuthMFAEnrol     Code = "auth.mfa.enrol"    // #nosec G101 -- an event code: password set and TOTP enrolled with a setup code
	AuthPasskey      Code = "auth.passkey"      // #nosec G101 -- an event code: a passkey registration or login ceremony is started
	AuthPasskeyAdd   Code = "auth.passkey.add"  // #nosec G101 -- an event code: a passkey is registered
	AuthPasswordSet  Code = "auth.password.set" // #nosec G101 -- an event code: a user changes their password
	AuthCredential   Code = "auth.credential"   // #nosec G101 -- an event code: a presented token or session is refused
	AuthzDenied      Code = "authz.denied"      // #nosec G101 -- an event code: a request is refused for lack of permission
	SessionRevoke    Code = "session.revoke"    // a session is ended by its owner or an admin
	TokenCreate      Code = "token.create"      // #nosec G101 -- an event code: an API token is issued
	TokenRevoke      Code = "token.revoke"      // #nosec G101 -- an event code: an API token is revoked
	SCIMTokenCreate  Code = "scim.token.create" // #nosec G101 -- an event code: a SCIM provisioning token is issued
	UserCreate       Code = "user.create"       // a user is created
	UserUpdate       Code = "user.update"       // a principal's role, scope or state changes
	UserDisable      Code = "user.disable"      // a principal is disabled (sessions and tokens end)
	UserEnable       Code = "user.enable"       // a principal is enabled
	UserDelete       Code = "user.delete"       // a principal is deleted
	UserMFAReset     Code = "user.mfa.reset"    // a user's second factor is removed by an admin
	UserList         Code = "user.list"         // the local CLI lists principals
	ServiceCreate    Code = "service.create"    // a service account is created
	AccessRequest    Code = "access.request"    // a principal asks for a role and scope
	AccessApprove    Code = "access.approve"    // an admin approves an access request
	AccessReject     Code = "access.reject"     // an admin rejects an access request
	SCIMUserCreate   Code = "scim.user.create"  // SCIM creates a user
	SCIMUserUpdate   Code = "scim.user.update"  // SCIM changes a user (activates or deactivates)
	SCIMUserDelete   Code = "scim.user.delete"  // SCIM deletes a user
	KeysStatus       Code = "keys.status"       // the local CLI lists data keys
	KeysRotate       Code = "keys.rotate"       // a new data-key version starts (CLI or schedule)
	KeysReencrypt    Code = "keys.reencrypt"    // older blobs are re-encrypted to the active key
	KeysRewrap       Code = "keys.rewrap"       // every data key is re-wrapped under a new KEK
	TenantShred      Code = "tenant.shred"      // a tenant's keys are destroyed, then its data
	BackupCreate     Code = "backup.create"     // a backup is written
	BackupRestore    Code = "backup.restore"    // a backup is restored
	RetentionApply   Code = "retention.apply"   // expired windows are deleted
	SettingsChange   Code = "settings.change"   // the effective configuration changed since the last start
	ServerStart      Code = "server.start"      // the server starts
	ServerStop       Code = "server.stop"       // the server stops
	TelemetryConsent Code = "telemetry.consent" // telemetry is switched on or off
	AuditVerify      Code = "audit.verify"      // the audit chain is verified (CLI)
	AuditExport      Code = "audit.export"      // audit records are exported (CLI)
	AuditHMAC        Code = "audit.hmac"        // an investigator computes how a value is recorded (CLI)
	DoctorRun        Code = "doctor.run"        // the configuration self-check runs (CLI)
	BundleExport     Code = "bundle.export"     // sealed cost windows are exported for another site
	BundleImport     Code = "bundle.import"     // a bundle from another site is imported
	CostExport       Code = "cost.export"       // cost data is exported (CSV, FOCUS)
	HTTPRequest      Code = "http.request"      // a state-changing request to a route without a specific code
	ClusterAdd       Code = "cluster.add"       // a cluster is registered for an agent (a join token is issued)
	ClusterToken     Code = "cluster.token"     // a new join token is issued for an enrolled cluster
	ClusterRevoke    Code = "cluster.revoke"    // a cluster's agent is cut off
	ClusterList      Code = "cluster.list"      // the local CLI lists clusters and their agents
	AgentEnrol       Code = "agent.enrol"       // an agent presents a join token and a certificate request
	AgentRenew       Code = "agent.renew"       // an agent renews its client certificate
	AgentRefused     Code = "agent.refused"     // an agent's request is refused (certificate, revocation, token, tenant)
	TenantAdd        Code = "tenant.add"        // a hosted tenant is registered or its host names change
	TenantList       Code = "tenant.list"       // the local CLI lists hosted tenants
)

// Codes lists every event code.
func Codes() []Code {
	return []Code{AuthPassword, AuthLogin, AuthLogout, AuthSetup, AuthMFAEnrol, AuthPasskey, AuthPasskeyAdd, AuthPasswordSet,
		AuthCredential, AuthzDenied, SessionRevoke, TokenCreate, TokenRevoke, SCIMTokenCreate, UserCreate, UserUpdate,
		UserDisable, UserEnable, UserDelete, UserMFAReset, UserList, ServiceCreate, AccessRequest, AccessApprove, AccessReject,
		SCIMUserCreate, SCIMUserUpdate, SCIMUserDelete, KeysStatus, KeysRotate, KeysReencrypt, KeysRewrap, TenantShred,
		BackupCreate, BackupRestore, RetentionApply, SettingsChange, ServerStart, ServerStop, TelemetryConsent,
		AuditVerify, AuditExport, AuditHMAC, DoctorRun, BundleExport, BundleImport, CostExport, HTTPRequest,
		ClusterAdd, ClusterToken, ClusterRevoke, ClusterList, AgentEnrol, AgentRenew, AgentRefused, TenantAdd, TenantList}
}

// Outcome says how an action ended.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Failure Outcome = "failure" // refused credentials, bad input, errors
	Denied  Outcome = "denied"  // refused for lack of permission
)

// Actor kinds.
const (
	KindUser     = "user"
	KindService  = "service"
	KindLocalCLI = "local-cli" // a local administration command; Name is the OS user
	KindSystem   = "system"    // the server itself (schedules, start, stop)
	KindAgent    = "agent"     // a cluster's agent on the agents listener (mTLS); ID is the agent id
)

// Actor is who acted. ID is an opaque principal id, "local-cli" or "system".
type Actor struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// System is the server acting on its own.
var System = Actor{ID: "system", Name: "costwarden", Kind: KindSystem}

// LocalCLI is a local administration command run by OS user name.
func LocalCLI(osUser string) Actor { return Actor{ID: "local-cli", Name: osUser, Kind: KindLocalCLI} }

// Event is one action to record.
type Event struct {
	Action    Code
	Outcome   Outcome
	Actor     Actor
	SourceIP  string
	Target    string
	RequestID string
	// Details are recorded as given: short, non-secret facts (a role, a count,
	// an error message written for the caller).
	Details map[string]string
	// Sensitive values are recorded only as an HMAC under the install's audit
	// key ("hmac-sha256:" and hex), under the same key in Details.
	Sensitive map[string]string
	// ActorHint, when the actor is unknown (a failed login), is the name that
	// was presented: it is recorded only as an HMAC, so that filtering by that
	// name finds the attempt.
	ActorHint string
}

// Detail sets a detail, allocating the map.
func (e *Event) Detail(k, v string) {
	if e.Details == nil {
		e.Details = map[string]string{}
	}
	e.Details[k] = v
}

// Secret sets a sensitive detail (recorded as an HMAC).
func (e *Event) Secret(k, v string) {
	if e.Sensitive == nil {
		e.Sensitive = map[string]string{}
	}
	e.Sensitive[k] = v
}

// Record is one stored audit record: what is sealed, hashed and exported.
type Record struct {
	ID        string            `json:"id"`
	Seq       uint64            `json:"seq"`
	Time      time.Time         `json:"time"`
	Actor     Actor             `json:"actor"`
	SourceIP  string            `json:"sourceIP"`
	Action    Code              `json:"action"`
	Target    string            `json:"target"`
	Outcome   Outcome           `json:"outcome"`
	RequestID string            `json:"requestId"`
	Details   map[string]string `json:"details"`
	// ActorIndex is the hex HMAC of the actor's name (or of the name a failed
	// login presented); Prev is the previous record's hash (hex, empty for the
	// first record).
	ActorIndex string `json:"actorIndex"`
	Prev       string `json:"prev"`
}

// Filter selects records for List and Export.
type Filter struct {
	Since, Until time.Time
	Actor        string // a principal id, "local-cli", "system", or a name
	ActionPrefix string
	Outcome      Outcome
	Limit        int    // List: 1..500 (default 100)
	Cursor       string // List: from a previous page's next
}

type ctxKey struct{}

// WithEvent returns a context carrying e; handlers of the request fill it in
// through FromContext and the server records it when the handler is done.
func WithEvent(ctx context.Context, e *Event) context.Context {
	return context.WithValue(ctx, ctxKey{}, e)
}

// FromContext returns the request's event, or a throwaway one when the request
// is not audited (so handlers need not check).
func FromContext(ctx context.Context) *Event {
	if e, ok := ctx.Value(ctxKey{}).(*Event); ok && e != nil {
		return e
	}
	return &Event{}
}

// validate checks an event before it is recorded.
func (e *Event) validate() error {
	if !slices.Contains(Codes(), e.Action) {
		return fmt.Errorf("audit: unknown event code %q", e.Action)
	}
	switch e.Outcome {
	case Success, Failure, Denied:
	default:
		return fmt.Errorf("audit: event %s: unknown outcome %q", e.Action, e.Outcome)
	}
	switch e.Actor.Kind {
	case KindUser, KindService, KindLocalCLI, KindSystem, KindAgent:
	default:
		return fmt.Errorf("audit: event %s: unknown actor kind %q", e.Action, e.Actor.Kind)
	}
	return nil
}

// clean bounds a string recorded from request input: at most n bytes of valid
// UTF-8, control characters replaced, so that a record (and every line an
// exported record becomes) cannot be forged or inflated through input.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return '\uFFFD'
		}
		return r
	}, s)
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func cleanMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if len(out) >= 32 {
			break
		}
		out[clean(k, 64)] = clean(m[k], 1024)
	}
	return out
}
