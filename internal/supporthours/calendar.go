package supporthours

import (
	"cmp"
	"slices"
	"sort"
	"time"
)

// Calendar is support hours compiled for answering questions about instants.
type Calendar struct {
	loc  *time.Location
	week [7]*span // by time.Weekday; nil: no support that day
	runs []run    // the exception days, sorted and disjoint
}

// span is a day's range in minutes after its midnight. An end past minutesPerDay runs into
// the next day; {0, minutesPerDay} is the whole day.
type span struct{ start, end int }

// day is a local date, counted in days from 1970-01-01.
type day int64

// run is a stretch of exception days, first to last included, all inside or all outside.
type run struct {
	first, last day
	inside      bool
}

// interval is the instants from start up to, not including, end.
type interval struct{ start, end time.Time }

// quietDays is how many days without an exception and without a change prove that the weekly
// pattern never changes: every weekday comes up twice, and a range the clocks swallow on the
// night they change is back a week later.
const quietDays = 15

// Inside reports whether t is inside the support hours.
func (c *Calendar) Inside(t time.Time) bool {
	d := c.dateOf(t)
	if r, ok := c.runAt(d); ok {
		return r.inside
	}
	return covers(c.intervals(d), t)
}

// Next returns the first moment after t (strictly) at which Inside changes, and the value
// Inside has from then on. ok is false when it never changes: a weekly pattern that is
// always inside or always outside, after the last exception that makes a difference.
func (c *Calendar) Next(t time.Time) (at time.Time, inside bool, ok bool) {
	state := c.Inside(t)
	d := c.dateOf(t)
	quiet := 0
	for {
		if r, ok := c.runAt(d); ok {
			if start := c.dayStart(d); start.After(t) && r.inside != state {
				return start, r.inside, true
			}
			d, quiet = r.last+1, 0
			continue
		}
		ivs := c.intervals(d)
		bounds := []time.Time{c.dayStart(d)}
		for _, iv := range ivs {
			bounds = append(bounds, iv.start, iv.end)
		}
		slices.SortFunc(bounds, time.Time.Compare)
		end := c.dayStart(d + 1)
		for _, b := range bounds {
			if !b.After(t) || !b.Before(end) {
				continue
			}
			if v := covers(ivs, b); v != state {
				return b, v, true
			}
		}
		d++
		if quiet++; quiet >= quietDays {
			// Nothing changes until the next exception, if there is one.
			i := sort.Search(len(c.runs), func(i int) bool { return c.runs[i].first >= d })
			if i == len(c.runs) {
				return time.Time{}, false, false
			}
			d, quiet = c.runs[i].first, 0
		}
	}
}

// intervals returns the stretches of local day d the weekly pattern puts inside: the range of
// the day before where it runs past midnight, and d's own range up to midnight. They may
// overlap.
func (c *Calendar) intervals(d day) []interval {
	out := make([]interval, 0, 2)
	add := func(start, end time.Time) {
		if start.Before(end) {
			out = append(out, interval{start, end})
		}
	}
	if p := c.week[weekdayOf(d-1)]; p != nil && p.end > minutesPerDay {
		add(c.dayStart(d), c.at(d, p.end-minutesPerDay))
	}
	if s := c.week[weekdayOf(d)]; s != nil {
		add(c.at(d, s.start), c.at(d, min(s.end, minutesPerDay)))
	}
	return out
}

func covers(ivs []interval, t time.Time) bool {
	for _, iv := range ivs {
		if !t.Before(iv.start) && t.Before(iv.end) {
			return true
		}
	}
	return false
}

// runAt returns the exception run that holds d.
func (c *Calendar) runAt(d day) (run, bool) {
	i := sort.Search(len(c.runs), func(i int) bool { return c.runs[i].last >= d })
	if i < len(c.runs) && c.runs[i].first <= d {
		return c.runs[i], true
	}
	return run{}, false
}

// dayStart returns the first instant of local day d.
func (c *Calendar) dayStart(d day) time.Time { return c.at(d, 0) }

// at returns the instant at which the clocks of the calendar's zone show minute m of local
// day d (m may reach into the following days). A wall-clock time the clocks skip is the
// first instant after the gap; one that happens twice is the first of the two.
func (c *Calendar) at(d day, m int) time.Time {
	naive := int64(d)*86400 + int64(m)*60 // the wall clock read as if it were UTC
	// The offsets in force a day either side: no zone changes its clocks twice in two days.
	before, after := c.offsetAt(naive-86400), c.offsetAt(naive+86400)
	best, found := int64(0), false
	for _, off := range []int64{before, after} {
		if u := naive - off; c.offsetAt(u) == off && (!found || u < best) {
			best, found = u, true
		}
	}
	if found {
		return time.Unix(best, 0).UTC()
	}
	// In a gap: read with the old offset, the wall clock lands after the change; the change
	// itself is the start of the zone period that instant lies in.
	start, _ := time.Unix(naive-before, 0).In(c.loc).ZoneBounds()
	return start.UTC()
}

func (c *Calendar) offsetAt(unix int64) int64 {
	_, off := time.Unix(unix, 0).In(c.loc).Zone()
	return int64(off)
}

// dateOf returns the local day of t.
func (c *Calendar) dateOf(t time.Time) day {
	y, m, d := t.In(c.loc).Date()
	return dayOf(y, m, d)
}

func dayOf(y int, m time.Month, d int) day {
	return day(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400) // exact: a UTC midnight
}

// weekdayOf returns the weekday of d; 1970-01-01 was a Thursday.
func weekdayOf(d day) time.Weekday {
	return time.Weekday(((int64(d)+4)%7 + 7) % 7)
}

// paint lays r over runs, so that r wins where they overlap, and returns the runs sorted,
// disjoint and with neighbours of the same status joined.
func paint(runs []run, r run) []run {
	out := make([]run, 0, len(runs)+2)
	for _, x := range runs {
		if x.last < r.first || x.first > r.last {
			out = append(out, x)
			continue
		}
		if x.first < r.first {
			out = append(out, run{x.first, r.first - 1, x.inside})
		}
		if x.last > r.last {
			out = append(out, run{r.last + 1, x.last, x.inside})
		}
	}
	out = append(out, r)
	slices.SortFunc(out, func(a, b run) int { return cmp.Compare(a.first, b.first) })
	joined := out[:1]
	for _, x := range out[1:] {
		if p := &joined[len(joined)-1]; p.inside == x.inside && p.last+1 == x.first {
			p.last = x.last
			continue
		}
		joined = append(joined, x)
	}
	return joined
}
