package api

import (
	"context"
	"net/http"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// scheduleRoutes registers on-call schedules, their overrides and calendar feeds, and
// /api/on-calls.
func (s *Server) scheduleRoutes() {
	s.handle("GET /api/schedules", auth.Read, s.listSchedules)
	s.handle("POST /api/schedules", auth.Configure, s.createSchedule)
	s.handle("GET /api/schedules/{id}", auth.Read, s.getSchedule)
	s.handle("PUT /api/schedules/{id}", auth.Configure, s.updateSchedule)
	s.handle("DELETE /api/schedules/{id}", auth.Configure, s.deleteSchedule)
	// GET /api/schedules/name/{name...} and GET /api/schedules/{id}/shifts both match
	// /api/schedules/name/shifts, which ServeMux refuses to register; one pattern serves every
	// GET below a schedule and scheduleSubresource picks the handler.
	s.public("GET /api/schedules/{id}/{rest...}", s.scheduleSubresource)
	s.handle("POST /api/schedules/{id}/overrides", auth.Configure, s.addScheduleOverride) // ilert-go
	s.handle("PUT /api/schedules/{id}/overrides", auth.Configure, s.addScheduleOverride)  // ilert's spec
	s.handle("DELETE /api/schedules/{id}/overrides/{overrideId}", auth.Configure, s.deleteScheduleOverride)
	s.handle("POST /api/schedules/{id}/ical-url", auth.Configure, s.rotateScheduleICalURL)

	s.handle("GET /api/users/current/ical-url", auth.ReadSelf, s.currentUserICalURL)
	s.handle("POST /api/users/current/ical-url", auth.ReadSelf, s.rotateCurrentUserICalURL)
	s.public("GET /api/users/{id}/ical", s.userICal) // the token in the URL is the credential

	s.handle("GET /api/on-calls", auth.Read, s.listOnCalls)
}

// scheduleSubresource serves the GET routes below /api/schedules/{id}/.
//
//	name/{name...}  the schedule with that name (ilert-go's SearchSchedule)
//	shifts          the shifts in a range
//	overrides       the overrides
//	user-on-call    the shift on now, or 204
//	ical-url        the calendar feed's subscription URL
//	ical            the calendar feed itself, authorized by its token instead of an API key
func (s *Server) scheduleSubresource(w http.ResponseWriter, r *http.Request) error {
	if r.PathValue("id") == "name" {
		return s.authorized(auth.Read, s.scheduleByName)(w, r)
	}
	switch r.PathValue("rest") {
	case "shifts":
		return s.authorized(auth.Read, s.scheduleShifts)(w, r)
	case "overrides":
		return s.authorized(auth.Read, s.scheduleOverrides)(w, r)
	case "user-on-call":
		return s.authorized(auth.Read, s.scheduleUserOnCall)(w, r)
	case "ical-url":
		return s.authorized(auth.Read, s.scheduleICalURL)(w, r)
	case "ical":
		return s.scheduleICal(w, r)
	}
	return fault.NotFoundf("no route for %s %s", r.Method, r.URL.Path)
}

// authorized wraps fn in the checks handle makes: an authenticated caller whose role grants
// perm, made available to fn through callerOf.
func (s *Server) authorized(perm auth.Permission, fn handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if !c.Role.Allows(perm) {
			return fault.New(fault.Forbidden, "the %s role may not do this", c.Role)
		}
		return fn(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	}
}
