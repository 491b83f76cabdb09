package app_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHydraFindsNothing runs THC Hydra (Debian package hydra), an independent
// online password cracker, against the login form on 127.0.0.1. Its word list
// holds the real password after more guesses than the account lockout allows,
// so the lockout answers 429 before the password comes up; and even a right
// password only reaches the second-factor step.
func TestHydraFindsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	hydra, err := exec.LookPath("hydra")
	if err != nil {
		t.Fatal("hydra is not installed: apt-get install hydra (scripts/ensure-tools.sh installs it)")
	}
	run := func(r *running, list string) string {
		host, port, _ := strings.Cut(r.public, ":")
		// Success for hydra is the redirect to the second factor; anything else
		// (the form again, 429 locked) is a failure.
		cmd := exec.Command(hydra, "-l", "victim", "-P", list, "-s", port, "-t", "4", "-w", "20", "-I",
			host, "https-post-form", `/login:username=^USER^&password=^PASS^:S=/login/mfa`)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "HYDRA_PROXY") {
				cmd.Env = append(cmd.Env, kv) // talk to 127.0.0.1 directly
			}
		}
		out, err := cmd.CombinedOutput()
		t.Logf("hydra:\n%s", out)
		if err != nil && !strings.Contains(string(out), "valid password") || strings.Contains(string(out), "[ERROR]") {
			t.Fatalf("hydra could not attack the form: %v", err)
		}
		return string(out)
	}

	var words []string
	for i := range 30 {
		words = append(words, fmt.Sprintf("guess-%02d-password", i))
	}
	words = append(words, testPassword)
	list := filepath.Join(t.TempDir(), "words.txt")
	if err := os.WriteFile(list, []byte(strings.Join(words, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Control: without a lockout hydra does find the password (so the check
	// below can fail) — and still gets no session, only the second-factor step.
	loose := testConfig(t, t.TempDir(), 0)
	loose.Auth.Lockout.AccountFailures, loose.Auth.Lockout.AddressFailures = 1000, 100000
	lr := serve(t, loose)
	newBrowser(t, lr).enrol(addUser(t, loose, "victim", "viewer", ""), testPassword, goTOTP, time.Now())
	if out := run(lr, list); !strings.Contains(out, "1 valid password found") {
		t.Fatalf("control run: hydra did not find the password without a lockout")
	}
	_ = lr.stop()

	cfg := testConfig(t, t.TempDir(), 0)
	r := serve(t, cfg)
	newBrowser(t, r).enrol(addUser(t, cfg, "victim", "viewer", ""), testPassword, goTOTP, time.Now())
	out := run(r, list)
	if !strings.Contains(out, "0 valid password") || strings.Contains(out, testPassword) {
		t.Errorf("hydra found the password")
	}
	logs := r.logs.String()
	if n := strings.Count(logs, `"status":429`); n < len(words)-cfg.Auth.Lockout.AccountFailures-4 {
		t.Errorf("only %d answers were 429: the lockout did not stop hydra", n)
	}
	// The account is locked, not the address: the real user logs in once the
	// lockout ends; meanwhile even the right password gets 429.
	if a := newBrowser(t, r).form("/login", "username", "victim", "password", testPassword); a.code != 429 {
		t.Errorf("right password during the lockout: %d", a.code)
	}
}
