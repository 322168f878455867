package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/zone"
)

// Paging and range of GET /api/on-calls (ilert documents neither).
const (
	onCallsPageDefault = 100
	onCallsPageMax     = 1000
	maxOnCallsRange    = 31 * 24 * time.Hour
)

// onCallOut is ilert's OnCall for an answer by schedule: the user, the schedule and the
// shift. escalationPolicy and escalationLevel are left out.
type onCallOut struct {
	User     auth.Account           `json:"user"`
	Schedule escalation.ScheduleRef `json:"schedule"`
	Start    time.Time              `json:"start"`
	End      time.Time              `json:"end"`
}

// listOnCalls answers who is on call in which schedule: the shifts overlapping from–until
// (default: now) of the schedules given (default: all), of the users given (default: all),
// ordered by start, then schedule, then user. Times without an offset, and the answer's
// times, are on the clock of timezone (default UTC).
func (s *Server) listOnCalls(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("policies") != "" || q.Get("policy-levels") != "" {
		return fault.Errorf("tocsin answers on-calls by schedules and users; policies and policy-levels are not supported yet")
	}
	start, limit, err := page(r, onCallsPageDefault, onCallsPageMax)
	if err != nil {
		return err
	}
	scheduleIDs, err := idsParam(r, "schedules")
	if err != nil {
		return err
	}
	userIDs, err := idsParam(r, "users")
	if err != nil {
		return err
	}
	loc := time.UTC
	if tz := q.Get("timezone"); tz != "" {
		if loc, err = zone.Load(tz); err != nil {
			return err
		}
	}
	now := s.store.Now()
	from, err := timeParam(r, "from", loc, now)
	if err != nil {
		return err
	}
	until, err := timeParam(r, "until", loc, from)
	if err != nil {
		return err
	}
	if err := checkRange(from, until, maxOnCallsRange); err != nil {
		return err
	}
	list, err := s.store.SchedulesWithOverrides(r.Context(), scheduleIDs, from.Add(-schedule.Horizon), until.Add(schedule.Horizon))
	if err != nil {
		return err
	}
	type found struct {
		ref   escalation.ScheduleRef
		shift schedule.Shift
	}
	var all []found
	budget := maxShifts
	for _, sw := range list {
		p, err := sw.Compile()
		if err != nil {
			return err
		}
		ref := escalation.ScheduleRef{ID: sw.Schedule.ID, Name: sw.Schedule.Name, Type: string(sw.Schedule.Type)}
		shifts, complete := p.ShiftsUpTo(from, until, budget)
		if !complete {
			return errTooManyShifts
		}
		budget -= len(shifts) // each costs its work, whoever's it is
		for _, sh := range shifts {
			if userIDs == nil || slices.Contains(userIDs, sh.User.ID) {
				all = append(all, found{ref, sh})
			}
		}
	}
	slices.SortStableFunc(all, func(a, b found) int {
		if c := a.shift.Start.Compare(b.shift.Start); c != 0 {
			return c
		}
		if a.ref.ID != b.ref.ID {
			return int(min(max(a.ref.ID-b.ref.ID, -1), 1))
		}
		return int(min(max(a.shift.User.ID-b.shift.User.ID, -1), 1))
	})
	all = all[min(start, len(all)):min(start+limit, len(all))]
	shifts := make([]schedule.Shift, len(all))
	for i, f := range all {
		shifts[i] = f.shift
	}
	withUsers, err := s.shiftsOut(r.Context(), shifts)
	if err != nil {
		return err
	}
	out := make([]onCallOut, len(all))
	for i, f := range all {
		out[i] = onCallOut{User: withUsers[i].User, Schedule: f.ref, Start: f.shift.Start.In(loc), End: f.shift.End.In(loc)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// idsParam reads the ids of the named parameters, as multi reads values. It returns nil when
// none is given.
func idsParam(r *http.Request, names ...string) ([]int64, error) {
	vals, err := multi(r, names...)
	if err != nil || len(vals) == 0 {
		return nil, err
	}
	return ids(names[0], vals)
}
