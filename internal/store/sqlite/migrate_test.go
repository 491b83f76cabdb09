package sqlite

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/store"
)

// TestMigrateFromVersion1: a database written by a version-1 binary (principals
// and tokens included) is migrated to the current schema with its rows intact,
// and the new identity tables work on it.
func TestMigrateFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "costwarden.db")
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	rawExec(t, path,
		"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT",
		ms[0].sql,
		fmt.Sprintf("INSERT INTO schema_migrations VALUES (1, %d)", now),
		fmt.Sprintf("INSERT INTO principals (id, tenant, kind, name_index, state, role, sealed, created_at, updated_at, version) VALUES ('p1', 't1', 'user', x'01', 'active', 'admin', x'aa', %d, %d, 3)", now, now),
		fmt.Sprintf("INSERT INTO tokens (id, tenant, principal_id, hash, sealed, role, created_at, expires_at) VALUES ('k1', 't1', 'p1', x'02', x'bb', 'admin', %d, %d)", now, now+int64(time.Hour)),
	)
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(t.Context()); v != latestVersion(ms) {
		t.Fatalf("schema version %d after migration, want %d", v, latestVersion(ms))
	}
	p, err := s.GetPrincipal(t.Context(), "t1", "p1")
	if err != nil || p.Version != 3 || p.Role != "admin" || !bytes.Equal(p.Sealed, []byte{0xaa}) || p.EmailIndex != nil || !p.LastSeenAt.IsZero() {
		t.Errorf("migrated principal = %+v, %v", p, err)
	}
	if tok, err := s.GetTokenByHash(t.Context(), []byte{2}); err != nil || tok.PrincipalID != "p1" {
		t.Errorf("migrated token = %+v, %v", tok, err)
	}
	if err := s.InsertSession(t.Context(), store.Session{ID: "x1", Tenant: "t1", PrincipalID: "p1", Hash: []byte{3}, Stage: store.SessionActive,
		ExpiresAt: time.Unix(0, now).Add(time.Hour)}); err != nil {
		t.Errorf("session on a migrated database: %v", err)
	}
	if err := s.TouchPrincipal(t.Context(), "t1", "p1", time.Unix(0, now).Add(time.Minute)); err != nil {
		t.Errorf("TouchPrincipal on a migrated database: %v", err)
	}
	if err := s.Check(t.Context()); err != nil {
		t.Error(err)
	}
}
