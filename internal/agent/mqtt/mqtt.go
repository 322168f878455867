// Package mqtt is the agent's MQTT consumer (MQTT 3.1.1, any broker). It reads the event,
// heartbeat and policy topics and acknowledges a message only when it is done: the server took
// it, or it is in the agent's buffer (--mqtt_buffer), or it failed for good (logged, counted).
//
// A message that failed for now is not acknowledged: the consumer disconnects, waits, and
// reconnects to its persistent session (clean session off), and the broker sends every
// unacknowledged message again, in order. The same happens when the agent dies: nothing the
// broker handed over is lost, at the price of a message being handled twice now and then.
package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/dispatch"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
)

// inbox is how many received messages wait for the worker, and the most it handles at once.
// Past it, paho stops reading the connection (TCP pushes back on the broker).
const inbox = 64

// Consumer consumes MQTT messages.
type Consumer struct {
	cfg      Config
	dispatch *dispatch.Dispatcher
	log      *slog.Logger

	connected prometheus.Gauge
	sessions  prometheus.Counter

	mu     sync.Mutex
	status consumer.Status
}

var _ consumer.Consumer = (*Consumer)(nil)

// errRetry ends a session because a message failed for now.
var errRetry = errors.New("a message failed for now; reconnecting so that the broker sends it again")

// New returns an MQTT consumer. buf is the agent's buffer, used only with cfg.Buffer; obs see
// every message; metrics go to reg (nil: none).
func New(cfg Config, m mapping.Options, p mapping.PolicyOptions, c *client.Client, buf consumer.Buffer,
	obs []consumer.Observer, reg prometheus.Registerer, log *slog.Logger) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d, err := dispatch.New(dispatch.Config{Source: "mqtt", Topics: cfg.Topics, Events: m, Policies: p, Client: c,
		Buffered: cfg.Buffer, Buffer: buf, Observers: obs, Log: log}, reg)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	cn := &Consumer{cfg: cfg.withDefaults(), dispatch: d, log: d.Log(),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tocsin_agent_mqtt_connected",
			Help: "1 while the MQTT consumer is connected and subscribed."}),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{Name: "tocsin_agent_mqtt_connections_total",
			Help: "Connections the MQTT consumer made to the broker (the first, and each reconnect)."}),
		status: consumer.Status{Component: "mqtt", Details: map[string]any{"connected": false, "subscriptions_ready": false}},
	}
	if reg != nil {
		for _, col := range []prometheus.Collector{cn.connected, cn.sessions} {
			if err := reg.Register(col); err != nil {
				return nil, fmt.Errorf("mqtt: register metrics: %w", err)
			}
		}
	}
	return cn, nil
}

// Status is the consumer's readiness: connected and subscribed.
func (c *Consumer) Status() consumer.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Details = map[string]any{}
	for k, v := range c.status.Details {
		s.Details[k] = v
	}
	return s
}

func (c *Consumer) setStatus(connected, subscribed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status.Ready = connected && subscribed
	c.status.Details = map[string]any{"connected": connected, "subscriptions_ready": subscribed, "broker": c.cfg.broker()}
	c.status.Error = ""
	if err != nil {
		c.status.Error = err.Error()
	}
	if c.status.Ready {
		c.connected.Set(1)
	} else {
		c.connected.Set(0)
	}
}

// Run consumes until ctx ends, reconnecting after failures with a growing wait. It returns
// nil when ctx ends.
func (c *Consumer) Run(ctx context.Context) error {
	backoff := dispatch.Backoff{Min: c.cfg.RetryBackoff, Max: c.cfg.MaxBackoff}
	for {
		began := time.Now()
		progress, err := c.session(ctx)
		if ctx.Err() != nil {
			c.setStatus(false, false, nil)
			return nil
		}
		// A session that did some work, or stayed up a while, was no failure to back off from.
		if progress || time.Since(began) > time.Minute {
			backoff.Reset()
		}
		wait := backoff.Next()
		c.setStatus(false, false, err)
		c.log.WarnContext(ctx, "the MQTT session ended; reconnecting", "err", err, "broker", c.cfg.broker(), "wait", wait)
		if !dispatch.Sleep(ctx, wait) {
			c.setStatus(false, false, nil)
			return nil
		}
	}
}

// session connects, subscribes and handles messages until ctx ends, the connection is lost or
// a message fails for now. progress reports whether a message was done in it.
func (c *Consumer) session(ctx context.Context) (progress bool, err error) {
	tlsCfg, err := c.cfg.tlsConfig()
	if err != nil {
		return false, err
	}
	msgs := make(chan paho.Message, inbox)
	stop := make(chan struct{})
	lost := make(chan error, 1)
	opts := paho.NewClientOptions().
		AddBroker(c.cfg.broker()).
		SetClientID(c.cfg.ClientID).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetKeepAlive(c.cfg.KeepAlive).
		SetPingTimeout(c.cfg.KeepAlive).
		SetConnectTimeout(15 * time.Second).
		SetWriteTimeout(15 * time.Second).
		SetTLSConfig(tlsCfg).
		// Every message, whichever subscription (or an earlier run's) brought it, comes here;
		// a persistent session can deliver before Subscribe returns.
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			select {
			case msgs <- m:
			case <-stop:
			}
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case lost <- err:
			default:
			}
		})
	if c.cfg.Username != "" {
		opts.SetUsername(c.cfg.Username).SetPassword(c.cfg.Password)
	}
	cl := paho.NewClient(opts)
	defer func() {
		close(stop) // first, so that paho's handler does not wait on msgs while paho stops
		// Also ends a connection attempt that ctx cut short (once the attempt is over).
		cl.Disconnect(250)
	}()

	c.sessions.Inc()
	tok := cl.Connect()
	if err := wait(ctx, tok); err != nil {
		return false, fmt.Errorf("mqtt: connect to %s: %w", c.cfg.broker(), err)
	}
	if ct, ok := tok.(*paho.ConnectToken); ok && !ct.SessionPresent() {
		c.log.InfoContext(ctx, "the broker had no session of this client id; it starts one", "client_id", c.cfg.ClientID)
	}
	c.setStatus(true, false, nil)
	filters := c.cfg.filters()
	st := cl.SubscribeMultiple(filters, nil)
	if err := wait(ctx, st); err != nil {
		return false, fmt.Errorf("mqtt: subscribe: %w", err)
	}
	if s, ok := st.(*paho.SubscribeToken); ok {
		for topic, qos := range s.Result() {
			if qos == 0x80 {
				return false, fmt.Errorf("mqtt: the broker refused the subscription to %s", topic)
			}
		}
	}
	c.setStatus(true, true, nil)
	c.log.InfoContext(ctx, "MQTT consumer subscribed", "broker", c.cfg.broker(), "client_id", c.cfg.ClientID, "qos", c.cfg.QoS)

	for {
		select {
		case <-ctx.Done():
			return progress, nil
		case err := <-lost:
			return progress, fmt.Errorf("mqtt: connection lost: %w", err)
		case pm := <-msgs:
			// The messages waiting are handled together (a burst is buffered with one disk
			// sync) and acknowledged in the order they came, up to the first that must come
			// again.
			batch := []paho.Message{pm}
		gather:
			for len(batch) < inbox {
				select {
				case more := <-msgs:
					batch = append(batch, more)
				default:
					break gather
				}
			}
			ms := make([]consumer.Message, len(batch))
			for i, pm := range batch {
				ms[i] = consumer.Message{Source: "mqtt", Topic: pm.Topic(), Payload: pm.Payload(), At: c.cfg.Now()}
			}
			// No stable ids: MQTT 3.1.1 gives a message none that survives a reconnect.
			done := c.dispatch.HandleAll(ctx, ms, nil, nil)
			for _, pm := range batch[:done] {
				pm.Ack()
			}
			progress = progress || done > 0
			if done < len(batch) {
				return progress, errRetry
			}
		}
	}
}

// wait waits for a paho token, or for ctx.
func wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
