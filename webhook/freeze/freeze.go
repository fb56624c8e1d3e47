// Package freeze computes change-freeze windows: recurring occurrences given by a cron schedule
// or an RFC 5545 RRULE, in an IANA time zone, each lasting a wall-clock duration.
package freeze

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/teambition/rrule-go"

	"bollard.dev/bollard/api/v1alpha1"

	// Embedded zone database: the gate must know Europe/Berlin's rules on a distroless image too.
	_ "time/tzdata"
)

// dstSlack widens the search for occurrences that started before now: a wall-clock duration can
// span up to this much more absolute time when the clocks change inside it.
const dstSlack = 3 * time.Hour

// Window is one compiled freeze window.
type Window struct {
	Policy   string
	Name     string
	Mode     v1alpha1.WindowMode
	Location *time.Location
	Duration time.Duration
	Scope    *v1alpha1.Scope

	// starts returns the occurrence starts in [from, to], in Location, oldest first.
	starts func(from, to time.Time) []time.Time
	// next returns the first start after t, or the zero time when there is none.
	next func(t time.Time) time.Time
}

// Occurrence is one concrete period of a window.
type Occurrence struct {
	Window     *Window
	Start, End time.Time
}

// Compile checks a window from a DeployPolicy and prepares it for evaluation.
func Compile(policy string, w v1alpha1.FreezeWindow) (*Window, error) {
	loc, err := time.LoadLocation(w.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("window %s: unknown time zone %q: %w", w.Name, w.TimeZone, err)
	}
	if w.Duration.Duration <= 0 {
		return nil, fmt.Errorf("window %s: duration must be positive, got %s", w.Name, w.Duration.Duration)
	}
	mode := w.Mode
	if mode == "" {
		mode = v1alpha1.WindowDeny
	}
	if mode != v1alpha1.WindowDeny && mode != v1alpha1.WindowAllow {
		return nil, fmt.Errorf("window %s: mode %q: want deny or allow", w.Name, mode)
	}
	win := &Window{Policy: policy, Name: w.Name, Mode: mode, Location: loc, Duration: w.Duration.Duration, Scope: w.Scope}
	switch {
	case w.Schedule != "" && w.RRule != "":
		return nil, fmt.Errorf("window %s: give either schedule or rrule, not both", w.Name)
	case w.Schedule != "":
		sched, err := cron.ParseStandard(w.Schedule)
		if err != nil {
			return nil, fmt.Errorf("window %s: schedule %q: %w", w.Name, w.Schedule, err)
		}
		win.next = func(t time.Time) time.Time { return sched.Next(t.In(loc)) }
		win.starts = func(from, to time.Time) []time.Time {
			var out []time.Time
			// cron's Next is strictly after its argument.
			for s := sched.Next(from.In(loc).Add(-time.Nanosecond)); !s.IsZero() && !s.After(to); s = sched.Next(s) {
				out = append(out, s)
			}
			return out
		}
	case w.RRule != "":
		rule, err := compileRRule(w.RRule, loc)
		if err != nil {
			return nil, fmt.Errorf("window %s: rrule %q: %w", w.Name, w.RRule, err)
		}
		// A rule that never occurs would be searched to the year 9999 on every admission.
		first := rule.After(rule.GetDTStart().Add(-time.Nanosecond), true)
		if first.IsZero() {
			return nil, fmt.Errorf("window %s: rrule %q never occurs", w.Name, w.RRule)
		}
		win.next = func(t time.Time) time.Time { return rule.After(t.In(loc), false) }
		win.starts = func(from, to time.Time) []time.Time { return rule.Between(from.In(loc), to.In(loc), true) }
	default:
		return nil, fmt.Errorf("window %s: give a schedule (cron) or an rrule", w.Name)
	}
	// Every admission lists the occurrences that may cover now: at most maxOverlapping of them.
	if w.Duration.Duration > maxDuration {
		return nil, fmt.Errorf("window %s: duration %s is longer than %s", w.Name, w.Duration.Duration, maxDuration)
	}
	if n := len(win.starts(time.Now(), time.Now().Add(w.Duration.Duration+dstSlack))); n > maxOverlapping {
		return nil, fmt.Errorf("window %s: %d occurrences overlap within its duration %s (at most %d): the recurrence is too dense for the duration", w.Name, n, w.Duration.Duration, maxOverlapping)
	}
	return win, nil
}

// maxDuration and maxOverlapping bound what one admission evaluates per window.
const (
	maxDuration    = 366 * 24 * time.Hour
	maxOverlapping = 1000
)

func compileRRule(text string, loc *time.Location) (*rrule.RRule, error) {
	text = strings.TrimPrefix(strings.TrimSpace(text), "RRULE:")
	opt, err := rrule.StrToROption(text)
	if err != nil {
		return nil, err
	}
	// Searching occurrences costs per period since DTSTART: a second- or minute-grained rule
	// would cost seconds per admission. Freeze windows recur hourly at the finest.
	if opt.Freq == rrule.SECONDLY || opt.Freq == rrule.MINUTELY {
		return nil, fmt.Errorf("FREQ=%s: freeze windows recur at most hourly (HOURLY, DAILY, WEEKLY, MONTHLY, YEARLY)", opt.Freq)
	}
	if opt.Dtstart.IsZero() {
		opt.Dtstart = time.Date(2020, 1, 1, 0, 0, 0, 0, loc)
	} else {
		// A DTSTART is read as wall-clock time in the window's zone.
		d := opt.Dtstart
		opt.Dtstart = time.Date(d.Year(), d.Month(), d.Day(), d.Hour(), d.Minute(), d.Second(), 0, loc)
	}
	return rrule.NewRRule(*opt)
}

// end adds the window's duration to start as wall-clock time in the window's zone.
func (w *Window) end(start time.Time) time.Time {
	s := start.In(w.Location)
	wall := time.Date(s.Year(), s.Month(), s.Day(), s.Hour(), s.Minute(), s.Second(), s.Nanosecond(), time.UTC).Add(w.Duration)
	return time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), w.Location)
}

// At returns the occurrence active at now (start ≤ now < end). When occurrences overlap, the one
// that ends last is returned.
func (w *Window) At(now time.Time) (Occurrence, bool) {
	var found Occurrence
	ok := false
	for _, s := range w.starts(now.Add(-w.Duration-dstSlack), now) {
		if e := w.end(s); now.Before(e) && (!ok || e.After(found.End)) {
			found, ok = Occurrence{Window: w, Start: s, End: e}, true
		}
	}
	return found, ok
}

// Next returns the first occurrence that starts after now.
func (w *Window) Next(now time.Time) (Occurrence, bool) {
	s := w.next(now)
	if s.IsZero() {
		return Occurrence{}, false
	}
	return Occurrence{Window: w, Start: s, End: w.end(s)}, true
}

// Describe is the occurrence in the window's zone: "Fri 00:00–Mon 06:00 Europe/Berlin".
func (o Occurrence) Describe() string {
	loc := o.Window.Location
	return fmt.Sprintf("%s–%s %s", o.Start.In(loc).Format("Mon 15:04"), o.End.In(loc).Format("Mon 15:04"), loc)
}

// Round is a human duration for messages: 2h13m, 45s.
func Round(d time.Duration) string {
	if d >= time.Hour {
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return d.Round(time.Second).String()
}
