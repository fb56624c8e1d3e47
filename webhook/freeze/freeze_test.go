package freeze

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"bollard.dev/bollard/api/v1alpha1"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func compile(t *testing.T, w v1alpha1.FreezeWindow) *Window {
	t.Helper()
	win, err := Compile("p", w)
	if err != nil {
		t.Fatal(err)
	}
	return win
}

func hours(h int) metav1.Duration { return metav1.Duration{Duration: time.Duration(h) * time.Hour} }

// Windows across the DST changes of 2026 in two zones: Europe/Berlin springs forward on Sun 29 March
// and falls back on Sun 25 October; America/New_York on Sun 8 March and Sun 1 November. Durations
// are wall-clock: a weekend freeze from Fri 00:00 for 78h ends Mon 06:00 local either way.
func TestWindowAcrossDST(t *testing.T) {
	berlin, newYork := zone(t, "Europe/Berlin"), zone(t, "America/New_York")
	weekendCron := v1alpha1.FreezeWindow{Name: "weekend", Schedule: "0 0 * * FRI", Duration: hours(78), TimeZone: "Europe/Berlin"}
	weekendRRule := v1alpha1.FreezeWindow{Name: "weekend", RRule: "FREQ=WEEKLY;BYDAY=FR;BYHOUR=0;BYMINUTE=0;BYSECOND=0", Duration: hours(78), TimeZone: "Europe/Berlin"}
	nightly := v1alpha1.FreezeWindow{Name: "nightly", Schedule: "0 22 * * *", Duration: hours(8), TimeZone: "America/New_York"}
	nightlyRRule := v1alpha1.FreezeWindow{Name: "nightly", RRule: "RRULE:FREQ=DAILY;BYHOUR=22;BYMINUTE=0;BYSECOND=0", Duration: hours(8), TimeZone: "America/New_York"}

	cases := []struct {
		name      string
		window    v1alpha1.FreezeWindow
		now       time.Time
		active    bool
		start     time.Time
		end       time.Time
		absoluteH float64
	}{
		{"berlin spring forward, inside", weekendCron, time.Date(2026, 3, 29, 12, 0, 0, 0, berlin), true,
			time.Date(2026, 3, 27, 0, 0, 0, 0, berlin), time.Date(2026, 3, 30, 6, 0, 0, 0, berlin), 77},
		{"berlin spring forward, last minute", weekendCron, time.Date(2026, 3, 30, 5, 59, 0, 0, berlin), true,
			time.Date(2026, 3, 27, 0, 0, 0, 0, berlin), time.Date(2026, 3, 30, 6, 0, 0, 0, berlin), 77},
		{"berlin spring forward, wall end reached", weekendCron, time.Date(2026, 3, 30, 6, 0, 0, 0, berlin), false, time.Time{}, time.Time{}, 0},
		{"berlin spring forward, rrule", weekendRRule, time.Date(2026, 3, 30, 5, 59, 0, 0, berlin), true,
			time.Date(2026, 3, 27, 0, 0, 0, 0, berlin), time.Date(2026, 3, 30, 6, 0, 0, 0, berlin), 77},
		{"berlin fall back, an hour past 78h of absolute time", weekendCron, time.Date(2026, 10, 26, 5, 30, 0, 0, berlin), true,
			time.Date(2026, 10, 23, 0, 0, 0, 0, berlin), time.Date(2026, 10, 26, 6, 0, 0, 0, berlin), 79},
		{"berlin fall back, rrule", weekendRRule, time.Date(2026, 10, 26, 5, 30, 0, 0, berlin), true,
			time.Date(2026, 10, 23, 0, 0, 0, 0, berlin), time.Date(2026, 10, 26, 6, 0, 0, 0, berlin), 79},
		{"berlin thursday", weekendCron, time.Date(2026, 10, 29, 12, 0, 0, 0, berlin), false, time.Time{}, time.Time{}, 0},
		{"new york fall back night", nightly, time.Date(2026, 11, 1, 5, 30, 0, 0, newYork), true,
			time.Date(2026, 10, 31, 22, 0, 0, 0, newYork), time.Date(2026, 11, 1, 6, 0, 0, 0, newYork), 9},
		{"new york spring forward night", nightlyRRule, time.Date(2026, 3, 8, 5, 0, 0, 0, newYork), true,
			time.Date(2026, 3, 7, 22, 0, 0, 0, newYork), time.Date(2026, 3, 8, 6, 0, 0, 0, newYork), 7},
		{"new york spring forward morning after", nightlyRRule, time.Date(2026, 3, 8, 6, 30, 0, 0, newYork), false, time.Time{}, time.Time{}, 0},
		{"new york, evaluated from UTC", nightly, time.Date(2026, 11, 1, 10, 30, 0, 0, time.UTC), true,
			time.Date(2026, 10, 31, 22, 0, 0, 0, newYork), time.Date(2026, 11, 1, 6, 0, 0, 0, newYork), 9},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			occ, active := compile(t, tc.window).At(tc.now)
			if active != tc.active {
				t.Fatalf("active at %s = %v, want %v (%+v)", tc.now, active, tc.active, occ)
			}
			if !active {
				return
			}
			if !occ.Start.Equal(tc.start) || !occ.End.Equal(tc.end) {
				t.Errorf("occurrence %s – %s, want %s – %s", occ.Start, occ.End, tc.start, tc.end)
			}
			if got := occ.End.Sub(occ.Start).Hours(); got != tc.absoluteH {
				t.Errorf("absolute length %.1fh, want %.1fh", got, tc.absoluteH)
			}
		})
	}
}

func TestDescribeAndNext(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	w := compile(t, v1alpha1.FreezeWindow{Name: "black-friday", Schedule: "0 0 * * FRI", Duration: hours(78), TimeZone: "Europe/Berlin"})
	occ, ok := w.At(time.Date(2026, 11, 30, 3, 47, 0, 0, berlin))
	if !ok {
		t.Fatal("not active on Monday 03:47")
	}
	if got, want := occ.Describe(), "Fri 00:00–Mon 06:00 Europe/Berlin"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	if got := Round(occ.End.Sub(time.Date(2026, 11, 30, 3, 47, 0, 0, berlin))); got != "2h13m" {
		t.Errorf("ends in %q, want 2h13m", got)
	}
	next, ok := w.Next(time.Date(2026, 11, 30, 3, 47, 0, 0, berlin))
	if !ok || !next.Start.Equal(time.Date(2026, 12, 4, 0, 0, 0, 0, berlin)) {
		t.Errorf("next = %v %v, want Fri 4 Dec 00:00", next.Start, ok)
	}
}

func TestOverlappingOccurrencesEndLast(t *testing.T) {
	// Every hour, lasting 3h: at 10:30 the occurrences of 08:00, 09:00 and 10:00 are all active.
	w := compile(t, v1alpha1.FreezeWindow{Name: "busy", Schedule: "0 * * * *", Duration: hours(3)})
	occ, ok := w.At(time.Date(2026, 5, 5, 10, 30, 0, 0, time.UTC))
	if !ok || !occ.End.Equal(time.Date(2026, 5, 5, 13, 0, 0, 0, time.UTC)) {
		t.Fatalf("occurrence %+v %v, want the one ending 13:00", occ, ok)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name   string
		window v1alpha1.FreezeWindow
		want   string
	}{
		{"unknown zone", v1alpha1.FreezeWindow{Name: "w", Schedule: "@daily", Duration: hours(1), TimeZone: "Mars/Olympus"}, "unknown time zone"},
		{"bad cron", v1alpha1.FreezeWindow{Name: "w", Schedule: "61 * * * *", Duration: hours(1)}, "schedule"},
		{"bad rrule", v1alpha1.FreezeWindow{Name: "w", RRule: "FREQ=SOMETIMES", Duration: hours(1)}, "rrule"},
		{"both", v1alpha1.FreezeWindow{Name: "w", Schedule: "@daily", RRule: "FREQ=DAILY", Duration: hours(1)}, "not both"},
		{"neither", v1alpha1.FreezeWindow{Name: "w", Duration: hours(1)}, "give a schedule"},
		{"no duration", v1alpha1.FreezeWindow{Name: "w", Schedule: "@daily"}, "duration must be positive"},
		{"bad mode", v1alpha1.FreezeWindow{Name: "w", Schedule: "@daily", Duration: hours(1), Mode: "maybe"}, "want deny or allow"},
		// Bounded: what an admission evaluates per window is limited at compile.
		{"secondly", v1alpha1.FreezeWindow{Name: "w", RRule: "FREQ=SECONDLY", Duration: hours(1)}, "at most hourly"},
		{"minutely", v1alpha1.FreezeWindow{Name: "w", RRule: "FREQ=MINUTELY;INTERVAL=30", Duration: hours(1)}, "at most hourly"},
		{"never occurs", v1alpha1.FreezeWindow{Name: "w", RRule: "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31", Duration: hours(1)}, "never occurs"},
		{"too long", v1alpha1.FreezeWindow{Name: "w", RRule: "FREQ=YEARLY", Duration: hours(24 * 400)}, "longer than"},
		{"too dense for its duration", v1alpha1.FreezeWindow{Name: "w", RRule: "FREQ=HOURLY", Duration: hours(24 * 60)}, "too dense"},
		{"cron too dense", v1alpha1.FreezeWindow{Name: "w", Schedule: "* * * * *", Duration: hours(24)}, "too dense"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile("p", tc.window)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "window w") {
				t.Fatalf("err = %v, want it to name the window and say %q", err, tc.want)
			}
		})
	}
}

// FuzzCompile: any window a DeployPolicy can hold compiles or is refused with an error, and a
// compiled one answers At and Next quickly (bounded at compile) without panicking.
func FuzzCompile(f *testing.F) {
	f.Add("", "FREQ=WEEKLY;BYDAY=FR", int64(78), "Europe/Berlin")
	f.Add("0 0 * * 5", "", int64(78), "America/New_York")
	f.Add("", "FREQ=HOURLY;BYMONTH=2;BYMONTHDAY=29", int64(1), "UTC")
	f.Add("", "DTSTART:20261225T000000\nRRULE:FREQ=YEARLY;COUNT=3", int64(48), "")
	f.Fuzz(func(t *testing.T, schedule, rule string, h int64, tz string) {
		w, err := Compile("p", v1alpha1.FreezeWindow{Name: "w", Schedule: schedule, RRule: rule, Duration: metav1.Duration{Duration: time.Duration(h) * time.Hour}, TimeZone: tz})
		if err != nil {
			return
		}
		now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
		start := time.Now()
		w.At(now)
		w.Next(now)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("schedule %q rrule %q: At and Next took %s", schedule, rule, d)
		}
	})
}
