package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/costwarden/costwarden/internal/agentapi"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/wait"
)

// ackedKey is the local meta key holding the delivery state: for each hour,
// the store time of the version the server confirmed. A window stored again
// locally (a partial hour repaired) has a newer store time and is sent again.
const ackedKey = "agent/delivered"

func (a *Agent) loadAcked(ctx context.Context) error {
	b, err := a.opts.Store.GetMeta(ctx, ackedKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: reading the outbox state: %w", err)
	}
	m := map[string]int64{}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("agent: the outbox state is damaged: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, v := range m {
		s, err := strconv.ParseInt(k, 10, 64)
		if err == nil {
			a.acked[s] = v
		}
	}
	return nil
}

func (a *Agent) saveAcked(ctx context.Context) error {
	a.mu.Lock()
	m := make(map[string]int64, len(a.acked))
	for k, v := range a.acked {
		m[strconv.FormatInt(k, 10)] = v
	}
	a.mu.Unlock()
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return a.opts.Store.PutMeta(ctx, ackedKey, b)
}

// Pending lists the outbox's windows not yet delivered, oldest first.
func (a *Agent) Pending(ctx context.Context) ([]store.WindowInfo, error) {
	id := a.identity()
	if id == nil {
		return nil, ErrNotEnrolled
	}
	stored, err := a.opts.Sets.Stored(ctx, id.Cluster, cost.Hourly, time.Time{}, time.Unix(1<<40, 0))
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	var out []store.WindowInfo
	for start, info := range stored {
		if v, ok := a.acked[start.Unix()]; ok && v == info.UpdatedAt.UnixNano() {
			continue
		}
		out = append(out, info)
	}
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y store.WindowInfo) int { return x.Start.Compare(y.Start) })
	return out, nil
}

// pushLoop delivers the outbox until ctx ends.
func (a *Agent) pushLoop(ctx context.Context) {
	backoff := a.opts.RetryMin
	notBefore := map[int64]time.Time{} // hours the server asked to send later
	lastPrune := time.Time{}
	drained := true
	var touched time.Time
	alive := func() {
		if now := a.opts.Now(); a.opts.AliveFile != "" && now.Sub(touched) >= 10*time.Second {
			if err := touch(a.opts.AliveFile, now); err != nil {
				a.log.Warn("marking the agent alive", "file", a.opts.AliveFile, "error", err)
			} else {
				touched = now
			}
		}
	}
	for ctx.Err() == nil {
		alive()
		pending, err := a.Pending(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.fail(fmt.Errorf("reading the outbox: %w", err))
			wait.Sleep(ctx, a.opts.Poll)
			continue
		}
		a.mu.Lock()
		a.status.Pending = len(pending)
		a.mu.Unlock()
		if len(pending) > 0 {
			drained = false
		}
		failed := false
		for _, w := range pending {
			if ctx.Err() != nil {
				return
			}
			if t, ok := notBefore[w.Start.Unix()]; ok && a.ServerNow().Before(t) {
				continue
			}
			retryAfter, err := a.push(ctx, w)
			alive() // a long outbox (days after an outage) is delivered alive, window by window
			if err == nil {
				delete(notBefore, w.Start.Unix())
				backoff = a.opts.RetryMin
				continue
			}
			if ctx.Err() != nil {
				return
			}
			var he *httpError
			if errors.As(err, &he) && he.code == http.StatusUnprocessableEntity {
				// From the server's future: sent again once its clock is there.
				notBefore[w.Start.Unix()] = a.ServerNow().Add(max(retryAfter, a.opts.RetryMin))
				a.fail(fmt.Errorf("window %s: %w", w.Start.Format(time.RFC3339), err))
				continue
			}
			a.fail(fmt.Errorf("delivering the window of %s (kept in the outbox, sent again in %s): %w", w.Start.Format(time.RFC3339), backoff, err))
			failed = true
			break
		}
		if failed {
			if !wait.Sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, a.opts.RetryMax)
			continue
		}
		if left, err := a.Pending(ctx); err == nil {
			a.mu.Lock()
			a.status.Pending = len(left)
			a.mu.Unlock()
			if len(left) == 0 && !drained {
				drained = true
				a.log.Info("outbox drained: every closed window is delivered")
			}
		}
		if now := a.opts.Now(); now.Sub(lastPrune) >= time.Hour {
			lastPrune = now
			a.prune(ctx)
		}
		a.heartbeat(ctx)
		wait.Sleep(ctx, a.opts.Poll)
	}
}

// push sends one window and records its delivery.
func (a *Agent) push(ctx context.Context, info store.WindowInfo) (time.Duration, error) {
	w, err := a.opts.Sets.Load(ctx, info.WindowKey)
	if err != nil {
		return 0, fmt.Errorf("reading the outbox: %w", err)
	}
	set, err := a.opts.Sets.Open(ctx, w)
	if err != nil {
		return 0, fmt.Errorf("opening the outbox window: %w", err)
	}
	body := a.codec.Encode(set)
	var resp agentapi.PushResponse
	path := agentapi.PathWindows + info.Start.UTC().Format(time.RFC3339)
	if err := a.call(ctx, "PUT", path, agentapi.ContentTypeSet, body, &resp, true); err != nil {
		var he *httpError
		if errors.As(err, &he) {
			return he.retryAfter, err
		}
		return 0, err
	}
	a.mu.Lock()
	a.acked[info.Start.Unix()] = w.UpdatedAt.UnixNano()
	a.status.Delivered++
	a.status.LastPush = a.opts.Now()
	a.lastContact = a.status.LastPush
	a.mu.Unlock()
	if err := a.saveAcked(ctx); err != nil {
		// Delivered, but not recorded: it is sent again, and stored once.
		a.log.Warn("recording a delivery", "error", err)
	}
	a.log.Debug("window delivered", "hour", info.Start, "partial", info.Partial, "bytes", len(body), "stored", resp.Stored)
	return 0, nil
}

// prune deletes delivered windows older than Keep from the outbox; a window
// not yet delivered is never deleted.
func (a *Agent) prune(ctx context.Context) {
	if a.opts.Keep <= 0 {
		return
	}
	id := a.identity()
	cutoff := a.opts.Now().Add(-a.opts.Keep)
	stored, err := a.opts.Sets.Stored(ctx, id.Cluster, cost.Hourly, time.Time{}, cutoff)
	if err != nil {
		return
	}
	n := 0
	for start, info := range stored {
		a.mu.Lock()
		v, ok := a.acked[start.Unix()]
		a.mu.Unlock()
		if !ok || v != info.UpdatedAt.UnixNano() {
			continue
		}
		r := store.WindowRange{Tenant: info.Tenant, ClusterID: info.ClusterID, Resolution: info.Resolution, From: start, To: start.Add(time.Nanosecond)}
		if k, err := a.opts.Store.DeleteWindows(ctx, r); err == nil && k > 0 {
			n++
			a.mu.Lock()
			delete(a.acked, start.Unix())
			a.mu.Unlock()
		}
	}
	if n > 0 {
		_ = a.saveAcked(ctx)
		a.log.Info("outbox: delivered windows past agent.keep deleted", "windows", n)
	}
}

// heartbeat pings the server when the agent has not reached it for Heartbeat.
func (a *Agent) heartbeat(ctx context.Context) {
	a.mu.Lock()
	idle := a.opts.Now().Sub(a.lastContact)
	a.mu.Unlock()
	if idle < a.opts.Heartbeat {
		return
	}
	var resp agentapi.PingResponse
	if err := a.call(ctx, "GET", agentapi.PathPing, "", nil, &resp, true); err != nil {
		if ctx.Err() == nil {
			a.fail(fmt.Errorf("heartbeat: %w", err))
		}
	}
	a.mu.Lock()
	a.lastContact = a.opts.Now() // tried: the next heartbeat is one period later
	a.mu.Unlock()
}

// touch sets path's modification time to t, creating it (0600) if needed.
func touch(path string, t time.Time) error {
	if err := os.Chtimes(path, t, t); err == nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chtimes(path, t, t)
}
