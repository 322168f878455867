package schedule_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/zone"
)

var (
	ann = auth.Ref{ID: 1, FirstName: "Ann"}
	bob = auth.Ref{ID: 2, FirstName: "Bob"}
	cat = auth.Ref{ID: 3, FirstName: "Cat"}
	dan = auth.Ref{ID: 4, FirstName: "Dan"}
)

var names = map[int64]string{1: "ann", 2: "bob", 3: "cat", 4: "dan"}

// local reads "2006-01-02 15:04" on the clock of the zone named tz.
func local(t testing.TB, tz, s string) time.Time {
	t.Helper()
	loc, err := zone.Load(tz)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// render writes shifts on the schedule's clock with the zone's abbreviation, so a DST
// change shows: "bob 03-30 09:00 CET → 03-31 09:00 CEST".
func render(shifts []schedule.Shift, loc *time.Location) []string {
	out := []string{}
	for _, s := range shifts {
		name := names[s.User.ID]
		if name == "" {
			name = "gap"
		}
		out = append(out, fmt.Sprintf("%s %s → %s", name, s.Start.In(loc).Format("01-02 15:04 MST"), s.End.In(loc).Format("01-02 15:04 MST")))
	}
	return out
}

func weekNights(days ...string) []schedule.Restriction {
	next := map[string]string{"MONDAY": "TUESDAY", "TUESDAY": "WEDNESDAY", "WEDNESDAY": "THURSDAY", "THURSDAY": "FRIDAY", "FRIDAY": "SATURDAY", "SATURDAY": "SUNDAY", "SUNDAY": "MONDAY"}
	var rs []schedule.Restriction
	for _, d := range days {
		rs = append(rs, schedule.Restriction{From: schedule.TimeOfWeek{DayOfWeek: d, Time: "18:00"}, To: schedule.TimeOfWeek{DayOfWeek: next[d], Time: "08:00"}})
	}
	return rs
}

func businessHours(days ...string) []schedule.Restriction {
	var rs []schedule.Restriction
	for _, d := range days {
		rs = append(rs, schedule.Restriction{From: schedule.TimeOfWeek{DayOfWeek: d, Time: "08:00"}, To: schedule.TimeOfWeek{DayOfWeek: d, Time: "18:00"}})
	}
	return rs
}

func recurring(zone string, layers ...schedule.Layer) *schedule.Schedule {
	return &schedule.Schedule{Name: "test", Timezone: zone, Type: schedule.Recurring, ScheduleLayers: layers}
}

type shiftCase struct {
	name        string
	s           *schedule.Schedule
	overrides   []schedule.Override
	from, until string // on the schedule's clock
	want        []string
	gaps        []string // Gaps(from, until), when the case checks them
}

func shiftCases(t testing.TB) []shiftCase {
	ov := func(u auth.Ref, zone, from, until string) schedule.Override {
		return schedule.Override{User: u, Start: local(t, zone, from), End: local(t, zone, until)}
	}
	return []shiftCase{
		{
			name: "Berlin daily 09:00 handoff stays 09:00 across spring forward",
			s: recurring("Europe/Berlin", schedule.Layer{StartsOn: schedule.MustWall("2024-03-25T09:00"),
				Users: []auth.Ref{ann, bob}, Rotation: "P1D"}),
			from: "2024-03-30 00:00", until: "2024-04-02 00:00",
			want: []string{
				"ann 03-29 09:00 CET → 03-30 09:00 CET",
				"bob 03-30 09:00 CET → 03-31 09:00 CEST", // 23 hours
				"ann 03-31 09:00 CEST → 04-01 09:00 CEST",
				"bob 04-01 09:00 CEST → 04-02 09:00 CEST",
			},
		},
		{
			name: "Berlin midnight handoffs across fall back",
			s: recurring("Europe/Berlin", schedule.Layer{StartsOn: schedule.MustWall("2024-10-25T00:00"),
				Users: []auth.Ref{ann, bob, cat}, Rotation: "P1D"}),
			from: "2024-10-26 12:00", until: "2024-10-28 12:00",
			want: []string{
				"bob 10-26 00:00 CEST → 10-27 00:00 CEST",
				"cat 10-27 00:00 CEST → 10-28 00:00 CET", // 25 hours
				"ann 10-28 00:00 CET → 10-29 00:00 CET",
			},
		},
		{
			name: "New York PT12H counts elapsed hours across fall back",
			s: recurring("America/New_York", schedule.Layer{StartsOn: schedule.MustWall("2024-11-02T08:00"),
				Users: []auth.Ref{ann, bob}, Rotation: "PT12H"}),
			from: "2024-11-02 08:00", until: "2024-11-03 12:00",
			want: []string{
				"ann 11-02 08:00 EDT → 11-02 20:00 EDT",
				"bob 11-02 20:00 EDT → 11-03 07:00 EST", // across midnight and the change
				"ann 11-03 07:00 EST → 11-03 19:00 EST",
			},
		},
		{
			name: "New York P14D keeps Friday 17:00 across spring forward",
			s: recurring("America/New_York", schedule.Layer{StartsOn: schedule.MustWall("2024-03-01T17:00"),
				Users: []auth.Ref{ann, bob}, Rotation: "P2W"}),
			from: "2024-03-05 00:00", until: "2024-03-20 00:00",
			want: []string{
				"ann 03-01 17:00 EST → 03-15 17:00 EDT",
				"bob 03-15 17:00 EDT → 03-29 17:00 EDT",
			},
		},
		{
			name: "New York weekly handoff on the night the clocks fall back",
			s: recurring("America/New_York", schedule.Layer{StartsOn: schedule.MustWall("2024-10-27T01:30"),
				Users: []auth.Ref{ann, bob}, Rotation: "P7D"}),
			from: "2024-10-30 00:00", until: "2024-11-05 00:00",
			want: []string{
				"ann 10-27 01:30 EDT → 11-03 01:30 EDT", // 01:30 happens twice: the earlier one
				"bob 11-03 01:30 EDT → 11-10 01:30 EST",
			},
		},
		{
			name: "Sydney nights and weekends over days, across spring forward",
			s: recurring("Australia/Sydney",
				schedule.Layer{Name: "nights", StartsOn: schedule.MustWall("2024-09-30T08:00"), Users: []auth.Ref{ann, bob}, Rotation: "P7D",
					RestrictionType: "TIME_OF_WEEK",
					Restrictions: append(weekNights("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY"), schedule.Restriction{
						From: schedule.TimeOfWeek{DayOfWeek: "FRIDAY", Time: "18:00"}, To: schedule.TimeOfWeek{DayOfWeek: "MONDAY", Time: "08:00"}})},
				schedule.Layer{Name: "days", StartsOn: schedule.MustWall("2024-09-30T08:00"), Users: []auth.Ref{cat, dan}, Rotation: "P1D",
					RestrictionType: "TIMES_OF_DAY", Restrictions: businessHours("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")}),
			from: "2024-10-03 00:00", until: "2024-10-08 12:00",
			want: []string{
				"ann 10-02 18:00 AEST → 10-03 08:00 AEST",
				"dan 10-03 08:00 AEST → 10-03 18:00 AEST",
				"ann 10-03 18:00 AEST → 10-04 08:00 AEST",
				"cat 10-04 08:00 AEST → 10-04 18:00 AEST",
				"ann 10-04 18:00 AEST → 10-07 08:00 AEDT", // the weekend, one hour short
				"dan 10-07 08:00 AEDT → 10-07 18:00 AEDT",
				"bob 10-07 18:00 AEDT → 10-08 08:00 AEDT",
				"cat 10-08 08:00 AEDT → 10-08 18:00 AEDT",
			},
			gaps: []string{},
		},
		{
			name: "Sydney weekday nights 18:00–08:00 leave gaps, across fall back",
			s: recurring("Australia/Sydney", schedule.Layer{StartsOn: schedule.MustWall("2024-04-01T08:00"), Users: []auth.Ref{ann, bob},
				Rotation: "P7D", RestrictionType: "TIMES_OF_WEEK", Restrictions: weekNights("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")}),
			from: "2024-04-05 12:00", until: "2024-04-09 12:00",
			want: []string{
				"ann 04-05 18:00 AEDT → 04-06 08:00 AEDT",
				"bob 04-08 18:00 AEST → 04-09 08:00 AEST",
			},
			gaps: []string{
				"gap 04-05 12:00 AEDT → 04-05 18:00 AEDT",
				"gap 04-06 08:00 AEDT → 04-08 18:00 AEST", // the weekend, across the change
				"gap 04-09 08:00 AEST → 04-09 12:00 AEST",
			},
		},
		{
			name: "Kolkata PT8H across midnight, a lunch layer over it, a layer end, gaps",
			s: recurring("Asia/Kolkata",
				schedule.Layer{StartsOn: schedule.MustWall("2024-01-01T06:00"), EndsOn: schedule.MustWall("2024-01-03T06:00"),
					Users: []auth.Ref{ann, bob, cat}, Rotation: "PT8H"},
				schedule.Layer{StartsOn: schedule.MustWall("2024-01-01T00:00"), Users: []auth.Ref{dan}, Rotation: "P7D",
					Restrictions: []schedule.Restriction{{From: schedule.TimeOfWeek{DayOfWeek: "TUESDAY", Time: "12:00"}, To: schedule.TimeOfWeek{DayOfWeek: "TUESDAY", Time: "13:00"}}}}),
			from: "2024-01-01 00:00", until: "2024-01-04 00:00",
			want: []string{
				"ann 01-01 06:00 IST → 01-01 14:00 IST",
				"bob 01-01 14:00 IST → 01-01 22:00 IST",
				"cat 01-01 22:00 IST → 01-02 06:00 IST",
				"ann 01-02 06:00 IST → 01-02 12:00 IST",
				"dan 01-02 12:00 IST → 01-02 13:00 IST",
				"ann 01-02 13:00 IST → 01-02 14:00 IST",
				"bob 01-02 14:00 IST → 01-02 22:00 IST",
				"cat 01-02 22:00 IST → 01-03 06:00 IST",
			},
			gaps: []string{
				"gap 01-01 00:00 IST → 01-01 06:00 IST",
				"gap 01-03 06:00 IST → 01-04 00:00 IST",
			},
		},
		{
			name: "Berlin overrides partly over shifts, the later override on top, joined with the user's own shift",
			s: recurring("Europe/Berlin", schedule.Layer{StartsOn: schedule.MustWall("2024-05-06T09:00"),
				Users: []auth.Ref{ann, bob}, Rotation: "P1D"}),
			overrides: []schedule.Override{
				ov(cat, "Europe/Berlin", "2024-05-07 12:00", "2024-05-07 15:00"),
				ov(dan, "Europe/Berlin", "2024-05-08 06:00", "2024-05-08 11:00"),
				ov(ann, "Europe/Berlin", "2024-05-08 10:00", "2024-05-08 12:00"),
			},
			from: "2024-05-07 00:00", until: "2024-05-09 00:00",
			want: []string{
				"ann 05-06 09:00 CEST → 05-07 09:00 CEST",
				"bob 05-07 09:00 CEST → 05-07 12:00 CEST",
				"cat 05-07 12:00 CEST → 05-07 15:00 CEST",
				"bob 05-07 15:00 CEST → 05-08 06:00 CEST",
				"dan 05-08 06:00 CEST → 05-08 10:00 CEST",
				"ann 05-08 10:00 CEST → 05-09 09:00 CEST",
			},
		},
		{
			name: "Kolkata static shifts with a gap and an override across it",
			s: &schedule.Schedule{Name: "static", Timezone: "Asia/Kolkata", Type: schedule.Static, Shifts: []schedule.StaticShift{
				{User: bob, Start: schedule.MustWall("2024-02-02T09:00"), End: schedule.MustWall("2024-02-03T09:00")},
				{User: ann, Start: schedule.MustWall("2024-02-01T09:00"), End: schedule.MustWall("2024-02-02T09:00")},
				{User: ann, Start: schedule.MustWall("2024-02-04T09:00"), End: schedule.MustWall("2024-02-05T09:00")},
			}},
			overrides: []schedule.Override{ov(cat, "Asia/Kolkata", "2024-02-03 06:00", "2024-02-03 12:00")},
			from:      "2024-02-01 00:00", until: "2024-02-06 00:00",
			want: []string{
				"ann 02-01 09:00 IST → 02-02 09:00 IST",
				"bob 02-02 09:00 IST → 02-03 06:00 IST",
				"cat 02-03 06:00 IST → 02-03 12:00 IST",
				"ann 02-04 09:00 IST → 02-05 09:00 IST",
			},
			gaps: []string{
				"gap 02-01 00:00 IST → 02-01 09:00 IST",
				"gap 02-03 12:00 IST → 02-04 09:00 IST",
				"gap 02-05 09:00 IST → 02-06 00:00 IST",
			},
		},
	}
}

func TestShifts(t *testing.T) {
	for _, c := range shiftCases(t) {
		t.Run(c.name, func(t *testing.T) {
			if err := c.s.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			p, err := schedule.Compile(c.s, c.overrides)
			if err != nil {
				t.Fatal(err)
			}
			from, until := local(t, c.s.Timezone, c.from), local(t, c.s.Timezone, c.until)
			got := render(p.Shifts(from, until), p.Location())
			if !slices.Equal(got, c.want) {
				t.Errorf("Shifts:\n got  %s\n want %s", strings.Join(got, "\n      "), strings.Join(c.want, "\n      "))
			}
			// With a limit the range might exceed, the timeline is worked out a week at a
			// time; the answer is the same.
			if weekly, complete := p.ShiftsUpTo(from, until, len(c.want)); !complete || !slices.Equal(render(weekly, p.Location()), c.want) {
				t.Errorf("ShiftsUpTo(%d): complete %v\n got  %s", len(c.want), complete, strings.Join(render(weekly, p.Location()), "\n      "))
			}
			if c.gaps != nil {
				got := render(p.Gaps(from, until), p.Location())
				if !slices.Equal(got, c.gaps) {
					t.Errorf("Gaps:\n got  %s\n want %s", strings.Join(got, "\n      "), strings.Join(c.gaps, "\n      "))
				}
			}
		})
	}
}

// TestOnCallAtAgreesWithShifts checks the fast path against the full computation every
// seven minutes and on each side of every shift boundary.
func TestOnCallAtAgreesWithShifts(t *testing.T) {
	for _, c := range shiftCases(t) {
		t.Run(c.name, func(t *testing.T) {
			p, err := schedule.Compile(c.s, c.overrides)
			if err != nil {
				t.Fatal(err)
			}
			from, until := local(t, c.s.Timezone, c.from), local(t, c.s.Timezone, c.until)
			shifts := p.Shifts(from, until)
			probes := []time.Time{}
			for at := from; at.Before(until); at = at.Add(7 * time.Minute) {
				probes = append(probes, at)
			}
			for _, s := range shifts {
				probes = append(probes, s.Start, s.Start.Add(-time.Millisecond), s.End, s.End.Add(-time.Millisecond))
			}
			for _, at := range probes {
				if at.Before(from) || !at.Before(until) {
					continue
				}
				var want int64
				for _, s := range shifts {
					if !at.Before(s.Start) && at.Before(s.End) {
						want = s.User.ID
					}
				}
				got, ok := p.OnCallAt(at)
				if got.ID != want || ok != (want != 0) {
					t.Fatalf("OnCallAt(%s) = %s (%v), Shifts say %s", at.In(p.Location()).Format(time.RFC3339), names[got.ID], ok, names[want])
				}
			}
		})
	}
}

func TestShiftAtAndNext(t *testing.T) {
	s := recurring("Europe/Berlin", schedule.Layer{StartsOn: schedule.MustWall("2024-03-25T09:00"), Users: []auth.Ref{ann, bob},
		Rotation: "P1D", Restrictions: businessHours("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")})
	p, err := schedule.Compile(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := local(t, "Europe/Berlin", "2024-03-29 12:00") // a Friday: ann from 09:00 to 18:00
	cur, ok := p.ShiftAt(at)
	if got := render([]schedule.Shift{cur}, p.Location()); !ok || got[0] != "ann 03-29 09:00 CET → 03-29 18:00 CET" {
		t.Errorf("ShiftAt = %v %v", got, ok)
	}
	next, ok := p.NextShift(at)
	if got := render([]schedule.Shift{next}, p.Location()); !ok || got[0] != "ann 04-01 08:00 CEST → 04-01 09:00 CEST" {
		t.Errorf("NextShift = %v %v", got, ok) // Monday 08:00–09:00 is still Sunday's turn, ann's
	}
	if _, ok := p.ShiftAt(local(t, "Europe/Berlin", "2024-03-30 12:00")); ok {
		t.Error("ShiftAt on a Saturday found a shift; the restrictions leave weekends empty")
	}
	if _, ok := p.OnCallAt(local(t, "Europe/Berlin", "2024-03-25 08:59")); ok {
		t.Error("someone is on call before the layer starts")
	}
}

func TestHorizonCutsEndlessShifts(t *testing.T) {
	s := recurring("UTC", schedule.Layer{StartsOn: schedule.MustWall("2020-01-01T00:00"), Users: []auth.Ref{ann}, Rotation: "P7D"})
	p, err := schedule.Compile(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	cur, ok := p.ShiftAt(at)
	if !ok || !cur.Start.Equal(at.Add(-schedule.Horizon)) || !cur.End.Equal(at.Add(time.Millisecond+schedule.Horizon)) {
		t.Errorf("a lone user's shift = %v → %v, want it cut %s either side", cur.Start, cur.End, schedule.Horizon)
	}
}

func TestWallDSTResolution(t *testing.T) {
	cases := []struct{ zone, wall, want string }{
		{"Europe/Berlin", "2024-03-31T02:30", "2024-03-31T03:00:00+02:00"},     // skipped: the first moment after the gap
		{"Europe/Berlin", "2024-10-27T02:30", "2024-10-27T02:30:00+02:00"},     // repeated: the earlier one
		{"America/New_York", "2024-03-10T02:30", "2024-03-10T03:00:00-04:00"},  // the same rules west of Greenwich
		{"America/New_York", "2024-11-03T01:30", "2024-11-03T01:30:00-04:00"},  //
		{"Australia/Sydney", "2024-10-06T02:30", "2024-10-06T03:00:00+11:00"},  // and in the south
		{"Australia/Sydney", "2024-04-07T02:30", "2024-04-07T02:30:00+11:00"},  //
		{"Asia/Kolkata", "2024-07-01T09:00", "2024-07-01T09:00:00+05:30"},      // no DST
		{"Europe/Berlin", "2024-07-01T09:00:00Z", "2024-07-01T11:00:00+02:00"}, // an offset names an instant
		{"Europe/Berlin", "2024-07-01T09:00:00+05:30", "2024-07-01T05:30:00+02:00"},
	}
	for _, c := range cases {
		loc, err := zone.Load(c.zone)
		if err != nil {
			t.Fatal(err)
		}
		if got := schedule.MustWall(c.wall).In(loc).In(loc).Format(time.RFC3339); got != c.want {
			t.Errorf("%s in %s = %s, want %s", c.wall, c.zone, got, c.want)
		}
	}
}

func TestFirstGap(t *testing.T) {
	byName := map[string]*schedule.Schedule{}
	for _, c := range shiftCases(t) {
		byName[c.name] = c.s
	}
	cases := []struct {
		schedule, now, want string // want "" means no gap
	}{
		{"Sydney nights and weekends over days, across spring forward", "2024-10-01 00:00", ""},
		{"Sydney weekday nights 18:00–08:00 leave gaps, across fall back", "2024-04-03 12:00", "gap 04-03 12:00 AEDT → 04-03 18:00 AEDT"},
		{"Berlin daily 09:00 handoff stays 09:00 across spring forward", "2024-03-01 00:00", ""}, // judged from the first layer's start
		{"Berlin daily 09:00 handoff stays 09:00 across spring forward", "2024-03-26 00:00", ""},
		{"Kolkata PT8H across midnight, a lunch layer over it, a layer end, gaps", "2024-01-01 07:00", "gap 01-03 06:00 IST → 01-09 12:00 IST"},
		{"Kolkata static shifts with a gap and an override across it", "2030-01-01 00:00", "gap 02-03 09:00 IST → 02-04 09:00 IST"}, // overrides do not count, and now does not matter
	}
	for _, c := range cases {
		s := byName[c.schedule]
		gap, found, err := schedule.FirstGap(s, local(t, s.Timezone, c.now))
		if err != nil {
			t.Fatal(err)
		}
		loc, _ := zone.Load(s.Timezone)
		got := ""
		if found {
			got = render([]schedule.Shift{gap}, loc)[0]
		}
		if got != c.want {
			t.Errorf("%s at %s: FirstGap = %q, want %q", c.schedule, c.now, got, c.want)
		}
	}
}

// An hourly rotation keeps turning centuries ahead (a time.Duration stops at 292 years), and
// an hour's shifts then cost an hour's work, not a walk from the 24th century.
func TestHourlyRotationFarAhead(t *testing.T) {
	s := recurring("UTC", schedule.Layer{StartsOn: schedule.MustWall("2024-01-01T00:00"), Users: []auth.Ref{ann, bob}, Rotation: "PT1H"})
	p, err := schedule.Compile(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, year := range []int{2400, 2500, 9999} {
		at := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
		a, _ := p.OnCallAt(at)
		b, _ := p.OnCallAt(at.Add(time.Hour))
		if a.ID == b.ID {
			t.Errorf("%d: %s is on call in two hours in a row of an hourly rotation", year, a.FirstName)
		}
		shifts := p.Shifts(at, at.Add(time.Hour))
		if len(shifts) != 1 || !shifts[0].Start.Equal(at) || shifts[0].User.ID != a.ID {
			t.Errorf("%d: shifts of one hour %+v, want %s's one", year, shifts, a.FirstName)
		}
	}
}

// ShiftsUpTo stops at its limit and otherwise agrees with Shifts; a shift longer than the
// week it is worked out in is still one shift.
func TestShiftsUpTo(t *testing.T) {
	hourly := recurring("America/New_York", schedule.Layer{StartsOn: schedule.MustWall("2026-01-05T00:00"),
		Users: []auth.Ref{ann, bob, cat, dan}, Rotation: "PT1H"})
	fortnightly := recurring("Europe/Berlin", schedule.Layer{StartsOn: schedule.MustWall("2026-01-05T09:00"),
		Users: []auth.Ref{ann, bob}, Rotation: "P14D"})
	for _, c := range []struct {
		name        string
		s           *schedule.Schedule
		from, until string
		limit       int
		want        int // shifts returned
		complete    bool
	}{
		{"under the limit", hourly, "2026-03-07 00:00", "2026-03-10 00:00", 1000, 71, true}, // 23-hour day on 03-08
		{"at the limit", hourly, "2026-03-07 00:00", "2026-03-10 00:00", 71, 71, true},
		{"over the limit", hourly, "2026-03-07 00:00", "2026-03-10 00:00", 10, 10, false},
		{"a year of hours", hourly, "2026-01-01 00:00", "2027-01-01 00:00", 5000, 5000, false},         // 8,664 in all
		{"shifts longer than a week", fortnightly, "2026-03-01 00:00", "2026-05-01 00:00", 6, 6, true}, // worked out a week at a time
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := schedule.Compile(c.s, nil)
			if err != nil {
				t.Fatal(err)
			}
			from, until := local(t, c.s.Timezone, c.from), local(t, c.s.Timezone, c.until)
			got, complete := p.ShiftsUpTo(from, until, c.limit)
			if len(got) != c.want || complete != c.complete {
				t.Fatalf("got %d shifts (complete %v), want %d (%v)", len(got), complete, c.want, c.complete)
			}
			all := p.Shifts(from, until)
			if !slices.Equal(render(got, p.Location()), render(all[:len(got)], p.Location())) {
				t.Errorf("ShiftsUpTo disagrees with Shifts:\n%s\n%s", render(got, p.Location()), render(all[:len(got)], p.Location()))
			}
			for _, s := range got {
				if c.s == fortnightly && s.End.Sub(s.Start) < 13*24*time.Hour {
					t.Errorf("a fortnightly shift was cut: %s", render([]schedule.Shift{s}, p.Location()))
				}
			}
		})
	}
}

// Wall-clock times in the spring-forward gap keep their order with the times after it: a
// shift ending at 02:30 does not overlap one starting at 03:00, and a restriction or an
// override ending at 02:30 is over by 03:15. Santiago skips 00:00–01:00.
func TestWallTimesInTheGapKeepTheirOrder(t *testing.T) {
	for _, c := range []struct{ zone, aStart, aEnd, bStart, bEnd string }{
		{"Europe/Berlin", "2026-03-28T20:00", "2026-03-29T02:30", "2026-03-29T03:00", "2026-03-29T09:00"},
		{"America/New_York", "2026-03-07T20:00", "2026-03-08T02:30", "2026-03-08T03:00", "2026-03-08T09:00"},
		{"America/Santiago", "2026-09-05T18:00", "2026-09-06T00:30", "2026-09-06T01:00", "2026-09-06T09:00"},
	} {
		s := &schedule.Schedule{Name: "s", Timezone: c.zone, Type: schedule.Static, Shifts: []schedule.StaticShift{
			{User: ann, Start: schedule.MustWall(c.aStart), End: schedule.MustWall(c.aEnd)},
			{User: bob, Start: schedule.MustWall(c.bStart), End: schedule.MustWall(c.bEnd)}}}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", c.zone, err)
		}
	}

	layers := recurring("Europe/Berlin",
		schedule.Layer{StartsOn: schedule.MustWall("2026-03-01T00:00"), Users: []auth.Ref{ann}, Rotation: "P7D"},
		schedule.Layer{StartsOn: schedule.MustWall("2026-03-01T00:00"), Users: []auth.Ref{bob}, Rotation: "P7D",
			Restrictions: []schedule.Restriction{{From: schedule.TimeOfWeek{DayOfWeek: "SATURDAY", Time: "20:00"}, To: schedule.TimeOfWeek{DayOfWeek: "SUNDAY", Time: "02:30"}}}})
	override := schedule.Override{User: cat, Start: schedule.MustWall("2026-03-29T01:00").In(mustZone(t, "Europe/Berlin")),
		End: schedule.MustWall("2026-03-29T02:30").In(mustZone(t, "Europe/Berlin"))}
	for _, c := range []struct {
		name      string
		overrides []schedule.Override
		at        string
		want      int64
	}{
		{"restriction ending in the gap", nil, "2026-03-29 03:15", ann.ID},
		{"restriction before the gap", nil, "2026-03-29 01:45", bob.ID},
		{"override ending in the gap", []schedule.Override{override}, "2026-03-29 03:15", ann.ID},
		{"override before the gap", []schedule.Override{override}, "2026-03-29 01:45", cat.ID},
	} {
		p, err := schedule.Compile(layers, c.overrides)
		if err != nil {
			t.Fatal(err)
		}
		if u, _ := p.OnCallAt(local(t, "Europe/Berlin", c.at)); u.ID != c.want {
			t.Errorf("%s: %s on call at %s, want %s", c.name, names[u.ID], c.at, names[c.want])
		}
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := zone.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}
