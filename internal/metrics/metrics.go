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
	TimerLateness  prometheus.Histogram     // seconds from a timer's due time to its run
	Notifications  *prometheus.CounterVec   // notification attempts, by method and outcome
	PageLatency    prometheus.Histogram     // seconds from an alert's report time to its first page handed to a channel
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
	m.TimerLateness = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tocsin_timer_lateness_seconds",
		Help:    "How late the engine ran timers (escalations and the like) after they fell due.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})
	m.Notifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tocsin_notifications_total",
		Help: "Notification attempts, by method and outcome (sent, retry, failed).",
	}, []string{"method", "outcome"})
	m.PageLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "tocsin_page_latency_seconds",
		Help:    "Time from an alert being reported to its first notification handed to a channel.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})
	m.Registry.MustRegister(m.EventsReceived, m.AlertsOpened, m.BatchSize, m.CommitLatency, m.HTTPDuration,
		m.TimerLateness, m.Notifications, m.PageLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
