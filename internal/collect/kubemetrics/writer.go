package kubemetrics

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
)

// DESIGN
//
// Timing. Every sample of slot i is written at the slot's start t_i, as if
// kube-state-metrics and cAdvisor were scraped exactly on the slot boundaries. The
// collector reads gauges with range functions over [t_i, t_i+s) and the CPU counter
// as instant values at the boundaries (see internal/collect/prom), so a slot's values
// come back exactly.
//
// The CPU counter. container_cpu_usage_seconds_total of a container starts at 0 when
// it starts running and grows by usage*s in each slot it runs. Its sample at t_i is
// the total before slot i; one more sample at the end of its last running slot
// carries the final total, so the increase across every running slot is known. The
// writer keeps each running container's total between Add calls (consecutive windows
// continue the counters).
//
// Families. OpenMetrics wants each family's samples together, while observations come
// an hour at a time: samples are spooled per family (in memory, or in temporary files
// for long exports) and concatenated by WriteTo.

// Writer writes observations of consecutive windows as OpenMetrics text.
type Writer struct {
	spoolDir string
	fams     map[string]*spool
	open     map[string]*counter // running containers, by uid/container
	end      time.Time           // end of the last window added
	line     []byte
	err      error
}

type spool struct {
	f   *os.File
	buf *bytes.Buffer
	w   *bufio.Writer
}

type counter struct {
	series string
	family string
	total  float64
	end    time.Time // end of the last slot it ran
}

// NewWriter returns a Writer. With an empty spoolDir samples are kept in memory;
// otherwise each family is spooled to a temporary file in spoolDir (Close removes
// them).
func NewWriter(spoolDir string) *Writer {
	return &Writer{spoolDir: spoolDir, fams: map[string]*spool{}, open: map[string]*counter{}}
}

func (w *Writer) family(name string) *spool {
	if s := w.fams[name]; s != nil {
		return s
	}
	s := &spool{}
	if w.spoolDir != "" {
		f, err := os.CreateTemp(w.spoolDir, "family-*.om")
		if err != nil {
			w.err = errors.Join(w.err, err)
			s.buf = &bytes.Buffer{}
			s.w = bufio.NewWriter(s.buf)
		} else {
			s.f = f
			s.w = bufio.NewWriterSize(f, 1<<16)
		}
	} else {
		s.buf = &bytes.Buffer{}
		s.w = bufio.NewWriter(s.buf)
	}
	w.fams[name] = s
	return s
}

// sample writes one line: series value timestamp.
func (w *Writer) sample(family, series string, v float64, ts time.Time) {
	b := w.line[:0]
	b = append(b, series...)
	b = append(b, ' ')
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	b = append(b, ' ')
	b = appendTimestamp(b, ts)
	b = append(b, '\n')
	w.line = b
	if _, err := w.family(family).w.Write(b); err != nil {
		w.err = errors.Join(w.err, err)
	}
}

// appendTimestamp appends seconds since the epoch with millisecond precision.
func appendTimestamp(b []byte, t time.Time) []byte {
	ms := t.UnixMilli()
	b = strconv.AppendInt(b, ms/1000, 10)
	if r := ms % 1000; r != 0 {
		b = append(b, '.')
		b = append(b, fmt.Sprintf("%03d", r)...)
	}
	return b
}

// Add writes every slot of obs. Windows must be added in time order.
func (w *Writer) Add(obs *cost.Observation) error {
	if err := obs.Validate(); err != nil {
		return err
	}
	if !w.end.IsZero() && obs.Window.Start.Before(w.end) {
		return fmt.Errorf("kubemetrics: window %s starts before the previous one ended (%s)", obs.Window, w.end.Format(time.RFC3339))
	}
	st := buildStatic(obs)
	n := obs.Slots()
	res := obs.Resolution
	// Counters that ran up to this window's start and do not continue in its first
	// slot end here.
	cont := map[string]bool{}
	for i := range obs.Containers {
		c := &obs.Containers[i]
		if c.Running.Has(0) {
			cont[ctrKey(obs, c)] = true
		}
	}
	w.closeCounters(func(k string, c *counter) bool { return !cont[k] || !c.end.Equal(obs.Window.Start) })
	// Gauges, slot by slot, so every series' samples are in time order.
	for s := 0; s < n; s++ {
		ts := obs.Window.Start.Add(time.Duration(s) * res)
		st.emitSlot(obs, s, func(family, series string, v float64) { w.sample(family, series, v, ts) })
	}
	// The CPU counters.
	fam := familyOf(CPUUsage)
	for i := range obs.Containers {
		c := &obs.Containers[i]
		k := ctrKey(obs, c)
		cs := w.open[k]
		for s := 0; s < n; s++ {
			if !c.Running.Has(s) {
				continue
			}
			ts := obs.Window.Start.Add(time.Duration(s) * res)
			if cs != nil && !cs.end.Equal(ts) { // a gap: the run ended
				w.sample(cs.family, cs.series, cs.total, cs.end)
				delete(w.open, k)
				cs = nil
			}
			if cs == nil {
				cs = &counter{series: st.ctrCPU[i], family: fam}
				w.open[k] = cs
			}
			w.sample(fam, cs.series, cs.total, ts)
			cs.total += cost.At(c.CPUUsage, s) * res.Seconds()
			cs.end = ts.Add(res)
		}
		if cs != nil && !cs.end.Equal(obs.Window.End) {
			w.sample(cs.family, cs.series, cs.total, cs.end)
			delete(w.open, k)
		}
	}
	w.end = obs.Window.End
	return w.err
}

func ctrKey(obs *cost.Observation, c *cost.Container) string {
	p := &obs.Pods[c.Pod]
	return p.Namespace + "/" + p.Name + "/" + p.UID + "/" + c.Name
}

// closeCounters writes the final sample of the open counters that done selects.
func (w *Writer) closeCounters(done func(string, *counter) bool) {
	keys := make([]string, 0, len(w.open))
	for k := range w.open {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if c := w.open[k]; done(k, c) {
			w.sample(c.family, c.series, c.total, c.end)
			delete(w.open, k)
		}
	}
}

// WriteTo ends the open counters and writes the whole OpenMetrics document, family
// by family, terminated by "# EOF".
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	w.closeCounters(func(string, *counter) bool { return true })
	if w.err != nil {
		return 0, w.err
	}
	bw := bufio.NewWriterSize(out, 1<<16)
	var n int64
	for _, f := range familyList() {
		s := w.fams[f.name]
		if s == nil {
			continue
		}
		if err := s.w.Flush(); err != nil {
			return n, err
		}
		k, _ := fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		n += int64(k)
		var r io.Reader = s.buf
		if s.f != nil {
			if _, err := s.f.Seek(0, io.SeekStart); err != nil {
				return n, err
			}
			r = s.f
		}
		m, err := io.Copy(bw, r)
		n += m
		if err != nil {
			return n, err
		}
	}
	k, _ := bw.WriteString("# EOF\n")
	n += int64(k)
	return n, bw.Flush()
}

// Close removes the spool files.
func (w *Writer) Close() error {
	var errs []error
	for _, s := range w.fams {
		if s.f != nil {
			errs = append(errs, s.f.Close(), os.Remove(s.f.Name()))
		}
	}
	w.fams = map[string]*spool{}
	return errors.Join(errs...)
}
