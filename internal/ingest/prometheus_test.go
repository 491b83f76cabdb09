package ingest_test

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/collect/kubemetrics"
	"github.com/costwarden/costwarden/internal/collect/prom"
	"github.com/costwarden/costwarden/internal/collect/prom/promtest"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/ingest"
)

// t0 is the hour the live-ingestion scenarios are about.
var t0 = time.Date(2026, 11, 5, 14, 0, 0, 0, time.UTC)

// export writes hours [from, from+hours) of cl as OpenMetrics.
func export(t *testing.T, cl *sim.Cluster, from time.Time, hours int) []byte {
	t.Helper()
	w := kubemetrics.NewWriter("")
	for h := 0; h < hours; h++ {
		hs := from.Add(time.Duration(h) * time.Hour)
		obs, err := cl.Observe(context.Background(), cost.NewWindow(hs, hs.Add(time.Hour)), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Add(obs); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := w.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// split cuts an OpenMetrics document into the samples outside [a, b) and those
// inside (each a complete document).
func split(om []byte, a, b time.Time) (outside, inside []byte) {
	var o, in bytes.Buffer
	for _, line := range strings.SplitAfter(string(om), "\n") {
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			if line != "# EOF\n" {
				o.WriteString(line)
				in.WriteString(line)
			}
			continue
		}
		f := strings.Fields(line)
		ts, _ := strconv.ParseFloat(f[len(f)-1], 64)
		t := time.UnixMilli(int64(ts * 1000))
		if !t.Before(a) && t.Before(b) {
			in.WriteString(line)
		} else {
			o.WriteString(line)
		}
	}
	o.WriteString("# EOF\n")
	in.WriteString("# EOF\n")
	return o.Bytes(), in.Bytes()
}

type bytesTo []byte

func (b bytesTo) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(b)
	return int64(n), err
}

func promSource(t *testing.T, url, cluster string, now func() time.Time) *prom.Source {
	t.Helper()
	s, err := prom.New(prom.Config{URL: url, Cluster: cluster, Timeout: 20 * time.Second, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPrometheusOutageDuringLiveIngestion: Prometheus stops for 20 simulated minutes
// across the end of an hour. The hour cannot be observed when it is due, so it is
// stored partial from the last open-hour computation; when Prometheus is back the
// hour is recomputed and equals the engine's numbers.
func TestPrometheusOutageDuringLiveIngestion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	cl, err := sim.New(sim.Config{Name: "outage", Pods: 20, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	srv := promtest.Start(t, promtest.Options{OpenMetrics: bytesTo(export(t, cl, t0.Add(-time.Hour), 3))})
	now := &clock{t: t0.Add(50 * time.Minute)}
	s := openSets(t, t.TempDir(), now.Now)
	src := promSource(t, srv.URL, "outage", now.Now)
	p := pricer(t)
	in := ingest.New(src, p, s, ingest.Options{Resolution: time.Minute, CloseDelay: 2 * time.Minute, Now: now.Now, Log: logger(t), RetryMin: time.Second})
	ctx := context.Background()
	liveFrom := t0
	in.Step(ctx, liveFrom)
	if l := in.Live(); l == nil || !l.Window.End.Equal(t0.Add(50*time.Minute)) {
		t.Fatalf("open hour: %+v", l)
	}
	srv.Stop()
	for m := 51; m <= 70; m++ { // 20 simulated minutes without Prometheus
		now.Set(t0.Add(time.Duration(m) * time.Minute))
		in.Step(ctx, liveFrom)
	}
	st := in.Status()
	if st.State != "degraded" || !strings.Contains(st.LastError, "unreachable") {
		t.Errorf("status during the outage: %+v", st)
	}
	if h := src.Health(); h.ConsecutiveFailures == 0 || !strings.Contains(h.LastError, "unreachable") {
		t.Errorf("source health during the outage: %+v", h)
	}
	got := stored(t, s, t0, t0.Add(time.Hour))
	if set := got[t0]; set == nil || !set.Partial || !set.Window.End.Equal(t0.Add(50*time.Minute)) {
		t.Fatalf("hour %s during the outage: %+v, want stored partial through :50", t0, set)
	}
	if in.Live() != nil && in.Live().Window.Start.Equal(t0) {
		t.Error("the open-hour set of a stored hour is still served")
	}

	srv.Restart(t)
	now.Set(t0.Add(71 * time.Minute))
	in.Step(ctx, liveFrom)
	got = stored(t, s, t0, t0.Add(time.Hour))
	want := engine(t, cl, p, t0, 1, kubemetrics.Visible)
	if got[t0] == nil || got[t0].Partial {
		t.Fatalf("hour %s after Prometheus returned: %+v, want repaired", t0, got[t0])
	}
	sameCosts(t, "repaired hour", want[t0], got[t0])
	if st := in.Status(); st.State == "degraded" || st.LastClosed != t0 {
		t.Errorf("status after recovery: %+v", st)
	}
	if l := in.Live(); l == nil || !l.Window.Start.Equal(t0.Add(time.Hour)) {
		t.Errorf("open hour after recovery: %+v", l)
	}
}

// TestPartialSourceDataIsRepairedWhenItArrives: Prometheus lacks 20 minutes of an
// hour (its scrapes were lost); the hour is stored marked partial. When the missing
// samples arrive (loaded later, like a late remote-write or the other HA replica),
// the repair pass recomputes the hour and it equals the engine's.
func TestPartialSourceDataIsRepairedWhenItArrives(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	cl, err := sim.New(sim.Config{Name: "hole", Pods: 20, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	holeFrom, holeTo := t0.Add(20*time.Minute), t0.Add(40*time.Minute)
	main, hole := split(export(t, cl, t0.Add(-time.Hour), 3), holeFrom, holeTo)
	srv := promtest.Start(t, promtest.Options{OpenMetrics: bytesTo(main)})
	now := &clock{t: t0.Add(2*time.Hour + 5*time.Minute)}
	s := openSets(t, t.TempDir(), now.Now)
	p := pricer(t)
	src := &counting{Source: promSource(t, srv.URL, "hole", now.Now)}
	in := ingest.New(src, p, s, ingest.Options{Resolution: time.Minute, CloseDelay: 2 * time.Minute, Now: now.Now, Log: logger(t)})
	ctx := context.Background()
	if err := in.Backfill(ctx, t0.Add(-time.Hour), t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := stored(t, s, t0.Add(-time.Hour), t0.Add(2*time.Hour))
	if len(got) != 3 || got[t0] == nil || !got[t0].Partial || got[t0.Add(-time.Hour)].Partial || got[t0.Add(time.Hour)].Partial {
		t.Fatalf("after backfill: %d hours; hour %s partial=%v, want only it partial", len(got), t0, got[t0] != nil && got[t0].Partial)
	}
	if w := got[t0].Warnings; len(w) == 0 || !strings.Contains(w[len(w)-1], "no data for part of the hour") {
		t.Errorf("the partial hour carries no warning for the API: %q", w)
	}
	if _, err := in.Repair(ctx, t0.Add(-time.Hour), t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if st := in.Status(); st.PartialCount != 1 || len(st.Partial) != 1 || !st.Partial[0].Equal(t0) {
		t.Errorf("status lists partial hours %v (%d), want [%s]", st.Partial, st.PartialCount, t0)
	}

	// While the data is missing, the partial hour is retried with a growing backoff
	// (1, 2, 4 ... minutes), not at every pass.
	base, tried := now.Now(), src.n.Load()
	for i, c := range []struct {
		at    time.Duration
		tries int32
	}{{time.Minute, 1}, {2 * time.Minute, 1}, {3 * time.Minute, 2}, {4 * time.Minute, 2}, {6 * time.Minute, 2}, {7 * time.Minute, 3}} {
		now.Set(base.Add(c.at))
		if _, err := in.Repair(ctx, t0.Add(-time.Hour), t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := src.n.Load() - tried; got != c.tries {
			t.Errorf("pass %d at +%s: the partial hour was observed %d times, want %d", i, c.at, got, c.tries)
		}
	}

	srv.AddBlocks(t, bytesTo(hole))
	srv.Restart(t) // Prometheus loads new blocks on restart (or its next reload)
	now.Set(now.Now().Add(time.Hour))
	n, err := in.Repair(ctx, t0.Add(-time.Hour), t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("repair: %d hours, %v; want 1", n, err)
	}
	got = stored(t, s, t0.Add(-time.Hour), t0.Add(2*time.Hour))
	want := engine(t, cl, p, t0.Add(-time.Hour), 3, kubemetrics.Visible)
	for h, w := range want {
		sameCosts(t, h.Format(time.RFC3339), w, got[h])
	}
	if st := in.Status(); st.PartialCount != 0 {
		t.Errorf("partial hours after repair: %v", st.Partial)
	}
}

// counting counts observations.
type counting struct {
	ingest.Source
	n atomic.Int32
}

func (c *counting) Observe(ctx context.Context, w cost.Window, res time.Duration) (*cost.Observation, error) {
	c.n.Add(1)
	return c.Source.Observe(ctx, w, res)
}
