package cost

import (
	"fmt"
	"time"
)

// Window is the half-open time interval [Start, End).
type Window struct {
	Start time.Time
	End   time.Time
}

// NewWindow returns [start, end) in UTC.
func NewWindow(start, end time.Time) Window {
	return Window{Start: start.UTC(), End: end.UTC()}
}

// Duration is End-Start.
func (w Window) Duration() time.Duration { return w.End.Sub(w.Start) }

// Hours is the window's length in hours.
func (w Window) Hours() float64 { return w.Duration().Hours() }

// IsZero reports whether the window is unset.
func (w Window) IsZero() bool { return w.Start.IsZero() && w.End.IsZero() }

// Contains reports whether t lies in [Start, End).
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// Covers reports whether o lies entirely inside w.
func (w Window) Covers(o Window) bool { return !o.Start.Before(w.Start) && !o.End.After(w.End) }

// Overlaps reports whether the two windows share any instant.
func (w Window) Overlaps(o Window) bool { return w.Start.Before(o.End) && o.Start.Before(w.End) }

// Union is the smallest window covering both. A zero window is ignored.
func (w Window) Union(o Window) Window {
	if w.IsZero() {
		return o
	}
	if o.IsZero() {
		return w
	}
	u := w
	if o.Start.Before(u.Start) {
		u.Start = o.Start
	}
	if o.End.After(u.End) {
		u.End = o.End
	}
	return u
}

// Split cuts the window into consecutive pieces of length step (the last one may be
// shorter). step must be positive.
func (w Window) Split(step time.Duration) []Window {
	if step <= 0 {
		return []Window{w}
	}
	var out []Window
	for s := w.Start; s.Before(w.End); s = s.Add(step) {
		e := s.Add(step)
		if e.After(w.End) {
			e = w.End
		}
		out = append(out, Window{Start: s, End: e})
	}
	return out
}

func (w Window) String() string {
	return fmt.Sprintf("[%s, %s)", w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339))
}

// Hours returns the whole hours [t, t+1h) that cover w, aligned to the UTC hour.
func HoursOf(w Window) []time.Time {
	var out []time.Time
	for h := w.Start.UTC().Truncate(time.Hour); h.Before(w.End); h = h.Add(time.Hour) {
		out = append(out, h)
	}
	return out
}
