package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
)

// alertRoutes registers the alerts resource.
func (s *Server) alertRoutes() {
	s.handle("GET /api/alerts", auth.Read, s.listAlerts)
	s.handle("POST /api/alerts", auth.Respond, s.createAlert)
	s.handle("GET /api/alerts/count", auth.Read, s.countAlerts)
	s.handle("GET /api/alerts/{id}", auth.Read, s.getAlert)
	s.handle("PUT /api/alerts/{id}/accept", auth.Respond, s.setAlertStatus(alert.Accepted))
	s.handle("PUT /api/alerts/{id}/resolve", auth.Respond, s.setAlertStatus(alert.Resolved))
	s.handle("PUT /api/alerts/{id}/assign", auth.Respond, s.assignAlert)
	s.handle("PUT /api/alerts/{id}/raise", auth.Respond, s.raiseAlert)
	s.handle("POST /api/alerts/{id}/comments", auth.Respond, s.commentAlert)
	s.handle("GET /api/alerts/{id}/log-entries", auth.Read, s.alertLogEntries)
	s.handle("GET /api/alerts/{id}/notifications", auth.Read, s.alertNotifications)
	s.handle("POST /api/alerts/{id}/responders", auth.Respond, s.addResponder)
	s.handle("DELETE /api/alerts/{id}/responders/{userID}", auth.Respond, s.removeResponder)
}

// maxFilterValues bounds the values of one filter parameter: each costs work (a lookup, a
// query parameter), and no real filter needs more.
const maxFilterValues = 100

// multi returns the values of the named parameters (ilert's spec and ilert-go spell filters
// differently), given repeated or separated by commas, each once. More than maxFilterValues
// distinct values are refused.
func multi(r *http.Request, names ...string) ([]string, error) {
	q := r.URL.Query()
	var out []string
	for _, n := range names {
		for _, v := range q[n] {
			for part := range strings.SplitSeq(v, ",") {
				if part = strings.TrimSpace(part); part == "" || slices.Contains(out, part) {
					continue
				}
				if len(out) == maxFilterValues {
					return nil, fault.Errorf("%s may name at most %d values", names[0], maxFilterValues)
				}
				out = append(out, part)
			}
		}
	}
	return out, nil
}

func ids(name string, vals []string) ([]int64, error) {
	out := make([]int64, 0, len(vals))
	for _, v := range vals {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return nil, fault.Errorf("%s: %q is not a valid id", name, v)
		}
		out = append(out, id)
	}
	return out, nil
}

// parseTime accepts an RFC 3339 date-time, a date (midnight UTC) or Unix milliseconds.
func parseTime(name, v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return &t, nil
		}
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		t := time.UnixMilli(n).UTC()
		return &t, nil
	}
	return nil, fault.Errorf("%s %q is not an ISO-8601 date-time", name, v)
}

func (s *Server) resolveFilter(r *http.Request) (store.AlertFilter, error) {
	var f store.AlertFilter
	states, err := multi(r, "states", "state")
	if err != nil {
		return f, err
	}
	for _, v := range states {
		st, ok := alert.ParseStatus(v)
		if !ok {
			return f, fault.Errorf("state %q is not one of PENDING, ACCEPTED, RESOLVED", v)
		}
		f.States = append(f.States, st)
	}
	if f.Sources, err = idsParam(r, "sources", "alert-source"); err != nil {
		return f, err
	}
	if f.Policies, err = idsParam(r, "policies"); err != nil {
		return f, err
	}
	responders, err := multi(r, "responders", "assigned-to")
	if err != nil {
		return f, err
	}
	for _, v := range responders {
		id, err := s.userID(r, v)
		if err != nil {
			return f, err
		}
		f.Responders = append(f.Responders, id)
	}
	q := r.URL.Query()
	if f.From, err = parseTime("from", q.Get("from")); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", q.Get("until")); err != nil {
		return f, err
	}
	return f, nil
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	start, max, err := page(r, 50, 100)
	if err != nil {
		return err
	}
	f, err := s.resolveFilter(r)
	if err != nil {
		return err
	}
	list, err := s.store.Alerts(r.Context(), f, store.Page{Start: start, Max: max})
	if err != nil {
		return err
	}
	for i := range list {
		list[i].CustomDetails = nil // only the single-alert GET shows them, with include=customDetails
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) countAlerts(w http.ResponseWriter, r *http.Request) error {
	f, err := s.resolveFilter(r)
	if err != nil {
		return err
	}
	n, err := s.store.CountAlerts(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"count": n})
	return nil
}

func (s *Server) getAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	a, err := s.store.Alert(r.Context(), id)
	if err != nil {
		return err
	}
	if !includes(r)["customDetails"] {
		a.CustomDetails = nil
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

type idRef struct {
	ID int64 `json:"id"`
}

// manualAlertBody is ilert's ManualAlert. Responders may be user refs or {user: ref}.
type manualAlertBody struct {
	Summary          string        `json:"summary"`
	Details          string        `json:"details"`
	AlertSource      *idRef        `json:"alertSource"`
	EscalationPolicy *idRef        `json:"escalationPolicy"`
	Priority         string        `json:"priority"`
	Images           []alert.Image `json:"images"`
	Links            []alert.Link  `json:"links"`
	Responders       []struct {
		ID   int64  `json:"id"`
		User *idRef `json:"user"`
	} `json:"responders"`
}

func (s *Server) createAlert(w http.ResponseWriter, r *http.Request) error {
	var b manualAlertBody
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	m := store.ManualAlert{Summary: strings.TrimSpace(b.Summary), Details: b.Details, Images: b.Images, Links: b.Links}
	switch {
	case m.Summary == "":
		return fault.Errorf("summary is required")
	case utf8.RuneCountInString(m.Summary) > alert.MaxSummaryLen:
		return fault.Errorf("summary must be at most %d characters", alert.MaxSummaryLen)
	case len(m.Details) > alert.MaxDetailsLen:
		return fault.Errorf("details must be at most %d bytes", alert.MaxDetailsLen)
	case b.AlertSource == nil || b.AlertSource.ID <= 0:
		return fault.Errorf("alertSource.id is required")
	case len(b.Responders) > alert.MaxItems:
		return fault.Errorf("responders may have at most %d entries", alert.MaxItems)
	}
	if err := alert.ValidateAttachments(m.Images, m.Links); err != nil {
		return err
	}
	m.SourceID = b.AlertSource.ID
	if b.EscalationPolicy != nil {
		m.PolicyID = b.EscalationPolicy.ID
	}
	if b.Priority != "" {
		m.Priority = alert.Priority(strings.ToUpper(b.Priority))
		if m.Priority != alert.High && m.Priority != alert.Low {
			return fault.Errorf("priority %q is not one of HIGH, LOW", b.Priority)
		}
	}
	for _, rr := range b.Responders {
		id := rr.ID
		if rr.User != nil {
			id = rr.User.ID
		}
		if id <= 0 {
			return fault.Errorf("responders[].id is required")
		}
		m.Responders = append(m.Responders, id)
	}
	if m.Priority == "" {
		// As an event on the source would have it: the priority rule, with support hours.
		src, err := s.store.SourceByID(r.Context(), m.SourceID)
		if err != nil && !fault.Is(err, fault.NotFound) {
			return err
		}
		if err == nil {
			set, err := s.compileRules(r.Context(), src)
			if err != nil {
				return err
			}
			m.Priority = set.Priority(alert.Event{Type: alert.EventAlert, Summary: m.Summary, Details: m.Details}, nil, time.Now())
		}
	}
	a, err := s.store.CreateManualAlert(r.Context(), m, callerOf(r))
	if err != nil {
		return err
	}
	s.wake()
	if s.metrics != nil {
		s.metrics.AlertsOpened.Inc()
	}
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) setAlertStatus(to alert.Status) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		a, err := s.store.SetAlertStatus(r.Context(), id, to, callerOf(r))
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, a)
		return nil
	}
}

// raiseAlert raises a LOW alert to HIGH; a pending one then pages by the high-priority rules.
func (s *Server) raiseAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	a, err := s.store.RaiseAlert(r.Context(), id, callerOf(r))
	if err != nil {
		return err
	}
	s.wake()
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) assignAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	first := func(names ...string) string {
		for _, n := range names {
			if v := q.Get(n); v != "" {
				return v
			}
		}
		return ""
	}
	userRef, policyRef := first("user", "user-id"), first("policy", "policy-id")
	if first("schedule", "schedule-id") != "" {
		return fault.Errorf("assigning an alert to a schedule is not supported; assign it to a user or a policy")
	}
	if userRef == "" && policyRef == "" {
		return fault.Errorf("name a user (user or user-id) or an escalation policy (policy or policy-id)")
	}
	var userID, policyID int64
	if userRef != "" {
		if userID, err = s.userID(r, userRef); err != nil {
			return err
		}
	}
	if policyRef != "" {
		if policyID, err = strconv.ParseInt(policyRef, 10, 64); err != nil || policyID <= 0 {
			return fault.Errorf("policy %q is not a valid id", policyRef)
		}
	}
	a, err := s.store.AssignAlert(r.Context(), id, userID, policyID, callerOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) commentAlert(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b struct {
		Content string `json:"content"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	text := strings.TrimSpace(b.Content)
	if text == "" || len(text) > alert.MaxDetailsLen {
		return fault.Errorf("content is required and must be at most %d bytes", alert.MaxDetailsLen)
	}
	e, err := s.store.CommentAlert(r.Context(), id, text, callerOf(r))
	if err != nil {
		return err
	}
	if !includes(r)["vars"] { // as the log entries list shows them
		e.Vars = nil
	}
	writeJSON(w, http.StatusCreated, e)
	return nil
}

func (s *Server) alertLogEntries(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	start, max, err := page(r, 50, 100)
	if err != nil {
		return err
	}
	types, err := multi(r, "filter-types")
	if err != nil {
		return err
	}
	for _, t := range types {
		if !alert.IsLogFilterType(t) {
			return fault.Errorf("filter-types %q is not a known log filter type", t)
		}
	}
	entries, err := s.store.LogEntries(r.Context(), id, types, store.Page{Start: start, Max: max})
	if err != nil {
		return err
	}
	if !includes(r)["vars"] {
		for i := range entries {
			entries[i].Vars = nil
		}
	}
	writeJSON(w, http.StatusOK, entries)
	return nil
}

func (s *Server) addResponder(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b struct {
		ID   int64  `json:"id"`
		User *idRef `json:"user"`
	}
	if err := decodeJSON(r, &b); err != nil {
		return err
	}
	if b.User != nil {
		b.ID = b.User.ID
	}
	if b.ID <= 0 {
		return fault.Errorf("the body must name a user: {\"user\": {\"id\": 1}}")
	}
	resp, err := s.store.AddResponder(r.Context(), id, b.ID, callerOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, resp)
	return nil
}

func (s *Server) removeResponder(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	// A user that does not exist is not a responder: 404, as for one who is not.
	a, err := s.store.AccountByRef(r.Context(), r.PathValue("userID"))
	if fault.Is(err, fault.NotFound) {
		return fault.NotFoundf("user %q is not a responder of alert %d", r.PathValue("userID"), id)
	}
	if err != nil {
		return err
	}
	userID := a.ID
	if err := s.store.RemoveResponder(r.Context(), id, userID, callerOf(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// userID resolves a user named by id or username. An unknown user is Invalid.
func (s *Server) userID(r *http.Request, ref string) (int64, error) {
	a, err := s.store.AccountByRef(r.Context(), ref)
	if fault.Is(err, fault.NotFound) {
		return 0, fault.Errorf("user %q does not exist", ref)
	}
	return a.ID, err
}
