// Package api serves tocsin's REST API under /api in ilert's resource shapes, the Events API,
// and the health and metrics endpoints.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/heartbeat"
	"github.com/tocsinhq/tocsin/internal/ingest"
	"github.com/tocsinhq/tocsin/internal/metrics"
	"github.com/tocsinhq/tocsin/internal/notify/twilio"
	"github.com/tocsinhq/tocsin/internal/store"
)

// Options configure a Server.
type Options struct {
	Store     *store.DB
	Ingest    *ingest.Committer
	Metrics   *metrics.Metrics
	Log       *slog.Logger
	PublicURL string // base of links in responses, without a trailing slash
	// EventRate and EventBurst limit events per integration key (per second, and the burst
	// allowed above it). EventRate 0 switches the limit off.
	EventRate  float64
	EventBurst int
	// LinkKey verifies the accept and resolve links in notifications (see auth.Links).
	LinkKey []byte
	// AllowPrivateWebhooks lets webhook contacts use loopback and private addresses (the
	// --allow-private-webhooks switch, which the webhook channel obeys too).
	AllowPrivateWebhooks bool
	// Twilio verifies the callbacks of SMS replies and voice calls; nil when not configured.
	Twilio *twilio.Config
	// Wake tells the engine that work is due now (an alert opened); nil when no engine runs.
	Wake func()
	// Heartbeats takes the pings of heartbeat monitors; whoever starts the API runs its loop
	// (heartbeat.Watcher.Run), which writes them. nil makes one on Store that nobody runs.
	Heartbeats *heartbeat.Watcher
	// Planner works out whom a simulated alert would notify; nil leaves dry runs without a
	// notification plan.
	Planner Planner
}

// Server is tocsin's HTTP API.
type Server struct {
	store     *store.DB
	ingest    *ingest.Committer
	metrics   *metrics.Metrics
	log       *slog.Logger
	publicURL string
	limiter   *boundedLimiter
	sources   sourceCache
	linkKey   []byte
	twilio    *twilio.Config
	wake      func()

	allowPrivateWebhooks bool
	heartbeats           *heartbeat.Watcher
	planner              Planner
	mux                  *http.ServeMux
}

// New builds the API with every route registered.
func New(o Options) *Server {
	s := &Server{
		store:     o.Store,
		ingest:    o.Ingest,
		metrics:   o.Metrics,
		log:       o.Log,
		publicURL: o.PublicURL,
		limiter:   newBoundedLimiter(o.EventRate, max(o.EventBurst, 1), eventKeysMax),
		linkKey:   o.LinkKey,
		twilio:    o.Twilio,

		allowPrivateWebhooks: o.AllowPrivateWebhooks,
		wake:                 o.Wake,
		heartbeats:           o.Heartbeats,
		planner:              o.Planner,
		mux:                  http.NewServeMux(),
	}
	if s.wake == nil {
		s.wake = func() {}
	}
	if s.heartbeats == nil {
		s.heartbeats = heartbeat.New(heartbeat.Options{Store: o.Store, Log: o.Log})
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.routes()
	return s
}

// ServeHTTP makes the Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// handlerFunc is a handler that returns its error for the one error writer to answer.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle registers a route that needs an authenticated caller whose role grants perm.
func (s *Server) handle(pattern string, perm auth.Permission, fn handlerFunc) {
	s.mux.Handle(pattern, s.instrument(pattern, func(w http.ResponseWriter, r *http.Request) error {
		c, err := s.authenticate(r)
		if err != nil {
			return err
		}
		if !c.Role.Allows(perm) {
			return fault.New(fault.Forbidden, "the %s role may not do this", c.Role)
		}
		return fn(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	}))
}

// public registers a route that needs no API key (integration endpoints, health).
func (s *Server) public(pattern string, fn handlerFunc) {
	s.mux.Handle(pattern, s.instrument(pattern, fn))
}

// instrument answers errors through writeError and records the request's duration.
func (s *Server) instrument(pattern string, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			// A bug in a handler answers 500 with the envelope and is logged with its stack,
			// rather than dropping the connection.
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "handler panicked", "method", r.Method, "pattern", pattern,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !sw.wrote {
					s.writeError(sw, r, errors.New("handler panicked"))
				}
			}
		}()
		if err := fn(sw, r); err != nil {
			s.writeError(sw, r, err)
		}
		if s.metrics != nil {
			s.metrics.HTTPDuration.WithLabelValues(r.Method, pattern, strconv.Itoa(sw.status)).Observe(time.Since(start).Seconds())
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	w.status, w.wrote = code, true
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// routes lists every route of the API.
func (s *Server) routes() {
	s.public("GET /healthz", s.healthz)
	s.public("GET /readyz", s.readyz)
	if s.metrics != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{}))
	}

	// Events API: keyed by the integration key alone.
	s.public("POST /api/events", s.postEvent)
	s.public("POST /api/v1/events", s.postEvent)
	s.public("POST /api/v1/events/mqtt/{key}", s.postEvent)
	s.public("POST /api/v1/events/kafka/{key}", s.postEvent)

	// Accept and resolve links in notifications: a page, then the action.
	s.public("GET /respond/{token}", s.respondByLink)
	s.public("POST /respond/{token}", s.respondByLink)

	s.twilioRoutes()
	s.identityRoutes()
	s.contactRoutes()
	s.configRoutes()
	s.scheduleRoutes()
	s.coverageRoutes()
	s.alertRoutes()
	s.supportHoursRoutes()
	s.maintenanceRoutes()
	s.heartbeatRoutes()

	s.public("/", func(w http.ResponseWriter, r *http.Request) error {
		return fault.NotFoundf("no route for %s %s", r.Method, r.URL.Path)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "UP"})
	return nil
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ready(ctx); err != nil {
		return fault.New(fault.Unavailable, "not ready: %v", err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "READY"})
	return nil
}
