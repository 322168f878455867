package supporthours_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/supporthours"
)

// zone loads an IANA zone or fails the test.
func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// wall reads "2024-03-31 02:30" in loc. For times that happen twice Go picks one of them;
// tests that care build the instant from UTC instead.
func wall(t *testing.T, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// days builds SupportDays from "MONDAY=08:00-17:00" pairs.
func days(specs ...string) map[string]*supporthours.Range {
	out := map[string]*supporthours.Range{}
	for _, s := range specs {
		d, r, _ := strings.Cut(s, "=")
		from, to, _ := strings.Cut(r, "-")
		out[d] = &supporthours.Range{Start: from, End: to}
	}
	return out
}

var weekdays = []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"}

func businessHours(from, to string) []string {
	out := make([]string, len(weekdays))
	for i, d := range weekdays {
		out[i] = d + "=" + from + "-" + to
	}
	return out
}

func mustCalendar(t *testing.T, h supporthours.Hours) *supporthours.Calendar {
	t.Helper()
	h.Name = "test"
	h.Normalize()
	if err := h.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c, err := h.Calendar()
	if err != nil {
		t.Fatalf("Calendar: %v", err)
	}
	return c
}

// changes renders up to n changes after from as "Mon 04-01 08:00 CEST in (06:00Z)", and
// "never" when Next finds no more.
func changes(c *supporthours.Calendar, loc *time.Location, from time.Time, n int) []string {
	out := []string{}
	for range n {
		at, inside, ok := c.Next(from)
		if !ok {
			return append(out, "never")
		}
		if !at.After(from) {
			return append(out, fmt.Sprintf("Next(%s) = %s, not after it", from, at))
		}
		if c.Inside(at) != inside || c.Inside(at.Add(-time.Second)) == inside {
			out = append(out, fmt.Sprintf("Next says %v at %s, Inside disagrees", inside, at))
		}
		word := "out"
		if inside {
			word = "in"
		}
		out = append(out, fmt.Sprintf("%s %s (%sZ)", at.In(loc).Format("Mon 01-02 15:04 MST"), word, at.UTC().Format("15:04")))
		from = at
	}
	return out
}

func TestNext(t *testing.T) {
	cases := []struct {
		name  string
		zone  string
		hours supporthours.Hours
		from  string // local
		n     int
		want  []string
	}{
		{
			name:  "BusinessHoursOverSpringForward",
			zone:  "Europe/Berlin",
			hours: supporthours.Hours{SupportDays: days(businessHours("08:00", "17:00")...)},
			from:  "2024-03-29 12:00", n: 4,
			want: []string{
				"Fri 03-29 17:00 CET out (16:00Z)",
				"Mon 04-01 08:00 CEST in (06:00Z)",
				"Mon 04-01 17:00 CEST out (15:00Z)",
				"Tue 04-02 08:00 CEST in (06:00Z)",
			},
		},
		{
			name:  "BusinessHoursOverFallBack",
			zone:  "Europe/Berlin",
			hours: supporthours.Hours{SupportDays: days(businessHours("08:00", "17:00")...)},
			from:  "2024-10-25 18:00", n: 2,
			want: []string{
				"Mon 10-28 08:00 CET in (07:00Z)",
				"Mon 10-28 17:00 CET out (16:00Z)",
			},
		},
		{
			name:  "StartInSpringForwardGap",
			zone:  "Europe/Berlin",
			hours: supporthours.Hours{SupportDays: days("SUNDAY=02:30-04:00")},
			from:  "2024-03-24 00:00", n: 4,
			want: []string{
				"Sun 03-24 02:30 CET in (01:30Z)",
				"Sun 03-24 04:00 CET out (03:00Z)",
				"Sun 03-31 03:00 CEST in (01:00Z)", // 02:30 does not exist: the first instant after the gap
				"Sun 03-31 04:00 CEST out (02:00Z)",
			},
		},
		{
			name:  "RangeSwallowedByGap",
			zone:  "Europe/Berlin",
			hours: supporthours.Hours{SupportDays: days("SUNDAY=02:15-02:45")},
			from:  "2024-03-30 00:00", n: 2,
			want: []string{
				"Sun 04-07 02:15 CEST in (00:15Z)",
				"Sun 04-07 02:45 CEST out (00:45Z)",
			},
		},
		{
			name:  "AmbiguousStartOnFallBack",
			zone:  "Europe/Berlin",
			hours: supporthours.Hours{SupportDays: days("SUNDAY=02:30-05:00")},
			from:  "2024-10-26 12:00", n: 2,
			want: []string{
				"Sun 10-27 02:30 CEST in (00:30Z)", // the first of the two 02:30s
				"Sun 10-27 05:00 CET out (04:00Z)",
			},
		},
		{
			name:  "OvernightIntoSpringForward",
			zone:  "America/New_York",
			hours: supporthours.Hours{SupportDays: days("FRIDAY=22:00-06:00", "SATURDAY=22:00-06:00")},
			from:  "2024-03-08 12:00", n: 4,
			want: []string{
				"Fri 03-08 22:00 EST in (03:00Z)",
				"Sat 03-09 06:00 EST out (11:00Z)",
				"Sat 03-09 22:00 EST in (03:00Z)",
				"Sun 03-10 06:00 EDT out (10:00Z)", // seven hours, not eight
			},
		},
		{
			name:  "OvernightOverFallBack",
			zone:  "America/New_York",
			hours: supporthours.Hours{SupportDays: days("SATURDAY=22:00-06:00")},
			from:  "2024-11-02 12:00", n: 3,
			want: []string{
				"Sat 11-02 22:00 EDT in (02:00Z)",
				"Sun 11-03 06:00 EST out (11:00Z)", // nine hours
				"Sat 11-09 22:00 EST in (03:00Z)",
			},
		},
		{
			name: "WeekEndAcrossSundayMondayMerges",
			zone: "Australia/Sydney",
			// Sunday evening into Monday morning, then Monday's own range: one stretch.
			hours: supporthours.Hours{SupportDays: days("SUNDAY=20:00-08:00", "MONDAY=08:00-17:00")},
			from:  "2024-03-31 12:00", n: 4,
			want: []string{
				"Sun 03-31 20:00 AEDT in (09:00Z)",
				"Mon 04-01 17:00 AEDT out (06:00Z)",
				"Sun 04-07 20:00 AEST in (10:00Z)", // after the clocks went back that morning
				"Mon 04-08 17:00 AEST out (07:00Z)",
			},
		},
		{
			name:  "OvernightIntoSydneySpringForward",
			zone:  "Australia/Sydney",
			hours: supporthours.Hours{SupportDays: days("SATURDAY=23:00-03:00")},
			from:  "2024-10-05 12:00", n: 2,
			want: []string{
				"Sat 10-05 23:00 AEST in (13:00Z)",
				"Sun 10-06 03:00 AEDT out (16:00Z)", // three hours, not four
			},
		},
		{
			name: "WholeDaysAndMidnightMerge",
			zone: "Asia/Kolkata",
			// "24:00" ends Friday at midnight; 00:00–00:00 and 09:00–09:00 are whole days.
			hours: supporthours.Hours{SupportDays: days("FRIDAY=18:00-24:00", "SATURDAY=00:00-00:00", "SUNDAY=09:00-09:00")},
			from:  "2024-06-07 12:00", n: 3,
			want: []string{
				"Fri 06-07 18:00 IST in (12:30Z)",
				"Mon 06-10 00:00 IST out (18:30Z)",
				"Fri 06-14 18:00 IST in (12:30Z)",
			},
		},
		{
			name:  "SundayNightIntoMondayInKolkata",
			zone:  "Asia/Kolkata",
			hours: supporthours.Hours{SupportDays: days("SUNDAY=22:00-02:00")},
			from:  "2024-06-09 23:00", n: 3,
			want: []string{
				"Mon 06-10 02:00 IST out (20:30Z)",
				"Sun 06-16 22:00 IST in (16:30Z)",
				"Mon 06-17 02:00 IST out (20:30Z)",
			},
		},
		{
			name: "Holidays",
			zone: "Europe/Berlin",
			hours: supporthours.Hours{SupportDays: days(businessHours("08:00", "17:00")...), Exceptions: []supporthours.Exception{
				{Name: "Christmas", Start: "2024-12-24", End: "2024-12-26", SupportStatus: "OUTSIDE"},
				{Name: "Inventory", Start: "2024-12-28", End: "2024-12-28", SupportStatus: "during"},
			}},
			from: "2024-12-23 12:00", n: 7,
			want: []string{
				"Mon 12-23 17:00 CET out (16:00Z)",
				"Fri 12-27 08:00 CET in (07:00Z)",
				"Fri 12-27 17:00 CET out (16:00Z)",
				"Sat 12-28 00:00 CET in (23:00Z)",
				"Sun 12-29 00:00 CET out (23:00Z)",
				"Mon 12-30 08:00 CET in (07:00Z)",
				"Mon 12-30 17:00 CET out (16:00Z)",
			},
		},
		{
			name: "LaterExceptionWins",
			zone: "Europe/Berlin",
			hours: supporthours.Hours{SupportDays: days(businessHours("08:00", "17:00")...), Exceptions: []supporthours.Exception{
				{Name: "Closed", Start: "2024-12-23", End: "2024-12-31", SupportStatus: "OUTSIDE"},
				{Name: "On site", Start: "2024-12-27", End: "2024-12-27", SupportStatus: "DURING"},
			}},
			from: "2024-12-20 12:00", n: 4,
			want: []string{
				"Fri 12-20 17:00 CET out (16:00Z)",
				"Fri 12-27 00:00 CET in (23:00Z)",
				"Sat 12-28 00:00 CET out (23:00Z)",
				"Wed 01-01 08:00 CET in (07:00Z)", // the first day after the exceptions follows the weekly pattern
			},
		},
		{
			name: "DuringHolidayNextToWeekendSupportMerges",
			zone: "America/New_York",
			hours: supporthours.Hours{SupportDays: days("SATURDAY=00:00-00:00"), Exceptions: []supporthours.Exception{
				{Name: "Launch", Start: "2024-07-05", End: "2024-07-05", SupportStatus: "DURING"},
			}},
			from: "2024-07-04 12:00", n: 2,
			want: []string{
				"Fri 07-05 00:00 EDT in (04:00Z)",
				"Sun 07-07 00:00 EDT out (04:00Z)",
			},
		},
		{
			name:  "NothingEverChanges",
			zone:  "Europe/Berlin",
			hours: supporthours.Hours{},
			from:  "2024-06-01 12:00", n: 1,
			want: []string{"never"},
		},
		{
			name: "AlwaysInside",
			zone: "Australia/Sydney",
			hours: supporthours.Hours{SupportDays: days("MONDAY=00:00-00:00", "TUESDAY=00:00-00:00", "WEDNESDAY=00:00-00:00",
				"THURSDAY=00:00-00:00", "FRIDAY=00:00-00:00", "SATURDAY=00:00-00:00", "SUNDAY=00:00-24:00")},
			from: "2024-04-06 12:00", n: 1,
			want: []string{"never"},
		},
		{
			name: "OnlyAFarException",
			zone: "Asia/Kolkata",
			hours: supporthours.Hours{Exceptions: []supporthours.Exception{
				{Name: "Audit", Start: "2027-01-01", End: "2027-01-02", SupportStatus: "DURING"},
			}},
			from: "2024-06-01 12:00", n: 3,
			want: []string{
				"Fri 01-01 00:00 IST in (18:30Z)",
				"Sun 01-03 00:00 IST out (18:30Z)",
				"never",
			},
		},
		{
			name: "ExceptionThatChangesNothing",
			zone: "Europe/Berlin",
			hours: supporthours.Hours{Exceptions: []supporthours.Exception{
				{Name: "Quiet", Start: "2024-08-01", End: "2024-08-31", SupportStatus: "OUTSIDE"},
			}},
			from: "2024-06-01 12:00", n: 1,
			want: []string{"never"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			loc := zone(t, tc.zone)
			tc.hours.TimeZone = tc.zone
			c := mustCalendar(t, tc.hours)
			got := changes(c, loc, wall(t, loc, tc.from), tc.n)
			if !slices.Equal(got, tc.want) {
				t.Errorf("changes after %s:\n got %q\nwant %q", tc.from, got, tc.want)
			}
		})
	}
}

func TestInside(t *testing.T) {
	berlin, newYork := zone(t, "Europe/Berlin"), zone(t, "America/New_York")
	business := mustCalendar(t, supporthours.Hours{TimeZone: "Europe/Berlin", SupportDays: days(businessHours("08:00", "17:00")...)})
	night := mustCalendar(t, supporthours.Hours{TimeZone: "America/New_York", SupportDays: days("FRIDAY=22:00-06:00"),
		Exceptions: []supporthours.Exception{
			{Name: "Holiday Friday", Start: "2024-07-05", End: "2024-07-05", SupportStatus: "OUTSIDE"},
			{Name: "Holiday Saturday", Start: "2024-07-13", End: "2024-07-13", SupportStatus: "OUTSIDE"},
		}})
	cases := []struct {
		name string
		cal  *supporthours.Calendar
		at   time.Time
		want bool
	}{
		{"StartIncluded", business, wall(t, berlin, "2024-03-04 08:00"), true},
		{"BeforeStart", business, wall(t, berlin, "2024-03-04 07:59"), false},
		{"BeforeEnd", business, wall(t, berlin, "2024-03-04 16:59"), true},
		{"EndExcluded", business, wall(t, berlin, "2024-03-04 17:00"), false},
		{"Saturday", business, wall(t, berlin, "2024-03-09 12:00"), false},
		{"LocalClockNotUTC", business, time.Date(2024, 7, 1, 6, 30, 0, 0, time.UTC), true}, // 08:30 CEST
		{"OtherZoneSameInstant", business, time.Date(2024, 7, 1, 2, 30, 0, 0, newYork), true},
		{"FridayNight", night, wall(t, newYork, "2024-07-12 23:00"), true},
		{"SaturdayMorningSpill", night, wall(t, newYork, "2024-07-13 05:59"), false}, // Saturday is a holiday
		{"HolidayFridayNight", night, wall(t, newYork, "2024-07-05 23:00"), false},
		// Only the Friday is a holiday: its range still reaches into Saturday morning.
		{"SpillAfterHolidayFriday", night, wall(t, newYork, "2024-07-06 03:00"), true},
		{"SpillOrdinary", night, wall(t, newYork, "2024-07-20 03:00"), true},
		{"SpillEndExcluded", night, wall(t, newYork, "2024-07-20 06:00"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cal.Inside(tc.at); got != tc.want {
				t.Errorf("Inside(%s) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

// TestNextMatchesInside walks a year in quarter hours through a calendar with every kind of
// rule and checks that Next reports exactly the moments at which Inside changes.
func TestNextMatchesInside(t *testing.T) {
	for _, name := range []string{"Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"} {
		t.Run(name, func(t *testing.T) {
			loc := zone(t, name)
			c := mustCalendar(t, supporthours.Hours{TimeZone: name,
				SupportDays: days("MONDAY=08:00-17:00", "TUESDAY=17:00-08:00", "WEDNESDAY=08:00-08:00", "THURSDAY=02:30-03:30",
					"FRIDAY=22:00-02:00", "SATURDAY=01:00-03:00", "SUNDAY=23:00-00:00"),
				Exceptions: []supporthours.Exception{
					{Name: "a", Start: "2024-04-01", End: "2024-04-03", SupportStatus: "OUTSIDE"},
					{Name: "b", Start: "2024-11-02", End: "2024-11-03", SupportStatus: "DURING"},
					{Name: "c", Start: "2024-10-06", End: "2024-10-06", SupportStatus: "DURING"},
				}})
			const step = 15 * time.Minute
			from := time.Date(2024, 1, 1, 0, 0, 0, 0, loc)
			until := from.AddDate(1, 0, 0)
			at, inside, ok := c.Next(from)
			state := c.Inside(from)
			for t0 := from; t0.Before(until); t0 = t0.Add(step) {
				// Every change lies on a quarter hour in these zones (Kolkata's half-hour
				// offset included), so sampling them sees each one.
				now := c.Inside(t0)
				if now != state {
					if !ok || !at.Equal(t0) || inside != now {
						t.Fatalf("Inside changes to %v at %s; Next said %s %v %v", now, t0.In(loc), at.In(loc), inside, ok)
					}
					state = now
					at, inside, ok = c.Next(t0)
				} else if ok && !at.After(t0) {
					t.Fatalf("Next said %v at %s, but Inside stays %v at %s", inside, at.In(loc), state, t0.In(loc))
				}
			}
		})
	}
}
