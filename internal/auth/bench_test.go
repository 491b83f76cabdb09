package auth_test

import (
	"context"
	"testing"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/rbac"
)

// BenchmarkHashPassword is the cost of one argon2id hash with the spec's
// parameters (every login, and every failed one, pays it once).
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := auth.HashPassword("violet-harbour-lantern-42", auth.DefaultArgon2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateToken is the per-request cost of an API token (lookup,
// owner, unsealing, role recheck) on the embedded store.
func BenchmarkAuthenticateToken(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	p, err := e.svc.AddUser(ctx, auth.NewUser{Name: "bench", Role: rbac.Viewer})
	if err != nil {
		b.Fatal(err)
	}
	secret, _, err := e.svc.CreateToken(ctx, p.ID, auth.TokenRequest{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.svc.Authenticate(ctx, secret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticateSession is the per-request cost of a browser session
// (it also records the use, for the idle timeout).
func BenchmarkAuthenticateSession(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	p, err := e.svc.AddUser(ctx, auth.NewUser{Name: "bench", Role: rbac.Viewer})
	if err != nil {
		b.Fatal(err)
	}
	secret, _, err := e.svc.StartSession(ctx, p.ID, auth.Client{}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.svc.AuthenticateSession(ctx, secret); err != nil {
			b.Fatal(err)
		}
	}
}
