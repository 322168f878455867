package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/rules"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/supporthours"
)

// Paging of GET /api/alert-sources, as ilert documents it.
const (
	sourcesPageDefault = 50
	sourcesPageMax     = 50
)

// sourceInput is the body of POST and PUT /api/alert-sources. The read-only fields are
// shadowed so that whatever a client echoes back in them (ilert-go sends zero values such as
// "createdAt":"") is ignored instead of failing to decode.
type sourceInput struct {
	alert.Source
	Status         json.RawMessage `json:"status"`
	IntegrationURL json.RawMessage `json:"integrationUrl"`
	Bidirectional  json.RawMessage `json:"bidirectional"`
	CreatedAt      json.RawMessage `json:"createdAt"`
	UpdatedAt      json.RawMessage `json:"updatedAt"`
}

func (s *Server) listAlertSources(w http.ResponseWriter, r *http.Request) error {
	start, limit, err := page(r, sourcesPageDefault, sourcesPageMax)
	if err != nil {
		return err
	}
	list, err := s.store.Sources(r.Context(), store.Page{Start: start, Max: limit})
	if err != nil {
		return err
	}
	if err := s.presentSources(r, list...); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) createAlertSource(w http.ResponseWriter, r *http.Request) error {
	var in sourceInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	src := &in.Source
	src.ID = 0
	if err := alert.CheckNewType(src.IntegrationType); err != nil {
		return err
	}
	if err := s.checkRules(r.Context(), src); err != nil {
		return err
	}
	if err := s.store.CreateSource(r.Context(), src, s.nextRaise); err != nil {
		return err
	}
	return s.writeSource(w, r, http.StatusCreated, src)
}

// getAlertSource answers for a numeric id or an integration key.
func (s *Server) getAlertSource(w http.ResponseWriter, r *http.Request) error {
	src, err := s.store.SourceByIDOrKey(r.Context(), r.PathValue("idOrKey"))
	if err != nil {
		return err
	}
	return s.writeSource(w, r, http.StatusOK, src)
}

// updateAlertSource replaces the source; it keeps its integration key unless the body names
// a new one.
func (s *Server) updateAlertSource(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in sourceInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	src := &in.Source
	src.ID = id
	if err := s.checkRules(r.Context(), src); err != nil {
		return err
	}
	if err := s.store.UpdateSource(r.Context(), src, s.nextRaise); err != nil {
		return err
	}
	return s.writeSource(w, r, http.StatusOK, src)
}

func (s *Server) deleteAlertSource(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	orphans, err := s.store.DeleteSource(r.Context(), id)
	if err != nil {
		return err
	}
	for _, m := range orphans { // their alerts live on the sources they were moved from
		s.resolveHeartbeatAlert(r.Context(), m)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// alertSourceByName serves ilert-go's SearchAlertSource (the name comes unescaped).
func (s *Server) alertSourceByName(w http.ResponseWriter, r *http.Request) error {
	src, err := s.store.SourceByName(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return s.writeSource(w, r, http.StatusOK, src)
}

// writeSource answers with one source, its status derived.
func (s *Server) writeSource(w http.ResponseWriter, r *http.Request, status int, src *alert.Source) error {
	if err := s.store.SetSourceStatus(r.Context(), src); err != nil {
		return err
	}
	if err := s.presentSources(r, src); err != nil {
		return err
	}
	writeJSON(w, status, src)
	return nil
}

// presentSources shapes sources for a response: the full escalation policy instead of the
// reference, the integration URL, and the templates and filters only when ?include= names them.
//
// The integration URL is the Events API endpoint; the integration key goes in the event body
// as "integrationKey" (or ilert's older "apiKey"). The key is a secret that opens and resolves
// alerts whoever holds it, so only callers who may change the source see it.
func (s *Server) presentSources(r *http.Request, sources ...*alert.Source) error {
	inc := includes(r)
	showKeys := callerOf(r).Role.Allows(auth.Configure)
	policies := map[int64]json.RawMessage{}
	for _, src := range sources {
		raw, ok := policies[src.PolicyID]
		if !ok {
			var err error
			if raw, err = s.policyJSON(r.Context(), src.PolicyID); err != nil {
				return err
			}
			policies[src.PolicyID] = raw
		}
		src.EscalationPolicy = raw
		src.IntegrationURL = s.publicURL + "/api/events"
		if !showKeys {
			src.IntegrationKey = ""
		}
		hideUnincluded(src, inc)
	}
	return nil
}

// policyJSON returns the policy as a source response shows it.
func (s *Server) policyJSON(ctx context.Context, id int64) (json.RawMessage, error) {
	p, err := s.store.Policy(ctx, id)
	if fault.Is(err, fault.NotFound) {
		// Deleted between the two reads; the foreign key makes this rare.
		return json.Marshal(map[string]int64{"id": id})
	}
	if err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

// hideUnincluded clears the template and filter fields ?include= does not name.
func hideUnincluded(src *alert.Source, inc map[string]bool) {
	raws := map[string]*json.RawMessage{
		"summaryTemplate":  &src.SummaryTemplate,
		"detailsTemplate":  &src.DetailsTemplate,
		"routingTemplate":  &src.RoutingTemplate,
		"alertKeyTemplate": &src.AlertKeyTemplate,
		"servicesTemplate": &src.ServicesTemplate,
		"linkTemplates":    &src.LinkTemplates,
		"priorityTemplate": &src.PriorityTemplate,
		"severityTemplate": &src.SeverityTemplate,
		"textTemplate":     &src.TextTemplate,
	}
	for name, f := range raws {
		if !inc[name] {
			*f = nil
		}
	}
	texts := map[string]*string{
		"eventFilter":            &src.EventFilter,
		"eventTypeFilterCreate":  &src.EventTypeFilterCreate,
		"eventTypeFilterAccept":  &src.EventTypeFilterAccept,
		"eventTypeFilterResolve": &src.EventTypeFilterResolve,
	}
	for name, f := range texts {
		if !inc[name] {
			*f = ""
		}
	}
}

// checkRules compiles a source's rules before it is saved, so a bad template, condition or
// support hours is refused with where it is wrong, and works out its next auto-raise.
func (s *Server) checkRules(ctx context.Context, src *alert.Source) error {
	src.Normalize()
	set, err := s.compileRules(ctx, src)
	if err != nil {
		return err
	}
	src.RaiseAt, src.HoursRefs = nil, set.HoursRefs()
	if at, ok := set.NextRaise(time.Now()); ok {
		src.RaiseAt = &at
	}
	return nil
}

// nextRaise works out a source's next auto-raise with the given versions of support hours in
// place of those stored: a store transaction calls it with the hours as it reads or writes
// them.
func (s *Server) nextRaise(ctx context.Context, src *alert.Source, hours []supporthours.Hours) (*time.Time, error) {
	set, err := rules.Compile(ctx, src, hoursWith{hours: hours, Hours: s.store}, s.sources.ruleCounters())
	if err != nil {
		return nil, err
	}
	if at, ok := set.NextRaise(time.Now()); ok {
		return &at, nil
	}
	return nil, nil
}

// hoursWith looks up support hours: those in hours by their id, the others in Hours.
type hoursWith struct {
	hours []supporthours.Hours
	rules.Hours
}

func (l hoursWith) SupportHoursByID(ctx context.Context, id int64) (supporthours.Hours, error) {
	for _, h := range l.hours {
		if h.ID == id {
			return h, nil
		}
	}
	return l.Hours.SupportHoursByID(ctx, id)
}
