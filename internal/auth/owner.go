package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/costwarden/costwarden/internal/store"
)

// SecretOwner returns the principal a session, login ticket or setup code
// belongs to, without using or extending it (for attributing audit records of
// failed second-factor steps and of logouts). ErrNotFound when the secret is
// unknown.
func (s *Service) SecretOwner(ctx context.Context, secret string) (*Principal, error) {
	if secret == "" || len(secret) > 256 {
		return nil, fmt.Errorf("session: %w", ErrNotFound)
	}
	x, err := s.st.GetSessionByHash(ctx, HashToken(secret))
	if errors.Is(err, store.ErrNotFound) || (err == nil && x.Tenant != s.tenant) {
		return nil, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	p, err := s.Get(ctx, x.PrincipalID)
	if err != nil {
		return nil, err
	}
	p.SessionID = x.ID
	return p, nil
}
