package sim

import "math"

// Simulated time is counted in whole minutes since the Unix epoch (UTC): every
// lifecycle event (node up/down, pod start/stop, rollout) happens on a minute
// boundary, which keeps intervals integral and lets a slot of any resolution decide
// presence by overlap.
//
// The cluster serves users in US Eastern time. The simulation uses a fixed UTC-5
// offset rather than a time-zone database: with daylight saving a local day would
// sometimes have 23 or 25 hours, and the demo would change shape twice a year.
const (
	minutesPerDay  = 24 * 60
	localOffsetMin = -5 * 60 // local = UTC - 5h

	// A "sim day" starts at 04:00 local, the quietest moment: every node and pod that
	// exists only part of a day (daytime scale-up, the nightly batch, training runs)
	// lives inside one sim day, so a window only has to look at the sim days it
	// overlaps to find everything running in it.
	simDayStartLocalMin = 4 * 60
)

// simDay is the sim day containing minute m.
func simDay(m int64) int64 {
	return floorDiv(m+localOffsetMin-simDayStartLocalMin, minutesPerDay)
}

// simDayStart is the first minute (UTC) of sim day d.
func simDayStart(d int64) int64 {
	return d*minutesPerDay - localOffsetMin + simDayStartLocalMin
}

// localClock is the UTC minute at local wall-clock hh:mm of sim day d. Hours 24..27
// are the early morning after midnight, which still belongs to sim day d.
func localClock(d int64, hh, mm int64) int64 {
	return simDayStart(d) + hh*60 + mm - simDayStartLocalMin
}

// weekday of sim day d (0 = Sunday): the local calendar day on which it starts.
// 1970-01-01 was a Thursday.
func weekday(d int64) int64 { return ((d+4)%7 + 7) % 7 }

func isWeekend(d int64) bool { wd := weekday(d); return wd == 0 || wd == 6 }

// load is the cluster's traffic at unix second t, in [0, 1]: a daily wave peaking
// mid-afternoon local time with its trough around 03:30, and weekends at a bit more
// than half of weekdays. Every usage series and the HPA-like scaling follow it.
func load(t int64) float64 {
	local := t + localOffsetMin*60
	day := floorDiv(local, 86400)
	h := float64(local-day*86400) / 3600
	v := 0.5 - 0.5*math.Cos(2*math.Pi*(h-3.5)/24)
	switch ((day+4)%7 + 7) % 7 {
	case 0, 6:
		v *= 0.55
	}
	return v
}
