package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Paging of GET /api/maintenance-windows, as ilert documents it, and the most alert sources
// its sources filter takes.
const (
	maintenancePageDefault  = 50
	maintenancePageMax      = 100
	maintenanceFilterSource = 100
)

// maintenanceBody is a MaintenanceWindow as clients write it. start and end are read as text
// so that a wrong date-time is answered with what is expected; id and createdBy are
// read-only and ignored.
type maintenanceBody struct {
	Timezone      string                          `json:"timezone"`
	Start         string                          `json:"start"`
	End           string                          `json:"end"`
	Summary       string                          `json:"summary"`
	Description   string                          `json:"description"`
	AlertSources  []idRef                         `json:"alertSources"`
	Services      []json.RawMessage               `json:"services"`
	Notifications *store.MaintenanceNotifications `json:"notifications"`
}

// maintenanceOut is a window as tocsin answers it: ilert's shape, with services always empty.
type maintenanceOut struct {
	*store.MaintenanceWindow
	Services []idRef `json:"services"`
}

func viewMaintenance(w *store.MaintenanceWindow) maintenanceOut {
	return maintenanceOut{MaintenanceWindow: w, Services: []idRef{}}
}

// readMaintenanceBody reads a window from the request body; the store validates what this
// does not.
func readMaintenanceBody(r *http.Request) (*store.MaintenanceWindow, error) {
	var b maintenanceBody
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	if len(b.Services) > 0 {
		return nil, fault.Errorf("services are not supported yet: send an empty list, and name alert sources in alertSources")
	}
	start, err := parseInstant("start", b.Start)
	if err != nil {
		return nil, err
	}
	end, err := parseInstant("end", b.End)
	if err != nil {
		return nil, err
	}
	w := &store.MaintenanceWindow{Timezone: b.Timezone, Start: start, End: end, Summary: b.Summary,
		Description: b.Description, AlertSources: make([]alert.SourceRef, len(b.AlertSources))}
	for i, s := range b.AlertSources {
		w.AlertSources[i] = alert.SourceRef{ID: s.ID}
	}
	if b.Notifications != nil {
		w.Notifications = *b.Notifications
	}
	return w, nil
}

// parseInstant reads an ISO-8601 date-time with an offset or Z. Empty gives the zero time,
// which the window's validation reports as missing.
func parseInstant(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fault.Errorf("%s %q is not an ISO-8601 date-time with an offset or Z, such as 2024-05-01T22:00:00Z", name, v)
}

// maintenanceFilter reads the list's filters: state, sources, services, from and until.
func maintenanceFilter(r *http.Request) (store.MaintenanceFilter, error) {
	var f store.MaintenanceFilter
	q := r.URL.Query()
	if v := q.Get("state"); v != "" {
		f.State = store.MaintenanceState(strings.ToUpper(v))
		if f.State != store.MaintenanceOpen && f.State != store.MaintenanceClosed {
			return f, fault.Errorf("state %q is not one of OPEN, CLOSED", v)
		}
	}
	services, err := idsParam(r, "services")
	if err != nil {
		return f, err
	}
	if len(services) > 0 {
		return f, fault.Errorf("services are not supported yet: filter by alert source with sources")
	}
	if f.Sources, err = idsParam(r, "sources"); err != nil {
		return f, err
	}
	if len(f.Sources) > maintenanceFilterSource {
		return f, fault.Errorf("sources may name at most %d alert sources", maintenanceFilterSource)
	}
	if f.From, err = parseTime("from", q.Get("from")); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until", q.Get("until")); err != nil {
		return f, err
	}
	if f.From != nil && f.Until != nil && f.Until.Before(*f.From) {
		return f, fault.Errorf("until must not be before from")
	}
	return f, nil
}

func (s *Server) listMaintenanceWindows(w http.ResponseWriter, r *http.Request) error {
	start, limit, err := page(r, maintenancePageDefault, maintenancePageMax)
	if err != nil {
		return err
	}
	f, err := maintenanceFilter(r)
	if err != nil {
		return err
	}
	list, err := s.store.MaintenanceWindows(r.Context(), f, store.Page{Start: start, Max: limit})
	if err != nil {
		return err
	}
	out := make([]maintenanceOut, len(list))
	for i, mw := range list {
		out[i] = viewMaintenance(mw)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getMaintenanceWindow(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	mw, err := s.store.MaintenanceWindow(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewMaintenance(mw))
	return nil
}

// createMaintenanceWindow stores a window with the caller as its creator and answers 200, as
// ilert's spec does for this resource.
func (s *Server) createMaintenanceWindow(w http.ResponseWriter, r *http.Request) error {
	mw, err := readMaintenanceBody(r)
	if err != nil {
		return err
	}
	if err := s.store.CreateMaintenanceWindow(r.Context(), mw, callerOf(r).ID); err != nil {
		return err
	}
	s.logMaintenance(r, "maintenance window created", mw)
	writeJSON(w, http.StatusOK, viewMaintenance(mw))
	return nil
}

// updateMaintenanceWindow replaces the whole window; its creator stays. An end of now ends
// it early.
func (s *Server) updateMaintenanceWindow(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	mw, err := readMaintenanceBody(r)
	if err != nil {
		return err
	}
	mw.ID = id
	if err := s.store.UpdateMaintenanceWindow(r.Context(), mw); err != nil {
		return err
	}
	s.logMaintenance(r, "maintenance window updated", mw)
	writeJSON(w, http.StatusOK, viewMaintenance(mw))
	return nil
}

func (s *Server) deleteMaintenanceWindow(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.store.DeleteMaintenanceWindow(r.Context(), id); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "maintenance window deleted", "window_id", id, "by_user_id", callerOf(r).ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// logMaintenance records a written window: silencing alert sources is worth an audit line.
func (s *Server) logMaintenance(r *http.Request, msg string, mw *store.MaintenanceWindow) {
	ids := make([]int64, len(mw.AlertSources))
	for i, src := range mw.AlertSources {
		ids[i] = src.ID
	}
	s.log.InfoContext(r.Context(), msg, "window_id", mw.ID, "start", mw.Start, "end", mw.End, "source_ids", ids,
		"by_user_id", callerOf(r).ID)
}
