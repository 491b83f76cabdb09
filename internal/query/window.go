package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
)

// ParseWindow parses OpenCost's window forms (COST_MODEL.md section 8) relative to
// now, in loc for calendar forms:
//
//	today, yesterday, week (since Monday), lastweek, month, lastmonth,
//	Nm, Nh, Nd, Nw (ending now), start,end (RFC 3339 or Unix seconds).
func ParseWindow(s string, now time.Time, loc *time.Location) (cost.Window, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return cost.Window{}, fmt.Errorf("window is required (examples: 7d, today, lastweek, 2026-01-01T00:00:00Z,2026-01-02T00:00:00Z)")
	}
	now = now.In(loc)
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc) }
	switch s {
	case "today":
		return cost.NewWindow(day(now), now), nil
	case "yesterday":
		d := day(now)
		return cost.NewWindow(d.AddDate(0, 0, -1), d), nil
	case "week":
		d := day(now)
		return cost.NewWindow(d.AddDate(0, 0, -((int(d.Weekday())+6)%7)), now), nil
	case "lastweek":
		d := day(now)
		monday := d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
		return cost.NewWindow(monday.AddDate(0, 0, -7), monday), nil
	case "month":
		return cost.NewWindow(time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc), now), nil
	case "lastmonth":
		first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
		return cost.NewWindow(first.AddDate(0, -1, 0), first), nil
	}
	if a, b, ok := strings.Cut(s, ","); ok {
		start, err := parseInstant(a)
		if err != nil {
			return cost.Window{}, fmt.Errorf("window start: %w", err)
		}
		end, err := parseInstant(b)
		if err != nil {
			return cost.Window{}, fmt.Errorf("window end: %w", err)
		}
		if !end.After(start) {
			return cost.Window{}, fmt.Errorf("window end %s is not after its start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
		}
		return cost.NewWindow(start, end), nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return cost.Window{}, fmt.Errorf("unrecognised window %q (examples: 7d, 24h, today, week, lastmonth, start,end in RFC 3339 or Unix seconds)", s)
	}
	return cost.NewWindow(now.Add(-d), now), nil
}

// ParseDuration parses Nm, Nh, Nd and Nw with a positive integer N, up to 5 years.
func ParseDuration(s string) (time.Duration, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[len(s)-1]]
	if unit == 0 {
		return 0, fmt.Errorf("bad duration unit in %q (m, h, d or w)", s)
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad duration %q: want a positive whole number followed by m, h, d or w", s)
	}
	d := time.Duration(n) * unit
	if d > 5*366*24*time.Hour || d/unit != time.Duration(n) {
		return 0, fmt.Errorf("duration %q is longer than 5 years", s)
	}
	return d, nil
}

func parseInstant(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n < 1<<40 {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2026-01-02T15:04:05Z) nor Unix seconds", s)
}
