package schedule_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/zone"
)

func TestParseRotation(t *testing.T) {
	good := map[string]schedule.Rotation{
		"P1D": {Days: 1}, "P7D": {Days: 7}, "P1W": {Days: 7}, "P2W": {Days: 14}, "P1W3D": {Days: 10},
		"PT8H": {Elapsed: 8 * time.Hour}, "PT12H": {Elapsed: 12 * time.Hour}, "PT90M": {Elapsed: 90 * time.Minute},
		"PT1H30M": {Elapsed: 90 * time.Minute}, "PT24H": {Elapsed: 24 * time.Hour},
	}
	for in, want := range good {
		got, err := schedule.ParseRotation(in)
		if err != nil || got != want {
			t.Errorf("ParseRotation(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":             "not an ISO-8601 period",
		"P":            "not an ISO-8601 period",
		"PT":           "not an ISO-8601 period",
		"7D":           "not an ISO-8601 period",
		"P1M":          "not an ISO-8601 period", // months are not supported
		"PT30S":        "not an ISO-8601 period",
		"P1DT12H":      "mixes days and hours",
		"PT30M":        "between PT1H",
		"P0D":          "between PT1H",
		"P367D":        "between PT1H",
		"P9999999999D": "too large",
	}
	for in, want := range bad {
		_, err := schedule.ParseRotation(in)
		if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRotation(%q) = %v, want an Invalid error saying %q", in, err, want)
		}
	}
	for _, s := range []string{"P1D", "P14D", "PT8H", "PT1H30M"} {
		r, _ := schedule.ParseRotation(s)
		if r.String() != s {
			t.Errorf("Rotation %q prints as %q", s, r.String())
		}
	}
}

func TestParseWall(t *testing.T) {
	good := map[string]string{
		"2022-08-30T00:00":          "2022-08-30T00:00", // Terraform's form
		"2022-08-30T09:15:00":       "2022-08-30T09:15",
		"2022-08-30T09:15:30.250":   "2022-08-30T09:15:30",
		"2022-08-30 09:15":          "2022-08-30T09:15",
		"2022-08-30":                "2022-08-30T00:00",
		"2022-08-30T07:00:00Z":      "2022-08-30T07:00:00Z", // kept until Normalize
		"2022-08-30T07:00:00+02:00": "2022-08-30T07:00:00+02:00",
	}
	for in, want := range good {
		w, err := schedule.ParseWall(in)
		if err != nil || w.String() != want {
			t.Errorf("ParseWall(%q) = %q, %v; want %q", in, w.String(), err, want)
		}
	}
	for _, in := range []string{"", "yesterday", "2022-13-01T00:00", "2022-08-30T25:00", "30.08.2022 09:00"} {
		if _, err := schedule.ParseWall(in); !fault.Is(err, fault.Invalid) {
			t.Errorf("ParseWall(%q) = %v, want Invalid", in, err)
		}
	}
	w := schedule.MustWall("2022-08-30T07:00:00Z")
	loc, _ := zone.Load("Europe/Berlin")
	w.Normalize(loc)
	if w.String() != "2022-08-30T09:00" {
		t.Errorf("normalized into Berlin: %s, want 2022-08-30T09:00", w)
	}
}

// validRecurring returns a schedule that passes Validate, for cases to break.
func validRecurring() *schedule.Schedule {
	return &schedule.Schedule{Name: "ops", Timezone: "Europe/Berlin", Type: schedule.Recurring, ScheduleLayers: []schedule.Layer{{
		StartsOn: schedule.MustWall("2024-01-01T09:00"), Users: []auth.Ref{ann, bob}, Rotation: "P7D",
		Restrictions: weekNights("MONDAY"),
	}}}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name   string
		change func(s *schedule.Schedule)
		want   string // part of the message; "" means valid
	}{
		{"Valid", func(s *schedule.Schedule) {}, ""},
		{"ErrNameRequired", func(s *schedule.Schedule) { s.Name = "" }, "name is required"},
		{"ErrTimezoneRequired", func(s *schedule.Schedule) { s.Timezone = "" }, "timezone is required"},
		{"ErrUnknownZone", func(s *schedule.Schedule) { s.Timezone = "Mars/Olympus_Mons" }, `timezone "Mars/Olympus_Mons" is not an IANA time zone`},
		{"ErrLocalZone", func(s *schedule.Schedule) { s.Timezone = "Local" }, "is not an IANA time zone"},
		{"ErrType", func(s *schedule.Schedule) { s.Type = "WEEKLY" }, `type "WEEKLY" is not one of STATIC, RECURRING`},
		{"ErrNoLayers", func(s *schedule.Schedule) { s.ScheduleLayers = nil }, "RECURRING schedule needs at least one entry in scheduleLayers"},
		{"ErrBadPeriod", func(s *schedule.Schedule) { s.ScheduleLayers[0].Rotation = "P1X" }, `scheduleLayers[0]: rotation: "P1X" is not an ISO-8601 period`},
		{"ErrMixedPeriod", func(s *schedule.Schedule) { s.ScheduleLayers[0].Rotation = "P1DT1H" }, "mixes days and hours"},
		{"ErrNoUsers", func(s *schedule.Schedule) { s.ScheduleLayers[0].Users = nil }, "scheduleLayers[0]: users needs at least one user"},
		{"ErrUserID", func(s *schedule.Schedule) { s.ScheduleLayers[0].Users = []auth.Ref{{}} }, "users[].id is required"},
		{"ErrStartsOnRequired", func(s *schedule.Schedule) { s.ScheduleLayers[0].StartsOn = schedule.Wall{} }, "scheduleLayers[0]: startsOn is required"},
		{"ErrEndsBeforeStart", func(s *schedule.Schedule) { s.ScheduleLayers[0].EndsOn = schedule.MustWall("2023-12-31T09:00") }, "endsOn 2023-12-31T09:00 must be after startsOn"},
		{"ErrRestrictionTime", func(s *schedule.Schedule) { s.ScheduleLayers[0].Restrictions[0].From.Time = "25:00" }, `restrictions[0].from: time "25:00" is not a time of day from 00:00 to 23:59`},
		{"ErrRestrictionFrom2400", func(s *schedule.Schedule) { s.ScheduleLayers[0].Restrictions[0].From.Time = "24:00" }, "from 00:00 to 23:59"},
		{"ValidRestrictionTo2400", func(s *schedule.Schedule) { s.ScheduleLayers[0].Restrictions[0].To.Time = "24:00" }, ""},
		{"ErrRestrictionMinutes", func(s *schedule.Schedule) { s.ScheduleLayers[0].Restrictions[0].To.Time = "8:75" }, `restrictions[0].to: time "8:75"`},
		{"ErrRestrictionDay", func(s *schedule.Schedule) { s.ScheduleLayers[0].Restrictions[0].To.DayOfWeek = "MON" }, `dayOfWeek "MON" is not one of MONDAY`},
		{"ErrRestrictionType", func(s *schedule.Schedule) { s.ScheduleLayers[0].RestrictionType = "WEEKDAYS" }, `restrictionType "WEEKDAYS"`},
		{"ErrDefaultShiftDuration", func(s *schedule.Schedule) { s.DefaultShiftDuration = "1 week" }, "defaultShiftDuration:"},
		{"ErrTeamTwice", func(s *schedule.Schedule) { s.Teams = []auth.TeamRef{{ID: 1}, {ID: 1}} }, "team 1 is listed twice"},
		{"ErrStaticNoShifts", func(s *schedule.Schedule) { s.Type = schedule.Static; s.ScheduleLayers = nil }, "STATIC schedule needs at least one entry in shifts"},
		{"ErrStaticOverlap", func(s *schedule.Schedule) {
			s.Type, s.ScheduleLayers = schedule.Static, nil
			s.Shifts = []schedule.StaticShift{
				{User: ann, Start: schedule.MustWall("2024-01-01T09:00"), End: schedule.MustWall("2024-01-02T09:00")},
				{User: bob, Start: schedule.MustWall("2024-01-02T08:00"), End: schedule.MustWall("2024-01-03T09:00")},
			}
		}, "shifts overlap: the shift from 2024-01-02T08:00 overlaps the one from 2024-01-01T09:00"},
		{"ErrStaticEndBeforeStart", func(s *schedule.Schedule) {
			s.Type, s.ScheduleLayers = schedule.Static, nil
			s.Shifts = []schedule.StaticShift{{User: ann, Start: schedule.MustWall("2024-01-02T09:00"), End: schedule.MustWall("2024-01-01T09:00")}}
		}, "shifts[0]: end 2024-01-01T09:00 must be after start"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validRecurring()
			c.change(s)
			err := s.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Validate: %v, want no error", err)
			case c.want != "" && (!fault.Is(err, fault.Invalid) || !strings.Contains(fault.MessageOf(err), c.want)):
				t.Fatalf("Validate: %v, want an Invalid error saying %q", err, c.want)
			}
		})
	}
}

func TestValidateOverride(t *testing.T) {
	start := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	cases := map[string]schedule.Override{
		"user.id is required": {Start: start, End: start.Add(time.Hour)},
		"end must be after":   {User: ann, Start: start, End: start},
		"start and end are":   {User: ann, End: start},
		"at most 366 days":    {User: ann, Start: start, End: start.AddDate(2, 0, 0)},
	}
	for want, o := range cases {
		if err := schedule.ValidateOverride(o); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateOverride(%+v) = %v, want %q", o, err, want)
		}
	}
	if err := schedule.ValidateOverride(schedule.Override{User: ann, Start: start, End: start.Add(time.Hour)}); err != nil {
		t.Errorf("a valid override: %v", err)
	}
}

// TestNormalizeAndJSON reads a schedule as ilert clients send it and checks what tocsin
// makes of it and writes back.
func TestNormalizeAndJSON(t *testing.T) {
	body := `{"id":0,"name":" ops ","timezone":"Europe/Berlin","type":"recurring","shifts":[{"user":{"id":9},"start":"2024-01-01T00:00","end":"2024-01-02T00:00"}],
		"scheduleLayers":[{"name":"l1","startsOn":"2024-03-04T08:00:00Z","endsOn":"","users":[{"id":1,"firstName":""}],"rotation":"p7d",
		"restrictionType":"time_of_day","restrictions":[{"from":{"dayOfWeek":"monday","time":"18:00"},"to":{"dayOfWeek":"TUESDAY","time":"08:00"}}]}],
		"teams":null,"showGaps":true}`
	var s schedule.Schedule
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	s.Normalize()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":0,"name":"ops","timezone":"Europe/Berlin","type":"RECURRING","scheduleLayers":[{"name":"l1","startsOn":"2024-03-04T09:00","endsOn":null,` +
		`"users":[{"id":1}],"rotation":"P7D","restrictionType":"TIME_OF_DAY","restrictions":[{"from":{"dayOfWeek":"MONDAY","time":"18:00"},"to":{"dayOfWeek":"TUESDAY","time":"08:00"}}]}],` +
		`"showGaps":true,"teams":[]}`
	if string(out) != want {
		t.Errorf("JSON:\n got  %s\n want %s", out, want)
	}
}
