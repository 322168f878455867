package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	ics "github.com/arran4/golang-ical"

	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/store"
)

// The window a calendar feed covers, around the time it is fetched.
const (
	icalPast  = 7 * 24 * time.Hour
	icalAhead = 60 * 24 * time.Hour
)

// icalURL is the answer of the ical-url endpoints: the feed's address, and the same with
// the webcal scheme, which calendar apps open as a subscription.
type icalURL struct {
	URL       string `json:"url"`
	WebcalURL string `json:"webcalUrl"`
}

func (s *Server) feedURL(path, token string) icalURL {
	u := s.publicURL + path + "?token=" + url.QueryEscape(token)
	webcal := u
	if i := strings.Index(u, "://"); i >= 0 {
		webcal = "webcal" + u[i:]
	}
	return icalURL{URL: u, WebcalURL: webcal}
}

// scheduleICalURL answers the subscription URL of a schedule's calendar feed.
func (s *Server) scheduleICalURL(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	token, err := s.store.ScheduleICalToken(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.feedURL(fmt.Sprintf("/api/schedules/%d/ical", id), token))
	return nil
}

// rotateScheduleICalURL gives the schedule's feed a new secret: the old URL stops working.
func (s *Server) rotateScheduleICalURL(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	token, err := s.store.RotateScheduleICalToken(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.feedURL(fmt.Sprintf("/api/schedules/%d/ical", id), token))
	return nil
}

// currentUserICalURL answers the subscription URL of the caller's own feed: their shifts in
// every schedule.
func (s *Server) currentUserICalURL(w http.ResponseWriter, r *http.Request) error {
	me := callerOf(r)
	token, err := s.store.UserICalToken(r.Context(), me.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.feedURL(fmt.Sprintf("/api/users/%d/ical", me.ID), token))
	return nil
}

func (s *Server) rotateCurrentUserICalURL(w http.ResponseWriter, r *http.Request) error {
	me := callerOf(r)
	token, err := s.store.RotateUserICalToken(r.Context(), me.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.feedURL(fmt.Sprintf("/api/users/%d/ical", me.ID), token))
	return nil
}

// scheduleICal serves a schedule's shifts, overrides applied, as an iCalendar feed (RFC
// 5545). The token in the URL is the credential; a wrong token answers 404, like a
// schedule that does not exist.
func (s *Server) scheduleICal(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.store.CheckScheduleICalToken(r.Context(), id, r.URL.Query().Get("token")); err != nil {
		return err
	}
	now := s.store.Now()
	from, until := now.Add(-icalPast), now.Add(icalAhead)
	sw, err := s.store.ScheduleWithOverrides(r.Context(), id, from.Add(-schedule.Horizon), until.Add(schedule.Horizon))
	if err != nil {
		return err
	}
	p, err := sw.Compile()
	if err != nil {
		return err
	}
	shifts, _ := p.ShiftsUpTo(from, until, maxShifts) // a feed too dense is cut, not refused
	people, err := s.shiftsOut(r.Context(), shifts)
	if err != nil {
		return err
	}
	cal := newCalendar("On call: " + sw.Schedule.Name)
	for i, sh := range shifts {
		name := strings.TrimSpace(people[i].User.FirstName + " " + people[i].User.LastName)
		addShiftEvent(cal, sw.Schedule, sh, fmt.Sprintf("On call: %s (%s)", sw.Schedule.Name, name), name, now, from, until)
	}
	return writeCalendar(w, cal)
}

// userICal serves one user's shifts in every schedule as an iCalendar feed, authorized like
// scheduleICal by the token in the URL.
func (s *Server) userICal(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.store.CheckUserICalToken(r.Context(), id, r.URL.Query().Get("token")); err != nil {
		return err
	}
	user, err := s.store.Account(r.Context(), id)
	if err != nil {
		return err
	}
	now := s.store.Now()
	from, until := now.Add(-icalPast), now.Add(icalAhead)
	ids, err := s.store.ScheduleIDsOfUser(r.Context(), id, from)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(user.FirstName + " " + user.LastName)
	cal := newCalendar(name + " on call")
	if len(ids) > 0 {
		list, err := s.store.SchedulesWithOverrides(r.Context(), ids, from.Add(-schedule.Horizon), until.Add(schedule.Horizon))
		if err != nil {
			return err
		}
		// Each schedule is worked out up to maxShifts shifts (a feed too dense is cut, not
		// refused), and the user's shifts of all of them are cut there too, earliest first.
		type mine struct {
			sw    *store.ScheduleWithOverrides
			shift schedule.Shift
		}
		var all []mine
		for i := range list {
			p, err := list[i].Compile()
			if err != nil {
				return err
			}
			shifts, _ := p.ShiftsUpTo(from, until, maxShifts)
			for _, sh := range shifts {
				if sh.User.ID == id {
					all = append(all, mine{&list[i], sh})
				}
			}
		}
		slices.SortStableFunc(all, func(a, b mine) int { return a.shift.Start.Compare(b.shift.Start) })
		for _, m := range all[:min(len(all), maxShifts)] {
			addShiftEvent(cal, m.sw.Schedule, m.shift, "On call: "+m.sw.Schedule.Name, name, now, from, until)
		}
	}
	return writeCalendar(w, cal)
}

func newCalendar(name string) *ics.Calendar {
	cal := ics.NewCalendarFor("tocsin")
	cal.SetProductId("-//tocsin//on-call schedules//EN")
	cal.SetMethod(ics.MethodPublish)
	cal.SetCalscale("GREGORIAN")
	cal.SetName(icalText(name))
	cal.SetXWRCalName(icalText(name))
	cal.SetRefreshInterval("PT1H")
	cal.SetXPublishedTTL("PT1H")
	return cal
}

// addShiftEvent adds one shift of the feed's window [from, until). Its UID names the schedule,
// the user and the start, so a shift keeps its identity from one fetch of the feed to the
// next. A shift longer than Shifts looks beyond the window is cut where it stops looking,
// which moves with every fetch: one cut at its start is named by its end instead, and one cut
// at both ends as ongoing.
func addShiftEvent(cal *ics.Calendar, sch *schedule.Schedule, sh schedule.Shift, summary, who string, now, from, until time.Time) {
	uid := fmt.Sprintf("schedule-%d-user-%d-%d@tocsin", sch.ID, sh.User.ID, sh.Start.Unix())
	cutStart := !sh.Start.After(from.Add(-schedule.Horizon))
	cutEnd := !sh.End.Before(until.Add(schedule.Horizon))
	switch {
	case cutStart && cutEnd:
		uid = fmt.Sprintf("schedule-%d-user-%d-ongoing@tocsin", sch.ID, sh.User.ID)
	case cutStart:
		uid = fmt.Sprintf("schedule-%d-user-%d-until-%d@tocsin", sch.ID, sh.User.ID, sh.End.Unix())
	}
	ev := cal.AddEvent(uid)
	ev.SetDtStampTime(now)
	ev.SetStartAt(sh.Start)
	ev.SetEndAt(sh.End)
	ev.SetSummary(icalText(summary))
	ev.SetDescription(icalText(fmt.Sprintf("%s is on call in %s.", who, sch.Name)))
}

// icalText makes a name safe for a calendar text value: control characters (a carriage return
// in a user's name could start a property of its own in a lenient reader) become spaces. The
// calendar library escapes the rest.
func icalText(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

func writeCalendar(w http.ResponseWriter, cal *ics.Calendar) error {
	body := cal.Serialize(ics.WithNewLineWindows) // RFC 5545 lines end in CRLF
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(body)) // a client that went away needs no answer
	return nil
}
