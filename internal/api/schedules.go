package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/zone"
)

// Paging of GET /api/schedules. ilert documents at most 20; tocsin allows more so that a
// client asking for a larger page is served, not refused.
const (
	schedulesPageDefault = 20
	schedulesPageMax     = 100
)

// maxShiftsRange is the longest range GET /api/schedules/{id}/shifts answers for.
const maxShiftsRange = 366 * 24 * time.Hour

// maxShifts is the most shifts one answer holds (shifts, on-calls, a calendar feed): a
// schedule of many short restrictions can hold hundreds of thousands in a year.
const maxShifts = 10000

// errTooManyShifts answers a range that holds more than maxShifts shifts.
var errTooManyShifts = fault.Errorf("the range holds more than %d shifts: ask for a shorter one", maxShifts)

// scheduleBody is what a client writes. currentShift, nextShift and the deprecated
// startsOn are read-only or unused: they are taken as raw JSON so that a schedule read back
// with every include can be written again.
type scheduleBody struct {
	schedule.Schedule
	CurrentShift json.RawMessage `json:"currentShift"`
	NextShift    json.RawMessage `json:"nextShift"`
	StartsOn     json.RawMessage `json:"startsOn"`
}

// shiftOut is ilert's Shift: the user's whole profile, the start and the end.
type shiftOut struct {
	User  auth.Account `json:"user"`
	Start time.Time    `json:"start"`
	End   time.Time    `json:"end"`
}

// overrideOut is an override as GET /overrides lists it: ilert's Shift, with the id that
// DELETE /overrides/{overrideId} takes (a tocsin extension).
type overrideOut struct {
	ID int64 `json:"id"`
	shiftOut
}

// overrideAdded answers an added override: ilert's ScheduleRel, with the override itself (a
// tocsin extension).
type overrideAdded struct {
	escalation.ScheduleRef
	Override overrideOut `json:"override"`
}

// overrideBody is an override as clients send it: ilert's Shift with the user's id; times
// without an offset are on the schedule's clock.
type overrideBody struct {
	User  auth.Ref      `json:"user"`
	Start schedule.Wall `json:"start"`
	End   schedule.Wall `json:"end"`
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request) error {
	start, limit, err := page(r, schedulesPageDefault, schedulesPageMax)
	if err != nil {
		return err
	}
	list, err := s.store.Schedules(r.Context(), store.Page{Start: start, Max: limit})
	if err != nil {
		return err
	}
	inc := includes(r)
	for _, sch := range list {
		if err := s.applyIncludes(r.Context(), sch, inc); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) getSchedule(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	sch, err := s.store.Schedule(r.Context(), id)
	if err != nil {
		return err
	}
	if err := s.applyIncludes(r.Context(), sch, includes(r)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sch)
	return nil
}

// scheduleByName serves ilert-go's SearchSchedule, which puts the name into the path
// unescaped; the name is the rest of the path, slashes included.
func (s *Server) scheduleByName(w http.ResponseWriter, r *http.Request) error {
	sch, err := s.store.ScheduleByName(r.Context(), r.PathValue("rest"))
	if err != nil {
		return err
	}
	if err := s.applyIncludes(r.Context(), sch, includes(r)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sch)
	return nil
}

// createSchedule stores a new schedule and answers with all of it, layers and shifts
// included. With ?abort-on-gaps=true a schedule that leaves nobody on call is refused.
func (s *Server) createSchedule(w http.ResponseWriter, r *http.Request) error {
	abort, err := boolParam(r, "abort-on-gaps")
	if err != nil {
		return err
	}
	var b scheduleBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	sch := &b.Schedule
	sch.ID = 0
	if err := s.store.CreateSchedule(r.Context(), sch, abort); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, sch)
	return nil
}

// updateSchedule replaces the whole schedule: layers, shifts and teams. Its overrides and
// calendar-feed URL stay.
func (s *Server) updateSchedule(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	abort, err := boolParam(r, "abort-on-gaps")
	if err != nil {
		return err
	}
	var b scheduleBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	sch := &b.Schedule
	sch.ID = id
	if err := s.store.UpdateSchedule(r.Context(), sch, abort); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sch)
	return nil
}

func (s *Server) deleteSchedule(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteSchedule(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// scheduleShifts lists the shifts that overlap from–until (default: from now, for a week),
// with overrides unless exclude-overrides=true. Times without an offset are on the
// schedule's clock; from alone, or from equal to until, asks for the shift at that instant.
func (s *Server) scheduleShifts(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	exclude, err := boolParam(r, "exclude-overrides")
	if err != nil {
		return err
	}
	sch, err := s.store.Schedule(r.Context(), id)
	if err != nil {
		return err
	}
	loc, err := zone.Load(sch.Timezone)
	if err != nil {
		return err
	}
	now := s.store.Now()
	from, err := timeParam(r, "from", loc, now)
	if err != nil {
		return err
	}
	until, err := timeParam(r, "until", loc, from.Add(7*24*time.Hour))
	if err != nil {
		return err
	}
	if err := checkRange(from, until, maxShiftsRange); err != nil {
		return err
	}
	var overrides []schedule.Override
	if !exclude {
		if overrides, err = s.store.Overrides(r.Context(), id, from.Add(-schedule.Horizon), until.Add(schedule.Horizon)); err != nil {
			return err
		}
	}
	p, err := schedule.Compile(sch, overrides)
	if err != nil {
		return err
	}
	shifts, complete := p.ShiftsUpTo(from, until, maxShifts)
	if !complete {
		return errTooManyShifts
	}
	out, err := s.shiftsOut(r.Context(), shifts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// scheduleUserOnCall answers the shift on now, with the user's profile, or 204 when nobody
// is on call.
func (s *Server) scheduleUserOnCall(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	now := s.store.Now()
	sw, err := s.store.ScheduleWithOverrides(r.Context(), id, now.Add(-schedule.Horizon), now.Add(schedule.Horizon))
	if err != nil {
		return err
	}
	p, err := sw.Compile()
	if err != nil {
		return err
	}
	sh, ok := p.ShiftAt(now)
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	out, err := s.shiftsOut(r.Context(), []schedule.Shift{sh})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out[0])
	return nil
}

// scheduleOverrides lists a schedule's overrides, oldest first: by default those that have
// not ended, or those overlapping from–until when either is given.
func (s *Server) scheduleOverrides(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	sch, err := s.store.Schedule(r.Context(), id)
	if err != nil {
		return err
	}
	loc, err := zone.Load(sch.Timezone)
	if err != nil {
		return err
	}
	from, err := timeParam(r, "from", loc, s.store.Now())
	if err != nil {
		return err
	}
	until, err := timeParam(r, "until", loc, time.Time{})
	if err != nil {
		return err
	}
	list, err := s.store.Overrides(r.Context(), id, from, until)
	if err != nil {
		return err
	}
	out := make([]overrideOut, len(list))
	shifts := make([]schedule.Shift, len(list))
	for i, o := range list {
		shifts[i] = schedule.Shift{User: o.User, Start: o.Start, End: o.End}
	}
	withUsers, err := s.shiftsOut(r.Context(), shifts)
	if err != nil {
		return err
	}
	for i, o := range list {
		out[i] = overrideOut{ID: o.ID, shiftOut: withUsers[i]}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// scheduleFor decodes a request's body into dst and returns the schedule its path names
// ({id}) with the schedule's time zone, in which times without an offset are read.
func (s *Server) scheduleFor(r *http.Request, dst any) (*schedule.Schedule, *time.Location, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, nil, err
	}
	if err := decodeJSON(r, dst); err != nil {
		return nil, nil, err
	}
	sch, err := s.store.Schedule(r.Context(), id)
	if err != nil {
		return nil, nil, err
	}
	loc, err := zone.Load(sch.Timezone)
	if err != nil {
		return nil, nil, err
	}
	return sch, loc, nil
}

// addScheduleOverride puts a user on call for a while, over the schedule's layers or shifts.
// ilert's spec says PUT and ilert-go sends POST; both answer 200 with the schedule's
// reference.
func (s *Server) addScheduleOverride(w http.ResponseWriter, r *http.Request) error {
	var b overrideBody
	sch, loc, err := s.scheduleFor(r, &b)
	if err != nil {
		return err
	}
	id := sch.ID
	if b.Start.IsZero() || b.End.IsZero() {
		return fault.Errorf("start and end are required")
	}
	o := schedule.Override{User: b.User, Start: b.Start.In(loc), End: b.End.In(loc)}
	ref, err := s.store.AddOverride(r.Context(), id, &o)
	if err != nil {
		return err
	}
	shifts, err := s.shiftsOut(r.Context(), []schedule.Shift{{User: o.User, Start: o.Start, End: o.End}})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, overrideAdded{ScheduleRef: ref, Override: overrideOut{ID: o.ID, shiftOut: shifts[0]}})
	return nil
}

func (s *Server) deleteScheduleOverride(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	overrideID, err := pathID(r, "overrideId")
	if err != nil {
		return err
	}
	if err := s.store.DeleteOverride(r.Context(), id, overrideID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// applyIncludes shapes a schedule for reading: layers and shifts only when include asks for
// them (ilert's scheduleLayers and shifts), and currentShift and nextShift computed at the
// store's clock. include=past is accepted: shifts always lists every static shift.
func (s *Server) applyIncludes(ctx context.Context, sch *schedule.Schedule, inc map[string]bool) error {
	if inc["currentShift"] || inc["nextShift"] {
		now := s.store.Now()
		overrides, err := s.store.Overrides(ctx, sch.ID, now.Add(-schedule.Horizon), now.Add(2*schedule.Horizon))
		if err != nil {
			return err
		}
		p, err := schedule.Compile(sch, overrides)
		if err != nil {
			return err
		}
		if cur, ok := p.ShiftAt(now); ok && inc["currentShift"] {
			sch.CurrentShift = &cur
		}
		if next, ok := p.NextShift(now); ok && inc["nextShift"] {
			sch.NextShift = &next
		}
	}
	if !inc["scheduleLayers"] {
		sch.ScheduleLayers = nil
	}
	if !inc["shifts"] {
		sch.Shifts = nil
	}
	return nil
}

// shiftsOut gives shifts their users' whole profiles.
func (s *Server) shiftsOut(ctx context.Context, shifts []schedule.Shift) ([]shiftOut, error) {
	ids := make([]int64, 0, len(shifts))
	for _, sh := range shifts {
		ids = append(ids, sh.User.ID)
	}
	users, err := s.store.AccountsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]shiftOut, len(shifts))
	for i, sh := range shifts {
		u, ok := users[sh.User.ID]
		if !ok {
			u = auth.Account{ID: sh.User.ID, FirstName: sh.User.FirstName, LastName: sh.User.LastName}
		}
		out[i] = shiftOut{User: u, Start: sh.Start.UTC(), End: sh.End.UTC()}
	}
	return out, nil
}

// boolParam reads a true/false query parameter; missing or empty is false.
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fault.Errorf("%s must be true or false, not %q", name, v)
	}
	return b, nil
}

// timeParam reads a date-time query parameter: ISO-8601 with an offset, or a date and time
// without one, read on loc's clock. Missing or empty gives def.
func timeParam(r *http.Request, name string, loc *time.Location, def time.Time) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	w, err := schedule.ParseWall(v)
	if err != nil {
		return time.Time{}, fault.Errorf("%s: %s", name, fault.MessageOf(err))
	}
	return w.In(loc), nil
}

// checkRange refuses a range that ends before it starts or is longer than max.
func checkRange(from, until time.Time, max time.Duration) error {
	switch {
	case until.Before(from):
		return fault.Errorf("until must not be before from")
	case until.Sub(from) > max:
		return fault.Errorf("from and until may be at most %d days apart", int(max/(24*time.Hour)))
	}
	return nil
}
