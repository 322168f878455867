package api

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/heartbeat"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Paging of GET /api/heartbeat-monitors, as ilert documents it.
const (
	heartbeatsPageDefault = 100
	heartbeatsPageMax     = 200
)

// heartbeatInput is the body of POST and PUT /api/heartbeat-monitors: ilert's
// HeartbeatMonitorRel, plus teams. References are read by id alone, since ilert-go sends the
// whole alert source with empty fields; the read-only fields a client echoes back (state,
// createdAt, integrationKey, …) are ignored.
type heartbeatInput struct {
	Name         string `json:"name"`
	IntervalSec  int    `json:"intervalSec"`
	AlertSummary string `json:"alertSummary"`
	AlertSource  *struct {
		ID int64 `json:"id"`
	} `json:"alertSource"`
	Teams []struct {
		ID int64 `json:"id"`
	} `json:"teams"`
}

func (in heartbeatInput) monitor() heartbeat.Monitor {
	m := heartbeat.Monitor{Name: in.Name, IntervalSec: in.IntervalSec, AlertSummary: in.AlertSummary,
		Teams: make([]auth.TeamRef, len(in.Teams))}
	if in.AlertSource != nil {
		m.SourceID = in.AlertSource.ID
	}
	for i, t := range in.Teams {
		m.Teams[i].ID = t.ID
	}
	return m
}

// heartbeatView is ilert's HeartbeatMonitor, plus tocsin's lastPingAt. integrationKey and
// integrationUrl appear only when ?include= names them; alertSource is a reference unless
// ?include=alertSource asks for the whole source.
type heartbeatView struct {
	ID             int64          `json:"id"`
	Name           string         `json:"name"`
	State          string         `json:"state"`
	IntervalSec    int            `json:"intervalSec"`
	AlertSummary   string         `json:"alertSummary"`
	CreatedAt      time.Time      `json:"createdAt"`
	UpdatedAt      time.Time      `json:"updatedAt"`
	AlertSource    any            `json:"alertSource"`
	Teams          []auth.TeamRef `json:"teams"`
	IntegrationKey string         `json:"integrationKey,omitempty"`
	IntegrationURL string         `json:"integrationUrl,omitempty"`
	LastPingAt     *time.Time     `json:"lastPingAt"`
}

// listHeartbeatMonitors serves GET /api/heartbeat-monitors. It pages by start-index and
// max-results (ilert-go) and by ilert's cursor: a full page answers a next-cursor header, and
// ?cursor= with it continues after that page.
func (s *Server) listHeartbeatMonitors(w http.ResponseWriter, r *http.Request) error {
	start, limit, err := page(r, heartbeatsPageDefault, heartbeatsPageMax)
	if err != nil {
		return err
	}
	var after int64
	if v := r.URL.Query().Get("cursor"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return fault.Errorf("cursor %q is not one this server handed out", v)
		}
	}
	list, err := s.store.HeartbeatMonitors(r.Context(), store.Page{Start: start, Max: limit}, after)
	if err != nil {
		return err
	}
	views, err := s.presentHeartbeats(r, list...)
	if err != nil {
		return err
	}
	if len(list) == limit {
		w.Header().Set("next-cursor", strconv.FormatInt(list[len(list)-1].ID, 10))
	}
	writeJSON(w, http.StatusOK, views)
	return nil
}

// createHeartbeatMonitor serves POST /api/heartbeat-monitors. A name that is taken answers
// 409 with the monitor that has it, as ilert does, so an installer script can create its
// monitor every time it runs and read the ping URL from either answer.
func (s *Server) createHeartbeatMonitor(w http.ResponseWriter, r *http.Request) error {
	var in heartbeatInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	m := in.monitor()
	if err := s.heartbeats.Validate(&m); err != nil {
		return err
	}
	err := s.store.CreateHeartbeatMonitor(r.Context(), &m)
	if fault.Is(err, fault.Conflict) {
		existing, ferr := s.store.HeartbeatMonitorByName(r.Context(), m.Name)
		if ferr != nil {
			return err // renamed or deleted in between: the conflict stands
		}
		return s.writeHeartbeat(w, r, http.StatusConflict, existing)
	}
	if err != nil {
		return err
	}
	return s.writeHeartbeat(w, r, http.StatusCreated, m)
}

func (s *Server) getHeartbeatMonitor(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	m, err := s.store.HeartbeatMonitor(r.Context(), id)
	if err != nil {
		return err
	}
	return s.writeHeartbeat(w, r, http.StatusOK, m)
}

// heartbeatMonitorByName serves ilert-go's SearchHeartbeatMonitor (the name comes unescaped).
func (s *Server) heartbeatMonitorByName(w http.ResponseWriter, r *http.Request) error {
	m, err := s.store.HeartbeatMonitorByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return s.writeHeartbeat(w, r, http.StatusOK, m)
}

// updateHeartbeatMonitor replaces what a client writes on a monitor; its key, state and last
// ping stay.
func (s *Server) updateHeartbeatMonitor(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in heartbeatInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	m := in.monitor()
	m.ID = id
	if err := s.heartbeats.Validate(&m); err != nil {
		return err
	}
	if err := s.store.UpdateHeartbeatMonitor(r.Context(), &m); err != nil {
		return err
	}
	return s.writeHeartbeat(w, r, http.StatusOK, m)
}

// deleteHeartbeatMonitor deletes a monitor. An overdue monitor's alert is resolved, since no
// ping can resolve it any more.
func (s *Server) deleteHeartbeatMonitor(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	m, err := s.store.DeleteHeartbeatMonitor(r.Context(), id)
	if err != nil {
		return err
	}
	s.resolveHeartbeatAlert(r.Context(), m)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resolveHeartbeatAlert resolves the alert of a deleted monitor that was OVERDUE: no ping can
// resolve it any more.
func (s *Server) resolveHeartbeatAlert(ctx context.Context, m heartbeat.Monitor) {
	if m.State != heartbeat.Overdue || m.OverdueSourceID == 0 {
		return
	}
	ev := alert.Event{Type: alert.EventResolve, AlertKey: heartbeat.AlertKey(m.ID)}
	if err := s.SubmitHeartbeatEvent(ctx, m.OverdueSourceID, ev); err != nil {
		s.log.ErrorContext(ctx, "the alert of a deleted heartbeat monitor was not resolved", "monitor", m.ID,
			"source", m.OverdueSourceID, "err", err)
	}
}

// writeHeartbeat answers with one monitor.
func (s *Server) writeHeartbeat(w http.ResponseWriter, r *http.Request, status int, m heartbeat.Monitor) error {
	views, err := s.presentHeartbeats(r, m)
	if err != nil {
		return err
	}
	writeJSON(w, status, views[0])
	return nil
}

// presentHeartbeats shapes monitors for a response, with what ?include= names.
func (s *Server) presentHeartbeats(r *http.Request, list ...heartbeat.Monitor) ([]heartbeatView, error) {
	inc := includes(r)
	// The key is a secret (a ping with it hides an outage): only for callers who may change
	// the monitor.
	if !callerOf(r).Role.Allows(auth.Configure) {
		delete(inc, "integrationKey")
		delete(inc, "integrationUrl")
	}
	sources := map[int64]any{}
	views := make([]heartbeatView, len(list))
	for i, m := range list {
		v := heartbeatView{ID: m.ID, Name: m.Name, State: string(m.State), IntervalSec: m.IntervalSec,
			AlertSummary: m.AlertSummary, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, Teams: m.Teams,
			LastPingAt: m.LastPingAt, AlertSource: map[string]int64{"id": m.SourceID}}
		if inc["integrationKey"] {
			v.IntegrationKey = m.IntegrationKey
		}
		if inc["integrationUrl"] {
			v.IntegrationURL = s.publicURL + "/api/pings/" + m.IntegrationKey
		}
		if inc["alertSource"] {
			src, ok := sources[m.SourceID]
			if !ok {
				var err error
				if src, err = s.sourceJSON(r, m.SourceID); err != nil {
					return nil, err
				}
				sources[m.SourceID] = src
			}
			v.AlertSource = src
		}
		views[i] = v
	}
	return views, nil
}

// sourceJSON is an alert source as GET /api/alert-sources/{id} shows it.
func (s *Server) sourceJSON(r *http.Request, id int64) (any, error) {
	src, err := s.store.SourceByID(r.Context(), id)
	if fault.Is(err, fault.NotFound) {
		return map[string]int64{"id": id}, nil // deleted meanwhile, with the monitor
	}
	if err != nil {
		return nil, err
	}
	if err := s.store.SetSourceStatus(r.Context(), src); err != nil {
		return nil, err
	}
	if err := s.presentSources(r, src); err != nil {
		return nil, err
	}
	return src, nil
}

// ping serves GET, HEAD and POST on a monitor's ping URLs. The key in the path is the
// credential (a stray Authorization header is ignored) and the answer is 202 with no body.
// The ping is held in memory and written with others about once a second.
func (s *Server) ping(w http.ResponseWriter, r *http.Request) error {
	if err := s.heartbeats.Ping(r.Context(), r.PathValue("key")); err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(r.Body, maxBody)) // whatever a client posts is not read, but drained
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// SubmitHeartbeatEvent submits an event of a heartbeat monitor to an alert source the way
// the Events API takes one (see heartbeat.Events), without its rate limit. A source that no
// longer exists took its alerts with it, so there is nothing to do.
func (s *Server) SubmitHeartbeatEvent(ctx context.Context, sourceID int64, ev alert.Event) error {
	src, err := s.store.SourceByID(ctx, sourceID)
	if err == nil {
		var cs *cachedSource
		if cs, err = s.sourceByKey(ctx, src.IntegrationKey); err == nil {
			ev.IntegrationKey = src.IntegrationKey
			var resp eventResponse
			if resp, err = s.submitToSource(ctx, cs, ev); err == nil && resp.AlertURL == "" && ev.Type == alert.EventAlert {
				s.log.InfoContext(ctx, "the alert source took a heartbeat ALERT without an alert", "source", sourceID,
					"alert_key", ev.AlertKey, "response_code", resp.ResponseCode)
			}
		}
	}
	if fault.Is(err, fault.NotFound) {
		return nil
	}
	return err
}
