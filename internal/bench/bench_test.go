package bench

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/query/querytest"
	"github.com/costwarden/costwarden/internal/rollup"
	"github.com/costwarden/costwarden/internal/store"
)

// The benchmarks read a data directory written by `serve --demo --demo-pods 10000
// --demo-days 30` (COSTWARDEN_BENCH_DIR, as the report does), or fill one themselves
// at that scale (a few minutes).
// TestMain removes a temporary data directory the benchmarks filled.
func TestMain(m *testing.M) {
	code := m.Run()
	if benv != nil {
		_ = benv.Close()
	}
	if tempDir != "" {
		_ = os.RemoveAll(tempDir)
	}
	os.Exit(code)
}

var (
	tempDir string
	envOnce sync.Once
	benv    *querytest.Env
	envErr  error
	dataEnd time.Time
)

func dataEnv(b *testing.B) *querytest.Env {
	b.Helper()
	envOnce.Do(func() {
		ctx := context.Background()
		// An empty or missing COSTWARDEN_BENCH_DIR is filled (and kept for the next
		// run); without it, a temporary directory is filled and removed at exit.
		dir := os.Getenv("COSTWARDEN_BENCH_DIR")
		if dir == "" {
			dir, envErr = os.MkdirTemp("", "costwarden-bench-")
			if envErr != nil {
				return
			}
			tempDir = dir
		}
		if envErr = os.MkdirAll(dir, 0o700); envErr != nil {
			return
		}
		_, statErr := os.Stat(filepath.Join(dir, "costwarden.db"))
		fill := statErr != nil
		benv, envErr = querytest.Open(ctx, dir)
		if envErr != nil {
			return
		}
		if fill {
			c := querytest.Cluster(b, "demo", DemoPods)
			end := time.Now().UTC().Truncate(time.Hour)
			if _, _, envErr = benv.Fill(ctx, c, end.Add(-DemoDays*24*time.Hour), end); envErr != nil {
				return
			}
			if _, envErr = rollup.New(benv.Sets, rollup.Options{}).RunOnce(ctx); envErr != nil {
				return
			}
		}
		// Listing the stored windows loads the index that a running server keeps
		// from its start; queries are measured with it loaded, as in the server.
		infos, err := benv.Sets.Index(ctx, cost.Hourly, time.Time{}, time.Now().Add(24*time.Hour))
		if err != nil {
			envErr = err
			return
		}
		if _, err := benv.Sets.Index(ctx, cost.Daily, time.Time{}, time.Now().Add(24*time.Hour)); err != nil {
			envErr = err
			return
		}
		for _, in := range infos {
			if in.End.After(dataEnd) {
				dataEnd = in.End
			}
		}
	})
	if envErr != nil {
		b.Fatal(envErr)
	}
	return benv
}

func allocationRequest(b *testing.B, q string) *query.AllocationRequest {
	b.Helper()
	v, _ := url.ParseQuery(q)
	req, err := query.ParseAllocation(v, dataEnd, query.Settings{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	return req
}

// BenchmarkCloseHour: observe the 10,000-pod cluster's busiest hour (a weekday at
// 20:00 UTC, beyond the stored range so queries are not affected), allocate, seal
// and write it.
func BenchmarkCloseHour(b *testing.B) {
	e := dataEnv(b)
	ctx := context.Background()
	c := querytest.Cluster(b, "demo", DemoPods)
	h := dataEnd.Truncate(24 * time.Hour).Add(7*24*time.Hour + 20*time.Hour)
	for h.Weekday() == time.Saturday || h.Weekday() == time.Sunday {
		h = h.Add(24 * time.Hour)
	}
	var sealed int
	var containerHours float64
	b.ReportAllocs()
	for b.Loop() {
		set, err := e.Hour(ctx, c, h)
		if err != nil {
			b.Fatal(err)
		}
		n, err := e.Sets.Put(ctx, set)
		if err != nil {
			b.Fatal(err)
		}
		sealed, containerHours = n, 0
		for _, a := range set.Allocations {
			if a.Kind == cost.KindContainer {
				containerHours += a.RunningMinutes / 60
			}
		}
	}
	b.ReportMetric(float64(sealed), "sealed-bytes")
	b.ReportMetric(float64(sealed)/containerHours, "sealed-bytes/container-hour")
	b.ReportMetric(containerHours, "container-hours")
	if _, err := e.Store.DeleteWindows(ctx, rangeOf(e, h)); err != nil {
		b.Fatal(err)
	}
	e.Sets.Refresh()
}

// BenchmarkQuery30dNamespaceShareIdle: the 30-day dashboard query, with nothing
// cached (a new service per run: the stored windows are read, decrypted, decoded and
// aggregated) and warm (the partial results of each stored window are cached).
func BenchmarkQuery30dNamespaceShareIdle(b *testing.B) {
	e := dataEnv(b)
	ctx := context.Background()
	req := allocationRequest(b, Query30dNamespace)
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			s := query.NewServiceWithOptions(e.Sets, query.Options{CacheBytes: query.DefaultCacheBytes})
			if _, err := s.Allocation(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		s := query.NewServiceWithOptions(e.Sets, query.Options{CacheBytes: query.DefaultCacheBytes})
		if _, err := s.Allocation(ctx, req); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			if _, err := s.Allocation(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkQuery7dStep1hController: 168 hourly steps by controller, nothing cached.
func BenchmarkQuery7dStep1hController(b *testing.B) {
	e := dataEnv(b)
	ctx := context.Background()
	req := allocationRequest(b, Query7dStepControler)
	for b.Loop() {
		s := query.NewServiceWithOptions(e.Sets, query.Options{CacheBytes: query.DefaultCacheBytes})
		res, err := s.Allocation(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if len(res) < 168 {
			b.Fatalf("%d steps", len(res))
		}
	}
}

// BenchmarkStorage reports the sealed bytes stored per container-hour over the whole
// data directory's hourly windows (and with the daily rollups added).
func BenchmarkStorage(b *testing.B) {
	e := dataEnv(b)
	ctx := context.Background()
	for b.Loop() {
		var hourly, daily int
		var ch float64
		infos, err := e.Sets.Index(ctx, cost.Hourly, time.Time{}, dataEnd)
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range infos {
			w, err := e.Sets.Load(ctx, in.WindowKey)
			if err != nil {
				b.Fatal(err)
			}
			hourly += len(w.Blob)
			if _, err := e.Sets.Stream(ctx, w, false, func(a *cost.Allocation) {
				if a.Kind == cost.KindContainer {
					ch += a.RunningMinutes / 60
				}
			}); err != nil {
				b.Fatal(err)
			}
		}
		days, err := e.Sets.Index(ctx, cost.Daily, time.Time{}, dataEnd)
		if err != nil {
			b.Fatal(err)
		}
		for _, in := range days {
			w, err := e.Sets.Load(ctx, in.WindowKey)
			if err != nil {
				b.Fatal(err)
			}
			daily += len(w.Blob)
		}
		b.ReportMetric(float64(hourly)/ch, "hourly-sealed-bytes/container-hour")
		b.ReportMetric(float64(hourly+daily)/ch, "all-sealed-bytes/container-hour")
		b.ReportMetric(ch, "container-hours")
		b.ReportMetric(float64(len(infos)), "hours")
		b.ReportMetric(float64(len(days)), "days")
	}
}

func rangeOf(e *querytest.Env, h time.Time) store.WindowRange {
	id, _ := e.Sets.ClusterID(context.Background(), "demo")
	return store.WindowRange{Tenant: querytest.Tenant, ClusterID: id, Resolution: uint8(cost.Hourly), From: h, To: h.Add(time.Hour)}
}
