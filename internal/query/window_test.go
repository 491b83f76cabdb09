package query

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseWindow(t *testing.T) {
	// Wednesday 2026-03-11 15:30 UTC.
	now := time.Date(2026, 3, 11, 15, 30, 0, 0, time.UTC)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	d := func(y int, m time.Month, day, h int, loc *time.Location) time.Time {
		return time.Date(y, m, day, h, 0, 0, 0, loc).UTC()
	}
	for _, c := range []struct {
		in         string
		loc        *time.Location
		start, end time.Time
	}{
		{"today", time.UTC, d(2026, 3, 11, 0, time.UTC), now},
		{"yesterday", time.UTC, d(2026, 3, 10, 0, time.UTC), d(2026, 3, 11, 0, time.UTC)},
		{"week", time.UTC, d(2026, 3, 9, 0, time.UTC), now},
		{"lastweek", time.UTC, d(2026, 3, 2, 0, time.UTC), d(2026, 3, 9, 0, time.UTC)},
		{"month", time.UTC, d(2026, 3, 1, 0, time.UTC), now},
		{"lastmonth", time.UTC, d(2026, 2, 1, 0, time.UTC), d(2026, 3, 1, 0, time.UTC)},
		{"today", berlin, d(2026, 3, 11, 0, berlin), now},
		{"7d", time.UTC, now.Add(-7 * 24 * time.Hour), now},
		{"24h", time.UTC, now.Add(-24 * time.Hour), now},
		{"90m", time.UTC, now.Add(-90 * time.Minute), now},
		{"2w", time.UTC, now.Add(-14 * 24 * time.Hour), now},
		{"2026-03-01T00:00:00Z,2026-03-02T00:00:00Z", time.UTC, d(2026, 3, 1, 0, time.UTC), d(2026, 3, 2, 0, time.UTC)},
		{"1772323200,1772409600", time.UTC, time.Unix(1772323200, 0).UTC(), time.Unix(1772409600, 0).UTC()},
	} {
		w, err := ParseWindow(c.in, now, c.loc)
		if err != nil {
			t.Errorf("ParseWindow(%q): %v", c.in, err)
			continue
		}
		if !w.Start.Equal(c.start) || !w.End.Equal(c.end) {
			t.Errorf("ParseWindow(%q, %s) = %s, want [%s, %s)", c.in, c.loc, w, c.start, c.end)
		}
	}
	for _, bad := range []string{"", "7x", "-7d", "0d", "d", "abc", "2026-03-02T00:00:00Z,2026-03-01T00:00:00Z", "1,1", "2026-01-01,2026-01-02", "99999999999d"} {
		if _, err := ParseWindow(bad, now, time.UTC); err == nil {
			t.Errorf("ParseWindow(%q) succeeded", bad)
		}
	}
}

func TestParseAllocationErrorsNameTheParameter(t *testing.T) {
	now := time.Date(2026, 3, 11, 15, 30, 0, 0, time.UTC)
	s := Settings{Location: time.UTC}
	for _, c := range []struct{ query, param, contains string }{
		{"window=7d&aggregate=planet", "aggregate", "unknown aggregation key"},
		{"window=sevendays", "window", "unrecognised window"},
		{"window=7d&step=-1h", "step", "positive"},
		{"window=7d&step=0h", "step", "positive"},
		{"window=1d&step=2d", "step", "longer than the window"},
		{"window=1d&step=30m", "step", "whole number of hours"},
		{"window=7d&idle=maybe", "idle", "true or false"},
		{"window=7d&token=abc", "token", "unknown parameter"},
		{"aggregate=namespace", "window", "required"},
	} {
		v, _ := url.ParseQuery(c.query)
		_, err := ParseAllocation(v, now, s)
		pe, ok := IsParamError(err)
		if !ok || pe.Param != c.param || !strings.Contains(pe.Message, c.contains) {
			t.Errorf("%s: err = %v, want a ParamError for %s containing %q", c.query, err, c.param, c.contains)
		}
	}
	v, _ := url.ParseQuery("window=7d&aggregate=namespace,label:app&step=1d&shareIdle=true&idle=false")
	req, err := ParseAllocation(v, now, s)
	if err != nil {
		t.Fatal(err)
	}
	if req.Step != 24*time.Hour || !req.Query.ShareIdle || req.Query.Idle || len(req.Query.Aggregate) != 2 {
		t.Errorf("parsed %+v", req)
	}
	if !req.Window.Start.Equal(now.Add(-7 * 24 * time.Hour).Truncate(time.Hour)) {
		t.Errorf("window start %s is not floored to the hour", req.Window.Start)
	}
	if n := len(req.steps()); n != 8 {
		t.Errorf("7d (+ partial hour) in 1d steps = %d steps, want 8", n)
	}
}
