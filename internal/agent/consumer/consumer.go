// Package consumer is the contract between the agent's daemon and what feeds it: the broker
// consumers (MQTT, Kafka) and the stream rules that watch their messages.
package consumer

import (
	"context"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/client"
)

// Consumer reads messages from a broker until ctx ends.
type Consumer interface {
	// Run consumes until ctx ends; it returns an error only when it cannot go on.
	Run(ctx context.Context) error
	// Status is the consumer's readiness, for GET /ready.
	Status() Status
}

// Status is a consumer's readiness.
type Status struct {
	Component string         `json:"component"` // "mqtt", "kafka", "rules"
	Ready     bool           `json:"ready"`
	Error     string         `json:"error,omitempty"`
	Details   map[string]any `json:"details,omitempty"` // e.g. connected, subscribed, lag
}

// Buffer is the agent's durable queue as its feeders see it.
type Buffer interface {
	// Append buffers entries in order. A nil error means every one is on disk (synced) and
	// will be delivered in order, or dropped for a permanent reason, even if the agent is
	// killed right after. The entries are stored in one commit: after an error none of them
	// is, unless ctx ended first (then all may be), and the feeder has them sent again, so an
	// entry may be buffered twice (at least once, never lost) but never behind a later one.
	Append(ctx context.Context, entries ...Entry) error
}

// Entry is one item to buffer: an event for the Events API, or an escalation-policy sync
// message (its raw payload).
type Entry struct {
	Event  *client.Event
	Policy []byte
}

// Observer sees every message a consumer receives (the stream rules are one).
type Observer interface {
	Observe(ctx context.Context, m Message)
}

// Message is one message from a broker.
type Message struct {
	Source  string // "mqtt" or "kafka"
	Topic   string
	Key     string // Kafka's message key; empty for MQTT
	Payload []byte
	At      time.Time
}
