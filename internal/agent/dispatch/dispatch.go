// Package dispatch does with one broker message what its topic asks: an event goes to the
// server (or the buffer), a heartbeat becomes a ping, a policy message an escalation-policy
// sync. The MQTT and Kafka consumers share it and differ only in how they acknowledge: they
// acknowledge when Handle says the message is done, and have the broker send it again when
// it is not.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
	"github.com/tocsinhq/tocsin/internal/agent/policy"
)

// Outcomes of a message, the values of the outcome label.
const (
	Delivered  = "delivered"  // the server took it (an event 202, a ping 202, a policy level 200)
	Buffered   = "buffered"   // it is in the agent's durable buffer
	Filtered   = "filtered"   // --filter_key/--filter_val skipped it
	Other      = "other"      // no event, heartbeat or policy topic matches; only observers see it
	Unmappable = "unmappable" // it can never become an event, a ping or a policy update
	Rejected   = "rejected"   // the server refused it for good (400, 404: unknown key, user, policy)
	Retry      = "retry"      // it failed for now (server down, 429, 5xx, buffer error): not acknowledged
	// Missed: with the buffer on, a ping the server could not take now. It is acknowledged,
	// not tried again: a late ping says nothing about now, and holding it back would hold
	// back every message behind it.
	Missed = "missed"
)

// maxAlertKey is the longest alert key the Events API takes.
const maxAlertKey = 255

// Config is what a dispatcher needs.
type Config struct {
	Source   string // "mqtt" or "kafka": the Source of the messages, in logs and metrics
	Topics   mapping.Topics
	Events   mapping.Options
	Policies mapping.PolicyOptions
	Client   *client.Client
	// Buffered sends events and policy updates to Buffer (--mqtt_buffer, --kafka_buffer);
	// otherwise they go straight to the server.
	Buffered  bool
	Buffer    consumer.Buffer
	Observers []consumer.Observer
	Log       *slog.Logger // nil: no logs
}

// Dispatcher handles messages.
type Dispatcher struct {
	cfg      Config
	log      *slog.Logger
	messages *prometheus.CounterVec
	failures *prometheus.CounterVec
}

// New returns a dispatcher whose counters are registered in reg. Several dispatchers (the
// MQTT and the Kafka consumer's) share the counters, told apart by their source label.
func New(cfg Config, reg prometheus.Registerer) (*Dispatcher, error) {
	if cfg.Client == nil {
		return nil, errors.New("dispatch: no server client")
	}
	if cfg.Buffered && cfg.Buffer == nil {
		return nil, fmt.Errorf("dispatch: --%s_buffer needs the agent's buffer", cfg.Source)
	}
	if !cfg.Buffered {
		cfg.Buffer = nil
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{cfg: cfg, log: cfg.Log.With("component", cfg.Source)}
	var err error
	d.messages, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tocsin_agent_consumer_messages_total",
		Help: "Messages the broker consumers received, by source (mqtt, kafka), kind of topic (event, heartbeat, policy, other) and outcome.",
	}, []string{"source", "kind", "outcome"}))
	if err != nil {
		return nil, err
	}
	d.failures, err = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tocsin_agent_consumer_mapping_failures_total",
		Help: "Messages that could not be mapped to an event, a heartbeat or a policy update; they are logged and skipped.",
	}, []string{"source", "kind"}))
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Log is the dispatcher's logger, which names its source as the component.
func (d *Dispatcher) Log() *slog.Logger { return d.log }

func register(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("dispatch: register metrics: %w", err)
	}
	return c, nil
}

// Handle does what m's topic asks. It reports whether m is done, to be acknowledged
// (delivered, buffered, or failed for a reason that will not go away: logged and counted), or
// must come again because it failed for now. A message that is done is then shown to every
// observer; one that will come again is not, so that the observers (the stream rules, which
// count messages) see each message once however often it is tried.
//
// stableID, when not empty, names m the same way each time the broker sends it (Kafka:
// topic/partition/offset). An ALERT without an alert key gets it as its key, so that an ALERT
// sent again (the agent died after the server took it, before the commit) joins the alert it
// opened instead of opening a second one.
func (d *Dispatcher) Handle(ctx context.Context, m consumer.Message, stableID string) (done bool) {
	return d.HandleAll(ctx, []consumer.Message{m}, []string{stableID}, nil) == 1
}

// HandleAll handles ms in order, as Handle each, and returns how many of them, from the
// first, are done: the messages after the first that failed for now are not handled (nor
// shown to observers) and must come again with it. stableIDs, when not nil, holds each
// message's stable id.
//
// Consecutive messages bound for the buffer are appended to it together, so that a burst
// costs one disk sync rather than one per message.
//
// stop, when not nil, is asked before each message is started (before each such run of
// buffered messages): when it says true, HandleAll returns at once, and the messages not
// started are not done and must come again (Kafka stops this way when its group wants to
// rebalance).
func (d *Dispatcher) HandleAll(ctx context.Context, ms []consumer.Message, stableIDs []string, stop func() bool) (done int) {
	steps := make([]step, len(ms))
	for i, m := range ms {
		id := ""
		if stableIDs != nil {
			id = stableIDs[i]
		}
		steps[i] = d.prepare(ctx, m, id)
	}
	for i := 0; i < len(steps); {
		if stop != nil && stop() {
			return done
		}
		n := 1
		switch s := &steps[i]; {
		case s.entry != nil:
			for i+n < len(steps) && steps[i+n].entry != nil {
				n++
			}
			d.append(ctx, steps[i:i+n])
		case s.send != nil:
			s.outcome, s.err = s.send()
		}
		for _, s := range steps[i : i+n] {
			if !d.finish(ctx, s) {
				return done
			}
			done++
		}
		i += n
	}
	return done
}

// step is a message on its way: mapped, and either decided (outcome) or waiting to be
// appended to the buffer (entry) or sent (send).
type step struct {
	m       consumer.Message
	kind    mapping.Kind
	outcome string
	err     error
	entry   *consumer.Entry
	send    func() (string, error)
}

// append buffers the entries of steps in one go and sets their outcomes.
func (d *Dispatcher) append(ctx context.Context, steps []step) {
	entries := make([]consumer.Entry, len(steps))
	for i, s := range steps {
		entries[i] = *s.entry
	}
	outcome, err := Buffered, error(nil)
	if e := d.cfg.Buffer.Append(ctx, entries...); e != nil {
		outcome, err = Retry, fmt.Errorf("buffer: %w", e)
	}
	for i := range steps {
		steps[i].outcome, steps[i].err = outcome, err
	}
}

// finish counts and logs a handled message, shows it to the observers when it is done, and
// reports whether it is.
func (d *Dispatcher) finish(ctx context.Context, s step) bool {
	d.messages.WithLabelValues(d.cfg.Source, string(s.kind), s.outcome).Inc()
	log := d.log.With("topic", s.m.Topic, "kind", s.kind, "outcome", s.outcome)
	if s.m.Key != "" {
		log = log.With("message_key", s.m.Key)
	}
	switch s.outcome {
	case Unmappable:
		d.failures.WithLabelValues(d.cfg.Source, string(s.kind)).Inc()
		log.WarnContext(ctx, "a message was skipped: it cannot be mapped", "err", s.err)
	case Rejected:
		log.WarnContext(ctx, "a message was skipped: the server refused it", "err", s.err)
	case Missed:
		log.WarnContext(ctx, "a heartbeat was missed: the server could not take it now, and a late ping says nothing", "err", s.err)
	case Retry:
		if ctx.Err() == nil {
			log.WarnContext(ctx, "a message failed and will come again", "err", s.err)
		}
	case Filtered, Other:
		log.DebugContext(ctx, "a message was skipped")
	default:
		log.DebugContext(ctx, "a message was handled")
	}
	if s.outcome == Retry {
		return false
	}
	for _, o := range d.cfg.Observers {
		o.Observe(ctx, s.m)
	}
	return true
}

// prepare maps m and decides what it needs, without doing it.
func (d *Dispatcher) prepare(ctx context.Context, m consumer.Message, stableID string) step {
	s := step{m: m, kind: d.cfg.Topics.Kind(m.Topic)}
	switch s.kind {
	case mapping.KindHeartbeat:
		key, err := mapping.Heartbeat(m.Payload)
		if err != nil {
			s.outcome, s.err = Unmappable, err
			return s
		}
		// Never buffered: a ping later than now says nothing about now.
		s.send = func() (string, error) {
			outcome, err := sent(d.cfg.Client.Ping(ctx, key), client.Retryable)
			if outcome == Retry && d.cfg.Buffer != nil && ctx.Err() == nil {
				outcome = Missed // but a ping cut short by the agent's own shutdown comes again
			}
			return outcome, err
		}
	case mapping.KindEvent:
		ev, err := d.cfg.Events.Event(m)
		if outcome, ok := mapped(err); !ok {
			s.outcome, s.err = outcome, err
			return s
		}
		if ev.AlertKey == "" && ev.EventType == "ALERT" && utf8.RuneCountInString(stableID) <= maxAlertKey {
			ev.AlertKey = stableID
		}
		if d.cfg.Buffer != nil {
			s.entry = &consumer.Entry{Event: &ev}
			return s
		}
		s.send = func() (string, error) { return sent(d.cfg.Client.SendEvent(ctx, ev), client.Retryable) }
	case mapping.KindPolicy:
		u, err := d.cfg.Policies.Policy(m.Payload)
		if outcome, ok := mapped(err); !ok {
			s.outcome, s.err = outcome, err
			return s
		}
		if d.cfg.Buffer != nil {
			s.entry = &consumer.Entry{Policy: m.Payload}
			return s
		}
		s.send = func() (string, error) { return sent(policy.Sync(ctx, d.cfg.Client, u), policy.Retryable) }
	default:
		s.outcome = Other
	}
	return s
}

// mapped sorts a mapping error; ok means there was none.
func mapped(err error) (outcome string, ok bool) {
	switch {
	case err == nil:
		return "", true
	case errors.Is(err, mapping.ErrFiltered):
		return Filtered, false
	}
	return Unmappable, false
}

func sent(err error, retryable func(error) bool) (string, error) {
	switch {
	case err == nil:
		return Delivered, nil
	case retryable(err):
		return Retry, err
	}
	return Rejected, err
}
