// Package supporthours holds support hours (ilert's SupportHour): a weekly pattern of one
// range of the day per weekday on a time zone's wall clock, with exceptions (holidays) that
// put whole days inside or outside. A Calendar answers whether an instant is inside and when
// that next changes. The package is pure: every function takes the time it needs.
//
// The rules, where ilert leaves them open:
//   - A day's range starts at start (inclusive) and ends at end (exclusive), on that weekday
//     in the hours' time zone.
//   - An end at or before the start means the range runs past midnight into the next day:
//     FRIDAY 22:00–06:00 is Friday 22:00 to Saturday 06:00. "24:00" is accepted as an end.
//   - A range whose start equals its end ("00:00"–"00:00", "08:00"–"08:00") is the whole day,
//     midnight to midnight.
//   - Times are wall-clock times: 08:00 is 08:00 local on both sides of a change of the
//     clocks. A time the clocks skip (02:30 on the night they spring forward) is read as the
//     first instant after the gap; a time that happens twice (02:30 on the night they fall
//     back) as the first of the two.
//   - An exception covers its local dates from start to end, both included: DURING puts
//     every moment of those days inside, OUTSIDE every moment outside, whatever the weekly
//     pattern says for them. Nothing else changes: a Friday night range still covers
//     Saturday morning when only the Friday is a holiday. Where exceptions overlap, the one
//     listed later wins.
//   - Ranges that touch (MONDAY 18:00–00:00 and TUESDAY 00:00–08:00) form one stretch;
//     Calendar.Next reports only real changes.
package supporthours

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/zone"
)

// Support statuses of an exception.
const (
	During  = "DURING"
	Outside = "OUTSIDE"
)

// Limits of support hours.
const (
	MaxExceptions = 500
	maxNameLen    = 200
)

// Weekdays are the keys of Hours.SupportDays, Monday first.
var Weekdays = []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}

var weekdayByName = map[string]time.Weekday{
	"MONDAY": time.Monday, "TUESDAY": time.Tuesday, "WEDNESDAY": time.Wednesday, "THURSDAY": time.Thursday,
	"FRIDAY": time.Friday, "SATURDAY": time.Saturday, "SUNDAY": time.Sunday,
}

// Range is ilert's SupportDay: a range of the day, "HH:mm" to "HH:mm".
type Range struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Exception is ilert's SupportHourException: the local dates Start to End (YYYY-MM-DD, both
// included) are inside (DURING) or outside (OUTSIDE) support hours all day.
type Exception struct {
	Name          string `json:"name"`
	Start         string `json:"start"`
	End           string `json:"end"`
	SupportStatus string `json:"supportStatus"`
}

// Hours is ilert's SupportHour. SupportDays maps MONDAY … SUNDAY to that day's range; a
// missing or null day has no support.
type Hours struct {
	ID          int64             `json:"id"`
	Name        string            `json:"name"`
	Teams       []auth.TeamRef    `json:"teams"`
	TimeZone    string            `json:"timezone"`
	SupportDays map[string]*Range `json:"supportDays"`
	Exceptions  []Exception       `json:"exceptions"`
}

// Normalize trims text, upper-cases support statuses, drops team references without an id
// (ilert clients send {"id":0} for "no team"), and gives every weekday a key (null when it
// has no support) and the lists a value, so the hours encode in ilert's full shape.
func (h *Hours) Normalize() {
	h.Name = strings.TrimSpace(h.Name)
	h.TimeZone = strings.TrimSpace(h.TimeZone)
	teams := []auth.TeamRef{}
	for _, t := range h.Teams {
		if t.ID != 0 {
			teams = append(teams, t)
		}
	}
	h.Teams = teams
	if h.SupportDays == nil {
		h.SupportDays = map[string]*Range{}
	}
	for _, r := range h.SupportDays {
		if r != nil {
			r.Start, r.End = strings.TrimSpace(r.Start), strings.TrimSpace(r.End)
		}
	}
	for _, day := range Weekdays {
		if _, ok := h.SupportDays[day]; !ok {
			h.SupportDays[day] = nil
		}
	}
	if h.Exceptions == nil {
		h.Exceptions = []Exception{}
	}
	for i := range h.Exceptions {
		e := &h.Exceptions[i]
		e.Name = strings.TrimSpace(e.Name)
		e.Start, e.End = strings.TrimSpace(e.Start), strings.TrimSpace(e.End)
		e.SupportStatus = strings.ToUpper(strings.TrimSpace(e.SupportStatus))
	}
}

// Validate reports the first rule the hours break, with a message that names the field.
// Whether the teams exist is the store's to check.
func (h *Hours) Validate() error {
	switch {
	case h.Name == "":
		return fault.Errorf("name is required")
	case utf8.RuneCountInString(h.Name) > maxNameLen:
		return fault.Errorf("name must be at most %d characters", maxNameLen)
	}
	if err := auth.ValidateTeamRefs(h.Teams); err != nil {
		return err
	}
	for i, e := range h.Exceptions {
		if len(e.Name) > maxNameLen {
			return fault.Errorf("exceptions[%d].name must be at most %d characters", i, maxNameLen)
		}
	}
	_, err := h.Calendar()
	return err
}

// Calendar compiles the time zone, the weekly pattern and the exceptions. It returns an
// Invalid fault naming the field for an unknown time zone, a bad time of day, an unknown
// weekday, a bad date or support status, or an exception that ends before it starts; it
// does not check the name or the teams (Validate does).
func (h *Hours) Calendar() (*Calendar, error) {
	if h.TimeZone == "" {
		return nil, fault.Errorf("timezone is required, e.g. Europe/Berlin")
	}
	loc, err := zone.Load(h.TimeZone)
	if err != nil {
		return nil, err
	}
	c := &Calendar{loc: loc}
	for key, r := range h.SupportDays {
		wd, ok := weekdayByName[key]
		if !ok {
			return nil, fault.Errorf("supportDays: %q is not a day; the keys are MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY and SUNDAY", key)
		}
		if r == nil {
			continue
		}
		s, err := parseClock(r.Start, false)
		if err != nil {
			return nil, fault.Errorf("supportDays.%s.start: %s", key, err)
		}
		e, err := parseClock(r.End, true)
		if err != nil {
			return nil, fault.Errorf("supportDays.%s.end: %s", key, err)
		}
		switch {
		case s == e || (s == 0 && e == minutesPerDay):
			c.week[wd] = &span{0, minutesPerDay}
		case e < s:
			c.week[wd] = &span{s, e + minutesPerDay}
		default:
			c.week[wd] = &span{s, e}
		}
	}
	if len(h.Exceptions) > MaxExceptions {
		return nil, fault.Errorf("exceptions may have at most %d entries", MaxExceptions)
	}
	for i, e := range h.Exceptions {
		if e.Name == "" {
			return nil, fault.Errorf("exceptions[%d].name is required", i)
		}
		first, err := parseDate(e.Start)
		if err != nil {
			return nil, fault.Errorf("exceptions[%d].start: %s", i, err)
		}
		last, err := parseDate(e.End)
		if err != nil {
			return nil, fault.Errorf("exceptions[%d].end: %s", i, err)
		}
		if last < first {
			return nil, fault.Errorf("exceptions[%d]: end %s is before start %s", i, e.End, e.Start)
		}
		var inside bool
		switch e.SupportStatus {
		case During:
			inside = true
		case Outside:
		default:
			return nil, fault.Errorf("exceptions[%d].supportStatus %q is not one of DURING, OUTSIDE", i, e.SupportStatus)
		}
		c.runs = paint(c.runs, run{first, last, inside})
	}
	return c, nil
}

const minutesPerDay = 24 * 60

// parseClock reads "HH:mm" as minutes after midnight; "24:00" only when it is an end.
func parseClock(s string, end bool) (int, error) {
	bad := fmt.Errorf("%q is not a time of day such as 08:00 (HH:mm)", s)
	if len(s) != 5 || s[2] != ':' {
		return 0, bad
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, bad
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	switch {
	case end && h == 24 && m == 0:
		return minutesPerDay, nil
	case h > 23 || m > 59:
		return 0, bad
	}
	return h*60 + m, nil
}

// parseDate reads "YYYY-MM-DD" as a day number.
func parseDate(s string) (day, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Year() < 1970 {
		return 0, fmt.Errorf("%q is not a date such as 2024-12-24 (YYYY-MM-DD, from 1970)", s)
	}
	return dayOf(t.Year(), t.Month(), t.Day()), nil
}
