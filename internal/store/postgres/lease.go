package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/costwarden/costwarden/internal/store"
)

// Leases are session-level advisory locks, each held on a connection of its
// own taken out of the pool. PostgreSQL releases the lock when that session
// ends: when the replica dies its connection closes and another replica takes
// the lease at its next try. The holder pings its session every LeaseCheck and
// reports the lease lost at the first failure (the database restarted, or the
// network failed), so the work it guards stops. The session's
// idle_session_timeout (PostgreSQL 14+) ends the session of a replica that
// stopped pinging without closing its connection (a node lost without a TCP
// reset), so the lease frees within LeaseIdleTimeout.

// Lease timings when Options leave them zero.
const (
	DefaultLeaseCheck       = 3 * time.Second
	DefaultLeaseIdleTimeout = 15 * time.Second
)

// leaseKeyPrefix marks costwarden's lease keys ("CW" in the top 16 bits), apart
// from the migration lock and from other applications' advisory locks.
const leaseKeyPrefix = int64(0x4357) << 48

// LeaseKey is the advisory-lock key of a lease name.
func LeaseKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return leaseKeyPrefix | int64(h.Sum64()&(1<<48-1))
}

type pgLock struct {
	conn *pgx.Conn
	key  int64
	name string

	stop     chan struct{}
	lost     chan struct{}
	once     sync.Once
	stopOnce sync.Once
	done     chan struct{} // closed when the pinger has exited
}

// TryLock takes the named lease if no session holds it.
func (s *Store) TryLock(ctx context.Context, name string) (store.Lock, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: lease %s: %w", name, mapErr(err))
	}
	key := LeaseKey(name)
	var ok bool
	if err := c.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		c.Release()
		return nil, fmt.Errorf("store: lease %s: %w", name, mapErr(err))
	}
	if !ok {
		c.Release()
		return nil, nil
	}
	// The connection now belongs to the lease, not to the pool.
	conn := c.Hijack()
	idle := s.leaseIdle
	if idle > 0 {
		// Ignored before PostgreSQL 14 (unknown parameter): the TCP keepalives
		// of the server then bound how long a vanished holder keeps the lease.
		_, _ = conn.Exec(ctx, fmt.Sprintf("SET idle_session_timeout = %d", idle.Milliseconds()))
	}
	l := &pgLock{conn: conn, key: key, name: name, stop: make(chan struct{}), lost: make(chan struct{}), done: make(chan struct{})}
	go l.keepalive(s.leaseCheck) // #nosec G118 -- lives as long as the lease (stopped by Release through l.stop), not as the call that took it
	return l, nil
}

func (l *pgLock) Lost() <-chan struct{} { return l.lost }

func (l *pgLock) markLost() { l.once.Do(func() { close(l.lost) }) }

// keepalive pings the lease's session until it fails or the lease is released.
func (l *pgLock) keepalive(every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := l.conn.Ping(ctx)
		cancel()
		if err != nil {
			l.markLost()
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = l.conn.Close(closeCtx)
			cancel()
			return
		}
	}
}

// Release unlocks and closes the lease's session.
func (l *pgLock) Release(ctx context.Context) error {
	var err error
	l.stopOnce.Do(func() {
		close(l.stop)
		<-l.done
		select {
		case <-l.lost:
			// The session is gone, and the lock with it.
		default:
			var ok bool
			if qerr := l.conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", l.key).Scan(&ok); qerr != nil {
				err = fmt.Errorf("store: releasing lease %s: %w", l.name, qerr)
			} else if !ok {
				err = fmt.Errorf("store: releasing lease %s: %w", l.name, errors.New("the lock was not held"))
			}
		}
		l.markLost()
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = l.conn.Close(closeCtx)
		cancel()
	})
	return err
}

var _ store.Locker = (*Store)(nil)
