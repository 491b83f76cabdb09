package auth_test

import (
	"context"
	"encoding/base32"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/rbac"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// t0 sits 5 seconds into a TOTP step, so steps are easy to reason about.
var t0 = time.Date(2026, 3, 2, 9, 0, 5, 0, time.UTC)

type env struct {
	svc   *auth.Service
	clock *clock
	st    *sqlite.Store
	kr    *seal.Keyring
	dir   string
}

// newEnv opens a real SQLite store and keyring in a temporary directory.
func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	return openEnv(t, dir, &clock{t: t0})
}

func openEnv(t testing.TB, dir string, c *clock) *env {
	t.Helper()
	ctx := context.Background()
	kek, err := seal.OpenKeyFile(filepath.Join(dir, "key"), true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "db"), sqlite.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr := seal.NewKeyring(kek, st, seal.Options{Now: c.Now})
	svc := auth.New(st, kr, "default", c.Now)
	// Cheaper argon2 in unit tests that hash a lot; the default is tested apart.
	svc.Policy.Argon2 = auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}
	return &env{svc: svc, clock: c, st: st, kr: kr, dir: dir}
}

const goodPassword = "violet-harbour-lantern-42"

// enrolled creates a user, completes setup and returns the TOTP secret.
func (e *env) enrolled(t *testing.T, name string, role rbac.Role) (*auth.Principal, []byte, []string) {
	t.Helper()
	ctx := context.Background()
	p, err := e.svc.AddUser(ctx, auth.NewUser{Name: name, Email: name + "@example.com", Role: role})
	if err != nil {
		t.Fatal(err)
	}
	code, _, err := e.svc.SetupCode(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	en, err := e.svc.BeginSetup(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	secret := decodeSecret(t, en.Secret)
	_, recovery, _, err := e.svc.CompleteSetup(ctx, code, goodPassword, auth.TOTP(secret, e.clock.Now()), auth.Client{Addr: "192.0.2.10:5000"})
	if err != nil {
		t.Fatal(err)
	}
	// The enrolment code is spent: move to the next step for the next login.
	e.clock.Add(30 * time.Second)
	return p, secret, recovery
}

func decodeSecret(t *testing.T, s string) []byte {
	t.Helper()
	b, err := b32.DecodeString(strings.ToUpper(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// login does password + TOTP and returns the session secret.
func (e *env) login(t *testing.T, name string, secret []byte) string {
	t.Helper()
	ctx := context.Background()
	ticket, err := e.svc.Login(ctx, name, goodPassword, auth.Client{Addr: "192.0.2.10:5000"})
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	sess, _, err := e.svc.CompleteMFA(ctx, ticket, auth.TOTP(secret, e.clock.Now()), auth.Client{Addr: "192.0.2.10:5000"})
	if err != nil {
		t.Fatalf("CompleteMFA: %v", err)
	}
	e.clock.Add(30 * time.Second) // each code works once
	return sess
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func mustIndex(t *testing.T, e *env, name string) []byte {
	t.Helper()
	idx, err := e.kr.BlindIndex(context.Background(), "default", "principal-name", name)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func sealAD(id string) seal.AD { return seal.AD{Tenant: "default", Kind: "principal", ID: id} }
