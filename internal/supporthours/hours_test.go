package supporthours_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/supporthours"
)

func valid() supporthours.Hours {
	return supporthours.Hours{Name: "Office", TimeZone: "Europe/Berlin", SupportDays: days("MONDAY=08:00-17:00"),
		Exceptions: []supporthours.Exception{{Name: "Christmas", Start: "2024-12-24", End: "2024-12-26", SupportStatus: "OUTSIDE"}}}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(h *supporthours.Hours)
		want string // a part of the message; "" for valid
	}{
		{"Valid", func(h *supporthours.Hours) {}, ""},
		{"NoSupportDaysIsValid", func(h *supporthours.Hours) { h.SupportDays = nil }, ""},
		{"NullDayIsValid", func(h *supporthours.Hours) { h.SupportDays["TUESDAY"] = nil }, ""},
		{"EndOfDay", func(h *supporthours.Hours) { h.SupportDays["MONDAY"].End = "24:00" }, ""},
		{"ErrNameRequired", func(h *supporthours.Hours) { h.Name = "  " }, "name is required"},
		{"ErrNameTooLong", func(h *supporthours.Hours) { h.Name = strings.Repeat("x", 201) }, "name must be at most 200"},
		{"ErrTimeZoneRequired", func(h *supporthours.Hours) { h.TimeZone = "" }, "timezone is required"},
		{"ErrUnknownTimeZone", func(h *supporthours.Hours) { h.TimeZone = "Mars/Olympus" }, `timezone "Mars/Olympus"`},
		{"ErrLocalTimeZone", func(h *supporthours.Hours) { h.TimeZone = "Local" }, `timezone "Local"`},
		{"ErrUnknownDay", func(h *supporthours.Hours) { h.SupportDays["FUNDAY"] = h.SupportDays["MONDAY"] }, `supportDays: "FUNDAY" is not a day`},
		{"ErrLowerCaseDay", func(h *supporthours.Hours) { h.SupportDays["monday"] = nil }, `"monday" is not a day`},
		{"ErrShortTime", func(h *supporthours.Hours) { h.SupportDays["MONDAY"].Start = "8:00" }, `supportDays.MONDAY.start: "8:00" is not a time of day`},
		{"ErrHour", func(h *supporthours.Hours) { h.SupportDays["MONDAY"].End = "25:00" }, `supportDays.MONDAY.end: "25:00"`},
		{"ErrMinute", func(h *supporthours.Hours) { h.SupportDays["MONDAY"].Start = "08:60" }, `supportDays.MONDAY.start: "08:60"`},
		{"ErrStartAtEndOfDay", func(h *supporthours.Hours) { h.SupportDays["MONDAY"].Start = "24:00" }, `supportDays.MONDAY.start: "24:00"`},
		{"ErrEmptyTime", func(h *supporthours.Hours) { h.SupportDays["MONDAY"].End = "" }, `supportDays.MONDAY.end: ""`},
		{"ErrSeconds", func(h *supporthours.Hours) { h.SupportDays["MONDAY"].End = "17:00:00" }, `supportDays.MONDAY.end: "17:00:00"`},
		{"ErrExceptionName", func(h *supporthours.Hours) { h.Exceptions[0].Name = "" }, "exceptions[0].name is required"},
		{"ErrExceptionDate", func(h *supporthours.Hours) { h.Exceptions[0].Start = "2024-02-30" }, `exceptions[0].start: "2024-02-30" is not a date`},
		{"ErrExceptionDateTime", func(h *supporthours.Hours) { h.Exceptions[0].End = "2024-12-26T00:00:00Z" }, `exceptions[0].end: "2024-12-26T00:00:00Z"`},
		{"ErrExceptionEndBeforeStart", func(h *supporthours.Hours) { h.Exceptions[0].End = "2024-12-23" }, "exceptions[0]: end 2024-12-23 is before start 2024-12-24"},
		{"ErrExceptionStatus", func(h *supporthours.Hours) { h.Exceptions[0].SupportStatus = "MAYBE" }, `exceptions[0].supportStatus "MAYBE" is not one of DURING, OUTSIDE`},
		{"ErrExceptionStatusMissing", func(h *supporthours.Hours) { h.Exceptions[0].SupportStatus = "" }, `exceptions[0].supportStatus ""`},
		{"ErrTooManyExceptions", func(h *supporthours.Hours) {
			for range supporthours.MaxExceptions {
				h.Exceptions = append(h.Exceptions, h.Exceptions[0])
			}
		}, "exceptions may have at most 500"},
		{"ErrTeamID", func(h *supporthours.Hours) { h.Teams = []auth.TeamRef{{ID: -1}} }, "teams[].id is required"},
		{"ErrTeamTwice", func(h *supporthours.Hours) { h.Teams = []auth.TeamRef{{ID: 3}, {ID: 3}} }, "team 3 is listed twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := valid()
			tc.edit(&h)
			h.Normalize()
			err := h.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !fault.Is(err, fault.Invalid) || !strings.Contains(fault.MessageOf(err), tc.want) {
				t.Fatalf("Validate = %v, want an Invalid fault saying %q", err, tc.want)
			}
		})
	}
}

// TestNormalize checks the shape the hours are answered in: every weekday present, lists
// never null, team references without an id dropped, statuses upper-cased.
func TestNormalize(t *testing.T) {
	var h supporthours.Hours
	body := `{"id":0,"name":" sh ","timezone":"Europe/Berlin","teams":[{"id":0,"name":""}],
		"supportDays":{"MONDAY":{"start":"08:00","end":"17:00"},"TUESDAY":null},
		"exceptions":[{"name":"x","start":"2024-12-24","end":"2024-12-24","supportStatus":"outside"}]}`
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatal(err)
	}
	h.Normalize()
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":0,"name":"sh","teams":[],"timezone":"Europe/Berlin","supportDays":{"FRIDAY":null,"MONDAY":{"start":"08:00","end":"17:00"},` +
		`"SATURDAY":null,"SUNDAY":null,"THURSDAY":null,"TUESDAY":null,"WEDNESDAY":null},` +
		`"exceptions":[{"name":"x","start":"2024-12-24","end":"2024-12-24","supportStatus":"OUTSIDE"}]}`
	if string(got) != want {
		t.Errorf("normalized:\n got %s\nwant %s", got, want)
	}

	var empty supporthours.Hours
	empty.Normalize()
	if empty.Teams == nil || empty.Exceptions == nil || len(empty.SupportDays) != 7 {
		t.Errorf("empty hours normalized: %+v", empty)
	}
}

// TestCalendarWithoutName is the legacy inline form of an alert source's support hours: no
// name, no id, only a zone and days.
func TestCalendarWithoutName(t *testing.T) {
	h := supporthours.Hours{TimeZone: "America/New_York", SupportDays: days("MONDAY=09:00-17:00")}
	c, err := h.Calendar()
	if err != nil {
		t.Fatal(err)
	}
	if !c.Inside(time.Date(2024, 7, 1, 14, 0, 0, 0, time.UTC)) { // 10:00 EDT on a Monday
		t.Error("Monday 10:00 New York is not inside")
	}
}

func BenchmarkInside(b *testing.B) {
	h := valid()
	h.SupportDays = days(businessHours("08:00", "17:00")...)
	c, err := h.Calendar()
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2024, 7, 1, 14, 0, 0, 0, time.UTC)
	for b.Loop() {
		c.Inside(at)
	}
}

func BenchmarkNext(b *testing.B) {
	h := valid()
	h.SupportDays = days(businessHours("08:00", "17:00")...)
	c, err := h.Calendar()
	if err != nil {
		b.Fatal(err)
	}
	at := time.Date(2024, 12, 20, 17, 0, 0, 0, time.UTC) // Friday evening before the holidays
	for b.Loop() {
		c.Next(at)
	}
}
