package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/app"
	"github.com/costwarden/costwarden/internal/collect/prom"
	"github.com/costwarden/costwarden/internal/collect/prom/promtest"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/cost"
)

// TestSimServeIsAScrapeTarget: a real Prometheus scrapes `costwarden sim serve`
// every second; what the collector then reads for the current minute is what the
// simulator says about it.
func TestSimServeIsAScrapeTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prometheus")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := make(chan net.Addr, 1)
	e := app.Env{Now: time.Now, Stdout: io.Discard, Stderr: io.Discard, Log: slog.New(slog.DiscardHandler),
		Ready: func(_ string, a net.Addr) { addr <- a }}
	done := make(chan error, 1)
	go func() {
		done <- app.SimServe(ctx, app.SimOptions{Cluster: "live", Seed: 2, Pods: 20, Listen: "127.0.0.1:0"}, e)
	}()
	var target string
	select {
	case a := <-addr:
		target = a.String()
	case err := <-done:
		t.Fatalf("sim serve: %v", err)
	}
	srv := promtest.Start(t, promtest.Options{ScrapeConfig: fmt.Sprintf("  - job_name: sim\n    scrape_interval: 1s\n    static_configs:\n      - targets: [%q]\n", target)})
	src, err := prom.New(prom.Config{URL: srv.URL, Cluster: "live", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sim.New(sim.Config{Name: "live", Seed: 2, Pods: 20})
	if err != nil {
		t.Fatal(err)
	}
	var got, want *cost.Observation
	deadline := time.Now().Add(60 * time.Second)
	for {
		m := time.Now().UTC().Truncate(time.Minute)
		if time.Since(m) > 50*time.Second { // too close to the next minute
			time.Sleep(11 * time.Second)
			continue
		}
		w := cost.NewWindow(m, m.Add(time.Minute))
		time.Sleep(3 * time.Second)
		got, err = src.Observe(ctx, w, time.Minute)
		if err == nil && len(got.Containers) > 0 && time.Now().UTC().Truncate(time.Minute).Equal(m) {
			want, err = cl.Observe(ctx, w, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never held a scrape of the simulator: %v\n%s", err, srv.Logs())
		}
	}
	if len(got.Nodes) != len(want.Nodes) || len(got.Pods) != len(want.Pods) || len(got.Containers) != len(want.Containers) {
		t.Fatalf("scraped %d nodes %d pods %d containers; the simulator has %d %d %d", len(got.Nodes), len(got.Pods), len(got.Containers), len(want.Nodes), len(want.Pods), len(want.Containers))
	}
	byUID := map[string]*cost.Container{}
	for i := range got.Containers {
		c := &got.Containers[i]
		byUID[got.Pods[c.Pod].UID+"/"+c.Name] = c
	}
	for i := range want.Containers {
		w := &want.Containers[i]
		g := byUID[want.Pods[w.Pod].UID+"/"+w.Name]
		if g == nil {
			t.Errorf("container %s/%s not scraped", want.Pods[w.Pod].Name, w.Name)
			continue
		}
		if !g.Running.Has(0) || math.Abs(cost.At(g.RAMUsage, 0)-cost.At(w.RAMUsage, 0)) > 1e-6 || cost.At(g.CPURequest, 0) != cost.At(w.CPURequest, 0) {
			t.Errorf("container %s/%s: ram %v request %v, want %v %v", want.Pods[w.Pod].Name, w.Name, cost.At(g.RAMUsage, 0), cost.At(g.CPURequest, 0), cost.At(w.RAMUsage, 0), cost.At(w.CPURequest, 0))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("sim serve stopped with %v", err)
	}
}
