package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/engine"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/rules"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Planner works out whom an alert would notify (the engine does).
type Planner interface {
	Plan(ctx context.Context, a store.AlertState, at time.Time) ([]engine.Planned, error)
}

// simulateInput is the body of a dry run: an event as the Events API takes it (its
// integration key may be left out) and, optionally, when it arrives.
type simulateInput struct {
	Event json.RawMessage `json:"event"`
	Time  *time.Time      `json:"time"`
}

type simulatedAlert struct {
	ID               int64          `json:"id,omitempty"` // an existing alert; a new one has none yet
	Summary          string         `json:"summary"`
	AlertKey         string         `json:"alertKey"`
	Priority         alert.Priority `json:"priority"`
	Status           alert.Status   `json:"status"`
	EscalationPolicy *idName        `json:"escalationPolicy,omitempty"`
}

type idName struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

type simulatedNotification struct {
	User            idName    `json:"user"`
	Method          string    `json:"method"`
	Target          string    `json:"target"`
	At              time.Time `json:"at"`
	EscalationLevel int       `json:"escalationLevel"` // from 1
	Round           int       `json:"round"`           // 0 on the first pass over the levels
}

type simulation struct {
	At            time.Time               `json:"at"`
	Outcome       string                  `json:"outcome"`
	ResponseCode  string                  `json:"responseCode"`
	Reason        string                  `json:"reason,omitempty"`
	Warning       string                  `json:"warning,omitempty"` // a rule that could not be worked out on the event
	EventType     alert.EventType         `json:"eventType"`
	Alert         *simulatedAlert         `json:"alert,omitempty"`
	Notifications []simulatedNotification `json:"notifications"`
}

// Outcomes of a dry run.
const (
	outcomeDropped = "DROPPED"        // a filter dropped the event
	outcomeNew     = "NEW_ALERT"      // it opens an alert
	outcomeAdded   = "ADDED_TO_ALERT" // it is added (or grouped) into an open alert
	outcomeChanged = "ALERT_CHANGED"  // it accepts, resolves or comments an open alert
	outcomeNone    = "NO_ALERT"       // it touches no alert (inactive source, maintenance, no open alert)
)

// simulateEvent serves POST /api/alert-sources/{id}/simulate: what an event would do, through
// the same rules and the same transaction as a real one, rolled back, and whom a new alert
// would notify, when and how, if nobody accepted it. Nothing is written and nobody is paged.
func (s *Server) simulateEvent(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in simulateInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if len(in.Event) == 0 {
		return fault.Errorf("event is required")
	}
	ctx := r.Context()
	src, err := s.store.SourceByID(ctx, id)
	if err != nil {
		return err
	}
	if ev := bytes.TrimSpace(in.Event); len(ev) == 0 || ev[0] != '{' {
		return fault.Errorf("event must be an object")
	}
	ev, err := alert.ParseEvent(in.Event, src.IntegrationKey) // the source's key, whatever the body says
	if err != nil {
		return err
	}
	at := time.Now()
	if in.Time != nil {
		at = *in.Time
	}
	// The dry run's own copy of the trigger counts: it sees them, and adds nothing to them.
	set, err := rules.Compile(ctx, src, s.store, s.sources.ruleCounters().Copy(src.ID))
	if err != nil {
		return err
	}
	out := simulation{At: at.UTC(), EventType: ev.Type, Notifications: []simulatedNotification{}}
	if !src.IsActive() {
		out.Outcome, out.ResponseCode = outcomeNone, alert.CodeSourceInactive
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	applied := set.Apply(ev, at)
	out.EventType = applied.Event.Type
	if applied.Err != nil {
		out.Warning = applied.Err.Error()
	}
	if applied.Dropped {
		out.Outcome, out.ResponseCode, out.Reason = outcomeDropped, alert.CodeFiltered, applied.Reason
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	inMaintenance, err := s.store.InMaintenance(ctx, src.ID, at)
	if err != nil {
		return err
	}
	preview, err := s.store.DryRun(ctx, store.EventWork{Source: src, Event: &applied.Event, Priority: applied.Priority,
		InMaintenance: inMaintenance}, at)
	if err != nil {
		return err
	}
	res := preview.Result
	out.ResponseCode = res.Code
	switch {
	case res.AlertID == 0:
		out.Outcome = outcomeNone
	case res.Opened:
		out.Outcome = outcomeNew
	case res.Code == alert.CodeAppended:
		out.Outcome = outcomeAdded
	default:
		out.Outcome = outcomeChanged
	}
	if res.AlertID != 0 {
		a := preview.Alert
		out.Alert = &simulatedAlert{Summary: preview.Summary, AlertKey: res.AlertKey, Priority: a.Priority, Status: a.Status,
			EscalationPolicy: &idName{ID: a.PolicyID, Name: preview.PolicyName}}
		if !res.Opened {
			out.Alert.ID = a.ID
		}
	}
	if res.Opened && s.planner != nil {
		plan, err := s.planner.Plan(ctx, preview.Alert, at)
		if err != nil {
			return err
		}
		if out.Notifications, err = s.describePlan(ctx, plan); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) describePlan(ctx context.Context, plan []engine.Planned) ([]simulatedNotification, error) {
	ids := make([]int64, len(plan))
	for i, p := range plan {
		ids[i] = p.UserID
	}
	users, err := s.store.AccountsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]simulatedNotification, len(plan))
	for i, p := range plan {
		u := users[p.UserID]
		out[i] = simulatedNotification{User: idName{ID: p.UserID, Name: strings.TrimSpace(u.FirstName + " " + u.LastName)},
			Method: string(p.Method), Target: notify.ShownTarget(p.Method, p.Target), At: p.At.UTC(), EscalationLevel: p.Level + 1, Round: p.Round}
	}
	return out, nil
}
