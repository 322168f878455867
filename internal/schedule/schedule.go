// Package schedule holds on-call schedules: recurring layers that rotate an ordered list of
// users, restricted to times of the week, static schedules made of explicit shifts, and
// overrides. It works out the shifts of a schedule in a range and who is on call at an
// instant. It is pure: every function takes the time it needs.
//
// Precedence: where several layers cover an instant, the later layer in the list wins; an
// override wins over every layer and every static shift.
package schedule

import (
	"strconv"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/zone"
)

// Type is STATIC (explicit shifts) or RECURRING (rotating layers).
type Type string

const (
	Static    Type = "STATIC"
	Recurring Type = "RECURRING"
)

// TimesOfWeek is the one restriction type: each restriction is a span of the week.
const TimesOfWeek = "TIMES_OF_WEEK"

// Schedule is ilert's Schedule. ScheduleLayers belong to RECURRING schedules and Shifts to
// STATIC ones; CurrentShift and NextShift are filled when a reader asks for them.
type Schedule struct {
	ID                   int64          `json:"id"`
	Name                 string         `json:"name"`
	Timezone             string         `json:"timezone"`
	Type                 Type           `json:"type"`
	ScheduleLayers       []Layer        `json:"scheduleLayers,omitempty"`
	Shifts               []StaticShift  `json:"shifts,omitempty"`
	ShowGaps             bool           `json:"showGaps"`
	DefaultShiftDuration string         `json:"defaultShiftDuration,omitempty"`
	CurrentShift         *Shift         `json:"currentShift,omitempty"`
	NextShift            *Shift         `json:"nextShift,omitempty"`
	Teams                []auth.TeamRef `json:"teams"`
}

// Layer is ilert's ScheduleLayer: from StartsOn (the first handoff) until EndsOn, Users take
// turns of one Rotation each, in order, but only within the Restrictions when there are any.
type Layer struct {
	Name            string        `json:"name"`
	StartsOn        Wall          `json:"startsOn"`
	EndsOn          Wall          `json:"endsOn"`
	Users           []auth.Ref    `json:"users"`
	Rotation        string        `json:"rotation"`
	RestrictionType string        `json:"restrictionType,omitempty"`
	Restrictions    []Restriction `json:"restrictions"`
}

// Restriction is a span of the week on the schedule's clock, from From up to (not including)
// To. When To is not after From in the week the span wraps: FRIDAY 18:00 to MONDAY 08:00 is
// the weekend, and MONDAY 09:00 to MONDAY 09:00 the whole week.
type Restriction struct {
	From TimeOfWeek `json:"from"`
	To   TimeOfWeek `json:"to"`
}

// TimeOfWeek is a day of the week (MONDAY…SUNDAY) and a time of day ("18:00"; "24:00" only
// as the end of a restriction).
type TimeOfWeek struct {
	DayOfWeek string `json:"dayOfWeek"`
	Time      string `json:"time"`
}

// StaticShift is one shift of a STATIC schedule, on the schedule's clock.
type StaticShift struct {
	User  auth.Ref `json:"user"`
	Start Wall     `json:"start"`
	End   Wall     `json:"end"`
}

// Shift is a stretch of time one user is on call (ilert's Shift), in instants.
type Shift struct {
	User  auth.Ref  `json:"user"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Override puts User on call from Start to End, whatever the layers or shifts say.
type Override struct {
	ID    int64     `json:"id,omitempty"`
	User  auth.Ref  `json:"user"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Limits of a schedule.
const (
	MaxLayers        = 20
	MaxLayerUsers    = 100
	MaxRestrictions  = 100
	MaxStaticShifts  = 2000
	MaxOverrideSpan  = 366 * 24 * time.Hour
	maxNameLen       = 200
	minYear, maxYear = 1970, 9999
)

// restrictionTypes are the accepted spellings: the spec's TIMES_OF_WEEK, ilert-go's
// TIME_OF_WEEK, and the UI's TIMES_OF_DAY and TIME_OF_DAY. All mean the same, spans of the
// week, and the one given is kept, so that a client reads back what it wrote (Terraform
// would otherwise see a change on every plan).
var restrictionTypes = map[string]bool{"TIMES_OF_WEEK": true, "TIME_OF_WEEK": true, "TIMES_OF_DAY": true, "TIME_OF_DAY": true}

var weekdays = map[string]time.Weekday{
	"MONDAY": time.Monday, "TUESDAY": time.Tuesday, "WEDNESDAY": time.Wednesday, "THURSDAY": time.Thursday,
	"FRIDAY": time.Friday, "SATURDAY": time.Saturday, "SUNDAY": time.Sunday,
}

// Normalize trims text, upper-cases enumerations, turns Walls given with an offset into the
// schedule's clock, drops team references without an id, and drops the parts that do not belong to the schedule's type (layers of
// a STATIC schedule, shifts of a RECURRING one), so a schedule read with every include can
// be written back.
func (s *Schedule) Normalize() {
	s.Name = strings.TrimSpace(s.Name)
	s.Timezone = strings.TrimSpace(s.Timezone)
	s.Type = Type(strings.ToUpper(strings.TrimSpace(string(s.Type))))
	s.DefaultShiftDuration = strings.ToUpper(strings.TrimSpace(s.DefaultShiftDuration))
	s.CurrentShift, s.NextShift = nil, nil
	teams := []auth.TeamRef{}
	for _, t := range s.Teams {
		if t.ID != 0 { // ilert clients send {"id":0} for "no team"
			teams = append(teams, t)
		}
	}
	s.Teams = teams
	switch s.Type {
	case Recurring:
		s.Shifts = nil
	case Static:
		s.ScheduleLayers = nil
	}
	loc, _ := zone.Load(s.Timezone) // an unknown zone is Validate's to report
	for i := range s.ScheduleLayers {
		l := &s.ScheduleLayers[i]
		l.Name = strings.TrimSpace(l.Name)
		l.Rotation = strings.ToUpper(strings.TrimSpace(l.Rotation))
		l.RestrictionType = strings.ToUpper(strings.TrimSpace(l.RestrictionType))
		if len(l.Restrictions) > 0 && l.RestrictionType == "" {
			l.RestrictionType = TimesOfWeek
		}
		if l.Users == nil {
			l.Users = []auth.Ref{}
		}
		if l.Restrictions == nil {
			l.Restrictions = []Restriction{}
		}
		for j := range l.Restrictions {
			r := &l.Restrictions[j]
			for _, t := range []*TimeOfWeek{&r.From, &r.To} {
				t.DayOfWeek = strings.ToUpper(strings.TrimSpace(t.DayOfWeek))
				t.Time = strings.TrimSpace(t.Time)
			}
		}
		if loc != nil {
			l.StartsOn.Normalize(loc)
			l.EndsOn.Normalize(loc)
		}
	}
	if loc != nil {
		for i := range s.Shifts {
			s.Shifts[i].Start.Normalize(loc)
			s.Shifts[i].End.Normalize(loc)
		}
	}
}

// Validate reports the first rule the schedule breaks, with a message that says where.
// References (users, teams) are checked by the store.
func (s *Schedule) Validate() error {
	switch {
	case s.Name == "":
		return fault.Errorf("name is required")
	case len(s.Name) > maxNameLen:
		return fault.Errorf("name must be at most %d characters", maxNameLen)
	case s.Timezone == "":
		return fault.Errorf("timezone is required, e.g. Europe/Berlin")
	case s.Type != Static && s.Type != Recurring:
		return fault.Errorf("type %q is not one of STATIC, RECURRING", s.Type)
	case s.Type == Recurring && len(s.ScheduleLayers) == 0:
		return fault.Errorf("a RECURRING schedule needs at least one entry in scheduleLayers")
	case s.Type == Static && len(s.Shifts) == 0:
		return fault.Errorf("a STATIC schedule needs at least one entry in shifts")
	case len(s.ScheduleLayers) > MaxLayers:
		return fault.Errorf("scheduleLayers may have at most %d layers", MaxLayers)
	case len(s.Shifts) > MaxStaticShifts:
		return fault.Errorf("shifts may have at most %d entries", MaxStaticShifts)
	}
	if _, err := zone.Load(s.Timezone); err != nil {
		return err
	}
	if s.DefaultShiftDuration != "" {
		if _, err := ParseRotation(s.DefaultShiftDuration); err != nil {
			return fault.Errorf("defaultShiftDuration: %s", fault.MessageOf(err))
		}
	}
	if err := auth.ValidateTeamRefs(s.Teams); err != nil {
		return err
	}
	for i := range s.ScheduleLayers {
		l := &s.ScheduleLayers[i]
		if len(l.Name) > maxNameLen {
			return fault.Errorf("scheduleLayers[%d]: name must be at most %d characters", i, maxNameLen)
		}
		if len(l.Users) == 0 {
			return fault.Errorf("scheduleLayers[%d]: users needs at least one user", i)
		}
		if len(l.Users) > MaxLayerUsers {
			return fault.Errorf("scheduleLayers[%d]: users may have at most %d entries", i, MaxLayerUsers)
		}
		for _, u := range l.Users {
			if u.ID <= 0 {
				return fault.Errorf("scheduleLayers[%d]: users[].id is required", i)
			}
		}
		if l.RestrictionType != "" && !restrictionTypes[l.RestrictionType] {
			return fault.Errorf("scheduleLayers[%d]: restrictionType %q is not one of TIMES_OF_WEEK, TIME_OF_WEEK, TIMES_OF_DAY, TIME_OF_DAY", i, l.RestrictionType)
		}
		if len(l.Restrictions) > MaxRestrictions {
			return fault.Errorf("scheduleLayers[%d]: restrictions may have at most %d entries", i, MaxRestrictions)
		}
	}
	for i, sh := range s.Shifts {
		if sh.User.ID <= 0 {
			return fault.Errorf("shifts[%d]: user.id is required", i)
		}
	}
	_, err := Compile(s, nil)
	return err
}

// ValidateOverride reports the first rule an override breaks.
func ValidateOverride(o Override) error {
	switch {
	case o.User.ID <= 0:
		return fault.Errorf("user.id is required")
	case o.Start.IsZero() || o.End.IsZero():
		return fault.Errorf("start and end are required")
	case !o.Start.Before(o.End):
		return fault.Errorf("end must be after start")
	case o.End.Sub(o.Start) > MaxOverrideSpan:
		return fault.Errorf("an override may last at most %d days", int(MaxOverrideSpan/(24*time.Hour)))
	case o.Start.Year() < minYear || o.End.Year() > maxYear:
		return fault.Errorf("start and end must lie between the years %d and %d", minYear, maxYear)
	}
	return nil
}

// parseTimeOfDay reads "HH:mm" as minutes after midnight. "24:00" is accepted when end is
// set (the end of a restriction at midnight).
func parseTimeOfDay(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	if ok && len(h) >= 1 && len(h) <= 2 && len(m) == 2 {
		hh, err1 := strconv.Atoi(h)
		mm, err2 := strconv.Atoi(m)
		switch {
		case err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59:
		case hh < 24:
			return hh*60 + mm, nil
		case hh == 24 && mm == 0 && end:
			return 24 * 60, nil
		}
	}
	if end {
		return 0, fault.Errorf("time %q is not a time of day from 00:00 to 24:00", s)
	}
	return 0, fault.Errorf("time %q is not a time of day from 00:00 to 23:59", s)
}

// parseTimeOfWeek reads a restriction's end point.
func parseTimeOfWeek(t TimeOfWeek, end bool) (time.Weekday, int, error) {
	day, ok := weekdays[t.DayOfWeek]
	if !ok {
		return 0, 0, fault.Errorf("dayOfWeek %q is not one of MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY", t.DayOfWeek)
	}
	min, err := parseTimeOfDay(t.Time, end)
	return day, min, err
}

// checkWall refuses unset or out-of-range walls; what names the field in messages.
func checkWall(w Wall, what string) error {
	if w.IsZero() {
		return fault.Errorf("%s is required", what)
	}
	if y := w.civil.Year(); !w.at.IsZero() || y < minYear || y > maxYear {
		if !w.at.IsZero() {
			y = w.at.Year()
		}
		if y < minYear || y > maxYear {
			return fault.Errorf("%s must lie between the years %d and %d", what, minYear, maxYear)
		}
	}
	return nil
}

// layerError prefixes a message with the layer it is about.
func layerError(i int, err error) error {
	return fault.Errorf("scheduleLayers[%d]: %s", i, fault.MessageOf(err))
}
