package kubemetrics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
)

// ObserveFunc observes a window at a resolution (sim.Cluster.Observe).
type ObserveFunc func(ctx context.Context, w cost.Window, res time.Duration) (*cost.Observation, error)

// Live exposes a cluster's current minute as a scrape target, in the Prometheus text
// format (version 0.0.4): the gauges of the minute that holds the scrape time, and
// CPU counters that have accumulated usage since the exposition started and grow
// linearly within the current minute.
type Live struct {
	observe ObserveFunc

	mu      sync.Mutex
	through time.Time          // counters hold usage up to here
	totals  map[string]float64 // by container key
}

// NewLive returns a Live exposition of observe.
func NewLive(observe ObserveFunc) *Live {
	return &Live{observe: observe, totals: map[string]float64{}}
}

// ContentType is the media type WriteAt writes.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteAt writes the exposition for a scrape at now.
func (l *Live) WriteAt(ctx context.Context, out io.Writer, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	minute := now.UTC().Truncate(time.Minute)
	if l.through.IsZero() || minute.Sub(l.through) > 24*time.Hour {
		l.through = minute
		clear(l.totals)
	}
	if minute.After(l.through) { // accumulate the minutes since the last scrape
		past, err := l.observe(ctx, cost.NewWindow(l.through, minute), time.Minute)
		if err != nil {
			return err
		}
		for i := range past.Containers {
			c := &past.Containers[i]
			k := ctrKey(past, c)
			for s := 0; s < past.Slots(); s++ {
				if c.Running.Has(s) {
					l.totals[k] += cost.At(c.CPUUsage, s) * 60
				}
			}
		}
		l.through = minute
	}
	obs, err := l.observe(ctx, cost.NewWindow(minute, minute.Add(time.Minute)), time.Minute)
	if err != nil {
		return err
	}
	st := buildStatic(obs)
	fams := map[string][]byte{}
	st.emitSlot(obs, 0, func(family, series string, v float64) {
		b := append(fams[family], series...)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
		fams[family] = append(b, '\n')
	})
	into := now.Sub(minute).Seconds()
	keep := map[string]float64{}
	cpuFam := familyOf(CPUUsage)
	for i := range obs.Containers {
		c := &obs.Containers[i]
		if !c.Running.Has(0) {
			continue
		}
		k := ctrKey(obs, c)
		keep[k] = l.totals[k]
		v := l.totals[k] + cost.At(c.CPUUsage, 0)*into
		b := append(fams[cpuFam], st.ctrCPU[i]...)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
		fams[cpuFam] = append(b, '\n')
	}
	l.totals = keep // containers that stopped are forgotten
	bw := bufio.NewWriter(out)
	for _, f := range familyList() {
		b := fams[f.name]
		if len(b) == 0 {
			continue
		}
		name := f.name
		if f.typ == "counter" {
			name = CPUUsage // the text format names counters with their suffix
		}
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", name, f.help, name, f.typ)
		_, _ = bw.Write(b)
	}
	return bw.Flush()
}
