package sets_test

import (
	"context"
	"crypto/sha256"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/allocation"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/pricing"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/seal"
	"github.com/costwarden/costwarden/internal/sets"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

// plainSealer stores plaintext: the same store and pipeline without
// encryption, the baseline the encryption overhead is measured against. It
// exists only in this benchmark.
type plainSealer struct{}

func (plainSealer) Seal(_ context.Context, _ seal.AD, p []byte) ([]byte, error) {
	return append([]byte(nil), p...), nil
}
func (plainSealer) Open(_ context.Context, _ seal.AD, b []byte) ([]byte, error) {
	return append([]byte(nil), b...), nil
}
func (plainSealer) BlindIndex(_ context.Context, tenant, kind, value string) ([]byte, error) {
	h := sha256.Sum256([]byte(tenant + "\x00" + kind + "\x00" + value))
	return h[:], nil
}

var benchStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

const benchHours = 24

// benchService stores benchHours hours of a 300-pod simulated cluster through
// sealer and returns a query service over them.
func benchService(b *testing.B, sealer sets.Sealer) *query.Service {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cl, err := sim.New(sim.Config{Name: "bench", Seed: 7, Pods: 300})
	if err != nil {
		b.Fatal(err)
	}
	pricer, err := pricing.New(pricing.Custom{CPU: 0.03, RAM: 0.004, GPU: 0.9, Storage: 0.04, LoadBalancer: 0.025})
	if err != nil {
		b.Fatal(err)
	}
	ss := sets.New(st, sealer, "default", time.Now)
	for h := range benchHours {
		w := cost.NewWindow(benchStart.Add(time.Duration(h)*time.Hour), benchStart.Add(time.Duration(h+1)*time.Hour))
		obs, err := cl.Observe(ctx, w, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		set, err := allocation.Compute(obs, pricer)
		if err != nil {
			b.Fatal(err)
		}
		n, err := ss.Put(ctx, set)
		if err != nil {
			b.Fatal(err)
		}
		if n < 1000 {
			b.Fatalf("window of %d bytes: the benchmark data is too small to mean anything", n)
		}
	}
	return query.NewService(ss)
}

func benchRequest(b *testing.B) *query.AllocationRequest {
	v := url.Values{"window": {benchStart.Format(time.RFC3339) + "," + benchStart.Add(benchHours*time.Hour).Format(time.RFC3339)}, "aggregate": {"namespace"}}
	req, err := query.ParseAllocation(v, benchStart.Add(48*time.Hour), query.Settings{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	return req
}

// BenchmarkQueryEncryptionOverhead runs the same /allocation query (24 stored
// hours of a 300-pod cluster, aggregated by namespace: load, open, decode,
// aggregate) against a sealed store and a plaintext one, alternately, and
// reports the overhead of encryption in percent (target: at most 10 %).
func BenchmarkQueryEncryptionOverhead(b *testing.B) {
	kek, err := seal.OpenKeyFile(filepath.Join(b.TempDir(), "k"), true)
	if err != nil {
		b.Fatal(err)
	}
	tmp, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "keys.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer tmp.Close()
	sealed := benchService(b, seal.NewKeyring(kek, tmp, seal.Options{}))
	plain := benchService(b, plainSealer{})
	req := benchRequest(b)
	ctx := context.Background()
	run := func(s *query.Service) time.Duration {
		t := time.Now()
		res, err := s.Allocation(ctx, req)
		if err != nil || len(res) != 1 || len(res[0].Allocations) < 5 {
			b.Fatalf("query: %v", err)
		}
		return time.Since(t)
	}
	run(sealed) // warm caches and unwrap the key once
	run(plain)
	var ts, tp time.Duration
	n := 0
	for b.Loop() {
		// Alternate which goes first so neither profits from the other's cache.
		if n%2 == 0 {
			ts += run(sealed)
			tp += run(plain)
		} else {
			tp += run(plain)
			ts += run(sealed)
		}
		n++
	}
	b.ReportMetric(float64(ts.Nanoseconds())/float64(n), "sealed-ns/query")
	b.ReportMetric(float64(tp.Nanoseconds())/float64(n), "plain-ns/query")
	b.ReportMetric(100*(float64(ts)-float64(tp))/float64(tp), "overhead-%")
}
