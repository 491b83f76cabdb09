package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/costwarden/costwarden/internal/store"
)

// migrationFiles are the schema migrations, NNNN_name.sql, applied in order.
// Released migrations are never edited: a change is a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations ordered by version; versions
// must run 1, 2, 3, … without gaps.
func loadMigrations() ([]migration, error) {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s: name must be NNNN_name.sql", e.Name())
		}
		body, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(body)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: migration %s: expected version %d", m.name, i+1)
		}
	}
	return out, nil
}

func latestVersion(ms []migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// querier is what schemaVersion needs: a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion returns the highest applied migration, and whether the
// schema_migrations table exists at all.
func schemaVersion(ctx context.Context, q querier) (int, bool, error) {
	var n int
	err := q.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").Scan(&n)
	if err != nil || n == 0 {
		return 0, false, err
	}
	var v int
	err = q.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v)
	return v, true, err
}

// migrate applies pending migrations, each in its own BEGIN IMMEDIATE transaction
// that re-reads the version first: when two processes start together, one applies
// a migration and the other finds it applied.
func (s *Store) migrate(ctx context.Context, ms []migration) error {
	latest := latestVersion(ms)
	current, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current == latest {
		return nil // the common case takes no write lock
	}
	for _, m := range ms {
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			v, _, err := schemaVersion(ctx, tx)
			if err != nil {
				return classify(err)
			}
			if v > latest {
				return fmt.Errorf("%w: its schema version is %d, this binary knows up to %d", store.ErrSchemaTooNew, v, latest)
			}
			if v >= m.version {
				return nil
			}
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    INTEGER PRIMARY KEY,
				applied_at INTEGER NOT NULL
			) STRICT`); err != nil {
				return classify(err)
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return classify(err)
			}
			_, err = tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", m.version, s.now().UnixNano())
			return classify(err)
		})
		if err != nil {
			return fmt.Errorf("store: %s: applying migration %s: %w", s.path, m.name, err)
		}
	}
	return nil
}

// LatestVersion is the schema version this binary migrates to.
func LatestVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return latestVersion(ms)
}
