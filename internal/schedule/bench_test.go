package schedule_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/schedule"
)

// realisticSchedules returns n schedules like teams run them: mostly one to three recurring
// layers of 2–8 people rotating daily, weekly, fortnightly or in 8- and 12-hour turns, half
// the layers restricted to business hours or weekday nights, some static schedules, and a
// few overrides each.
func realisticSchedules(n int) ([]*schedule.Schedule, [][]schedule.Override) {
	rng := rand.New(rand.NewPCG(1, 2))
	zones := []string{"Europe/Berlin", "America/New_York", "America/Los_Angeles", "Australia/Sydney", "Asia/Kolkata", "Europe/London", "UTC", "Asia/Tokyo"}
	rotations := []string{"P1D", "P7D", "P7D", "P7D", "P14D", "PT8H", "PT12H"}
	days := []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"}
	users := func() []auth.Ref {
		us := make([]auth.Ref, 2+rng.IntN(7))
		for i := range us {
			us[i] = auth.Ref{ID: int64(1 + rng.IntN(500))}
		}
		return us
	}
	start := time.Date(2023, 1, 2, 9, 0, 0, 0, time.UTC)
	schedules := make([]*schedule.Schedule, n)
	overrides := make([][]schedule.Override, n)
	for i := range schedules {
		s := &schedule.Schedule{Name: "s", Timezone: zones[rng.IntN(len(zones))], Type: schedule.Recurring}
		if rng.IntN(10) == 0 {
			s.Type = schedule.Static
			at := start.AddDate(1, 4, 0)
			for range 60 {
				end := at.Add(time.Duration(12+rng.IntN(36)) * time.Hour)
				s.Shifts = append(s.Shifts, schedule.StaticShift{User: users()[0], Start: schedule.WallOf(at, time.UTC), End: schedule.WallOf(end, time.UTC)})
				at = end.Add(time.Duration(rng.IntN(3)) * time.Hour)
			}
		} else {
			for range 1 + rng.IntN(3) {
				l := schedule.Layer{StartsOn: schedule.WallOf(start.AddDate(0, 0, rng.IntN(300)), time.UTC), Users: users(),
					Rotation: rotations[rng.IntN(len(rotations))]}
				switch rng.IntN(4) {
				case 0:
					l.Restrictions = businessHours(days...)
				case 1:
					l.Restrictions = weekNights(days...)
				}
				s.ScheduleLayers = append(s.ScheduleLayers, l)
			}
		}
		for range rng.IntN(4) {
			at := time.Date(2024, 6, 1+rng.IntN(5), rng.IntN(24), 0, 0, 0, time.UTC)
			overrides[i] = append(overrides[i], schedule.Override{User: users()[0], Start: at, End: at.Add(time.Duration(1+rng.IntN(24)) * time.Hour)})
		}
		if err := s.Validate(); err != nil {
			panic(err)
		}
		schedules[i] = s
	}
	return schedules, overrides
}

// BenchmarkOnCall1000Schedules answers "who is on call now?" across 1,000 schedules, the
// question paging asks. compile+resolve starts from the schedules as the store reads them;
// resolve from compiled plans.
func BenchmarkOnCall1000Schedules(b *testing.B) {
	schedules, overrides := realisticSchedules(1000)
	now := time.Date(2024, 6, 3, 10, 17, 0, 0, time.UTC)
	b.Run("compile+resolve", func(b *testing.B) {
		found := 0
		for b.Loop() {
			found = 0
			for i, s := range schedules {
				p, err := schedule.Compile(s, overrides[i])
				if err != nil {
					b.Fatal(err)
				}
				if _, ok := p.OnCallAt(now); ok {
					found++
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(schedules)), "ns/schedule")
		b.ReportMetric(float64(found), "on-call")
	})
	b.Run("resolve", func(b *testing.B) {
		plans := make([]*schedule.Plan, len(schedules))
		for i, s := range schedules {
			plans[i], _ = schedule.Compile(s, overrides[i])
		}
		b.ResetTimer()
		for b.Loop() {
			for _, p := range plans {
				p.OnCallAt(now)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(plans)), "ns/schedule")
	})
}

// BenchmarkShifts1000Schedules lists a month of shifts of each of 1,000 schedules, what the
// shifts and on-calls endpoints and the calendar feeds ask.
func BenchmarkShifts1000Schedules(b *testing.B) {
	schedules, overrides := realisticSchedules(1000)
	plans := make([]*schedule.Plan, len(schedules))
	for i, s := range schedules {
		plans[i], _ = schedule.Compile(s, overrides[i])
	}
	from := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	until := from.AddDate(0, 1, 0)
	shifts := 0
	for b.Loop() {
		shifts = 0
		for _, p := range plans {
			shifts += len(p.Shifts(from, until))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(plans)), "ns/schedule")
	b.ReportMetric(float64(shifts)/float64(len(plans)), "shifts/schedule")
}

// BenchmarkDenseYear asks for a year of a schedule of 20 layers of 100 half-hour
// restrictions each: all its shifts (what /shifts did before it had a limit) against the
// first 10,000 (what it answers now, or refuses past).
func BenchmarkDenseYear(b *testing.B) {
	s := &schedule.Schedule{Name: "dense", Timezone: "Europe/Berlin", Type: schedule.Recurring}
	days := []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}
	for l := range 20 {
		layer := schedule.Layer{StartsOn: schedule.MustWall("2026-01-05T00:00"), Users: []auth.Ref{{ID: int64(l + 1)}, {ID: int64(l + 100)}}, Rotation: "PT1H"}
		for r := range 100 {
			at := (r*97 + l*13) % (7 * 24 * 2) // half-hours of the week, spread out
			from := fmt.Sprintf("%02d:%02d", at/2%24, at%2*30)
			layer.Restrictions = append(layer.Restrictions, schedule.Restriction{
				From: schedule.TimeOfWeek{DayOfWeek: days[at/48], Time: from},
				To:   schedule.TimeOfWeek{DayOfWeek: days[at/48], Time: fmt.Sprintf("%02d:%02d", at/2%24, at%2*30+20)}})
		}
		s.ScheduleLayers = append(s.ScheduleLayers, layer)
	}
	p, err := schedule.Compile(s, nil)
	if err != nil {
		b.Fatal(err)
	}
	from := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	until := from.AddDate(1, 0, 0)
	b.Run("all", func(b *testing.B) {
		n := 0
		for b.Loop() {
			n = len(p.Shifts(from, until))
		}
		b.ReportMetric(float64(n), "shifts")
	})
	b.Run("up-to-10000", func(b *testing.B) {
		n := 0
		for b.Loop() {
			got, _ := p.ShiftsUpTo(from, until, 10000)
			n = len(got)
		}
		b.ReportMetric(float64(n), "shifts")
	})
}
