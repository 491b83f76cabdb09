package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/auth/webauthntest"
	"github.com/costwarden/costwarden/internal/rbac"
)

func TestPasswordPolicy(t *testing.T) {
	for _, c := range []struct {
		pw   string
		want string // "" = accepted
	}{
		{"violet-harbour-lantern-42", ""},
		{"short", "12 to 256"},
		{strings.Repeat("x", 11) + "y", ""},
		{strings.Repeat("ab", 129), "12 to 256"},
		{strings.Repeat("éè", 6), ""}, // 12 characters, 24 bytes
		{strings.Repeat("🔐🔑", 6), ""}, // astral characters count once
		{"🔐🔐🔐🔐🔐🔐🔐🔐🔐🔐🔐", "12 to 256"},  // 11 characters, 44 bytes
		{"password1234", "common"},
		{"PassWord1234", "common"}, // the list is case-insensitive
		{"qwertyuiopasdfghjkl", "common"},
		{"1234567890123", "common"},
		{"aaaaaaaaaaaaaaaa", "repeated"},
		{"my-costwarden-password", "common"},
		{"alice-is-the-best-1", "username"},
		{"tab\tinside-password", "control"},
		{"bad-utf8-\xff\xfe-password", "UTF-8"},
	} {
		err := auth.CheckPassword(c.pw, "alice")
		if c.want == "" {
			if err != nil {
				t.Errorf("CheckPassword(%q) = %v, want accepted", c.pw, err)
			}
			continue
		}
		if err == nil || !errors.Is(err, auth.ErrInvalid) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), c.pw) {
			t.Errorf("CheckPassword(%q) = %v, want ErrInvalid mentioning %q and not the password", c.pw, err, c.want)
		}
	}
}

func TestArgon2idPHC(t *testing.T) {
	h, err := auth.HashPassword("correct horse battery", auth.DefaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("PHC string %q lacks the spec's parameters", h)
	}
	ok, rehash, err := auth.VerifyPassword("correct horse battery", h, auth.DefaultArgon2)
	if !ok || rehash || err != nil {
		t.Errorf("VerifyPassword(right) = %v, %v, %v", ok, rehash, err)
	}
	// Verified exactly as given: no trimming, no case folding, no normalisation.
	for _, wrong := range []string{"correct horse battery ", "Correct horse battery", "correct horse batter"} {
		if ok, _, _ := auth.VerifyPassword(wrong, h, auth.DefaultArgon2); ok {
			t.Errorf("VerifyPassword(%q) matched", wrong)
		}
	}
	nfc, nfd := "caf\u00e9-au-lait-123", "cafe\u0301-au-lait-123"
	hn, _ := auth.HashPassword(nfc, auth.DefaultArgon2)
	if ok, _, _ := auth.VerifyPassword(nfd, hn, auth.DefaultArgon2); ok {
		t.Error("an NFD spelling matched an NFC password: passwords must be compared as given")
	}
	// A hash made with weaker parameters verifies and asks for a re-hash.
	weak, _ := auth.HashPassword("correct horse battery", auth.Argon2Params{Memory: 4096, Time: 1, Threads: 1})
	if ok, rehash, _ := auth.VerifyPassword("correct horse battery", weak, auth.DefaultArgon2); !ok || !rehash {
		t.Errorf("weaker hash: ok=%v rehash=%v, want true, true", ok, rehash)
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=19456,t=2,p=1$!!$!!", h[:len(h)-10]} {
		if ok, _, err := auth.VerifyPassword("x", bad, auth.DefaultArgon2); ok || err == nil {
			t.Errorf("VerifyPassword against %q = %v, %v; want an error", bad, ok, err)
		}
	}
}

func TestTOTPVectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	// RFC 4226 appendix D.
	for i, want := range []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"} {
		if got := auth.HOTP(secret, uint64(i), 6); got != want {
			t.Errorf("HOTP(%d) = %s, want %s", i, got, want)
		}
	}
	// RFC 6238 appendix B (SHA-1, 8 digits).
	for unix, want := range map[int64]string{59: "94287082", 1111111109: "07081804", 1111111111: "14050471", 1234567890: "89005924", 2000000000: "69279037", 20000000000: "65353130"} {
		step := uint64(auth.TOTPStep(time.Unix(unix, 0)))
		if got := auth.HOTP(secret, step, 8); got != want {
			t.Errorf("TOTP(%d) = %s, want %s", unix, got, want)
		}
	}
	uri := auth.TOTPURI("costwarden", "alice", secret)
	for _, want := range []string{"otpauth://totp/costwarden:alice?", "secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "issuer=costwarden", "digits=6", "period=30", "algorithm=SHA1"} {
		if !strings.Contains(uri, want) {
			t.Errorf("URI %q lacks %q", uri, want)
		}
	}
	png, err := auth.QRCodePNG(uri)
	if err != nil || len(png) < 200 || string(png[1:4]) != "PNG" {
		t.Errorf("QR code: %d bytes, err %v", len(png), err)
	}
}

func TestLoginNeedsSecondFactor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, secret, recovery := e.enrolled(t, "alice", rbac.Viewer)
	if len(recovery) != 10 {
		t.Fatalf("%d recovery codes, want 10", len(recovery))
	}
	ticket, err := e.svc.Login(ctx, "alice", goodPassword, auth.Client{Addr: "192.0.2.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	// The password alone never yields a session: the ticket is not one.
	if _, err := e.svc.AuthenticateSession(ctx, ticket); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a login ticket authenticated as a session: %v", err)
	}
	code := auth.TOTP(secret, e.clock.Now())
	sess, p, err := e.svc.CompleteMFA(ctx, ticket, code, auth.Client{Addr: "192.0.2.1:1"})
	if err != nil || p.Name != "alice" {
		t.Fatalf("CompleteMFA = %v, %v", p, err)
	}
	if sess == ticket {
		t.Error("the session reuses the ticket's secret (no rotation)")
	}
	if got, err := e.svc.AuthenticateSession(ctx, sess); err != nil || got.ID != p.ID || got.SessionID == "" {
		t.Errorf("AuthenticateSession = %v, %v", got, err)
	}
	if _, _, err := e.svc.CompleteMFA(ctx, ticket, code, auth.Client{}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Error("a spent ticket was accepted again")
	}
	// The same code again, with a new ticket, is refused (replay).
	ticket2, _ := e.svc.Login(ctx, "alice", goodPassword, auth.Client{})
	if _, _, err := e.svc.CompleteMFA(ctx, ticket2, code, auth.Client{}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("the same TOTP code was accepted twice: %v", err)
	}
	// A recovery code works once.
	if _, _, err := e.svc.CompleteMFA(ctx, ticket2, strings.ToUpper(recovery[3]), auth.Client{}); err != nil {
		t.Errorf("recovery code refused: %v", err)
	}
	ticket3, _ := e.svc.Login(ctx, "alice", goodPassword, auth.Client{})
	if _, _, err := e.svc.CompleteMFA(ctx, ticket3, recovery[3], auth.Client{}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Error("a recovery code worked twice")
	}
	if u, _ := e.svc.User(ctx, "alice"); u.RecoveryCodes != 9 {
		t.Errorf("%d recovery codes left, want 9", u.RecoveryCodes)
	}
}

func TestTOTPWindowBoundaries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, secret, _ := e.enrolled(t, "alice", rbac.Viewer)
	now := e.clock.Now()
	step := time.Duration(30) * time.Second
	for _, c := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"two steps early", now.Add(2 * step), false},
		{"one step early (clock skew)", now.Add(step), true},
		{"two steps late", now.Add(-2 * step), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ticket, err := e.svc.Login(ctx, "alice", goodPassword, auth.Client{})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = e.svc.CompleteMFA(ctx, ticket, auth.TOTP(secret, c.at), auth.Client{})
			if (err == nil) != c.ok {
				t.Errorf("code of %s: err = %v, want ok=%v", c.at.Sub(now), err, c.ok)
			}
		})
	}
	// After the code one step ahead was used, the current (earlier) code is
	// refused too: each code and every earlier one works once.
	ticket, _ := e.svc.Login(ctx, "alice", goodPassword, auth.Client{})
	if _, _, err := e.svc.CompleteMFA(ctx, ticket, auth.TOTP(secret, now), auth.Client{}); err == nil {
		t.Error("an older code was accepted after a newer one")
	}
	// One step late is accepted once the clock has moved on.
	e.clock.Add(3 * step)
	ticket, _ = e.svc.Login(ctx, "alice", goodPassword, auth.Client{})
	if _, _, err := e.svc.CompleteMFA(ctx, ticket, auth.TOTP(secret, e.clock.Now().Add(-step)), auth.Client{}); err != nil {
		t.Errorf("code one step late refused: %v", err)
	}
	// The step boundary itself: at T-1s (the last second of a step) its code is
	// current; at T+30s+... it is two steps old.
	e.clock.Add(2 * step)
	stepStart := time.Unix(auth.TOTPStep(e.clock.Now())*30, 0)
	code := auth.TOTP(secret, stepStart)
	e.clock.Set(stepStart.Add(2*step - time.Second)) // still within +1 step
	ticket, _ = e.svc.Login(ctx, "alice", goodPassword, auth.Client{})
	if _, _, err := e.svc.CompleteMFA(ctx, ticket, code, auth.Client{}); err != nil {
		t.Errorf("code at the last second of its window refused: %v", err)
	}
	e.clock.Add(5 * step)
	stepStart = time.Unix(auth.TOTPStep(e.clock.Now())*30, 0)
	code = auth.TOTP(secret, stepStart)
	e.clock.Set(stepStart.Add(2 * step)) // first second two steps on
	ticket, _ = e.svc.Login(ctx, "alice", goodPassword, auth.Client{})
	if _, _, err := e.svc.CompleteMFA(ctx, ticket, code, auth.Client{}); err == nil {
		t.Error("code accepted at the first second after its window")
	}
}

func TestSessionTimeouts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, secret, _ := e.enrolled(t, "alice", rbac.Viewer)
	e.svc.Policy.SessionIdle = 30 * time.Minute
	e.svc.Policy.SessionAbsolute = 12 * time.Hour

	// Idle timeout: used at T-1s it lives (and the idle clock restarts); unused
	// for exactly the idle timeout it is dead.
	sess := e.login(t, "alice", secret)
	start := e.clock.Now().Add(-30 * time.Second) // login() moved the clock on by one step
	e.clock.Set(start.Add(30*time.Minute - time.Second))
	if _, err := e.svc.AuthenticateSession(ctx, sess); err != nil {
		t.Fatalf("session refused 1s before its idle timeout: %v", err)
	}
	last := e.clock.Now()
	e.clock.Set(last.Add(30 * time.Minute))
	if _, err := e.svc.AuthenticateSession(ctx, sess); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("session accepted after being idle for the timeout: %v", err)
	}

	// Absolute lifetime: kept busy, it still ends 12 h after login.
	sess = e.login(t, "alice", secret)
	created := e.clock.Now().Add(-30 * time.Second) // login() moved the clock on by one step
	for at := created.Add(20 * time.Minute); at.Before(created.Add(12 * time.Hour)); at = at.Add(20 * time.Minute) {
		e.clock.Set(at)
		if _, err := e.svc.AuthenticateSession(ctx, sess); err != nil {
			t.Fatalf("busy session refused at %s: %v", at.Sub(created), err)
		}
	}
	e.clock.Set(created.Add(12*time.Hour - time.Second))
	if _, err := e.svc.AuthenticateSession(ctx, sess); err != nil {
		t.Errorf("session refused at T-1s of its lifetime: %v", err)
	}
	e.clock.Set(created.Add(12 * time.Hour))
	if _, err := e.svc.AuthenticateSession(ctx, sess); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("session accepted at its absolute end: %v", err)
	}
}

func TestLockoutBoundariesAndRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.enrolled(t, "alice", rbac.Viewer)
	e.svc.Policy.AccountFailures, e.svc.Policy.LockFor = 5, 15*time.Minute
	for i := range 5 {
		_, err := e.svc.Login(ctx, "alice", "wrong-password-"+fmt.Sprint(i), auth.Client{Addr: fmt.Sprintf("198.51.100.%d:1", i)})
		var te *auth.ThrottledError
		if errors.As(err, &te) || !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("failure %d: %v, want a plain refusal", i, err)
		}
	}
	lockedAt := e.clock.Now()
	// Locked even with the right password, from another address.
	_, err := e.svc.Login(ctx, "alice", goodPassword, auth.Client{Addr: "203.0.113.9:1"})
	var te *auth.ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != 15*time.Minute {
		t.Fatalf("after 5 failures: %v, want throttled for 15m", err)
	}
	// The lockout is in the database: a new service on the same files (a
	// restart) still refuses, until T-1s; at T it lets the right password in.
	e.st.Close()
	e2 := openEnv(t, e.dir, e.clock)
	e2.svc.Policy.LockFor = 15 * time.Minute
	e.clock.Set(lockedAt.Add(15*time.Minute - time.Second))
	if _, err := e2.svc.Login(ctx, "alice", goodPassword, auth.Client{}); !errors.As(err, &te) || te.RetryAfter != time.Second {
		t.Errorf("after a restart, 1s before the end: %v, want throttled for 1s", err)
	}
	e.clock.Set(lockedAt.Add(15 * time.Minute))
	if _, err := e2.svc.Login(ctx, "alice", goodPassword, auth.Client{}); err != nil {
		t.Errorf("at the end of the lockout: %v", err)
	}
	// Unknown accounts are throttled the same way (no enumeration by lockout).
	for range 5 {
		_, _ = e2.svc.Login(ctx, "nobody", "wrong-password", auth.Client{})
	}
	if _, err := e2.svc.Login(ctx, "nobody", "wrong-password", auth.Client{}); !errors.As(err, &te) {
		t.Errorf("an unknown account is not throttled like a known one: %v", err)
	}
}

func TestSourceAddressThrottling(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.enrolled(t, "alice", rbac.Viewer)
	e.svc.Policy.IPFailures, e.svc.Policy.AccountFailures = 10, 1000
	// Spraying many account names from one address locks the address.
	for i := range 10 {
		_, _ = e.svc.Login(ctx, fmt.Sprintf("user%d", i), "wrong-password", auth.Client{Addr: "198.51.100.7:4000"})
	}
	var te *auth.ThrottledError
	if _, err := e.svc.Login(ctx, "alice", goodPassword, auth.Client{Addr: "198.51.100.7:4001"}); !errors.As(err, &te) {
		t.Errorf("address not throttled after 10 failures: %v", err)
	}
	// IPv6 addresses are throttled per /64.
	for i := range 10 {
		_, _ = e.svc.Login(ctx, fmt.Sprintf("user%d", i), "wrong-password", auth.Client{Addr: fmt.Sprintf("[2001:db8::%x]:1", i+1)})
	}
	if _, err := e.svc.Login(ctx, "alice", goodPassword, auth.Client{Addr: "[2001:db8::ffff]:1"}); !errors.As(err, &te) {
		t.Errorf("IPv6 /64 not throttled: %v", err)
	}
	// Another address is unaffected.
	if _, err := e.svc.Login(ctx, "alice", goodPassword, auth.Client{Addr: "192.0.2.200:1"}); err != nil {
		t.Errorf("another address throttled: %v", err)
	}
}

func TestNoEnumeration(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.svc.Policy.Argon2 = auth.DefaultArgon2 // the real cost, for timing
	e.svc.Policy.AccountFailures, e.svc.Policy.IPFailures = 1<<20, 1<<20
	e.enrolled(t, "alice", rbac.Viewer)
	if _, err := e.svc.AddUser(ctx, auth.NewUser{Name: "nopass", Role: rbac.Viewer}); err != nil {
		t.Fatal(err)
	}
	disabled, _, _ := e.enrolled(t, "gone", rbac.Viewer)
	if _, err := e.svc.Disable(ctx, disabled.ID); err != nil {
		t.Fatal(err)
	}
	cases := map[string][2]string{
		"unknown user":             {"nobody", goodPassword},
		"wrong password":           {"alice", "wrong-password-12"},
		"user without password":    {"nopass", goodPassword},
		"disabled, right password": {"gone", goodPassword},
		"invalid username":         {"Not A Name", goodPassword},
	}
	times := map[string][]time.Duration{}
	const rounds = 9
	for range rounds {
		for name, c := range cases {
			start := time.Now()
			_, err := e.svc.Login(ctx, c[0], c[1], auth.Client{})
			times[name] = append(times[name], time.Since(start))
			var te *auth.ThrottledError
			if !errors.Is(err, auth.ErrUnauthenticated) || errors.As(err, &te) {
				t.Fatalf("%s: %v, want the same refusal as every other case", name, err)
			}
		}
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	ref := median(times["wrong password"])
	for name, ds := range times {
		m := median(ds)
		// Every case runs one argon2id verification; generous bounds absorb a
		// shared, busy machine.
		if m < ref/3 || m > ref*3 {
			t.Errorf("median time of %s is %s, wrong password %s: a timing oracle", name, m, ref)
		}
		t.Logf("%-26s median %s", name, m)
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner, err := e.svc.AddUser(ctx, auth.NewUser{Name: "carol", Role: rbac.Editor, Scope: rbac.Scope{Namespaces: []string{"a", "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Policy.MaxTokenTTL = 48 * time.Hour
	for _, c := range []struct {
		name string
		req  auth.TokenRequest
		want error
	}{
		{"wider role", auth.TokenRequest{Role: rbac.Admin}, auth.ErrForbidden},
		{"other role family", auth.TokenRequest{Role: rbac.Auditor}, auth.ErrForbidden},
		{"wider scope", auth.TokenRequest{Scope: rbac.Scope{Namespaces: []string{"a", "c"}}}, auth.ErrForbidden},
		{"ttl too long", auth.TokenRequest{Scope: rbac.Scope{Namespaces: []string{"a"}}, TTL: 49 * time.Hour}, auth.ErrInvalid},
		{"negative ttl", auth.TokenRequest{Scope: rbac.Scope{Namespaces: []string{"a"}}, TTL: -time.Hour}, auth.ErrInvalid},
		{"bad role", auth.TokenRequest{Role: "root", Scope: rbac.Scope{Namespaces: []string{"a"}}}, auth.ErrInvalid},
	} {
		if _, _, err := e.svc.CreateToken(ctx, owner.ID, c.req); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	// Without a scope, a token gets its owner's (never "everything").
	if _, info, err := e.svc.CreateToken(ctx, owner.ID, auth.TokenRequest{TTL: time.Hour}); err != nil || info.Scope.String() != "namespaces=a|b" {
		t.Errorf("token without a scope: %s, %v; want the owner's", info.Scope, err)
	}
	secret, info, err := e.svc.CreateToken(ctx, owner.ID, auth.TokenRequest{Name: "ci", Role: rbac.Viewer, Scope: rbac.Scope{Namespaces: []string{"a"}}, TTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, auth.TokenPrefix) || len(secret) != len(auth.TokenPrefix)+43 {
		t.Errorf("token %q is not cwt_ + 256 bits", secret)
	}
	p, err := e.svc.Authenticate(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Roles(), []rbac.Role{rbac.Editor, rbac.Viewer}) || rbac.DecideAll(rbac.ManageSettings, p.Roles()...).Allowed {
		t.Errorf("token roles %v: a viewer token must not manage settings", p.Roles())
	}
	f, _ := p.Filter()
	if !f.Allows("c", "a", nil) || f.Allows("c", "b", nil) {
		t.Error("token scope is not the intersection of the owner's and the token's")
	}
	// Owner demoted: the next request carries the new role.
	if _, err := e.svc.SetRole(ctx, owner.ID, rbac.Auditor, rbac.Scope{}); err != nil {
		t.Fatal(err)
	}
	p, _ = e.svc.Authenticate(ctx, secret)
	if rbac.DecideAll(rbac.ReadCosts, p.Roles()...).Allowed {
		t.Error("a viewer token of an owner demoted to auditor still reads costs")
	}
	// Expiry: T-1s passes, T fails.
	e.clock.Set(info.ExpiresAt.Add(-time.Second))
	if _, err := e.svc.Authenticate(ctx, secret); err != nil {
		t.Errorf("token refused 1s before expiry: %v", err)
	}
	e.clock.Set(info.ExpiresAt)
	if _, err := e.svc.Authenticate(ctx, secret); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("token accepted at its expiry: %v", err)
	}
	// Malformed tokens are refused before any lookup.
	for _, bad := range []string{"", "cwt_", "cwt_" + strings.Repeat("A", 42), "cwt_" + strings.Repeat("*", 43), "Bearer " + secret, strings.ToUpper(secret), secret + "x", auth.SCIMPrefix + secret[4:]} {
		if _, err := e.svc.Authenticate(ctx, bad); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %v", bad, err)
		}
	}
	list, _ := e.svc.ListTokens(ctx, owner.ID)
	if i := slices.IndexFunc(list, func(x auth.TokenInfo) bool { return x.ID == info.ID }); len(list) != 2 || i < 0 || list[i].Name != "ci" || list[i].Role != rbac.Viewer {
		t.Errorf("ListTokens = %+v", list)
	}
	other, _ := e.svc.AddUser(ctx, auth.NewUser{Name: "dave", Role: rbac.Viewer})
	if err := e.svc.RevokeToken(ctx, other.ID, info.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("another user revoked carol's token: %v", err)
	}
	if err := e.svc.RevokeToken(ctx, owner.ID, info.ID); err != nil {
		t.Error(err)
	}
}

func TestDisableAndDeleteRevokeAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, secret, _ := e.enrolled(t, "alice", rbac.Admin)
	sess := e.login(t, "alice", secret)
	tok, _, err := e.svc.CreateToken(ctx, p.ID, auth.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	svcAcct, err := e.svc.AddServiceAccount(ctx, "ci-bot", p.ID, rbac.Viewer, rbac.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	botTok, _, err := e.svc.CreateToken(ctx, svcAcct.ID, auth.TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Disable(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AuthenticateSession(ctx, sess); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("session of a disabled user: %v", err)
	}
	for name, tk := range map[string]string{"token": tok, "service account token": botTok} {
		if _, err := e.svc.Authenticate(ctx, tk); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("%s of a disabled user: %v", name, err)
		}
	}
	// Enabling does not bring revoked credentials back.
	if _, err := e.svc.Enable(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, tok); err == nil {
		t.Error("a revoked token came back with Enable")
	}
	sess = e.login(t, "alice", secret)
	tok, _, _ = e.svc.CreateToken(ctx, p.ID, auth.TokenRequest{})
	if err := e.svc.Delete(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AuthenticateSession(ctx, sess); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("session of a deleted user: %v", err)
	}
	if _, err := e.svc.Authenticate(ctx, tok); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("token of a deleted user: %v", err)
	}
	if _, err := e.svc.Login(ctx, "alice", goodPassword, auth.Client{}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("deleted user logs in: %v", err)
	}
}

func TestInactivityDisabling(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.svc.Policy.InactivityDisable = 90 * 24 * time.Hour
	never, _ := e.svc.AddUser(ctx, auth.NewUser{Name: "never", Role: rbac.Viewer})
	e.clock.Add(time.Hour)
	p, secret, _ := e.enrolled(t, "alice", rbac.Viewer)
	e.login(t, "alice", secret)
	seen, _ := e.svc.Get(ctx, p.ID)
	if !seen.LastSeenAt.After(never.CreatedAt) {
		t.Fatal("alice was not seen after never's creation")
	}

	e.clock.Set(seen.LastSeenAt.Add(90*24*time.Hour - time.Second))
	if got, err := e.svc.DisableInactive(ctx); err != nil || len(got) != 1 || got[0].Name != "never" {
		t.Errorf("at T-1s for alice (T+ for never): disabled %v, %v; want only never", names(got), err)
	}
	if u, _ := e.svc.Get(ctx, p.ID); u.State != auth.StateActive {
		t.Errorf("alice is %s 1s before her inactivity limit", u.State)
	}
	e.clock.Set(seen.LastSeenAt.Add(90 * 24 * time.Hour))
	if got, _ := e.svc.DisableInactive(ctx); len(got) != 1 || got[0].Name != "alice" {
		t.Errorf("at T: disabled %v, want alice", names(got))
	}
	// Re-enabled, she counts as seen now.
	if _, err := e.svc.Enable(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.DisableInactive(ctx); len(got) != 0 {
		t.Errorf("re-enabled account disabled again at once: %v", names(got))
	}
}

func names(ps []*auth.Principal) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestAccessRequests(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admin, _ := e.svc.AddUser(ctx, auth.NewUser{Name: "root-admin", Role: rbac.Admin})
	pending, _ := e.svc.AddUser(ctx, auth.NewUser{Name: "newbie"})
	if pending.State != auth.StatePending || pending.Role != "" {
		t.Fatalf("a user without a role is %s/%q, want pending", pending.State, pending.Role)
	}
	scope := rbac.Scope{Namespaces: []string{"payments"}}
	r, err := e.svc.RequestAccess(ctx, pending, rbac.Viewer, scope, "on-call for payments")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RequestAccess(ctx, pending, rbac.Editor, scope, ""); !errors.Is(err, auth.ErrExists) {
		t.Errorf("a second pending request: %v", err)
	}
	if _, err := e.svc.DecideAccessRequest(ctx, pending, r.ID, true); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("self-approval: %v", err)
	}
	d, err := e.svc.DecideAccessRequest(ctx, admin, r.ID, true)
	if err != nil || d.State != "approved" || d.DecidedBy != "root-admin" || d.Requester != "newbie" {
		t.Fatalf("approve = %+v, %v", d, err)
	}
	got, _ := e.svc.Get(ctx, pending.ID)
	if got.Role != rbac.Viewer || got.State != auth.StateActive || got.Scope.String() != "namespaces=payments" {
		t.Errorf("after approval: %s %s %s", got.Role, got.State, got.Scope)
	}
	if _, err := e.svc.DecideAccessRequest(ctx, admin, r.ID, false); !errors.Is(err, auth.ErrExists) {
		t.Errorf("deciding twice: %v", err)
	}
	r2, _ := e.svc.RequestAccess(ctx, got, rbac.Admin, rbac.Scope{}, "")
	if d, err := e.svc.DecideAccessRequest(ctx, admin, r2.ID, false); err != nil || d.State != "rejected" {
		t.Errorf("reject = %+v, %v", d, err)
	}
	if got, _ := e.svc.Get(ctx, pending.ID); got.Role != rbac.Viewer {
		t.Errorf("a rejected request changed the role to %s", got.Role)
	}
	all, _ := e.svc.AccessRequests(ctx, "", "")
	if len(all) != 2 {
		t.Errorf("%d requests listed", len(all))
	}
}

func TestExternalLogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Pre-provisioned (SCIM) account, linked on first login by verified e-mail.
	pre, _ := e.svc.AddUser(ctx, auth.NewUser{Name: "erin", Email: "erin@example.com", Source: "scim"})
	p, err := e.svc.ExternalLogin(ctx, auth.ExternalIdentity{SubjectKey: "https://idp|123", Username: "erin.x", Email: "erin@example.com", EmailVerified: true,
		Mapped: true, Role: rbac.Viewer, Scope: rbac.Scope{Namespaces: []string{"search"}}})
	if err != nil || p.ID != pre.ID || p.Role != rbac.Viewer || p.State != auth.StateActive {
		t.Fatalf("link by e-mail = %+v, %v", p, err)
	}
	// Next login: found by subject; the group mapping is authoritative.
	p, err = e.svc.ExternalLogin(ctx, auth.ExternalIdentity{SubjectKey: "https://idp|123", Username: "whatever", Mapped: true, Role: rbac.Editor})
	if err != nil || p.ID != pre.ID || p.Role != rbac.Editor {
		t.Errorf("by subject = %+v, %v", p, err)
	}
	// A local account with its own password is not taken over by username.
	local, secret, _ := e.enrolled(t, "frank", rbac.Admin)
	_ = secret
	if _, err := e.svc.ExternalLogin(ctx, auth.ExternalIdentity{SubjectKey: "https://idp|999", Username: "frank", Mapped: true, Role: rbac.Viewer}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("username take-over of a local account: %v", err)
	}
	if got, _ := e.svc.Get(ctx, local.ID); got.Role != rbac.Admin {
		t.Error("a refused SSO login changed the local account")
	}
	// Unmapped new identity: created pending, without access.
	p, err = e.svc.ExternalLogin(ctx, auth.ExternalIdentity{SubjectKey: "https://idp|555", Username: "gina"})
	if err != nil || p.State != auth.StatePending || p.Role != "" {
		t.Errorf("unmapped = %+v, %v", p, err)
	}
	// Disabled: refused.
	_, _ = e.svc.Disable(ctx, pre.ID)
	if _, err := e.svc.ExternalLogin(ctx, auth.ExternalIdentity{SubjectKey: "https://idp|123", Username: "erin"}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("disabled SSO user: %v", err)
	}
}

func TestBadUserInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, u := range []auth.NewUser{
		{Name: strings.Repeat("a", 65), Role: rbac.Viewer},
		{Name: "Alice", Role: rbac.Viewer},
		{Name: "ali\u0441e", Role: rbac.Viewer}, // Cyrillic с: a homoglyph
		{Name: "al ice", Role: rbac.Viewer},
		{Name: "", Role: rbac.Viewer},
		{Name: "alice", Role: "root"},
		{Name: "alice", Role: rbac.Admin, Scope: rbac.Scope{Namespaces: []string{"a"}}},
		{Name: "alice", Email: "not-an-email", Role: rbac.Viewer},
		{Name: "alice", Email: "a@b@c.d", Role: rbac.Viewer},
		{Name: "alice", DisplayName: strings.Repeat("x", 300), Role: rbac.Viewer},
	} {
		if _, err := e.svc.AddUser(ctx, u); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("AddUser(%+v) = %v, want ErrInvalid", u, err)
		}
	}
	if all, _ := e.svc.Users(ctx); len(all) != 0 {
		t.Errorf("bad input stored %d users", len(all))
	}
	if _, err := e.svc.AddUser(ctx, auth.NewUser{Name: "alice", Email: "Alice@Example.com", Role: rbac.Viewer}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []auth.NewUser{{Name: "alice", Role: rbac.Viewer}, {Name: "alice2", Email: "alice@example.COM", Role: rbac.Viewer}} {
		if _, err := e.svc.AddUser(ctx, u); !errors.Is(err, auth.ErrExists) {
			t.Errorf("duplicate %+v: %v", u, err)
		}
	}
	// Oversized credentials are refused without hashing anything huge.
	if _, err := e.svc.Login(ctx, strings.Repeat("a", 10000), "x", auth.Client{}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("oversized username: %v", err)
	}
	if _, err := e.svc.Login(ctx, "alice", strings.Repeat("p", 1<<20), auth.Client{}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("oversized password: %v", err)
	}
	for _, bad := range []string{"", "x", "cwsetup_" + strings.Repeat("A", 43), strings.Repeat("\x00", 43), "../../etc/passwd"} {
		if _, err := e.svc.AuthenticateSession(ctx, bad); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("AuthenticateSession(%q) = %v", bad, err)
		}
		if _, err := e.svc.BeginSetup(ctx, bad); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Errorf("BeginSetup(%q) = %v", bad, err)
		}
	}
}

func TestSetupCodeLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, _ := e.svc.AddUser(ctx, auth.NewUser{Name: "hal", Role: rbac.Viewer})
	code, exp, err := e.svc.SetupCode(ctx, p.ID)
	if err != nil || !strings.HasPrefix(code, auth.SetupPrefix) || !exp.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("SetupCode = %q %v %v", code, exp, err)
	}
	en, err := e.svc.BeginSetup(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := e.svc.BeginSetup(ctx, code)
	if again.Secret != en.Secret {
		t.Error("the offered secret changed between two page loads")
	}
	secret := decodeSecret(t, en.Secret)
	if _, _, _, err := e.svc.CompleteSetup(ctx, code, "password1234", auth.TOTP(secret, e.clock.Now()), auth.Client{}); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("common password accepted at setup: %v", err)
	}
	if _, _, _, err := e.svc.CompleteSetup(ctx, code, goodPassword, "000000", auth.Client{}); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("wrong enrolment code: %v", err)
	}
	if got, _ := e.svc.Get(ctx, p.ID); got.HasPassword || got.MFA {
		t.Error("a failed setup stored a password or factor")
	}
	// Expiry at T.
	e.clock.Set(exp)
	if _, _, _, err := e.svc.CompleteSetup(ctx, code, goodPassword, auth.TOTP(secret, e.clock.Now()), auth.Client{}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("expired setup code: %v", err)
	}
	e.clock.Set(t0)
	code2, _, _ := e.svc.SetupCode(ctx, p.ID)
	if _, err := e.svc.BeginSetup(ctx, code); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Error("a new setup code did not revoke the old one")
	}
	en, _ = e.svc.BeginSetup(ctx, code2)
	secret = decodeSecret(t, en.Secret)
	if _, _, _, err := e.svc.CompleteSetup(ctx, code2, goodPassword, auth.TOTP(secret, e.clock.Now()), auth.Client{}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.svc.CompleteSetup(ctx, code2, goodPassword, auth.TOTP(secret, e.clock.Now()), auth.Client{}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Error("a setup code worked twice")
	}
	// ResetMFA: old factor gone, sessions ended, new setup code.
	e.clock.Add(time.Minute)
	sess := e.login(t, "hal", secret)
	code3, _, err := e.svc.ResetMFA(ctx, p.ID)
	if err != nil || code3 == "" {
		t.Fatal(err)
	}
	if _, err := e.svc.AuthenticateSession(ctx, sess); err == nil {
		t.Error("session survived an MFA reset")
	}
	if _, err := e.svc.Login(ctx, "hal", goodPassword, auth.Client{}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Error("a user without a factor got a login ticket after reset")
	}
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, secret, _ := e.enrolled(t, "alice", rbac.Viewer)
	keep := e.login(t, "alice", secret)
	other := e.login(t, "alice", secret)
	p, err := e.svc.AuthenticateSession(ctx, keep)
	if err != nil {
		t.Fatal(err)
	}
	const next = "copper-meadow-rainfall-77"
	for _, c := range []struct{ current, next, field string }{
		{"wrong-current-password", next, "current"},
		{goodPassword, goodPassword, "password"},
		{goodPassword, "password1234", "password"},
		{goodPassword, "short", "password"},
	} {
		err := e.svc.ChangePassword(ctx, p, c.current, c.next)
		if !errors.Is(err, auth.ErrInvalid) || !strings.Contains(err.Error(), c.field+":") {
			t.Errorf("ChangePassword(%q, %q) = %v, want ErrInvalid naming %s", c.current, c.next, err, c.field)
		}
	}
	if err := e.svc.ChangePassword(ctx, p, goodPassword, next); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AuthenticateSession(ctx, keep); err != nil {
		t.Errorf("the session that changed the password ended: %v", err)
	}
	if _, err := e.svc.AuthenticateSession(ctx, other); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("another session survived a password change: %v", err)
	}
	if _, err := e.svc.Login(ctx, "alice", goodPassword, auth.Client{}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Error("the old password still works")
	}
	if _, err := e.svc.Login(ctx, "alice", next, auth.Client{}); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

func TestRehashOnLogin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Enrolled under cheap parameters; the policy then rises to the default.
	_, secret, _ := e.enrolled(t, "alice", rbac.Viewer)
	e.svc.Policy.Argon2 = auth.DefaultArgon2
	e.login(t, "alice", secret)
	st, _ := e.st.GetPrincipalByName(ctx, "default", mustIndex(t, e, "alice"))
	plain, err := e.kr.Open(ctx, sealAD(st.ID), st.Sealed)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plain), "m=19456,t=2,p=1") {
		t.Error("the password was not re-hashed with the raised parameters at login")
	}
}

// TestConcurrentLogins: parallel failures and successes on one service (the
// race detector checks the shared state; the lockout counts every failure).
func TestConcurrentLogins(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.enrolled(t, "alice", rbac.Viewer)
	e.svc.Policy.AccountFailures, e.svc.Policy.IPFailures = 1000, 1000
	done := make(chan error, 16)
	for i := range 16 {
		go func() {
			pw := goodPassword
			if i%2 == 0 {
				pw = "wrong-password-x"
			}
			_, err := e.svc.Login(ctx, []string{"alice", "nobody"}[i%4/2], pw, auth.Client{Addr: "192.0.2.1:1"})
			done <- err
		}()
	}
	ok := 0
	for range 16 {
		if err := <-done; err == nil {
			ok++
		}
	}
	if ok != 4 { // i%4 == 1: alice with the right password
		t.Errorf("%d of 16 concurrent logins succeeded, want 4", ok)
	}
}

func TestPasskeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.EnableWebAuthn("costwarden.example", "costwarden", []string{"https://costwarden.example"}); err != nil {
		t.Fatal(err)
	}
	p, _, _ := e.enrolled(t, "alice", rbac.Viewer)
	key, err := webauthntest.New("https://costwarden.example")
	if err != nil {
		t.Fatal(err)
	}
	creation, err := e.svc.BeginPasskeyRegistration(ctx, p, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := json.Marshal(creation)
	resp, err := key.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.FinishPasskeyRegistration(ctx, p, resp); err != nil {
		t.Fatalf("registration refused: %v", err)
	}
	if err := e.svc.FinishPasskeyRegistration(ctx, p, resp); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("registration answer replayed: %v", err)
	}
	if got, _ := e.svc.Get(ctx, p.ID); got.Passkeys != 1 {
		t.Fatalf("%d passkeys stored", got.Passkeys)
	}

	login := func(k *webauthntest.Authenticator, tamper func([]byte) []byte) error {
		ticket, err := e.svc.Login(ctx, "alice", goodPassword, auth.Client{})
		if err != nil {
			t.Fatal(err)
		}
		assertion, err := e.svc.BeginPasskeyLogin(ctx, ticket)
		if err != nil {
			t.Fatal(err)
		}
		opts, _ := json.Marshal(assertion)
		answer, err := k.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		if tamper != nil {
			answer = tamper(answer)
		}
		sess, _, err := e.svc.FinishPasskeyLogin(ctx, ticket, answer, auth.Client{})
		t.Logf("passkey login: %v", err)
		if err == nil {
			if _, err := e.svc.AuthenticateSession(ctx, sess); err != nil {
				t.Errorf("passkey session refused: %v", err)
			}
			if _, _, again := e.svc.FinishPasskeyLogin(ctx, ticket, answer, auth.Client{}); again == nil {
				t.Error("a passkey assertion worked twice")
			}
		}
		return err
	}
	if err := login(key, nil); err != nil {
		t.Fatalf("passkey login refused: %v", err)
	}
	// Another authenticator (not registered), a wrong origin, a cloned key
	// (counter not increasing) and a tampered assertion are refused.
	other, _ := webauthntest.New("https://costwarden.example")
	other.Counter = 100
	if err := login(other, nil); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("an unregistered authenticator: %v", err)
	}
	key.Origin = "https://evil.example"
	if err := login(key, nil); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a phishing origin: %v", err)
	}
	key.Origin = "https://costwarden.example"
	key.Counter = 0
	if err := login(key, nil); !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), "counter") {
		t.Errorf("a cloned authenticator: %v", err)
	}
	key.Counter = 1000
	if err := login(key, func(b []byte) []byte {
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		r := m["response"].(map[string]any)
		sig, _ := base64.RawURLEncoding.DecodeString(r["signature"].(string))
		sig[len(sig)-1] ^= 1
		r["signature"] = base64.RawURLEncoding.EncodeToString(sig)
		out, _ := json.Marshal(m)
		return out
	}); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("a tampered signature: %v", err)
	}
	if err := login(key, nil); err != nil {
		t.Errorf("the real key after the refusals: %v", err)
	}
	// Reset MFA removes passkeys too.
	if _, _, err := e.svc.ResetMFA(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.Get(ctx, p.ID); got.Passkeys != 0 {
		t.Error("passkeys survived an MFA reset")
	}
}
