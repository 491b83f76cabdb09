package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/auth/oidc"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/server"
)

// newAuth builds the account service with the configured policy.
func newAuth(d *data, cfg config.Config, now func() time.Time, log *slog.Logger) *auth.Service {
	svc := auth.New(d.tenantData(), d.keyring, d.tenant, now)
	a := cfg.Auth
	p := svc.Policy
	p.TokenTTL, p.MaxTokenTTL = a.TokenTTL, a.MaxTokenTTL
	p.SessionIdle, p.SessionAbsolute, p.SetupTTL = a.SessionIdle, a.SessionLifetime, a.SetupCodeTTL
	p.InactivityDisable = a.InactivityDisable
	p.AccountFailures, p.IPFailures, p.Window, p.LockFor = a.Lockout.AccountFailures, a.Lockout.AddressFailures, a.Lockout.Window, a.Lockout.Duration
	svc.Policy = p
	if w := a.WebAuthn; w.RPID != "" {
		origins := w.Origins
		if len(origins) == 0 {
			origins = []string{"https://" + w.RPID}
		}
		// Validated with the configuration; an error here is a library refusal.
		if err := svc.EnableWebAuthn(w.RPID, "costwarden", origins); err != nil && log != nil {
			log.Error("passkeys disabled", "error", err)
		}
	}
	if log != nil {
		svc.SetLogger(log)
	}
	return svc
}

// newOIDC builds the SSO client when auth.oidc.issuer is set. The client
// secret is read from its file, never from the configuration itself.
func newOIDC(cfg config.Config, now func() time.Time, client *http.Client, discovered func([]string)) (*oidc.Client, error) {
	o := cfg.Auth.OIDC
	if o.Issuer == "" {
		return nil, nil
	}
	secret := ""
	if o.ClientSecretFile != "" {
		b, err := os.ReadFile(o.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("auth.oidc.clientSecretFile: %w", err)
		}
		secret = strings.TrimSpace(string(b))
		if secret == "" {
			return nil, fmt.Errorf("auth.oidc.clientSecretFile: %s is empty", o.ClientSecretFile)
		}
	}
	var maps []oidc.Mapping
	for _, m := range o.GroupRoles {
		g, role, scope, err := config.ParseGroupRole(m)
		if err != nil {
			return nil, fmt.Errorf("auth.oidc.groupRoles: %q: %w", m, err)
		}
		maps = append(maps, oidc.Mapping{Group: g, Role: role, Scope: scope})
	}
	return oidc.New(oidc.Config{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret, RedirectURL: o.RedirectURL,
		Scopes: o.Scopes, UsernameClaim: o.UsernameClaim, GroupsClaim: o.GroupsClaim, Mappings: maps,
		RequireAMR: o.RequireAMR, RequireACR: o.RequireACR, Algorithms: o.Algorithms, DisplayName: o.DisplayName, Now: now,
		HTTPClient: client, Discovered: discovered})
}

// credentials authenticates a request by "Authorization: Bearer <token>" (API
// and SCIM tokens) or by the session cookie. Credentials in URLs are never read.
// A request carrying both is refused: which one acts would be ambiguous.
type credentials struct{ svc *auth.Service }

func (c credentials) AuthenticateRequest(r *http.Request) (*auth.Principal, error) {
	h := r.Header.Get("Authorization")
	cookie := server.CookieValue(r, server.SessionCookie)
	if len(r.CookiesNamed(server.SessionCookie)) > 1 {
		return nil, fmt.Errorf("%w: several session cookies", auth.ErrUnauthenticated)
	}
	switch {
	case h != "" && cookie != "":
		return nil, fmt.Errorf("%w: both a bearer token and a session cookie", auth.ErrUnauthenticated)
	case h != "":
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return nil, fmt.Errorf("%w: malformed Authorization header", auth.ErrUnauthenticated)
		}
		return c.svc.Authenticate(r.Context(), strings.TrimSpace(tok))
	case cookie != "":
		return c.svc.AuthenticateSession(r.Context(), cookie)
	}
	return nil, nil
}

// sweep disables inactive accounts and purges dead sessions and lockouts, now
// and then every interval, until ctx ends.
// disableInactive disables the accounts not seen for the inactivity limit, each
// with its audit record.
func disableInactive(ctx context.Context, svc *auth.Service, log *slog.Logger, rec *audit.Auditor) {
	ps, err := svc.DisableInactive(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("disabling inactive accounts", "error", err)
		}
		return
	}
	if len(ps) > 0 {
		log.Info("disabled inactive accounts", "count", len(ps))
	}
	for _, p := range ps {
		if err := rec.Record(ctx, audit.Event{Action: audit.UserDisable, Outcome: audit.Success, Actor: audit.System, Target: p.ID,
			Details: map[string]string{"reason": "inactive since " + p.LastSeenAt.UTC().Format(time.RFC3339)}}); err != nil {
			log.Error("recording an inactivity disable in the audit trail", "error", err)
		}
	}
}

func sweep(ctx context.Context, svc *auth.Service, interval time.Duration, log *slog.Logger, rec *audit.Auditor) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		disableInactive(ctx, svc, log, rec)
		if err := svc.Purge(ctx); err != nil && ctx.Err() == nil {
			log.Error("purging sessions and lockouts", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// withAuth opens the data directory and runs fn with the account service as
// one audited local command.
func withAuth(ctx context.Context, cfg config.Config, env Env, code audit.Code, target string, fn func(*auth.Service) error) error {
	return auditedFor(ctx, cfg, env, code, target, func(d *data, _ map[string]string) error {
		return fn(newAuth(d, cfg, env.Now, env.Log))
	})
}

// UserOptions describe a user created from the CLI.
type UserOptions struct {
	Name  string
	Role  string // "" creates a pending account without access
	Email string
	Scope string // compact scope: namespaces=a|b;clusters=c;selector=...
}

// AddUserWith creates a user and prints a one-time setup code on stdout, with
// which the user sets a password and enrols TOTP at https://HOST/setup. The
// first administrator is created this way: the setup code is the bootstrap
// secret.
func AddUserWith(ctx context.Context, cfg config.Config, env Env, o UserOptions) error {
	var role rbac.Role
	if o.Role != "" {
		r, err := rbac.ParseRole(o.Role)
		if err != nil {
			return err
		}
		role = r
	}
	scope, err := rbac.ParseScope(o.Scope)
	if err != nil {
		return err
	}
	return withAuth(ctx, cfg, env, audit.UserCreate, "user "+o.Name, func(svc *auth.Service) error {
		p, err := svc.AddUser(ctx, auth.NewUser{Name: o.Name, Email: o.Email, Role: role, Scope: scope})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "created user %s (%s) with role %s, scope %s\n", p.Name, p.ID, orNone(string(p.Role)), p.Scope)
		if !cfg.Auth.PasswordLogin {
			fmt.Fprintln(env.Stderr, "password login is off: the user logs in through SSO (matched by verified e-mail or username)")
			return nil
		}
		code, exp, err := svc.SetupCode(ctx, p.ID)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, code)
		fmt.Fprintf(env.Stderr, "give the setup code above to %s; it works once at https://HOST/setup until %s\n", p.Name, exp.Format(time.RFC3339))
		return nil
	})
}

func orNone(s string) string {
	if s == "" {
		return "none (pending)"
	}
	return s
}

// ListUsers prints every principal.
func ListUsers(ctx context.Context, cfg config.Config, env Env) error {
	return withAuth(ctx, cfg, env, audit.UserList, "users", func(svc *auth.Service) error {
		ps, err := svc.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tROLE\tSCOPE\tSTATE\tMFA\tLAST SEEN\tID")
		for _, p := range ps {
			seen := "never"
			if !p.LastSeenAt.IsZero() {
				seen = p.LastSeenAt.UTC().Format(time.RFC3339)
			}
			mfa := "-"
			if p.MFA {
				mfa = "totp"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Kind, orDash(string(p.Role)), p.Scope, p.State, mfa, seen, p.ID)
		}
		return tw.Flush()
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// UserAction applies disable, enable, delete or reset-mfa to a user or service
// account by name. reset-mfa prints a new setup code on stdout.
func UserAction(ctx context.Context, cfg config.Config, env Env, action, name string) error {
	code := map[string]audit.Code{"disable": audit.UserDisable, "enable": audit.UserEnable, "delete": audit.UserDelete, "reset-mfa": audit.UserMFAReset}[action]
	if code == "" {
		return fmt.Errorf("unknown action %q", action)
	}
	return withAuth(ctx, cfg, env, code, "user "+name, func(svc *auth.Service) error {
		p, err := svc.User(ctx, name)
		if err != nil {
			return err
		}
		switch action {
		case "disable":
			_, err = svc.Disable(ctx, p.ID)
		case "enable":
			_, err = svc.Enable(ctx, p.ID)
		case "delete":
			err = svc.Delete(ctx, p.ID)
		case "reset-mfa":
			var code string
			var exp time.Time
			if code, exp, err = svc.ResetMFA(ctx, p.ID); err == nil {
				fmt.Fprintln(env.Stdout, code)
				fmt.Fprintf(env.Stderr, "second factor of %s removed and sessions ended; the setup code above works once until %s\n", name, exp.Format(time.RFC3339))
				return nil
			}
		default:
			return fmt.Errorf("unknown action %q", action)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "%s: %sd\n", name, strings.TrimSuffix(action, "e"))
		return nil
	})
}

// AddServiceAccount creates a service account owned by a user.
func AddServiceAccount(ctx context.Context, cfg config.Config, env Env, name, owner, role, scope string) error {
	r, err := rbac.ParseRole(role)
	if err != nil {
		return err
	}
	sc, err := rbac.ParseScope(scope)
	if err != nil {
		return err
	}
	return withAuth(ctx, cfg, env, audit.ServiceCreate, "service account "+name, func(svc *auth.Service) error {
		o, err := svc.User(ctx, owner)
		if err != nil {
			if errors.Is(err, auth.ErrNoSuchPrincipal) {
				return fmt.Errorf("--owner: %w", err)
			}
			return err
		}
		p, err := svc.AddServiceAccount(ctx, name, o.ID, r, sc)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "created service account %s (%s) owned by %s with role %s, scope %s; issue its tokens with: costwarden token create --user %s\n", p.Name, p.ID, owner, p.Role, p.Scope, p.Name)
		return nil
	})
}
