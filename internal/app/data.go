package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

// DefaultTenant is the tenant of a single-organisation installation.
const DefaultTenant = "default"

// data is an opened data directory: the store and the keyring over it.
type data struct {
	store   store.Store
	keyring *seal.Keyring
	kek     seal.KEK
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
	dbPath := cfg.Storage.SQLite.Path
	dbExists, err := exists(dbPath)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", dbPath, err)
	}
	keyExists, err := exists(cfg.Keys.File)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", cfg.Keys.File, err)
	}
	if dbExists && !keyExists {
		return nil, fmt.Errorf("the database %s exists but its key file %s is missing; without that key the data cannot be read. Restore the key file from your backup (costwarden never creates a new key next to existing data)", dbPath, cfg.Keys.File)
	}
	kek, err := seal.OpenKeyFile(cfg.Keys.File, !keyExists)
	if err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, dbPath, sqlite.Options{Now: now})
	if err != nil {
		return nil, err
	}
	kr := seal.NewKeyring(kek, st, seal.Options{Now: now})
	if err := kr.Verify(ctx, DefaultTenant); err != nil {
		st.Close()
		return nil, err
	}
	return &data{store: st, keyring: kr, kek: kek}, nil
}
