package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/costwarden/costwarden/internal/collect/kubemetrics"
	"github.com/costwarden/costwarden/internal/collect/sim"
	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/query"
)

// SimOptions select the simulated cluster and what to export.
type SimOptions struct {
	Cluster string
	Seed    int64
	Pods    int
	// Window is an OpenCost window expression (2d, yesterday, start,end ...).
	Window     string
	Format     string
	Resolution time.Duration
	Output     string // file; "" = stdout
	Listen     string // sim serve
}

func simCluster(o SimOptions) (*sim.Cluster, error) {
	return sim.New(sim.Config{Name: o.Cluster, Seed: o.Seed, Pods: o.Pods})
}

// SimExport writes the simulated cluster over the window as kube-state-metrics and
// cAdvisor series in OpenMetrics text, for `promtool tsdb create-blocks-from
// openmetrics`. Progress goes to the log.
func SimExport(ctx context.Context, o SimOptions, env Env) error {
	if o.Format != "openmetrics" {
		return fmt.Errorf("--format: %q is not supported (openmetrics)", o.Format)
	}
	if o.Window == "" {
		return errors.New("--window: required (for example 2d, or 2026-11-01T00:00:00Z,2026-11-03T00:00:00Z)")
	}
	res := o.Resolution
	if res <= 0 {
		res = time.Minute
	}
	if res < time.Second || time.Hour%res != 0 {
		return fmt.Errorf("--resolution: must divide an hour, got %s", res)
	}
	w, err := query.ParseWindow(o.Window, env.Now(), time.UTC)
	if err != nil {
		return fmt.Errorf("--window: %w", err)
	}
	w = cost.NewWindow(w.Start.Truncate(res), w.End.Truncate(res))
	if !w.End.After(w.Start) {
		return fmt.Errorf("--window: %s is shorter than the resolution", w)
	}
	if w.Duration() > 400*24*time.Hour {
		return errors.New("--window: at most 400 days")
	}
	cl, err := simCluster(o)
	if err != nil {
		return err
	}
	out := env.Stdout
	var f *os.File
	if o.Output != "" {
		f, err = os.OpenFile(o.Output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("--output: %w", err)
		}
		defer f.Close()
		out = f
	}
	spool, err := os.MkdirTemp(filepath.Dir(spoolBase(o.Output)), ".costwarden-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(spool)
	wr := kubemetrics.NewWriter(spool)
	defer wr.Close()
	hours := cost.HoursOf(w)
	lastLog := time.Now()
	for i, h := range hours {
		if err := ctx.Err(); err != nil {
			return err
		}
		hw := cost.NewWindow(maxTime(h, w.Start), minTime(h.Add(time.Hour), w.End))
		obs, err := cl.Observe(ctx, hw, res)
		if err != nil {
			return err
		}
		if err := wr.Add(obs); err != nil {
			return err
		}
		if time.Since(lastLog) > 5*time.Second || i == len(hours)-1 {
			lastLog = time.Now()
			env.Log.Info("sim export", "cluster", cl.Name(), "hours", i+1, "of", len(hours))
		}
	}
	n, err := wr.WriteTo(out)
	if err != nil {
		return fmt.Errorf("writing the export: %w", err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			return err
		}
	}
	env.Log.Info("sim export written", "cluster", cl.Name(), "window", w.String(), "bytes", n)
	return nil
}

func spoolBase(output string) string {
	if output == "" {
		return filepath.Join(os.TempDir(), "x")
	}
	abs, err := filepath.Abs(output)
	if err != nil {
		return filepath.Join(os.TempDir(), "x")
	}
	return abs
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// SimServe exposes the simulated cluster's current state as a Prometheus scrape
// target (GET /metrics) until ctx ends.
func SimServe(ctx context.Context, o SimOptions, env Env) error {
	cl, err := simCluster(o)
	if err != nil {
		return err
	}
	live := kubemetrics.NewLive(cl.Observe)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", kubemetrics.ContentType)
		if err := live.WriteAt(r.Context(), w, env.Now()); err != nil {
			env.Log.Error("sim serve: scrape", "error", err)
			http.Error(w, "scrape failed", http.StatusInternalServerError)
		}
	})
	listen := o.Listen
	if listen == "" {
		listen = "127.0.0.1:9101"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute}
	env.Log.Info("sim serve: scrape target ready", "url", "http://"+ln.Addr().String()+"/metrics", "cluster", cl.Name())
	if env.Ready != nil {
		env.Ready("sim", ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		return err
	}
}
