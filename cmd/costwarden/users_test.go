package main

import (
	"strings"
	"testing"
)

func TestUserLifecycleCommands(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runCLI(t, nil, "user", "add", "ops", "--role", "admin", "--email", "ops@example.com", "--data-dir", dir)
	if code != 0 || !strings.HasPrefix(out, "cwsetup_") || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, "setup code") {
		t.Fatalf("user add: code %d stdout %q stderr %q (want only the setup code on stdout)", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, nil, "user", "add", "pay-viewer", "--role", "viewer", "--scope", "namespaces=payments|billing", "--data-dir", dir); code != 0 {
		t.Fatalf("user add --scope: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, nil, "service-account", "add", "ci-bot", "--owner", "ops", "--role", "viewer", "--data-dir", dir); code != 0 || !strings.Contains(errOut, "ci-bot") {
		t.Fatalf("service-account add: %d %s", code, errOut)
	}
	code, out, _ = runCLI(t, nil, "user", "list", "--data-dir", dir)
	for _, want := range []string{"NAME", "ops", "admin", "pay-viewer", "namespaces=payments|billing", "ci-bot", "service", "never"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("user list lacks %q:\n%s", want, out)
		}
	}
	// A token for the service account, then disabling its owner ends it.
	if code, out, errOut := runCLI(t, nil, "token", "create", "--user", "ci-bot", "--ttl", "1h", "--data-dir", dir); code != 0 || !strings.HasPrefix(out, "cwt_") {
		t.Fatalf("token for the service account: %d %q %s", code, out, errOut)
	}
	for _, step := range []struct {
		args  []string
		state string // expected state of the line naming who
		who   string
	}{
		{[]string{"user", "disable", "pay-viewer"}, "disabled", "pay-viewer"},
		{[]string{"user", "enable", "pay-viewer"}, "active", "pay-viewer"},
		{[]string{"user", "disable", "ops"}, "disabled", "ci-bot"}, // owned service accounts go with their owner
	} {
		if code, _, errOut := runCLI(t, nil, append(step.args, "--data-dir", dir)...); code != 0 {
			t.Fatalf("%v: %d %s", step.args, code, errOut)
		}
		_, out, _ := runCLI(t, nil, "user", "list", "--data-dir", dir)
		if !lineHas(out, step.who, step.state) {
			t.Errorf("after %v, %s is not %s:\n%s", step.args, step.who, step.state, out)
		}
	}
	if code, _, errOut := runCLI(t, nil, "user", "enable", "ci-bot", "--data-dir", dir); code == 0 || !strings.Contains(errOut, "owner") {
		t.Errorf("enabling a service account whose owner is disabled: %d %s", code, errOut)
	}
	code, out, _ = runCLI(t, nil, "user", "reset-mfa", "pay-viewer", "--data-dir", dir)
	if code != 0 || !strings.HasPrefix(out, "cwsetup_") {
		t.Errorf("reset-mfa: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, nil, "user", "delete", "pay-viewer", "--data-dir", dir); code != 0 {
		t.Fatalf("delete: %d %s", code, errOut)
	}
	if _, out, _ := runCLI(t, nil, "user", "list", "--data-dir", dir); strings.Contains(out, "pay-viewer") {
		t.Error("a deleted user is listed")
	}
	for _, c := range []struct {
		name string
		args []string
		msg  string
	}{
		{"unknown user", []string{"user", "disable", "nobody"}, "no such principal"},
		{"bad scope", []string{"user", "add", "x", "--role", "viewer", "--scope", "planets=mars"}, "unknown key"},
		{"admin with scope", []string{"user", "add", "x", "--role", "admin", "--scope", "namespaces=a"}, "scope"},
		{"bad e-mail", []string{"user", "add", "x", "--role", "viewer", "--email", "nope"}, "email"},
		{"owner missing", []string{"service-account", "add", "bot2", "--owner", "nobody", "--role", "viewer"}, "--owner"},
		{"no args", []string{"user", "delete"}, "accepts 1 arg"},
	} {
		code, out, errOut := runCLI(t, nil, append(c.args, "--data-dir", dir)...)
		if code == 0 || !strings.Contains(errOut, c.msg) || out != "" {
			t.Errorf("%s: code %d stdout %q stderr %q, want non-zero and %q", c.name, code, out, errOut, c.msg)
		}
	}
}

func lineHas(out, who, state string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && f[0] == who {
			return strings.Contains(l, " "+state+" ")
		}
	}
	return false
}
