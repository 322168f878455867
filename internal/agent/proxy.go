package agent

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/fault"
)

// maxEventBody is the largest event the proxy takes (ilagent's limit is 16000 bytes).
const maxEventBody = 16 << 10

// Handler is the local HTTP proxy: every route is listed here.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.version)
	mux.HandleFunc("POST /api/events", d.postEvent)
	for _, p := range []string{"/api/heartbeats/{key}", "/api/pings/{key}"} {
		mux.HandleFunc("GET "+p, d.ping) // GET patterns take HEAD too
		mux.HandleFunc("POST "+p, d.ping)
	}
	mux.HandleFunc("GET /health", d.health)
	mux.HandleFunc("GET /ready", d.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.cfg.Registry, promhttp.HandlerOpts{}))
	return mux
}

func (d *Daemon) version(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "tocsin-agent/%s\n", d.cfg.Version)
}

// postEvent buffers an event in the Events API's shape; 202 means it is on disk.
func (d *Daemon) postEvent(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		d.metrics.proxyEvents.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxEventBody))
		return
	case err != nil:
		d.metrics.proxyEvents.WithLabelValues("invalid").Inc()
		writeError(w, http.StatusBadRequest, "could not read the body: "+err.Error())
		return
	}
	ev, err := client.ParseEvent(body)
	if err != nil {
		d.metrics.proxyEvents.WithLabelValues("invalid").Inc()
		d.log.Debug("proxy: invalid event", "err", err)
		writeError(w, http.StatusBadRequest, fault.MessageOf(err))
		return
	}
	if ev.AlertKey == "" {
		// The server would make one up; making it here lets the answer name it, and a resend
		// after an uncertain delivery joins the same alert instead of opening a second one.
		ev.AlertKey = strings.ToLower(rand.Text())
	}
	if err := d.queue.Append(r.Context(), consumer.Entry{Event: &ev}); err != nil {
		d.metrics.proxyEvents.WithLabelValues("failed").Inc()
		d.log.Error("proxy: could not buffer an event", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the event could not be buffered; send it again")
		return
	}
	d.metrics.proxyEvents.WithLabelValues("queued").Inc()
	writeJSON(w, http.StatusAccepted, map[string]any{"queued": true, "alertKey": ev.AlertKey})
}

// ping forwards a heartbeat ping to the server at once; it is not buffered, since a late ping
// says nothing about now.
func (d *Daemon) ping(w http.ResponseWriter, r *http.Request) {
	if err := d.client.Ping(r.Context(), r.PathValue("key")); err != nil {
		d.metrics.pings.WithLabelValues("proxy", "failed").Inc()
		d.log.Warn("proxy: heartbeat ping failed", "err", err)
		writeError(w, http.StatusBadGateway, "the server did not take the ping: "+err.Error())
		return
	}
	d.metrics.pings.WithLabelValues("proxy", "ok").Inc()
	writeJSON(w, http.StatusAccepted, struct{}{})
}

func (d *Daemon) health(w http.ResponseWriter, r *http.Request) {
	if d.stopping.Load() {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ready answers 204 when every consumer is ready, else 503 with the statuses that are not.
func (d *Daemon) ready(w http.ResponseWriter, r *http.Request) {
	if bad := d.notReady(); len(bad) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, bad)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
