package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/costwarden/costwarden/internal/store"
)

// PutTenant inserts the tenant or replaces its hosts and state.
func (s *Store) PutTenant(ctx context.Context, t store.TenantRecord) error {
	if t.ID == "" || t.State == "" {
		return errors.New("store: putting tenant: id and state are required")
	}
	created, err := timeArg(s.nowIfZero(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("store: putting tenant %q: %w", t.ID, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, state, created_at) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET state = excluded.state`, t.ID, t.State, created); err != nil {
			return classify(err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM tenant_hosts WHERE tenant = ?", t.ID); err != nil {
			return classify(err)
		}
		for _, h := range t.Hosts {
			if _, err := tx.ExecContext(ctx, "INSERT INTO tenant_hosts (host, tenant) VALUES (?, ?)", strings.ToLower(h), t.ID); err != nil {
				return conflictOr(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: putting tenant %q: %w", t.ID, err)
	}
	return nil
}

func (s *Store) tenantRecord(ctx context.Context, id string) (store.TenantRecord, error) {
	t := store.TenantRecord{ID: id}
	var created sql.NullInt64
	err := s.r.QueryRowContext(ctx, "SELECT state, created_at FROM tenants WHERE id = ?", id).Scan(&t.State, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.TenantRecord{}, fmt.Errorf("store: tenant %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.TenantRecord{}, fmt.Errorf("store: tenant %q: %w", id, classify(err))
	}
	t.CreatedAt = fromNanos(created)
	t.Hosts, err = queryAll(ctx, s.r, fmt.Sprintf("tenant %q", id), scanString, "SELECT host FROM tenant_hosts WHERE tenant = ? ORDER BY host", id)
	return t, err
}

// GetTenant returns the tenant, or store.ErrNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (store.TenantRecord, error) {
	return s.tenantRecord(ctx, id)
}

// TenantByHost returns the tenant a host name belongs to.
func (s *Store) TenantByHost(ctx context.Context, host string) (store.TenantRecord, error) {
	var id string
	err := s.r.QueryRowContext(ctx, "SELECT tenant FROM tenant_hosts WHERE host = ?", strings.ToLower(host)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return store.TenantRecord{}, fmt.Errorf("store: tenant of host: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.TenantRecord{}, fmt.Errorf("store: tenant of host: %w", classify(err))
	}
	return s.tenantRecord(ctx, id)
}

// ListTenantRecords lists every registered tenant.
func (s *Store) ListTenantRecords(ctx context.Context) ([]store.TenantRecord, error) {
	ids, err := queryAll(ctx, s.r, "listing tenants", scanString, "SELECT id FROM tenants ORDER BY id")
	if err != nil {
		return nil, err
	}
	out := make([]store.TenantRecord, 0, len(ids))
	for _, id := range ids {
		t, err := s.tenantRecord(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// locks are the leases held in this process. SQLite serves one process that
// runs background jobs (the server; the CLI runs none), so a process-local lock
// is the whole lease.
type locks struct {
	mu   sync.Mutex
	held map[string]*localLock
}

type localLock struct {
	l    *locks
	name string
	once sync.Once
	lost chan struct{}
}

func (l *localLock) Lost() <-chan struct{} { return l.lost }

func (l *localLock) Release(context.Context) error {
	l.once.Do(func() {
		l.l.mu.Lock()
		if l.l.held[l.name] == l {
			delete(l.l.held, l.name)
		}
		l.l.mu.Unlock()
		close(l.lost)
	})
	return nil
}

// TryLock takes a process-local lease.
func (s *Store) TryLock(_ context.Context, name string) (store.Lock, error) {
	s.locks.mu.Lock()
	defer s.locks.mu.Unlock()
	if s.locks.held == nil {
		s.locks.held = map[string]*localLock{}
	}
	if _, ok := s.locks.held[name]; ok {
		return nil, nil
	}
	l := &localLock{l: &s.locks, name: name, lost: make(chan struct{})}
	s.locks.held[name] = l
	return l, nil
}

var (
	_ store.TenantRegistry = (*Store)(nil)
	_ store.Locker         = (*Store)(nil)
)
