package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/costwarden/costwarden/internal/audit"
	"github.com/costwarden/costwarden/internal/config"
	"github.com/costwarden/costwarden/internal/rekey"
	"github.com/costwarden/costwarden/internal/retention"
)

// maintain runs the server's key and data housekeeping every
// retention.interval until ctx ends: scheduled data-key rotation, the
// background re-encryption of older blobs, and retention. Each step is safe to
// run from several replicas at once and resumes after a restart.
func maintain(ctx context.Context, d *data, cfg config.Config, now func() time.Time, log *slog.Logger, rec *audit.Auditor) {
	job := rekey.New(d.store, d.keyring, now, log.With("component", "rekey"))
	for {
		maintainOnce(ctx, d, cfg, now, log, job, rec)
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Retention.Interval):
		}
	}
}

func maintainOnce(ctx context.Context, d *data, cfg config.Config, now func() time.Time, log *slog.Logger, job *rekey.Job, rec *audit.Auditor) {
	record := func(e audit.Event) {
		e.Outcome, e.Actor = audit.Success, audit.System
		if err := rec.Record(ctx, e); err != nil && ctx.Err() == nil {
			log.Error("recording maintenance in the audit trail", "action", e.Action, "error", err)
		}
	}
	tenants, err := d.store.ListTenants(ctx)
	if err != nil {
		if ctx.Err() == nil {
			log.Error("maintenance: listing tenants", "error", err)
		}
		return
	}
	if cfg.Keys.RotateEvery > 0 {
		for _, t := range tenants {
			v, rotated, err := d.keyring.RotateIfOlder(ctx, t, cfg.Keys.RotateEvery)
			if err != nil {
				log.Error("scheduled key rotation failed", "tenant", t, "error", err)
				continue
			}
			if rotated {
				log.Info("scheduled key rotation", "tenant", t, "version", v, "every", cfg.Keys.RotateEvery.String())
				record(audit.Event{Action: audit.KeysRotate, Target: "tenant " + t, Details: map[string]string{"version": fmt.Sprint(v), "reason": "schedule"}})
			}
		}
	}
	for _, t := range tenants {
		if _, err := job.Run(ctx, t, nil); err != nil && ctx.Err() == nil {
			log.Error("re-encryption stopped; it resumes at the next run", "tenant", t, "error", err)
		}
	}
	res, err := retention.Apply(ctx, d.store, retentionPolicy(cfg), now())
	switch {
	case err != nil && ctx.Err() == nil:
		log.Error("retention failed", "error", err)
	case res.Hourly+res.Daily > 0:
		log.Info("retention deleted expired windows", "hourly", res.Hourly, "daily", res.Daily)
		record(audit.Event{Action: audit.RetentionApply, Target: "windows", Details: map[string]string{"hourly": fmt.Sprint(res.Hourly), "daily": fmt.Sprint(res.Daily)}})
	}
}
