package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/egress"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/seal/awskms"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/postgres"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

// DefaultTenant is the tenant of a single-organisation installation.
const DefaultTenant = "default"

// data is an opened data directory: the store and the keyring over it.
type data struct {
	store   store.Store
	keyring *seal.Keyring
	kek     seal.KEK
	// tenant is the tenant administration commands act on (DefaultTenant
	// unless --tenant named one); hosted is hosted mode (tenant-bound stores).
	tenant string
	hosted bool
	// egress is the guarded dialer of every outbound connection.
	egress *egress.Dialer
	// warnings are things the operator should fix, logged at start.
	warnings []string
}

func (d *data) Close(ctx context.Context) error {
	err := d.keyring.Flush(ctx)
	return errors.Join(err, d.store.Close())
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// openData opens the data directory. It never overwrites anything: a key file is
// created only when neither it nor the database exists yet (a fresh install), a
// missing key next to an existing database is an error, and a key that does not
// unwrap the stored data keys stops everything with a clear message.
func openData(ctx context.Context, cfg config.Config, now func() time.Time) (*data, error) {
	if err := seal.SelfTest(); err != nil {
		return nil, fmt.Errorf("refusing to run: the AES-GCM self-test failed, this build's cryptography is broken: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", cfg.DataDir, err)
	}
	createKey := false
	if cfg.Keys.Provider == "file" {
		keyExists, err := exists(cfg.Keys.File)
		if err != nil {
			return nil, fmt.Errorf("key file %s: %w", cfg.Keys.File, err)
		}
		if !keyExists {
			fresh, err := freshStore(ctx, cfg)
			if err != nil {
				return nil, err
			}
			if !fresh {
				return nil, fmt.Errorf("the database %s exists but its key file %s is missing; without that key the data cannot be read. Restore the key file from your backup (costwarden never creates a new key next to existing data)", storeName(cfg), cfg.Keys.File)
			}
			createKey = true
		}
	}
	dialer, err := newEgress(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	kek, warnings, err := openKEKWith(ctx, cfg, createKey, dialer)
	if err != nil {
		return nil, err
	}
	st, err := openStoreWith(ctx, cfg, now, dialer)
	if err != nil {
		return nil, err
	}
	kr := seal.NewKeyring(kek, st, seal.Options{Now: now})
	tenants, err := st.ListTenants(ctx)
	if err == nil {
		err = kr.Verify(ctx, append(tenants, DefaultTenant)...)
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return &data{store: st, keyring: kr, kek: kek, egress: dialer, warnings: warnings, tenant: DefaultTenant, hosted: cfg.Hosted.Enabled}, nil
}

// storeName names the configured store in messages (never a password).
func storeName(cfg config.Config) string {
	if cfg.Storage.Driver == "postgres" {
		p := cfg.Storage.Postgres
		return fmt.Sprintf("postgres://%s@%s:%d/%s", p.User, p.Host, p.Port, p.Database)
	}
	return cfg.Storage.SQLite.Path
}

// freshStore reports whether the configured store holds no data yet (a new
// install), without creating or changing anything.
func freshStore(ctx context.Context, cfg config.Config) (bool, error) {
	if cfg.Storage.Driver != "postgres" {
		ok, err := exists(cfg.Storage.SQLite.Path)
		if err != nil {
			return false, fmt.Errorf("database %s: %w", cfg.Storage.SQLite.Path, err)
		}
		return !ok, nil
	}
	st, err := openStore(ctx, cfg, time.Now)
	if err != nil {
		return false, err
	}
	defer st.Close()
	tenants, err := st.ListTenants(ctx)
	return len(tenants) == 0, err
}

// openKEK opens the configured key-encryption key through a guarded dialer of
// its own. create makes a new key file (provider file only, on a fresh install).
func openKEK(ctx context.Context, cfg config.Config, create bool) (seal.KEK, []string, error) {
	dialer, err := newEgress(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, err
	}
	return openKEKWith(ctx, cfg, create, dialer)
}

func openKEKWith(ctx context.Context, cfg config.Config, create bool, dialer *egress.Dialer) (seal.KEK, []string, error) {
	switch cfg.Keys.Provider {
	case "secret":
		kek, warning, err := seal.OpenSecretFile(cfg.Keys.Secret.File)
		if err != nil {
			return nil, nil, err
		}
		var warnings []string
		if warning != "" {
			warnings = append(warnings, warning)
		}
		return kek, warnings, nil
	case "awskms":
		k := cfg.Keys.AWSKMS
		kek, err := awskms.Open(ctx, awskms.Config{
			KeyID: k.KeyID, Region: k.Region, Endpoint: k.Endpoint, CredentialsFile: k.CredentialsFile,
			Profile: k.Profile, CAFile: k.CAFile, UseInstanceMetadata: k.UseInstanceMetadata, Timeout: k.Timeout,
			Dial: dialer.DialContext,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("refusing to run without the key-encryption key: %w", err)
		}
		return kek, nil, nil
	}
	kek, err := seal.OpenKeyFile(cfg.Keys.File, create)
	if err != nil {
		return nil, nil, err
	}
	return kek, nil, nil
}

// openStore opens the configured store backend through a guarded dialer of
// its own.
func openStore(ctx context.Context, cfg config.Config, now func() time.Time) (store.Store, error) {
	dialer, err := newEgress(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	return openStoreWith(ctx, cfg, now, dialer)
}

func openStoreWith(ctx context.Context, cfg config.Config, now func() time.Time, dialer *egress.Dialer) (store.Store, error) {
	if cfg.Storage.Driver == "postgres" {
		pc, err := postgresConfig(cfg.Storage.Postgres)
		if err != nil {
			return nil, err
		}
		pc.Dial = dialer.DialContext
		return postgres.Open(ctx, pc, postgres.Options{Now: now, LeaseCheck: cfg.HA.LeaseCheck})
	}
	return sqlite.Open(ctx, cfg.Storage.SQLite.Path, sqlite.Options{Now: now})
}

// postgresConfig reads the password file and builds the backend's settings.
func postgresConfig(p config.PostgresConfig) (postgres.Config, error) {
	pc := postgres.Config{
		Host: p.Host, Port: p.Port, Database: p.Database, User: p.User, SSLMode: p.SSLMode,
		CAFile: p.CAFile, CertFile: p.CertFile, KeyFile: p.KeyFile, MaxConns: int32(p.MaxConns), ConnectTimeout: p.ConnectTimeout,
	}
	if p.PasswordFile != "" {
		b, err := os.ReadFile(p.PasswordFile)
		if err != nil {
			return pc, fmt.Errorf("storage.postgres.passwordFile: %w", err)
		}
		pc.Password = bytes.TrimRight(b, "\r\n")
	}
	return pc, nil
}

// httpClient is an HTTP client whose connections go through the guarded dialer.
func (d *data) httpClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: d.egress.Transport(nil)}
}
