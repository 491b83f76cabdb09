package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, env)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "costwarden ") {
		t.Errorf("version: code %d out %q", code, out)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("server:\n  listen: ':9443'\n"), 0o600)
	code, out, _ := runCLI(t, nil, "config", "check", "--config", good, "--data-dir", dir)
	if code != 0 || !strings.Contains(out, `server.listen: ":9443"`) || !strings.Contains(out, "dataDir: \""+dir+"\"") {
		t.Errorf("config check (good): code %d out:\n%s", code, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("server:\n  listen: nope\nstorage:\n  password: hunter2\n"), 0o600)
	code, out, errOut := runCLI(t, nil, "config", "check", "--config", bad)
	if code == 0 || !strings.Contains(errOut, "server.listen") || !strings.Contains(errOut, "storage.password") || strings.Contains(errOut+out, "hunter2") {
		t.Errorf("config check (bad): code %d stderr:\n%s", code, errOut)
	}
	// The environment names the file too, and flags beat it.
	code, out, _ = runCLI(t, []string{"COSTWARDEN_CONFIG=" + good}, "config", "check", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, `":9443"`) {
		t.Errorf("COSTWARDEN_CONFIG not read: %d %s", code, out)
	}
}

func TestUserAndTokenCommands(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := runCLI(t, nil, "user", "add", "ops-admin", "--role", "admin", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("user add: %d %s", code, errOut)
	}
	code, out, errOut := runCLI(t, nil, "token", "create", "--user", "ops-admin", "--ttl", "2h", "--data-dir", dir)
	if code != 0 || !strings.HasPrefix(out, "cwt_") || strings.Count(out, "\n") != 1 {
		t.Fatalf("token create: code %d stdout %q stderr %q (want only the token on stdout)", code, out, errOut)
	}
	for _, c := range []struct {
		name string
		args []string
		msg  string
	}{
		{"duplicate user", []string{"user", "add", "ops-admin", "--role", "admin"}, "already exists"},
		{"unknown role", []string{"user", "add", "x", "--role", "root"}, "unknown role"},
		{"missing role", []string{"user", "add", "x"}, "role"},
		{"bad username", []string{"user", "add", "Bad Name", "--role", "viewer"}, "username"},
		{"unknown user", []string{"token", "create", "--user", "nobody"}, "no such principal"},
		{"ttl too long", []string{"token", "create", "--user", "ops-admin", "--ttl", "9000h"}, "ttl"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
	} {
		code, out, errOut := runCLI(t, nil, append(c.args, "--data-dir", dir)...)
		if code == 0 || !strings.Contains(errOut, c.msg) || out != "" {
			t.Errorf("%s: code %d stdout %q stderr %q, want non-zero, %q on stderr, nothing on stdout", c.name, code, out, errOut, c.msg)
		}
	}
}
