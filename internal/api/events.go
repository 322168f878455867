package api

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
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
	src, err := s.sourceByKey(r.Context(), ev.IntegrationKey)
	if fault.Is(err, fault.NotFound) {
		return fault.NotFoundf("no alert source has this integration key")
	}
	if err != nil {
		return err
	}
	// Throttled after the look-up, so only real keys get a bucket.
	if ok, wait := s.limiter.allow(ev.IntegrationKey, time.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())))
		return fault.New(fault.RateLimited, "too many events for this integration key; retry in %s", wait)
	}
	resp := eventResponse{AlertKey: ev.AlertKey, ResponseCode: alert.CodeSourceInactive}
	if src.IsActive() {
		res, err := s.ingest.Submit(r.Context(), src, &ev)
		if err != nil {
			return err
		}
		resp = eventResponse{AlertKey: res.AlertKey, ResponseCode: res.Code}
		if res.AlertID != 0 {
			resp.AlertURL = s.alertURL(res.AlertID)
		}
		if res.Opened {
			s.wake()
			if s.metrics != nil {
				s.metrics.AlertsOpened.Inc()
			}
		}
	}
	if s.metrics != nil {
		s.metrics.EventsReceived.WithLabelValues(resp.ResponseCode).Inc()
	}
	writeJSON(w, http.StatusAccepted, resp)
	return nil
}

// alertURL is the link to an alert given in responses.
func (s *Server) alertURL(id int64) string {
	return s.publicURL + "/api/alerts/" + strconv.FormatInt(id, 10)
}

// sourceCache keeps alert sources by integration key for a second, so a burst of events
// costs one lookup. A changed or deleted source takes effect within that second.
type sourceCache struct {
	mu      sync.Mutex
	entries map[string]cachedSource
}

type cachedSource struct {
	src *alert.Source
	at  time.Time
}

const sourceCacheTTL = time.Second

// sourceByKey finds the alert source of an integration key through the cache.
func (s *Server) sourceByKey(ctx context.Context, key string) (*alert.Source, error) {
	now := time.Now()
	c := &s.sources
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < sourceCacheTTL {
		return e.src, nil
	}
	src, err := s.store.SourceByIntegrationKey(ctx, key)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) > 10000 { // a bound on memory; the next second refills it
		c.entries = map[string]cachedSource{}
	}
	c.entries[key] = cachedSource{src: src, at: now}
	c.mu.Unlock()
	return src, nil
}
