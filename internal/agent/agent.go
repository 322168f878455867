// Package agent is the edge agent's daemon: it runs the durable queue's delivery loop, the
// consumers that feed the queue, a heartbeat loop, and a local HTTP proxy that takes events
// and heartbeat pings and answers health, readiness and metrics.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/queue"
)

// The queue is what the consumers push into.
var _ consumer.Buffer = (*queue.Queue)(nil)

// Config is the daemon's general configuration; the consumers have their own.
type Config struct {
	// Port is the local HTTP proxy's port (-p/--port); 0 starts no proxy.
	Port int
	// Bind is the address the proxy listens on (--bind; default 0.0.0.0, every interface).
	Bind string
	// Heartbeat is a heartbeat key (-b/--heartbeat) pinged at start and every HeartbeatEvery.
	Heartbeat string
	// HeartbeatEvery is the heartbeat loop's period (default 30s).
	HeartbeatEvery time.Duration
	// PolicyHandler applies a buffered escalation-policy sync message. Its errors are judged
	// like the Events API's: client.Retryable ones are retried, others drop the message. When
	// nil, policy messages are dropped with an error in the log.
	PolicyHandler func(ctx context.Context, payload []byte) error
	// Registry receives the daemon's metrics and is what GET /metrics shows; consumers
	// register theirs on it too. The daemon registers the Go and process collectors, so
	// nobody else should. nil: a new registry.
	Registry *prometheus.Registry
	// ShutdownTimeout bounds how long the proxy waits for requests in flight when the daemon
	// stops (default 10s).
	ShutdownTimeout time.Duration
	// Version is shown by GET / (default "dev").
	Version string
}

// Daemon is the agent's long-running part. Build it with New, start it with Run.
type Daemon struct {
	cfg       Config
	client    *client.Client
	queue     *queue.Queue
	consumers []consumer.Consumer
	log       *slog.Logger
	metrics   *metrics
	stopping  atomic.Bool
}

// New assembles a daemon delivering q's items with c, fed by consumers (which push into q).
// It registers the daemon's metrics on cfg.Registry.
func New(cfg Config, c *client.Client, q *queue.Queue, consumers []consumer.Consumer, log *slog.Logger) (*Daemon, error) {
	if cfg.Bind == "" {
		cfg.Bind = "0.0.0.0"
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = 30 * time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("agent: port %d is not between 1 and 65535", cfg.Port)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registry, q)
	if err != nil {
		return nil, err
	}
	return &Daemon{cfg: cfg, client: c, queue: q, consumers: consumers, log: log, metrics: m}, nil
}

// Run runs the daemon until ctx ends, then stops taking (the proxy finishes the requests in
// flight, the consumers their pushes) and returns; the caller closes the queue afterwards. It
// returns an error when the proxy cannot listen or a consumer cannot go on.
func (d *Daemon) Run(ctx context.Context) error {
	var ln net.Listener
	if d.cfg.Port != 0 {
		var err error
		addr := net.JoinHostPort(d.cfg.Bind, strconv.Itoa(d.cfg.Port))
		if ln, err = net.Listen("tcp", addr); err != nil {
			return fmt.Errorf("agent: proxy: %w", err)
		}
		d.log.Info("proxy listening", "addr", ln.Addr().String())
	}
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)

	delivered := make(chan error, 1)
	go func() { delivered <- d.queue.Run(ctx, d.handlers()) }()

	var wg sync.WaitGroup
	if d.cfg.Heartbeat != "" {
		wg.Go(func() { d.heartbeats(ctx) })
	}
	for _, c := range d.consumers {
		wg.Go(func() {
			if err := c.Run(ctx); err != nil && ctx.Err() == nil {
				d.log.Error("consumer stopped", "component", c.Status().Component, "err", err)
				fail(fmt.Errorf("agent: %s: %w", c.Status().Component, err))
			}
		})
	}
	var srv *http.Server
	if ln != nil {
		srv = &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelDebug)}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fail(fmt.Errorf("agent: proxy: %w", err))
			}
		}()
	}

	<-ctx.Done()
	d.stopping.Store(true)
	d.log.Info("shutting down: finishing requests in flight and buffered pushes")
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), d.cfg.ShutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			d.log.Warn("proxy: requests still in flight at the shutdown timeout", "err", err)
			srv.Close()
		}
		cancel()
	}
	wg.Wait()
	if err := <-delivered; err != nil {
		return fmt.Errorf("agent: delivery: %w", err)
	}
	if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		return cause
	}
	return nil
}

// handlers deliver the queue's items: events to the Events API, policy messages to
// Config.PolicyHandler.
func (d *Daemon) handlers() map[string]queue.Handler {
	h := map[string]queue.Handler{
		queue.KindEvent: func(ctx context.Context, it queue.Item) error {
			var ev client.Event
			if err := json.Unmarshal(it.Payload, &ev); err != nil {
				return queue.Permanent(fmt.Errorf("agent: decode buffered event %d: %w", it.ID, err))
			}
			return d.client.SendEvent(ctx, ev)
		},
	}
	if d.cfg.PolicyHandler != nil {
		h[queue.KindPolicy] = func(ctx context.Context, it queue.Item) error {
			return d.cfg.PolicyHandler(ctx, it.Payload)
		}
	}
	return h
}

// heartbeats pings the heartbeat key now and then every HeartbeatEvery until ctx ends. A
// failed ping is logged and counted; the next one comes on time.
func (d *Daemon) heartbeats(ctx context.Context) {
	t := time.NewTicker(d.cfg.HeartbeatEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, min(d.cfg.HeartbeatEvery, 15*time.Second))
		err := d.client.Ping(pctx, d.cfg.Heartbeat)
		cancel()
		switch {
		case err == nil:
			d.metrics.pings.WithLabelValues("loop", "ok").Inc()
			d.log.Debug("heartbeat ping sent")
		case ctx.Err() == nil:
			d.metrics.pings.WithLabelValues("loop", "failed").Inc()
			d.log.Warn("heartbeat ping failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ready lists the statuses that are not ready; the daemon itself is not ready while it stops.
func (d *Daemon) notReady() []consumer.Status {
	var out []consumer.Status
	if d.stopping.Load() {
		out = append(out, consumer.Status{Component: "daemon", Error: "shutting down"})
	}
	for _, c := range d.consumers {
		if st := c.Status(); !st.Ready {
			out = append(out, st)
		}
	}
	return out
}

// Fanout is one observer that hands every message to each of observers, in order.
func Fanout(observers ...consumer.Observer) consumer.Observer {
	return fanout(observers)
}

type fanout []consumer.Observer

func (f fanout) Observe(ctx context.Context, m consumer.Message) {
	for _, o := range f {
		o.Observe(ctx, m)
	}
}

// metrics are the daemon's own collectors.
type metrics struct {
	proxyEvents *prometheus.CounterVec // by outcome: queued, invalid, failed
	pings       *prometheus.CounterVec // by via (loop, proxy) and outcome (ok, failed)
}

func newMetrics(reg *prometheus.Registry, q *queue.Queue) (*metrics, error) {
	m := &metrics{
		proxyEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_agent_proxy_events_total",
			Help: "Events posted to the local proxy, by outcome: queued, invalid (answered 4xx), failed (not buffered, 503).",
		}, []string{"outcome"}),
		pings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_agent_heartbeat_pings_total",
			Help: "Heartbeat pings sent to the server, by origin (loop: --heartbeat; proxy: forwarded) and outcome (ok, failed).",
		}, []string{"via", "outcome"}),
	}
	for _, o := range []string{"queued", "invalid", "failed"} {
		m.proxyEvents.WithLabelValues(o)
	}
	for _, via := range []string{"loop", "proxy"} {
		for _, o := range []string{"ok", "failed"} {
			m.pings.WithLabelValues(via, o)
		}
	}
	for _, c := range []prometheus.Collector{m.proxyEvents, m.pings, &queueCollector{q: q},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("agent: register metrics: %w", err)
		}
	}
	return m, nil
}

// queueCollector reads the queue's Stats at each scrape.
type queueCollector struct{ q *queue.Queue }

var (
	depthDesc = prometheus.NewDesc("tocsin_agent_queue_depth",
		"Items buffered and not yet delivered.", nil, nil)
	oldestDesc = prometheus.NewDesc("tocsin_agent_queue_oldest_age_seconds",
		"How long the oldest buffered item has waited; 0 when the queue is empty.", nil, nil)
	deliveriesDesc = prometheus.NewDesc("tocsin_agent_deliveries_total",
		"Delivery attempts of buffered items, by kind (event, policy) and outcome: delivered; retry (a retryable failure); "+
			"rejected (dropped: the server refused it for good, e.g. 400 or 404); max_retries (dropped after --max_retries attempts).",
		[]string{"kind", "outcome"}, nil)
)

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- depthDesc
	ch <- oldestDesc
	ch <- deliveriesDesc
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := c.q.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(oldestDesc, err)
	} else {
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, s.OldestAge.Seconds())
	}
	ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(s.Depth))
	tallies := map[queue.Tally]uint64{}
	for _, kind := range []string{queue.KindEvent, queue.KindPolicy} {
		for _, o := range []queue.Outcome{queue.Delivered, queue.Retried, queue.Rejected, queue.MaxRetries} {
			tallies[queue.Tally{Kind: kind, Outcome: o}] = 0
		}
	}
	for t, n := range s.Deliveries {
		tallies[t] = n
	}
	for t, n := range tallies {
		ch <- prometheus.MustNewConstMetric(deliveriesDesc, prometheus.CounterValue, float64(n), t.Kind, string(t.Outcome))
	}
}
