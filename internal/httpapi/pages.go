package httpapi

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
)

// pageData is what every page template gets.
type pageData struct {
	Title         string
	Error         string
	Notice        string
	User          *auth.Principal
	IsAdmin       bool
	PasswordLogin bool
	SSO           bool
	SSOName       string
	Passkeys      bool // WebAuthn is configured

	// page-specific
	Enrolment      *auth.Enrolment
	QR             template.URL
	Codes          []string
	Sessions       []auth.SessionInfo
	CurrentSession string
	Requests       []*auth.AccessRequest
	Users          []*auth.Principal
	SetupCode      string
	SetupExpires   time.Time
	Message        string
	Link, LinkText string

	// dashboard (issue 8)
	Page         string // the dashboard page's name (body data-page)
	Nav          nav
	BusinessKeys []string
	AuditActions []string // the audit page's action picker: every event code
}

func (a *API) data(r *http.Request, title string) *pageData {
	d := &pageData{Title: title, PasswordLogin: a.PasswordLogin, SSO: a.OIDC != nil, Passkeys: a.Auth != nil && a.Auth.WebAuthnEnabled()}
	if a.OIDC != nil {
		d.SSOName = a.OIDC.Name()
	}
	if p := principal(r); p != nil {
		d.User = p
		d.IsAdmin = rbac.DecideAll(rbac.ManageUsers, p.Roles()...).Allowed
		can := func(perm rbac.Permission) bool { return rbac.DecideAll(perm, p.Roles()...).Allowed }
		d.Nav = nav{Costs: can(rbac.ReadCosts), Assets: can(rbac.ReadAssets), Audit: can(rbac.ReadAudit), Admin: d.IsAdmin, Settings: can(rbac.ManageSettings)}
	}
	d.BusinessKeys = a.businessKeys()
	return d
}

func (a *API) render(w http.ResponseWriter, r *http.Request, status int, name string, d *pageData) {
	w.Header().Set("Cache-Control", "no-store")
	if err := a.Pages.Render(w, status, name, d); err != nil {
		a.Log.ErrorContext(r.Context(), "rendering a page", "request_id", server.RequestID(r.Context()), "page", name, "error", err)
		server.WriteError(w, r, http.StatusInternalServerError, "internal error; quote the request id when reporting it", "")
	}
}

// formValue reads one field of a form post; the body size is bounded by the
// server's limit.
func formValue(r *http.Request, name string) string {
	if err := r.ParseForm(); err != nil {
		return ""
	}
	return r.PostForm.Get(name)
}

// failPage answers a refused form with a generic message (and Retry-After when
// throttled); internal errors are logged and answered generically.
func (a *API) failPage(w http.ResponseWriter, r *http.Request, page string, d *pageData, err error) {
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &te):
		w.Header().Set("Retry-After", retryAfter(te.RetryAfter))
		d.Error = fmt.Sprintf("Too many failed attempts. Try again in %s.", te.RetryAfter.Round(time.Minute).String())
		a.render(w, r, http.StatusTooManyRequests, page, d)
	case errors.Is(err, auth.ErrUnauthenticated):
		a.Log.InfoContext(r.Context(), "login refused", "request_id", server.RequestID(r.Context()), "reason", err.Error())
		if d.Error == "" {
			d.Error = "Wrong username or password."
		}
		// A refused form is the form again with a message (200): a 401 would
		// claim an HTTP authentication scheme (WWW-Authenticate) the form does
		// not use. The JSON API answers 401.
		a.render(w, r, http.StatusOK, page, d)
	case errors.Is(err, auth.ErrInvalid), errors.Is(err, auth.ErrExists), errors.Is(err, auth.ErrForbidden):
		msg, _ := publicMessage(err, errors.Unwrap(err))
		for _, s := range []error{auth.ErrInvalid, auth.ErrExists, auth.ErrForbidden} {
			if errors.Is(err, s) {
				msg, _ = publicMessage(err, s)
			}
		}
		d.Error = msg
		a.render(w, r, http.StatusBadRequest, page, d)
	default:
		a.Log.ErrorContext(r.Context(), "request failed", "request_id", server.RequestID(r.Context()), "path", r.URL.Path, "error", err)
		server.WriteError(w, r, http.StatusInternalServerError, "internal error; quote the request id when reporting it", "")
	}
}

func (a *API) loginPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "login.html", a.data(r, "Log in"))
}

func (a *API) loginPassword(w http.ResponseWriter, r *http.Request) {
	username := formValue(r, "username")
	ticket, err := a.Auth.Login(r.Context(), username, formValue(r, "password"), client(r))
	a.noteLogin(r, username, err)
	if err != nil {
		a.failPage(w, r, "login.html", a.data(r, "Log in"), err)
		return
	}
	server.SetCookie(w, server.LoginCookie, ticket, a.Auth.Policy.MFATimeout)
	http.Redirect(w, r, "/login/mfa", http.StatusSeeOther)
}

func (a *API) mfaPage(w http.ResponseWriter, r *http.Request) {
	if server.CookieValue(r, server.LoginCookie) == "" {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	a.render(w, r, http.StatusOK, "mfa.html", a.data(r, "Second factor"))
}

func (a *API) loginMFA(w http.ResponseWriter, r *http.Request) {
	ticket := server.CookieValue(r, server.LoginCookie)
	owner, _ := a.Auth.SecretOwner(r.Context(), ticket)
	sess, p, err := a.Auth.CompleteMFA(r.Context(), ticket, formValue(r, "code"), client(r))
	a.noteStep(r, owner, p, err, "password+totp")
	if err != nil {
		d := a.data(r, "Second factor")
		d.Error = "That code did not work. Codes work once; wait for the next one, or use a recovery code."
		var te *auth.ThrottledError
		if errors.As(err, &te) || !errors.Is(err, auth.ErrUnauthenticated) {
			d.Error = ""
		}
		a.failPage(w, r, "mfa.html", d, err)
		return
	}
	server.ClearCookie(w, server.LoginCookie)
	server.SetCookie(w, server.SessionCookie, sess, 0)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	if owner, err := a.Auth.SecretOwner(r.Context(), server.CookieValue(r, server.SessionCookie)); err == nil {
		ev := audit.FromContext(r.Context())
		ev.Actor, ev.Target = server.ActorOf(owner), "session "+owner.SessionID
	}
	if err := a.Auth.Logout(r.Context(), server.CookieValue(r, server.SessionCookie)); err != nil {
		a.Log.WarnContext(r.Context(), "logout", "request_id", server.RequestID(r.Context()), "error", err)
	}
	server.ClearCookie(w, server.SessionCookie)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (a *API) setupPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "setup.html", a.data(r, "Set up your account"))
}

func (a *API) setupCode(w http.ResponseWriter, r *http.Request) {
	code := strings.TrimSpace(formValue(r, "setup"))
	en, err := a.Auth.BeginSetup(r.Context(), code)
	var p *auth.Principal
	if en != nil {
		p = en.Principal
	}
	a.noteStep(r, p, p, err, "")
	if err != nil {
		d := a.data(r, "Set up your account")
		d.Error = "That setup code is not valid (codes work once and expire); ask your administrator for a new one."
		a.failPage(w, r, "setup.html", d, err)
		return
	}
	server.SetCookie(w, server.SetupCookie, code, a.Auth.Policy.SetupTTL)
	http.Redirect(w, r, "/setup/enrol", http.StatusSeeOther)
}

func (a *API) enrolPage(w http.ResponseWriter, r *http.Request) {
	a.showEnrol(w, r, http.StatusOK, "")
}

func (a *API) showEnrol(w http.ResponseWriter, r *http.Request, status int, msg string) {
	en, err := a.Auth.BeginSetup(r.Context(), server.CookieValue(r, server.SetupCookie))
	if err != nil {
		if errors.Is(err, auth.ErrUnauthenticated) {
			http.Redirect(w, r, "/setup", http.StatusSeeOther)
			return
		}
		a.failPage(w, r, "setup.html", a.data(r, "Set up your account"), err)
		return
	}
	d := a.data(r, "Password and second factor")
	d.Enrolment, d.Error = en, msg
	// The data: URI is generated here (a PNG of our own URI), never user input.
	d.QR = template.URL(en.QRCode) // #nosec G203 -- a data: URI of a PNG made here, no user input
	a.render(w, r, status, "enrol.html", d)
}

func (a *API) enrol(w http.ResponseWriter, r *http.Request) {
	setup := server.CookieValue(r, server.SetupCookie)
	owner, _ := a.Auth.SecretOwner(r.Context(), setup)
	sess, codes, p, err := a.Auth.CompleteSetup(r.Context(), setup, formValue(r, "password"), formValue(r, "code"), client(r))
	a.noteStep(r, owner, p, err, "totp")
	if err != nil {
		if errors.Is(err, auth.ErrInvalid) {
			msg, _ := publicMessage(err, auth.ErrInvalid)
			a.showEnrol(w, r, http.StatusBadRequest, msg)
			return
		}
		a.failPage(w, r, "setup.html", a.data(r, "Set up your account"), err)
		return
	}
	server.ClearCookie(w, server.SetupCookie)
	server.SetCookie(w, server.SessionCookie, sess, 0)
	d := a.data(r, "Recovery codes")
	d.Codes = codes
	a.render(w, r, http.StatusOK, "recovery.html", d)
}

func (a *API) accountPage(w http.ResponseWriter, r *http.Request) {
	a.showAccount(w, r, http.StatusOK, "", "")
}

func (a *API) showAccount(w http.ResponseWriter, r *http.Request, status int, errMsg, notice string) {
	p := principal(r)
	fresh, err := a.Auth.Get(r.Context(), p.ID)
	if err != nil {
		a.failPage(w, r, "account.html", a.data(r, "Account"), err)
		return
	}
	d := a.data(r, "Account")
	d.User, d.Error, d.Notice, d.CurrentSession = fresh, errMsg, notice, p.SessionID
	if d.Sessions, err = a.Auth.ListSessions(r.Context(), p.ID); err == nil {
		d.Requests, err = a.Auth.AccessRequests(r.Context(), "", p.ID)
	}
	if err != nil {
		a.failPage(w, r, "account.html", d, err)
		return
	}
	a.render(w, r, status, "account.html", d)
}

func (a *API) accountRevokeSession(w http.ResponseWriter, r *http.Request) {
	if err := a.Auth.RevokeSession(r.Context(), principal(r).ID, r.PathValue("id")); err != nil {
		a.showAccount(w, r, http.StatusNotFound, "No such session.", "")
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

func (a *API) accountPassword(w http.ResponseWriter, r *http.Request) {
	err := a.Auth.ChangePassword(r.Context(), principal(r), formValue(r, "current"), formValue(r, "new"))
	if err != nil {
		if errors.Is(err, auth.ErrInvalid) {
			msg, _ := publicMessage(err, auth.ErrInvalid)
			a.showAccount(w, r, http.StatusBadRequest, msg, "")
			return
		}
		a.failPage(w, r, "account.html", a.data(r, "Account"), err)
		return
	}
	a.showAccount(w, r, http.StatusOK, "", "Password changed; your other sessions have ended.")
}

func (a *API) accountAccessRequest(w http.ResponseWriter, r *http.Request) {
	scope, err := rbac.ParseScope(formValue(r, "scope"))
	if err == nil {
		_, err = a.Auth.RequestAccess(r.Context(), principal(r), rbac.Role(formValue(r, "role")), scope, formValue(r, "reason"))
	} else {
		err = fmt.Errorf("%w: scope: %v", auth.ErrInvalid, err)
	}
	if err != nil {
		for _, s := range []error{auth.ErrInvalid, auth.ErrExists} {
			if errors.Is(err, s) {
				msg, _ := publicMessage(err, s)
				a.showAccount(w, r, http.StatusBadRequest, msg, "")
				return
			}
		}
		a.failPage(w, r, "account.html", a.data(r, "Account"), err)
		return
	}
	a.showAccount(w, r, http.StatusOK, "", "Request sent; an administrator will decide.")
}

func (a *API) adminUsersPage(w http.ResponseWriter, r *http.Request) {
	a.showUsers(w, r, http.StatusOK, "", "", "", time.Time{})
}

func (a *API) showUsers(w http.ResponseWriter, r *http.Request, status int, errMsg, notice, setup string, exp time.Time) {
	d := a.data(r, "Users")
	d.Error, d.Notice, d.SetupCode, d.SetupExpires = errMsg, notice, setup, exp
	var err error
	if d.Users, err = a.Auth.Users(r.Context()); err == nil {
		d.Requests, err = a.Auth.AccessRequests(r.Context(), "pending", "")
	}
	if err != nil {
		a.failPage(w, r, "admin_users.html", d, err)
		return
	}
	a.render(w, r, status, "admin_users.html", d)
}

func (a *API) adminUserAction(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), formValue(r, "action")
	ev := audit.FromContext(r.Context())
	ev.Target = id
	switch action {
	case "disable":
		ev.Action = audit.UserDisable
	case "enable":
		ev.Action = audit.UserEnable
	case "delete":
		ev.Action = audit.UserDelete
	case "reset-mfa":
		ev.Action = audit.UserMFAReset
	}
	if id == principal(r).ID {
		a.showUsers(w, r, http.StatusForbidden, "Another admin must change your own account.", "", "", time.Time{})
		return
	}
	var err error
	var setup string
	var exp time.Time
	switch action {
	case "disable":
		_, err = a.Auth.Disable(r.Context(), id)
	case "enable":
		_, err = a.Auth.Enable(r.Context(), id)
	case "delete":
		err = a.Auth.Delete(r.Context(), id)
	case "reset-mfa":
		setup, exp, err = a.Auth.ResetMFA(r.Context(), id)
	default:
		a.showUsers(w, r, http.StatusBadRequest, "action: must be disable, enable, delete or reset-mfa", "", "", time.Time{})
		return
	}
	if err != nil {
		if errors.Is(err, auth.ErrNoSuchPrincipal) {
			a.showUsers(w, r, http.StatusNotFound, "No such account.", "", "", time.Time{})
			return
		}
		if errors.Is(err, auth.ErrInvalid) {
			msg, _ := publicMessage(err, auth.ErrInvalid)
			a.showUsers(w, r, http.StatusBadRequest, msg, "", "", time.Time{})
			return
		}
		a.failPage(w, r, "admin_users.html", a.data(r, "Users"), err)
		return
	}
	a.showUsers(w, r, http.StatusOK, "", "Done: "+action+".", setup, exp)
}

func (a *API) adminCreateUser(w http.ResponseWriter, r *http.Request) {
	scope, err := rbac.ParseScope(formValue(r, "scope"))
	if err != nil {
		a.showUsers(w, r, http.StatusBadRequest, "scope: "+err.Error(), "", "", time.Time{})
		return
	}
	p, err := a.Auth.AddUser(r.Context(), auth.NewUser{Name: formValue(r, "name"), Email: formValue(r, "email"), Role: rbac.Role(formValue(r, "role")), Scope: scope})
	noteUser(r, p, formValue(r, "role"))
	if err != nil {
		for _, s := range []error{auth.ErrInvalid, auth.ErrExists} {
			if errors.Is(err, s) {
				msg, _ := publicMessage(err, s)
				a.showUsers(w, r, http.StatusBadRequest, msg, "", "", time.Time{})
				return
			}
		}
		a.failPage(w, r, "admin_users.html", a.data(r, "Users"), err)
		return
	}
	if !a.PasswordLogin {
		a.showUsers(w, r, http.StatusOK, "", "Created "+p.Name+"; they log in through single sign-on.", "", time.Time{})
		return
	}
	code, exp, err := a.Auth.SetupCode(r.Context(), p.ID)
	if err != nil {
		a.failPage(w, r, "admin_users.html", a.data(r, "Users"), err)
		return
	}
	a.showUsers(w, r, http.StatusOK, "", "Created "+p.Name+".", code, exp)
}

func (a *API) adminDecide(w http.ResponseWriter, r *http.Request) {
	decision := formValue(r, "decision")
	ev := audit.FromContext(r.Context())
	ev.Target = r.PathValue("id")
	if decision == "reject" {
		ev.Action = audit.AccessReject
	}
	if decision != "approve" && decision != "reject" {
		a.showUsers(w, r, http.StatusBadRequest, "decision: must be approve or reject", "", "", time.Time{})
		return
	}
	if _, err := a.Auth.DecideAccessRequest(r.Context(), principal(r), r.PathValue("id"), decision == "approve"); err != nil {
		for _, s := range []error{auth.ErrNotFound, auth.ErrExists, auth.ErrForbidden} {
			if errors.Is(err, s) {
				msg, _ := publicMessage(err, s)
				a.showUsers(w, r, http.StatusBadRequest, msg, "", "", time.Time{})
				return
			}
		}
		a.failPage(w, r, "admin_users.html", a.data(r, "Users"), err)
		return
	}
	a.showUsers(w, r, http.StatusOK, "", "Request "+decision+"d.", "", time.Time{})
}

func (a *API) oidcStart(w http.ResponseWriter, r *http.Request) {
	u, cookie, err := a.OIDC.Start(r.Context())
	if err != nil {
		a.Log.ErrorContext(r.Context(), "starting SSO", "request_id", server.RequestID(r.Context()), "error", err)
		d := a.data(r, "Log in")
		d.Error = "Single sign-on is unavailable right now; try again later."
		a.render(w, r, http.StatusBadGateway, "login.html", d)
		return
	}
	server.SetCookie(w, server.OIDCCookie, cookie, 10*time.Minute)
	http.Redirect(w, r, u, http.StatusSeeOther)
}

func (a *API) oidcCallback(w http.ResponseWriter, r *http.Request) {
	cookie := server.CookieValue(r, server.OIDCCookie)
	server.ClearCookie(w, server.OIDCCookie)
	id, err := a.OIDC.Finish(r.Context(), cookie, r.URL.Query())
	ev := audit.FromContext(r.Context())
	ev.Detail("method", "oidc")
	if err == nil {
		var p *auth.Principal
		if p, err = a.Auth.ExternalLogin(r.Context(), id); err == nil {
			ev.Actor = server.ActorOf(p)
			var sess string
			if sess, _, err = a.Auth.StartSession(r.Context(), p.ID, client(r), "oidc"); err == nil {
				server.SetCookie(w, server.SessionCookie, sess, 0)
				http.Redirect(w, r, "/", http.StatusSeeOther)
				return
			}
		}
	}
	ev.Outcome = audit.Failure
	ev.Detail("reason", err.Error())
	d := a.data(r, "Log in")
	d.Error = "Single sign-on did not succeed. Start again; if it keeps failing, ask your administrator."
	if errors.Is(err, auth.ErrUnauthenticated) || !isInternal(err) {
		a.Log.InfoContext(r.Context(), "SSO login refused", "request_id", server.RequestID(r.Context()), "reason", err.Error())
		a.render(w, r, http.StatusOK, "login.html", d)
		return
	}
	a.failPage(w, r, "login.html", d, err)
}

// noteLogin fills in the audit record of a password step: the user when the
// password was right, otherwise only an HMAC of the name that was tried.
func (a *API) noteLogin(r *http.Request, username string, err error) {
	ev := audit.FromContext(r.Context())
	ev.Detail("method", "password")
	if err == nil {
		if p, lerr := a.Auth.User(r.Context(), username); lerr == nil {
			ev.Actor = server.ActorOf(p)
			return
		}
	}
	ev.Outcome, ev.ActorHint = audit.Failure, username
	ev.Secret("username", username)
	ev.Detail("reason", err.Error())
}

// noteStep fills in the audit record of a later login or setup step: the
// principal it ended as, or the owner of the ticket or code it presented.
func (a *API) noteStep(r *http.Request, owner, p *auth.Principal, err error, method string) {
	ev := audit.FromContext(r.Context())
	if method != "" {
		ev.Detail("method", method)
	}
	switch {
	case p != nil:
		ev.Actor = server.ActorOf(p)
	case owner != nil:
		ev.Actor = server.ActorOf(owner)
	}
	if err != nil {
		ev.Outcome = audit.Failure
		ev.Detail("reason", err.Error())
	}
}

// noteUser records a created principal in the request's audit record.
func noteUser(r *http.Request, p *auth.Principal, role string) {
	ev := audit.FromContext(r.Context())
	ev.Detail("role", role)
	if p != nil {
		ev.Target = p.ID
		ev.Detail("name", p.Name)
	}
}

// isInternal reports whether an SSO error is ours rather than a refusal.
func isInternal(err error) bool {
	return !errors.Is(err, auth.ErrUnauthenticated) && !errors.Is(err, auth.ErrInvalid) && !errors.Is(err, auth.ErrExists)
}

func errorIsNoPrincipal(err error) bool { return errors.Is(err, auth.ErrNoSuchPrincipal) }
