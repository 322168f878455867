package api

import (
	"context"
	"net/http"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Paging of coverage request lists.
const (
	coveragePageDefault = 50
	coveragePageMax     = 200
)

// coverageBody is a request for cover as the caller sends it: the colleague, the range
// (times without an offset are on the schedule's clock) and an optional message.
type coverageBody struct {
	User    auth.Ref      `json:"user"`
	Start   schedule.Wall `json:"start"`
	End     schedule.Wall `json:"end"`
	Message string        `json:"message"`
}

// requestCoverage asks a colleague to cover part of the caller's own shifts in the schedule.
func (s *Server) requestCoverage(w http.ResponseWriter, r *http.Request) error {
	var b coverageBody
	sch, loc, err := s.scheduleFor(r, &b)
	if err != nil {
		return err
	}
	id := sch.ID
	if b.Start.IsZero() || b.End.IsZero() {
		return fault.Errorf("start and end are required")
	}
	caller := callerOf(r)
	c := schedule.CoverageRequest{
		Schedule:  schedule.ScheduleName{ID: id},
		Requester: auth.Ref{ID: caller.ID},
		User:      b.User,
		Start:     b.Start.In(loc),
		End:       b.End.In(loc),
		Message:   b.Message,
	}
	if err := s.store.CreateCoverageRequest(r.Context(), &c); err != nil {
		return err
	}
	s.wake() // the colleague's notice is due now
	s.log.Info("coverage requested", "request", c.ID, "schedule", id, "requester", caller.ID, "user", c.User.ID)
	writeJSON(w, http.StatusCreated, c)
	return nil
}

// scheduleCoverageRequests lists a schedule's coverage requests, newest first.
func (s *Server) scheduleCoverageRequests(w http.ResponseWriter, r *http.Request) error {
	if r.PathValue("id") == "name" { // the schedule named "coverage-requests"
		r.SetPathValue("rest", "coverage-requests")
		return s.scheduleByName(w, r)
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if _, err := s.store.Schedule(r.Context(), id); err != nil {
		return err
	}
	return s.listCoverage(w, r, store.CoverageFilter{ScheduleID: id})
}

// currentUserCoverageRequests lists the caller's coverage requests, newest first: those
// made of them (direction=incoming), those they made (outgoing), or both.
func (s *Server) currentUserCoverageRequests(w http.ResponseWriter, r *http.Request) error {
	me := callerOf(r).ID
	var f store.CoverageFilter
	switch d := r.URL.Query().Get("direction"); d {
	case "incoming":
		f.UserID = me
	case "outgoing":
		f.RequesterID = me
	case "":
		f.Involving = me
	default:
		return fault.Errorf("direction %q is not one of incoming, outgoing", d)
	}
	return s.listCoverage(w, r, f)
}

// listCoverage answers the requests f selects, narrowed by ?status and paged.
func (s *Server) listCoverage(w http.ResponseWriter, r *http.Request, f store.CoverageFilter) error {
	start, limit, err := page(r, coveragePageDefault, coveragePageMax)
	if err != nil {
		return err
	}
	f.Page = store.Page{Start: start, Max: limit}
	if v := r.URL.Query().Get("status"); v != "" {
		if f.Status, err = schedule.ParseCoverageStatus(v); err != nil {
			return err
		}
	}
	list, err := s.store.CoverageRequests(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) getCoverageRequest(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := s.store.CoverageRequest(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// acceptCoverageRequest puts the colleague on call for the request's range; only the
// colleague asked may.
func (s *Server) acceptCoverageRequest(w http.ResponseWriter, r *http.Request) error {
	return s.decideCoverage(w, r, "accept", s.store.AcceptCoverageRequest)
}

// declineCoverageRequest refuses the request; only the colleague asked may.
func (s *Server) declineCoverageRequest(w http.ResponseWriter, r *http.Request) error {
	return s.decideCoverage(w, r, "decline", s.store.DeclineCoverageRequest)
}

// cancelCoverageRequest withdraws the request; only the requester or an ADMIN may.
func (s *Server) cancelCoverageRequest(w http.ResponseWriter, r *http.Request) error {
	caller := callerOf(r)
	return s.decideCoverage(w, r, "cancel", func(ctx context.Context, id int64, may func(*schedule.CoverageRequest) error) (*schedule.CoverageRequest, error) {
		return s.store.CancelCoverageRequest(ctx, id, caller.ID, may)
	})
}

// decideCoverage runs one of the store's answers to request {id} with the check of who
// may give it, and answers with the request as it now is.
func (s *Server) decideCoverage(w http.ResponseWriter, r *http.Request, verb string,
	decide func(ctx context.Context, id int64, may func(*schedule.CoverageRequest) error) (*schedule.CoverageRequest, error)) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	caller := callerOf(r)
	c, err := decide(r.Context(), id, func(c *schedule.CoverageRequest) error { return mayDecideCoverage(caller, c, verb) })
	if err != nil {
		return err
	}
	s.wake() // the notice of the answer is due now
	s.log.Info("coverage request answered", "request", c.ID, "schedule", c.Schedule.ID, "status", c.Status,
		"user", caller.ID, "override", c.OverrideID)
	writeJSON(w, http.StatusOK, c)
	return nil
}

// mayDecideCoverage returns Forbidden unless caller may verb the request: accept and
// decline belong to the colleague asked, cancel to the requester and to ADMINs.
func mayDecideCoverage(caller auth.Account, c *schedule.CoverageRequest, verb string) error {
	if verb == "cancel" {
		if caller.ID != c.Requester.ID && !caller.Role.Allows(auth.Administer) {
			return fault.New(fault.Forbidden, "only the requester, user %d, or an ADMIN may cancel coverage request %d", c.Requester.ID, c.ID)
		}
		return nil
	}
	if caller.ID != c.User.ID {
		return fault.New(fault.Forbidden, "only user %d, whom coverage request %d asks, may %s it", c.User.ID, c.ID, verb)
	}
	return nil
}
