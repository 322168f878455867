// Package metrics holds tocsin's Prometheus metrics on a private registry.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the collectors tocsin updates, registered on their own registry.
type Metrics struct {
	Registry       *prometheus.Registry
	EventsReceived *prometheus.CounterVec   // by outcome: the Events API response code or error code
	AlertsOpened   prometheus.Counter       // alerts opened by events and by hand
	BatchSize      prometheus.Histogram     // events per group commit
	CommitLatency  prometheus.Histogram     // seconds from a batch's first event to its commit
	HTTPDuration   *prometheus.HistogramVec // by method, route pattern and status code
}

// New creates the metrics and registers them, with Go and process collectors, on a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		EventsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_events_received_total",
			Help: "Events received through the Events API, by outcome.",
		}, []string{"outcome"}),
		AlertsOpened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tocsin_alerts_opened_total",
			Help: "Alerts opened, by events or by hand.",
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tocsin_commit_batch_size",
			Help:    "Events written per group-commit transaction.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		CommitLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tocsin_commit_latency_seconds",
			Help:    "Time from a batch's first event arriving to its transaction committing.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tocsin_http_request_duration_seconds",
			Help:    "HTTP request durations, by method, route and status code.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"method", "route", "code"}),
	}
	m.Registry.MustRegister(m.EventsReceived, m.AlertsOpened, m.BatchSize, m.CommitLatency, m.HTTPDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
