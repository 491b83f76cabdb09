package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/rekey"
	"github.com/costwarden/costwarden/internal/retention"
	"github.com/costwarden/costwarden/internal/seal"
)

// tenantsOf returns the tenant given, or every tenant of the store.
func (d *data) tenantsOf(ctx context.Context, tenant string) ([]string, error) {
	if tenant != "" {
		return []string{tenant}, nil
	}
	ts, err := d.store.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		ts = []string{DefaultTenant}
	}
	return ts, nil
}

// KeysStatus prints every tenant's key versions: state, KEK, age, use count, and
// the re-encryption progress.
func KeysStatus(ctx context.Context, cfg config.Config, env Env) error {
	return audited(ctx, cfg, env, audit.KeysStatus, "keys", func(d *data, details map[string]string) error {
		tenants, err := d.tenantsOf(ctx, "")
		if err != nil {
			return err
		}
		now := env.Now()
		fmt.Fprintf(env.Stdout, "key-encryption key: %s (provider %s)\n", d.kek.ID(), cfg.Keys.Provider)
		if cfg.Keys.RotateEvery > 0 {
			fmt.Fprintf(env.Stdout, "scheduled rotation: every %s\n", cfg.Keys.RotateEvery)
		} else {
			fmt.Fprintln(env.Stdout, "scheduled rotation: off")
		}
		for _, tenant := range tenants {
			infos, err := d.keyring.Status(ctx, tenant)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "\ntenant %s\n", tenant)
			tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tSTATE\tKEK\tCREATED\tAGE\tUSES")
			for _, k := range infos {
				age := "-"
				if !k.Created.IsZero() {
					age = now.Sub(k.Created).Round(time.Hour).String()
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\n", k.Version, k.State, k.KEKID, k.Created.UTC().Format(time.RFC3339), age, k.Uses)
			}
			tw.Flush()
			st, err := rekey.LoadState(ctx, d.store, tenant)
			if err != nil {
				return err
			}
			switch {
			case st.Target == 0:
				fmt.Fprintln(env.Stdout, "re-encryption: never run")
			case st.Done:
				fmt.Fprintf(env.Stdout, "re-encryption: every blob at version >= %d (finished %s; %d scanned, %d re-encrypted)\n", st.Target, st.Updated.Format(time.RFC3339), st.Scanned, st.Resealed)
			default:
				fmt.Fprintf(env.Stdout, "re-encryption: in progress to version %d, table %s (%d scanned, %d re-encrypted, last progress %s)\n", st.Target, st.Table, st.Scanned, st.Resealed, st.Updated.Format(time.RFC3339))
			}
		}
		return nil
	})
}

// KeysRotate makes a new data-key version for new writes (old versions still
// decrypt) for tenant, or every tenant, and optionally re-encrypts at once.
func KeysRotate(ctx context.Context, cfg config.Config, env Env, tenant string, reencrypt bool) error {
	return audited(ctx, cfg, env, audit.KeysRotate, tenantTarget(tenant), func(d *data, details map[string]string) error {
		tenants, err := d.tenantsOf(ctx, tenant)
		if err != nil {
			return err
		}
		for _, t := range tenants {
			v, err := d.keyring.Rotate(ctx, t)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "tenant %s: new data key version %d encrypts new data; older versions still decrypt\n", t, v)
		}
		if !reencrypt {
			fmt.Fprintln(env.Stderr, "the running server re-encrypts older data in the background (or run: costwarden keys reencrypt)")
			return nil
		}
		return reencryptAll(ctx, d, env, tenants)
	})
}

// KeysReencrypt runs the re-encryption job in the foreground with progress;
// it resumes where an interrupted run (here or in the server) stopped.
func KeysReencrypt(ctx context.Context, cfg config.Config, env Env, tenant string) error {
	return audited(ctx, cfg, env, audit.KeysReencrypt, tenantTarget(tenant), func(d *data, details map[string]string) error {
		tenants, err := d.tenantsOf(ctx, tenant)
		if err != nil {
			return err
		}
		return reencryptAll(ctx, d, env, tenants)
	})
}

func reencryptAll(ctx context.Context, d *data, env Env, tenants []string) error {
	job := rekey.New(d.store, d.keyring, env.Now, env.Log.With("component", "rekey"))
	for _, t := range tenants {
		last := time.Time{}
		s, err := job.Run(ctx, t, func(s rekey.State) {
			if now := time.Now(); now.Sub(last) >= 500*time.Millisecond || s.Done {
				last = now
				fmt.Fprintf(env.Stderr, "re-encrypting tenant %s to key version %d: %s, %d rows scanned, %d re-encrypted\n", t, s.Target, orDone(s.Table), s.Scanned, s.Resealed)
			}
		})
		if err != nil {
			return fmt.Errorf("re-encryption of tenant %s stopped (run it again to resume): %w", t, err)
		}
		fmt.Fprintf(env.Stdout, "tenant %s: every sealed row is at key version >= %d (%d scanned, %d re-encrypted, %d rewritten meanwhile)\n", t, s.Target, s.Scanned, s.Resealed, s.Conflicts)
	}
	return nil
}

func orDone(table string) string {
	if table == "" {
		return "done"
	}
	return "table " + table
}

// RewrapTarget is the key-encryption key keys rewrap moves to.
type RewrapTarget struct {
	Provider   string // file, secret or awskms
	File       string // provider file: the new key file (created 0600 if missing)
	SecretFile string // provider secret
	AWSKMS     config.AWSKMSConfig
}

// KeysRewrap re-wraps every data key under a new key-encryption key without
// touching sealed data. Stop the servers first: they hold the old KEK.
func KeysRewrap(ctx context.Context, cfg config.Config, env Env, to RewrapTarget) error {
	return audited(ctx, cfg, env, audit.KeysRewrap, "keys", func(d *data, details map[string]string) error {
		target := cfg
		target.Keys.Provider = to.Provider
		create := false
		switch to.Provider {
		case "file":
			if to.File == "" {
				return errors.New("keys rewrap --to-provider file needs --to-file PATH (a new key file is created there if missing)")
			}
			abs, _ := filepath.Abs(to.File)
			cur, _ := filepath.Abs(cfg.Keys.File)
			if cfg.Keys.Provider == "file" && abs == cur {
				return errors.New("--to-file is the current key file; choose a new path")
			}
			target.Keys.File = to.File
			ok, err := exists(to.File)
			if err != nil {
				return err
			}
			create = !ok
		case "secret":
			if to.SecretFile == "" {
				return errors.New("keys rewrap --to-provider secret needs --to-secret-file PATH")
			}
			target.Keys.Secret.File = to.SecretFile
		case "awskms":
			if to.AWSKMS.KeyID == "" {
				return errors.New("keys rewrap --to-provider awskms needs --to-kms-key-id")
			}
			if to.AWSKMS.Timeout == 0 {
				to.AWSKMS.Timeout = cfg.Keys.AWSKMS.Timeout
			}
			target.Keys.AWSKMS = to.AWSKMS
		default:
			return fmt.Errorf("--to-provider must be file, secret or awskms, got %q", to.Provider)
		}
		newKEK, warnings, err := openKEK(ctx, target, create)
		if err != nil {
			return fmt.Errorf("opening the new key-encryption key: %w", err)
		}
		for _, w := range warnings {
			fmt.Fprintln(env.Stderr, "warning:", w)
		}
		tenants, err := d.tenantsOf(ctx, "")
		if err != nil {
			return err
		}
		// Count uses first: the rewrap replaces records the keyring caches.
		if err := d.keyring.Flush(ctx); err != nil {
			return err
		}
		st, err := seal.Rewrap(ctx, d.store, d.kek, newKEK, tenants, func(tenant string, v uint32) {
			fmt.Fprintf(env.Stderr, "rewrapped tenant %s key version %d\n", tenant, v)
		})
		if err != nil {
			return fmt.Errorf("rewrap stopped (keys already moved stay moved; run it again to finish): %w", err)
		}
		// The data must open with the new key alone before the operator switches.
		newRing := seal.NewKeyring(newKEK, d.store, seal.Options{Now: env.Now})
		if err := newRing.Verify(ctx, tenants...); err != nil {
			return fmt.Errorf("after rewrap the new key-encryption key does not open every data key: %w", err)
		}
		d.keyring, d.kek = newRing, newKEK
		fmt.Fprintf(env.Stdout, "rewrapped %d data keys (%d were already under the new key) from %s to %s; no sealed data was touched.\n", st.Rewrapped, st.Already, d.kek.ID(), newKEK.ID())
		switch to.Provider {
		case "file":
			fmt.Fprintf(env.Stdout, "now set keys.provider: file and keys.file: %s in the configuration and start the server.\n", to.File)
		case "secret":
			fmt.Fprintf(env.Stdout, "now set keys.provider: secret and keys.secret.file: %s in the configuration and start the server.\n", to.SecretFile)
		default:
			fmt.Fprintf(env.Stdout, "now set keys.provider: awskms and keys.awskms.keyID: %s (and region, endpoint) in the configuration and start the server.\n", to.AWSKMS.KeyID)
		}
		fmt.Fprintln(env.Stdout, "the old key-encryption key no longer opens this data; keep it only while backups made before the rewrap must stay readable, then destroy it.")
		return nil
	})
}

// TenantShred destroys a tenant's keys (crypto-shredding: its data is
// unreadable from that moment, in this store and in every backup), then deletes
// its data and reclaims the space.
func TenantShred(ctx context.Context, cfg config.Config, env Env, tenant string, confirmed bool) error {
	if tenant == "" {
		return errors.New("tenant shred needs a tenant name")
	}
	if !confirmed {
		return fmt.Errorf("tenant shred destroys every key of tenant %q: its data in this store can never be read again (backups made earlier still hold its wrapped keys: delete them, or rewrap to a new key-encryption key and destroy the old one, see docs/keys.md). Re-run with --yes to confirm", tenant)
	}
	d, err := openData(ctx, cfg, env.Now)
	if err != nil {
		return err
	}
	defer d.Close(ctx)
	ca, err := d.cliAuditor(cfg, env)
	if err != nil {
		return err
	}
	defer ca.close()
	if err := ca.preflight(ctx); err != nil {
		return err
	}
	// Recorded before the keys go: shredding the tenant that holds the audit
	// trail destroys the trail too, and then only the sinks (audit.file,
	// audit.syslog) keep this record.
	if err := ca.done(ctx, audit.TenantShred, "tenant "+tenant, map[string]string{"when": "before destroying the keys"}, nil); err != nil {
		return err
	}
	keys, err := d.store.ListKeys(ctx, tenant)
	if err != nil {
		return err
	}
	if err := d.keyring.Shred(ctx, tenant); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "tenant %s: %d keys destroyed; its data is unreadable\n", tenant, len(keys))
	n, err := d.store.DeleteTenantData(ctx, tenant)
	if err != nil {
		return fmt.Errorf("the keys are destroyed, but deleting the unreadable data failed (run shred again): %w", err)
	}
	if err := d.store.Reclaim(ctx); err != nil {
		fmt.Fprintf(env.Stderr, "warning: space of the deleted rows not reclaimed yet: %v\n", err)
	}
	fmt.Fprintf(env.Stdout, "tenant %s: %d rows deleted\n", tenant, n)
	return nil
}

// RetentionApply deletes expired windows now (the server does it on a timer).
func RetentionApply(ctx context.Context, cfg config.Config, env Env) error {
	return audited(ctx, cfg, env, audit.RetentionApply, "windows", func(d *data, details map[string]string) error {
		res, err := retention.Apply(ctx, d.store, retentionPolicy(cfg), env.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted %d hourly and %d daily windows\n", res.Hourly, res.Daily)
		return nil
	})
}

func retentionPolicy(cfg config.Config) retention.Policy {
	return retention.Policy{HourlyDays: cfg.Retention.HourlyDays, DailyMonths: cfg.Retention.DailyMonths}
}

func tenantTarget(t string) string {
	if t == "" {
		return "every tenant"
	}
	return "tenant " + t
}
