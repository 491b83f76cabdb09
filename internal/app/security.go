package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/doctor"
	"github.com/costwarden/costwarden/internal/egress"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/server"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/postgres"
	"github.com/costwarden/costwarden/internal/store/sqlite"
	"github.com/costwarden/costwarden/internal/telemetry"
)

// newEgress builds the guarded dialer and its allowlist from the
// configuration: the database, the KMS (and, without an endpoint, the region's
// KMS and STS hosts), the OIDC issuer, egress.allow, and — unless air-gapped —
// the syslog collector. Telemetry is added by Serve, gated by consent.
func newEgress(cfg config.Config, log *slog.Logger) (*egress.Dialer, error) {
	d := egress.New(egress.Options{AirGapped: cfg.Egress.AirGapped, Log: log})
	var errs []error
	allow := func(purpose, hp string) {
		if err := d.Allow(purpose, hp); err != nil {
			errs = append(errs, err)
		}
	}
	if u := cfg.Collect.Prometheus.URL; u != "" {
		if hp, err := urlHostPort(u); err == nil {
			allow(egress.Prometheus, hp)
		}
	}
	if cfg.Storage.Driver == "postgres" {
		allow(egress.Database, net.JoinHostPort(cfg.Storage.Postgres.Host, strconv.Itoa(cfg.Storage.Postgres.Port)))
	}
	if cfg.Keys.Provider == "awskms" {
		k := cfg.Keys.AWSKMS
		if k.Endpoint != "" {
			if hp, err := urlHostPort(k.Endpoint); err == nil {
				allow(egress.KMS, hp)
			}
		} else {
			region := k.Region
			if region == "" {
				region = os.Getenv("AWS_REGION")
			}
			if region != "" {
				allow(egress.KMS, "kms."+region+".amazonaws.com:443")
				allow(egress.KMS, "sts."+region+".amazonaws.com:443")
			}
		}
		if k.UseInstanceMetadata {
			allow(egress.KMS, "169.254.169.254:80")
		}
	}
	if cfg.Auth.OIDC.Issuer != "" {
		if hp, err := urlHostPort(cfg.Auth.OIDC.Issuer); err == nil {
			allow(egress.OIDC, hp)
		}
	}
	for _, hp := range cfg.Egress.Allow {
		allow(egress.Extra, hp)
	}
	if cfg.Audit.Syslog.Address != "" {
		allow(egress.Syslog, cfg.Audit.Syslog.Address)
	}
	return d, errors.Join(errs...)
}

func urlHostPort(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not a URL", raw)
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" {
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port), nil
}

// newAuditor builds the audit trail of d's tenant (the default one unless a
// command named another with --tenant) with the configured sinks.
func newAuditor(d *data, cfg config.Config, env Env) (*audit.Auditor, error) {
	return newTenantAuditor(d, d.tenant, cfg, env)
}

// newTenantAuditor builds tenant's audit trail with the configured sinks. In
// hosted mode a tenant's trail is written through a store bound to it.
func newTenantAuditor(d *data, tenant string, cfg config.Config, env Env) (*audit.Auditor, error) {
	var sinks []audit.Sink
	if cfg.Audit.File != "" {
		s, err := audit.NewFileSink(cfg.Audit.File, cfg.Audit.FileRequired)
		if err != nil {
			return nil, fmt.Errorf("audit.file: %w", err)
		}
		sinks = append(sinks, s)
	}
	if cfg.Audit.Stdout && env.Stdout != nil {
		sinks = append(sinks, audit.NewWriterSink("stdout", env.Stdout))
	}
	if sc := cfg.Audit.Syslog; sc.Address != "" {
		var tlsCfg *tls.Config
		if sc.TLS {
			host, _, _ := net.SplitHostPort(sc.Address)
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
			if sc.CAFile != "" {
				pemBytes, err := os.ReadFile(sc.CAFile)
				if err != nil {
					return nil, fmt.Errorf("audit.syslog.caFile: %w", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pemBytes) {
					return nil, fmt.Errorf("audit.syslog.caFile: %s holds no PEM certificate", sc.CAFile)
				}
				tlsCfg.RootCAs = pool
			}
		}
		sinks = append(sinks, audit.NewSyslogSink(audit.SyslogConfig{Address: sc.Address, TLS: tlsCfg, Facility: config.SyslogFacilities[sc.Facility],
			Required: sc.Required, Timeout: sc.Timeout}, d.egress))
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var st audit.Store = d.store
	if d.hosted && tenant != DefaultTenant {
		st = store.ForTenant(d.store, tenant)
	}
	return audit.New(st, d.keyring, tenant, audit.Options{Now: env.Now, Log: log.With("component", "audit"), Sinks: sinks,
		CheckpointEvery: uint64(cfg.Audit.CheckpointEvery)}), nil
}

// osUser names the operating-system user running a local command.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "uid:" + strconv.Itoa(os.Getuid())
}

// cliAudit records local administration commands: one record per command,
// actor local-cli with the OS user. The command is refused before it acts
// when the trail cannot be written.
type cliAudit struct {
	a    *audit.Auditor
	log  *slog.Logger
	d    *data
	ring *seal.Keyring // the keyring a was built on
	cfg  config.Config
	env  Env
}

func (d *data) cliAuditor(cfg config.Config, env Env) (*cliAudit, error) {
	env = Env{Now: env.Now, Log: env.Log}
	a, err := newAuditor(d, cfg, env)
	if err != nil {
		return nil, err
	}
	return &cliAudit{a: a, log: env.Log, d: d, ring: d.keyring, cfg: cfg, env: env}, nil
}

// preflight refuses a command whose record could not be written.
func (c *cliAudit) preflight(ctx context.Context) error {
	if err := c.a.Preflight(ctx); err != nil {
		return fmt.Errorf("refusing to act: the audit trail cannot be written (nothing was changed): %w", err)
	}
	return nil
}

// done records the command's outcome and signs a checkpoint; it returns the
// command's own error, or the audit error when the record failed.
func (c *cliAudit) done(ctx context.Context, code audit.Code, target string, details map[string]string, cmdErr error) error {
	if c.d.keyring != c.ring {
		// The command replaced the keyring (keys rewrap): record with the new one.
		a, err := newAuditor(c.d, c.cfg, c.env)
		if err != nil {
			return errors.Join(cmdErr, err)
		}
		c.a.Close()
		c.a, c.ring = a, c.d.keyring
	}
	ev := audit.Event{Action: code, Outcome: audit.Success, Actor: audit.LocalCLI(osUser()), Target: target, Details: details}
	if cmdErr != nil {
		ev.Outcome = audit.Failure
		ev.Detail("error", cmdErr.Error())
	}
	if err := c.a.Record(context.WithoutCancel(ctx), ev); err != nil {
		if cmdErr != nil {
			return errors.Join(cmdErr, fmt.Errorf("and its audit record could not be written: %w", err))
		}
		return fmt.Errorf("the command completed but its audit record could not be written: %w", err)
	}
	if _, err := c.a.Checkpoint(context.WithoutCancel(ctx)); err != nil && c.log != nil {
		c.log.Warn("signing an audit checkpoint", "error", err)
	}
	return cmdErr
}

func (c *cliAudit) close() { _ = c.a.Close() }

// audited opens the data directory and runs fn as one audited command of the
// installation (recorded in the default tenant's trail).
func audited(ctx context.Context, cfg config.Config, env Env, code audit.Code, target string, fn func(d *data, details map[string]string) error) error {
	d, err := openData(ctx, cfg, env.Now)
	if err != nil {
		return err
	}
	defer d.Close(ctx)
	return runAudited(ctx, d, cfg, env, code, target, fn)
}

// auditedFor is audited for a command acting on env's tenant (--tenant in
// hosted mode), recorded in that tenant's trail.
func auditedFor(ctx context.Context, cfg config.Config, env Env, code audit.Code, target string, fn func(d *data, details map[string]string) error) error {
	d, err := openDataFor(ctx, cfg, env)
	if err != nil {
		return err
	}
	defer d.Close(ctx)
	return runAudited(ctx, d, cfg, env, code, target, fn)
}

func runAudited(ctx context.Context, d *data, cfg config.Config, env Env, code audit.Code, target string, fn func(d *data, details map[string]string) error) error {
	ca, err := d.cliAuditor(cfg, env)
	if err != nil {
		return err
	}
	defer ca.close()
	if err := ca.preflight(ctx); err != nil {
		return err
	}
	details := map[string]string{}
	return ca.done(ctx, code, target, details, fn(d, details))
}

// posture gathers what doctor needs from the running installation.
type posture struct {
	d       *data
	cfg     config.Config
	now     func() time.Time
	auditor *audit.Auditor
	tel     *telemetry.Service
}

// Posture implements httpapi.PostureChecker.
func (p *posture) Posture(ctx context.Context) (doctor.Report, error) {
	in, err := gather(ctx, p.d, p.cfg, p.now(), p.auditor, p.tel)
	if err != nil {
		return doctor.Report{}, err
	}
	return doctor.Run(in), nil
}

func latestSchema(cfg config.Config) int {
	if cfg.Storage.Driver == "postgres" {
		return postgres.LatestVersion()
	}
	return sqlite.LatestVersion()
}

// gather collects doctor's input from the configuration and the store.
func gather(ctx context.Context, d *data, cfg config.Config, now time.Time, a *audit.Auditor, tel *telemetry.Service) (doctor.Input, error) {
	in := doctor.Input{Config: cfg, Now: now, KEKID: d.kek.ID(), LatestSchema: latestSchema(cfg)}
	certPath := cfg.Server.TLS.CertFile
	if certPath == "" {
		certPath = filepath.Join(cfg.DataDir, server.SelfSignedCert)
	}
	in.Cert, in.CertErr = readLeaf(certPath)
	tenants, err := d.tenantsOf(ctx, "")
	if err != nil {
		return in, err
	}
	for _, t := range tenants {
		infos, err := d.keyring.Status(ctx, t)
		if err != nil {
			return in, err
		}
		for _, k := range infos {
			if k.State == seal.StateActive {
				in.Keys = append(in.Keys, doctor.DataKey{Tenant: t, Created: k.Created})
			}
		}
	}
	svc := auth.New(d.store, d.keyring, DefaultTenant, time.Now)
	ps, err := svc.Users(ctx)
	if err != nil {
		return in, err
	}
	for _, p := range ps {
		in.Principals = append(in.Principals, doctor.Principal{ID: p.ID, Name: p.Name, Kind: p.Kind, Role: string(p.Role), State: p.State,
			Source: p.Source, MFA: p.MFA || p.Passkeys > 0, HasPassword: p.HasPassword, CreatedAt: p.CreatedAt, LastSeenAt: p.LastSeenAt})
	}
	toks, err := d.store.ListTokens(ctx, DefaultTenant, "")
	if err != nil {
		return in, err
	}
	for _, t := range toks {
		in.Tokens = append(in.Tokens, doctor.Token{ID: t.ID, PrincipalID: t.PrincipalID, ExpiresAt: t.ExpiresAt, RevokedAt: t.RevokedAt})
	}
	rep, err := a.Verify(ctx, nil)
	in.AuditErr, in.AuditOK, in.AuditRecords = err, rep.OK, rep.Records
	if rep.FirstBad != nil {
		in.AuditFirstBad = rep.FirstBad.Reason
	}
	if tel != nil {
		c, err := tel.Consent(ctx)
		if err != nil {
			return in, err
		}
		in.Telemetry, in.TelemetryBy = c.Enabled, c.By
	}
	in.Schema, err = d.store.SchemaVersion(ctx)
	return in, err
}

func readLeaf(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return x509.ParseCertificate(blk.Bytes)
}

// telemetryFor builds the telemetry service over the store.
func telemetryFor(d *data, cfg config.Config, env Env) *telemetry.Service {
	return telemetry.New(d.store, DefaultTenant, telemetry.Options{Version: env.Build.Version, Endpoint: cfg.Telemetry.Endpoint,
		Interval: cfg.Telemetry.Interval, AirGapped: cfg.Egress.AirGapped, Now: env.Now, Log: env.Log,
		Client: d.httpClient(30 * time.Second)})
}

// configKey is where the last start's effective configuration is kept (sealed).
const configKey = "audit/last-config"

// configChanges compares the effective configuration with the last start's
// and stores it; it returns the keys whose values changed (never values).
func configChanges(ctx context.Context, d *data, cfg config.Config) ([]string, error) {
	cur := cfg.Render()
	ad := seal.AD{Tenant: DefaultTenant, Kind: "config", ID: "last"}
	var prev string
	if blob, err := d.store.GetMeta(ctx, configKey); err == nil {
		plain, err := d.keyring.Open(ctx, ad, blob)
		if err != nil {
			return nil, err
		}
		prev = string(plain)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	blob, err := d.keyring.Seal(ctx, ad, []byte(cur))
	if err != nil {
		return nil, err
	}
	if err := d.store.PutMeta(ctx, configKey, blob); err != nil {
		return nil, err
	}
	if prev == "" {
		return nil, nil
	}
	old := map[string]string{}
	for _, l := range strings.Split(prev, "\n") {
		k, v, _ := strings.Cut(l, ": ")
		old[k] = v
	}
	var changed []string
	for _, l := range strings.Split(cur, "\n") {
		k, v, _ := strings.Cut(l, ": ")
		if k != "" && old[k] != v {
			changed = append(changed, k)
		}
	}
	return changed, nil
}

// recordStart records the start, and a settings change when the effective
// configuration differs from the last start's.
func recordStart(ctx context.Context, d *data, cfg config.Config, env Env, a *audit.Auditor) error {
	if err := a.Preflight(ctx); err != nil {
		return fmt.Errorf("refusing to serve: %w", err)
	}
	changed, err := configChanges(ctx, d, cfg)
	if err != nil {
		return fmt.Errorf("comparing the configuration with the last start's: %w", err)
	}
	ev := audit.Event{Action: audit.ServerStart, Outcome: audit.Success, Actor: audit.System,
		Details: map[string]string{"version": env.Build.Version, "airGapped": strconv.FormatBool(cfg.Egress.AirGapped)}}
	if err := a.Record(ctx, ev); err != nil {
		return fmt.Errorf("refusing to serve: %w", err)
	}
	if len(changed) > 0 {
		if len(changed) > 30 {
			changed = append(changed[:30], "…")
		}
		if err := a.Record(ctx, audit.Event{Action: audit.SettingsChange, Outcome: audit.Success, Actor: audit.System, Target: "configuration",
			Details: map[string]string{"keys": strings.Join(changed, ", ")}}); err != nil {
			return fmt.Errorf("refusing to serve: %w", err)
		}
	}
	return nil
}

// checkpoints signs the audit trail's head every interval while it grows.
func checkpoints(ctx context.Context, a *audit.Auditor, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := a.Checkpoint(ctx); err != nil && ctx.Err() == nil {
			log.Error("signing an audit checkpoint", "error", err)
		}
	}
}
