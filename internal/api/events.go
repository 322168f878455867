package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/rules"
	"github.com/tocsinhq/tocsin/internal/store"
)

// eventResponse is the 202 body of the Events API.
type eventResponse struct {
	AlertKey     string `json:"alertKey"`
	AlertURL     string `json:"alertUrl"`
	ResponseCode string `json:"responseCode"`
}

// postEvent serves POST /api/events and its aliases. It answers 202 only after the event is
// committed to the database.
func (s *Server) postEvent(w http.ResponseWriter, r *http.Request) error {
	err := s.acceptEvent(w, r)
	if err != nil && s.metrics != nil {
		s.metrics.EventsReceived.WithLabelValues(string(fault.CodeOf(err))).Inc()
	}
	return err
}

func (s *Server) acceptEvent(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	ev, err := alert.ParseEvent(body, r.PathValue("key"))
	if err != nil {
		return err
	}
	cs, err := s.sourceByKey(r.Context(), ev.IntegrationKey)
	if fault.Is(err, fault.NotFound) {
		return fault.NotFoundf("no alert source has this integration key")
	}
	if err != nil {
		return err
	}
	// Throttled after the look-up, so only real keys get a bucket.
	if ok, wait := s.limiter.take(ev.IntegrationKey, time.Now()); !ok {
		wait = wholeSeconds(wait)
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
		return fault.New(fault.RateLimited, "too many events for this integration key; retry in %s", wait)
	}
	resp, err := s.submitToSource(r.Context(), cs, ev)
	if err != nil {
		return err
	}
	if s.metrics != nil {
		s.metrics.EventsReceived.WithLabelValues(resp.ResponseCode).Inc()
	}
	writeJSON(w, http.StatusAccepted, resp)
	return nil
}

// submitToSource does what the Events API does with an event once its alert source is known
// and the event is within its rate: nothing when the source is switched off, else the source's
// rules (filters, templates, priority, maintenance), the group commit, and a wake-up for the
// engine when an alert opened. It returns the Events API's answer.
func (s *Server) submitToSource(ctx context.Context, cs *cachedSource, ev alert.Event) (eventResponse, error) {
	if !cs.src.IsActive() {
		return eventResponse{AlertKey: ev.AlertKey, ResponseCode: alert.CodeSourceInactive}, nil
	}
	out := cs.rules.Apply(ev, time.Now())
	if out.Err != nil { // the rules failed open: the event goes on, but its sender should know
		s.log.WarnContext(ctx, "an alert source's rule could not be worked out on an event", "source", cs.src.ID, "err", out.Err)
	}
	if out.Dropped {
		return eventResponse{AlertKey: ev.AlertKey, ResponseCode: alert.CodeFiltered}, nil
	}
	res, err := s.ingest.Submit(ctx, store.EventWork{Source: cs.src, Event: &out.Event, Priority: out.Priority,
		InMaintenance: cs.inMaintenance})
	if err != nil {
		return eventResponse{}, err
	}
	resp := eventResponse{AlertKey: res.AlertKey, ResponseCode: res.Code}
	if res.AlertID != 0 {
		resp.AlertURL = s.alertURL(res.AlertID)
	}
	if res.Opened {
		s.wake()
		if s.metrics != nil {
			s.metrics.AlertsOpened.Inc()
		}
	}
	return resp, nil
}

// alertURL is the link to an alert given in responses.
func (s *Server) alertURL(id int64) string {
	return s.publicURL + "/api/alerts/" + strconv.FormatInt(id, 10)
}

// sourceCache keeps alert sources by integration key for a second, with their compiled
// rules and whether they are in maintenance, so a burst of events costs one lookup. A changed
// or deleted source, or a maintenance window starting, takes effect within that second.
type sourceCache struct {
	mu       sync.Mutex
	entries  map[string]*cachedSource
	counters *rules.Counters // the trigger counts of the sources' conditions, kept across refills
}

type cachedSource struct {
	src           *alert.Source
	rules         *rules.Set
	inMaintenance bool
	at            time.Time
}

const sourceCacheTTL = time.Second

// sourceByKey finds the alert source of an integration key through the cache.
func (s *Server) sourceByKey(ctx context.Context, key string) (*cachedSource, error) {
	now := time.Now()
	c := &s.sources
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < sourceCacheTTL {
		return e, nil
	}
	src, err := s.store.SourceByIntegrationKey(ctx, key)
	if err != nil {
		return nil, err
	}
	set, err := s.compileRules(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("api: the rules of alert source %d as stored: %w", src.ID, err)
	}
	inMaintenance, err := s.store.InMaintenance(ctx, src.ID, now)
	if err != nil {
		return nil, err
	}
	e = &cachedSource{src: src, rules: set, inMaintenance: inMaintenance, at: now}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) > 10000 { // a bound on memory; the next second refills it
		c.entries = map[string]*cachedSource{}
	}
	c.entries[key] = e
	c.mu.Unlock()
	return e, nil
}

// compileRules checks and compiles an alert source's rules, looking up the support hours it
// names.
func (s *Server) compileRules(ctx context.Context, src *alert.Source) (*rules.Set, error) {
	return rules.Compile(ctx, src, s.store, s.sources.ruleCounters())
}

func (c *sourceCache) ruleCounters() *rules.Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counters == nil {
		c.counters = rules.NewCounters()
	}
	return c.counters
}
