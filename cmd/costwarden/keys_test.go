package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeysTenantBackupCommands drives the new commands through the CLI: exit
// codes, output, and clear refusals.
func TestKeysTenantBackupCommands(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, nil, "user", "add", "ops-admin", "--role", "admin", "--data-dir", dir); code != 0 {
		t.Fatalf("user add: %d %s", code, errOut)
	}
	code, out, errOut := runCLI(t, nil, "keys", "rotate", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "new data key version 2") {
		t.Fatalf("keys rotate: %d %s %s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, nil, "keys", "reencrypt", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "every sealed row is at key version >= 2") || !strings.Contains(errOut, "re-encrypting tenant default") {
		t.Fatalf("keys reencrypt: %d %s %s", code, out, errOut)
	}
	code, out, _ = runCLI(t, nil, "keys", "status", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "VERSION") || !strings.Contains(out, "2        active") {
		t.Errorf("keys status: %d\n%s", code, out)
	}
	backup := filepath.Join(t.TempDir(), "b.cwb")
	if code, out, errOut := runCLI(t, nil, "backup", "create", "--out", backup, "--data-dir", dir); code != 0 || !strings.Contains(out, "sealed") {
		t.Fatalf("backup create: %d %s %s", code, out, errOut)
	}
	// Streamed to standard output (kubectl exec … --out - > file): the same
	// backup, restorable; the summary goes to standard error.
	code, streamed, errOut := runCLI(t, nil, "backup", "create", "--out", "-", "--data-dir", dir)
	if code != 0 || !strings.Contains(errOut, "backup to standard output") || len(streamed) < 1000 {
		t.Fatalf("backup create --out -: %d, %d bytes, %s", code, len(streamed), errOut)
	}
	piped := filepath.Join(t.TempDir(), "piped.cwb")
	os.WriteFile(piped, []byte(streamed), 0o600)
	restored := t.TempDir()
	os.WriteFile(filepath.Join(restored, "costwarden.key"), mustRead(t, filepath.Join(dir, "costwarden.key")), 0o600)
	if code, out, errOut := runCLI(t, nil, "backup", "restore", piped, "--data-dir", restored); code != 0 {
		t.Fatalf("restore of the streamed backup: %d %s %s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, nil, "keys", "status", "--data-dir", restored); code != 0 || !strings.Contains(out, "2        active") {
		t.Errorf("keys status of the restored store: %d\n%s", code, out)
	}
	foreign := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(foreign, []byte("not a backup\n"), 0o600)
	other := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		msg  string
	}{
		{"restore of a foreign file", []string{"backup", "restore", foreign, "--data-dir", other}, "not a costwarden backup"},
		{"restore over an existing database", []string{"backup", "restore", backup, "--data-dir", dir}, "--force"},
		{"shred without confirmation", []string{"tenant", "shred", "default", "--data-dir", dir}, "--yes"},
		{"rewrap without a target", []string{"keys", "rewrap", "--to-provider", "file", "--data-dir", dir}, "--to-file"},
		{"rewrap to an unknown provider", []string{"keys", "rewrap", "--to-provider", "vault", "--data-dir", dir}, "file, secret or awskms"},
	} {
		code, _, errOut := runCLI(t, nil, c.args...)
		if code == 0 || !strings.Contains(errOut, c.msg) {
			t.Errorf("%s: code %d stderr %q, want non-zero naming %q", c.name, code, errOut, c.msg)
		}
	}
	if _, err := os.Stat(filepath.Join(other, "costwarden.db")); err == nil {
		t.Error("a refused restore created a database")
	}
	// Rewrap to a new key file, then the old key is refused and the new one works.
	newKey := filepath.Join(t.TempDir(), "new.key")
	if code, out, errOut := runCLI(t, nil, "keys", "rewrap", "--to-provider", "file", "--to-file", newKey, "--data-dir", dir); code != 0 || !strings.Contains(out, "rewrapped 3 data keys") {
		t.Fatalf("keys rewrap: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, nil, "keys", "status", "--data-dir", dir); code == 0 || !strings.Contains(errOut, "wrong key-encryption key") {
		t.Errorf("old key after rewrap: %d %s", code, errOut)
	}
	if code, out, errOut := runCLI(t, []string{"COSTWARDEN_KEYS_FILE=" + newKey}, "keys", "status", "--data-dir", dir); code != 0 || !strings.Contains(out, "tenant default") {
		t.Errorf("new key after rewrap: %d %s %s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, []string{"COSTWARDEN_KEYS_FILE=" + newKey}, "tenant", "shred", "default", "--yes", "--data-dir", dir); code != 0 || !strings.Contains(out, "keys destroyed") {
		t.Errorf("tenant shred: %d %s %s", code, out, errOut)
	}
	if code, out, _ := runCLI(t, []string{"COSTWARDEN_KEYS_FILE=" + newKey}, "retention", "apply", "--data-dir", dir); code != 0 || !strings.Contains(out, "deleted 0 hourly") {
		t.Errorf("retention apply: %d %s", code, out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAgentCheck: the agent's liveness probe fails without the alive file and
// when it is older than --max-age, and passes when it is fresh.
func TestAgentCheck(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, nil, "agent", "check", "--data-dir", dir); code == 0 || !strings.Contains(errOut, "has not started delivering") {
		t.Errorf("check without the alive file: %d %q", code, errOut)
	}
	alive := filepath.Join(dir, "agent.alive")
	os.WriteFile(alive, nil, 0o600)
	if code, out, errOut := runCLI(t, nil, "agent", "check", "--data-dir", dir); code != 0 || !strings.Contains(out, "agent alive") {
		t.Errorf("check with a fresh alive file: %d %q %q", code, out, errOut)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(alive, old, old)
	if code, _, errOut := runCLI(t, nil, "agent", "check", "--data-dir", dir, "--max-age", "10m"); code == 0 || !strings.Contains(errOut, "stuck") {
		t.Errorf("check with an hour-old alive file: %d %q", code, errOut)
	}
	if code, _, _ := runCLI(t, nil, "agent", "check", "--data-dir", dir, "--max-age", "2h"); code != 0 {
		t.Errorf("check with an hour-old alive file and --max-age 2h: %d", code)
	}
}
