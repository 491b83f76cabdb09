package retention_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/costwarden/costwarden/internal/cost"
	"github.com/costwarden/costwarden/internal/retention"
	"github.com/costwarden/costwarden/internal/store"
	"github.com/costwarden/costwarden/internal/store/sqlite"
)

var now = time.Date(2026, 6, 15, 10, 30, 0, 0, time.UTC)

func TestCutoffs(t *testing.T) {
	h, d := retention.Policy{HourlyDays: 15, DailyMonths: 24}.Cutoffs(now)
	if want := time.Date(2026, 5, 31, 10, 0, 0, 0, time.UTC); !h.Equal(want) {
		t.Errorf("hourly cutoff = %s, want %s", h, want)
	}
	if want := time.Date(2024, 6, 15, 0, 0, 0, 0, time.UTC); !d.Equal(want) {
		t.Errorf("daily cutoff = %s, want %s", d, want)
	}
	h, d = retention.Policy{}.Cutoffs(now)
	if !h.IsZero() || !d.IsZero() {
		t.Errorf("zero policy cutoffs = %s, %s; want keep-all", h, d)
	}
}

// marker is a distinctive byte string in every blob that retention must erase.
func marker(res cost.Resolution, start time.Time) []byte {
	return fmt.Appendf(nil, "EXPIRED-%s-%d-PAYLOAD", res, start.Unix())
}

func TestDeletesExpiredWindowsForReal(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "costwarden.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	put := func(tenant string, res cost.Resolution, start time.Time) {
		blob := bytes.Repeat(marker(res, start), 40) // ~1 KiB
		w := store.Window{WindowKey: store.WindowKey{Tenant: tenant, ClusterID: "c1", Resolution: uint8(res), Start: start}, End: start.Add(res.Duration()), Blob: blob}
		if err := st.PutWindow(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	// 40 days of hours and 30 months of days, in two tenants.
	firstHour := now.Truncate(time.Hour).Add(-40 * 24 * time.Hour)
	for h := firstHour; h.Before(now); h = h.Add(time.Hour) {
		put("t1", cost.Hourly, h)
	}
	for d := time.Date(2023, 12, 1, 0, 0, 0, 0, time.UTC); d.Before(now); d = d.AddDate(0, 0, 1) {
		put("t1", cost.Daily, d)
		put("t2", cost.Daily, d)
	}
	hCut, dCut := retention.Policy{HourlyDays: 15, DailyMonths: 24}.Cutoffs(now)
	res, err := retention.Apply(ctx, st, retention.Policy{HourlyDays: 15, DailyMonths: 24}, now)
	if err != nil {
		t.Fatal(err)
	}
	wantHourly := int(hCut.Sub(firstHour).Hours())
	wantDaily := 2 * int(dCut.Sub(time.Date(2023, 12, 1, 0, 0, 0, 0, time.UTC)).Hours()/24)
	if res.Hourly != wantHourly || res.Daily != wantDaily || !res.Reclaimed {
		t.Errorf("Apply = %+v, want %d hourly, %d daily, reclaimed", res, wantHourly, wantDaily)
	}
	// What is kept is exactly what the policy keeps, each resolution on its own.
	for _, c := range []struct {
		tenant string
		res    cost.Resolution
		first  time.Time
	}{{"t1", cost.Hourly, hCut}, {"t1", cost.Daily, dCut}, {"t2", cost.Daily, dCut}} {
		infos, err := st.WindowStarts(ctx, store.WindowRange{Tenant: c.tenant, Resolution: uint8(c.res), To: now})
		if err != nil {
			t.Fatal(err)
		}
		if len(infos) == 0 || !infos[0].Start.Equal(c.first) {
			t.Errorf("%s %s: oldest kept = %v, want %s", c.tenant, c.res, infos, c.first)
		}
	}
	// Deleted content is gone from the database file and its WAL.
	files, _ := filepath.Glob(path + "*")
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	gone := []time.Time{firstHour, hCut.Add(-time.Hour), firstHour.Add(100 * time.Hour)}
	for _, h := range gone {
		if bytes.Contains(all, marker(cost.Hourly, h)) {
			t.Errorf("expired hour %s still readable in the database files", h)
		}
	}
	if bytes.Contains(all, marker(cost.Daily, dCut.AddDate(0, 0, -1))) {
		t.Error("an expired day is still readable in the database files")
	}
	if !bytes.Contains(all, marker(cost.Hourly, hCut)) {
		t.Error("test setup: a kept hour is not found in the files")
	}
	if err := st.Check(ctx); err != nil {
		t.Error(err)
	}
	// Running again deletes nothing more.
	res, err = retention.Apply(ctx, st, retention.Policy{HourlyDays: 15, DailyMonths: 24}, now)
	if err != nil || res.Hourly+res.Daily != 0 || res.Reclaimed {
		t.Errorf("second Apply = %+v, %v", res, err)
	}
}
