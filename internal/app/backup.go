package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/backup"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

// BackupCreate writes a sealed backup of the store to out (mode 0600) from one
// consistent snapshot, while servers keep running. An existing out is replaced
// only with force, and only once the new backup is complete.
//
// out "-" streams the backup to standard output (for `kubectl exec … --out - >
// file` from a pod whose file system is read-only); the summary then goes to
// standard error.
func BackupCreate(ctx context.Context, cfg config.Config, env Env, out string, force bool) error {
	if out == "" {
		return errors.New("backup create needs --out FILE (or --out - for standard output)")
	}
	if out == "-" {
		return audited(ctx, cfg, env, audit.BackupCreate, "standard output", func(d *data, details map[string]string) error {
			if err := d.keyring.Flush(ctx); err != nil {
				return err
			}
			h, st, err := backup.Create(ctx, d.store, env.Stdout, cfg.Storage.Driver, env.Build.Version, env.Now(), backupProgress(env))
			if err != nil {
				return fmt.Errorf("backup failed; what was written to standard output is incomplete and will not restore: %w", err)
			}
			fmt.Fprintf(env.Stderr, "backup to standard output: %d rows (%d windows, %d data keys) from %s schema %d; sealed: it opens only with %v\n",
				st.Rows, st.Windows, st.Keys, h.Source, h.Schema, h.KEKIDs)
			return nil
		})
	}
	if ok, err := exists(out); err != nil {
		return err
	} else if ok && !force {
		return fmt.Errorf("%s exists; choose another name or pass --force to replace it", out)
	}
	return audited(ctx, cfg, env, audit.BackupCreate, out, func(d *data, details map[string]string) error {
		if err := d.keyring.Flush(ctx); err != nil {
			return err
		}
		tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".partial-")
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		defer os.Remove(tmp.Name())
		if err := tmp.Chmod(0o600); err != nil {
			tmp.Close()
			return err
		}
		h, st, err := backup.Create(ctx, d.store, tmp, cfg.Storage.Driver, env.Build.Version, env.Now(), backupProgress(env))
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("backup failed, %s not written: %w", out, err)
		}
		if err := os.Rename(tmp.Name(), out); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		fmt.Fprintf(env.Stdout, "backup %s: %d rows (%d windows, %d data keys) from %s schema %d; sealed: it opens only with %v\n",
			out, st.Rows, st.Windows, st.Keys, h.Source, h.Schema, h.KEKIDs)
		return nil
	})
}

// backupProgress reports a running backup on standard error at most once a second.
func backupProgress(env Env) func(backup.Stats) {
	last := time.Now()
	return func(s backup.Stats) {
		if time.Since(last) > time.Second {
			last = time.Now()
			fmt.Fprintf(env.Stderr, "backup: %d rows (%d windows), %d MB\n", s.Rows, s.Windows, s.Bytes>>20)
		}
	}
}

// BackupRestore restores file into the configured store. The whole file is
// verified (checksum and every record) and its data keys are checked against
// the configured key-encryption key before anything is written. SQLite: the
// database is built beside the target and moved into place only when
// complete; an existing database is kept (renamed aside) and replaced only with
// force, and never while a server has it open. PostgreSQL: the database must be
// empty (create a fresh one); the rows load in one transaction.
func BackupRestore(ctx context.Context, cfg config.Config, env Env, file string, force bool) error {
	err := backupRestore(ctx, cfg, env, file, force)
	// Recorded in the restored store (the trail continues from the backup's);
	// a failed restore is recorded in the store as it was, when there is one
	// (nothing is created to record it).
	if err != nil {
		if fresh, ferr := freshStore(ctx, cfg); ferr != nil || fresh {
			return err
		}
	}
	d, oerr := openData(ctx, cfg, env.Now)
	if oerr != nil {
		if err != nil {
			return err
		}
		return fmt.Errorf("restored, but the store does not open to record the restore: %w", oerr)
	}
	defer d.Close(ctx)
	ca, aerr := d.cliAuditor(cfg, env)
	if aerr != nil {
		return errors.Join(err, aerr)
	}
	defer ca.close()
	return ca.done(ctx, audit.BackupRestore, file, nil, err)
}

func backupRestore(ctx context.Context, cfg config.Config, env Env, file string, force bool) error {
	if err := seal.SelfTest(); err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("backup restore: %w", err)
	}
	defer f.Close()
	b, err := backup.Open(f)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "verifying %s (written %s from %s) ...\n", file, b.Header.Created.Format(time.RFC3339), b.Header.Source)
	if err := b.Verify(ctx); err != nil {
		return err
	}
	if cfg.Keys.Provider == "file" {
		if ok, err := exists(cfg.Keys.File); err != nil || !ok {
			return fmt.Errorf("the key file %s is missing: restore it from your key backup first (a backup opens only with the key it was made under): %v", cfg.Keys.File, err)
		}
	}
	kek, _, err := openKEK(ctx, cfg, false)
	if err != nil {
		return err
	}
	for _, id := range b.Header.KEKIDs {
		if id != kek.ID() {
			return fmt.Errorf("%w: the backup's data keys are wrapped by %s, the configured key-encryption key is %s; configure the key the backup was made under (or rewrap after restoring with it)", seal.ErrWrongKEK, id, kek.ID())
		}
	}
	if cfg.Storage.Driver == "postgres" {
		st, err := openStore(ctx, cfg, env.Now)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := restoreInto(ctx, b, st, kek, env); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "restored %d rows into %s\n", b.Rows, storeName(cfg))
		return nil
	}
	return restoreSQLite(ctx, cfg, env, b, kek, force)
}

func restoreInto(ctx context.Context, b *backup.Reader, st store.Store, kek seal.KEK, env Env) error {
	next, err := b.Next()
	if err != nil {
		return err
	}
	if err := st.Load(ctx, next); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w (nothing was written)", err)
		}
		return fmt.Errorf("restore failed, nothing was written: %w", err)
	}
	if err := seal.NewKeyring(kek, st, seal.Options{Now: env.Now}).Verify(ctx, b.Header.Tenants...); err != nil {
		return fmt.Errorf("restored, but the data keys do not open: %w", err)
	}
	return st.Check(ctx)
}

func restoreSQLite(ctx context.Context, cfg config.Config, env Env, b *backup.Reader, kek seal.KEK, force bool) error {
	path := cfg.Storage.SQLite.Path
	target, err := exists(path)
	if err != nil {
		return err
	}
	if target && !force {
		return fmt.Errorf("the database %s exists; restore writes a new database: pass --force to set the current one aside (it is renamed, not deleted)", path)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		return fmt.Errorf("%s-wal exists: a server or another command has the database open (or did not shut down cleanly); stop it first", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	tmp := path + ".restore-" + hex.EncodeToString(suffix)
	st, err := sqlite.Open(ctx, tmp, sqlite.Options{Now: env.Now})
	if err != nil {
		return err
	}
	cleanup := func() {
		for _, p := range []string{tmp, tmp + "-wal", tmp + "-shm"} {
			os.Remove(p)
		}
	}
	if err := restoreInto(ctx, b, st, kek, env); err != nil {
		st.Close()
		cleanup()
		return err
	}
	if err := st.Close(); err != nil {
		cleanup()
		return err
	}
	aside := ""
	if target {
		aside = path + ".before-restore-" + env.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(path, aside); err != nil {
			cleanup()
			return err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		if aside != "" {
			os.Rename(aside, path)
		}
		cleanup()
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	fmt.Fprintf(env.Stdout, "restored %d rows into %s", b.Rows, path)
	if aside != "" {
		fmt.Fprintf(env.Stdout, "; the previous database was kept as %s", aside)
	}
	fmt.Fprintln(env.Stdout)
	return nil
}
