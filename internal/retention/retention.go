// Package retention deletes stored cost windows older than the retention
// policy: hourly windows after N days, daily windows after M months, each
// resolution on its own clock. Deletion is real: after deleting, the store is
// asked to reclaim (SQLite zeroes deleted content, checkpoints the WAL and
// vacuums; PostgreSQL vacuums), so expired windows are not merely hidden.
//
// It owns the policy arithmetic only; it runs in the server on a timer and from
// the CLI, and is safe to run from several replicas at once (deletes are
// idempotent).
package retention

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/store"
)

// Policy says how long windows are kept. A zero field keeps that resolution
// forever.
type Policy struct {
	HourlyDays  int // hourly windows are kept this many days (default 15)
	DailyMonths int // daily windows are kept this many calendar months (default 24)
}

// Store is what retention needs.
type Store interface {
	ListTenants(ctx context.Context) ([]string, error)
	DeleteWindows(ctx context.Context, r store.WindowRange) (int, error)
	Reclaim(ctx context.Context) error
}

// Cutoffs returns, for now, the start before which windows of each resolution
// are deleted (zero: keep all). Hourly cutoffs fall on an hour, daily ones on a
// UTC midnight.
func (p Policy) Cutoffs(now time.Time) (hourly, daily time.Time) {
	now = now.UTC()
	if p.HourlyDays > 0 {
		hourly = now.Add(-time.Duration(p.HourlyDays) * 24 * time.Hour).Truncate(time.Hour)
	}
	if p.DailyMonths > 0 {
		d := now.AddDate(0, -p.DailyMonths, 0)
		daily = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	}
	return hourly, daily
}

// Result counts what Apply deleted.
type Result struct {
	Hourly, Daily int
	Reclaimed     bool
}

// Apply deletes every tenant's expired windows, then reclaims their space when
// anything was deleted.
func Apply(ctx context.Context, st Store, p Policy, now time.Time) (Result, error) {
	var res Result
	if p.HourlyDays < 0 || p.DailyMonths < 0 {
		return res, errors.New("retention: negative policy")
	}
	hourly, daily := p.Cutoffs(now)
	tenants, err := st.ListTenants(ctx)
	if err != nil {
		return res, fmt.Errorf("retention: %w", err)
	}
	for _, tenant := range tenants {
		for _, c := range []struct {
			res    cost.Resolution
			cutoff time.Time
			n      *int
		}{{cost.Hourly, hourly, &res.Hourly}, {cost.Daily, daily, &res.Daily}} {
			if c.cutoff.IsZero() {
				continue
			}
			n, err := st.DeleteWindows(ctx, store.WindowRange{Tenant: tenant, Resolution: uint8(c.res), To: c.cutoff})
			if err != nil {
				return res, fmt.Errorf("retention: deleting %s windows of tenant %q before %s: %w", c.res, tenant, c.cutoff.Format(time.RFC3339), err)
			}
			*c.n += n
		}
	}
	if res.Hourly+res.Daily > 0 {
		if err := st.Reclaim(ctx); err != nil {
			return res, fmt.Errorf("retention: deleted %d hourly and %d daily windows, but reclaiming their space failed: %w", res.Hourly, res.Daily, err)
		}
		res.Reclaimed = true
	}
	return res, nil
}
