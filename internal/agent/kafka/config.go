package kafka

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/mapping"
)

// DefaultGroupID is the consumer group of agents that do not name one. ilagent's is
// "ilagent"; an agent replacing one that should continue from its offsets sets
// --kafka_group_id ilagent.
const DefaultGroupID = "tocsin-agent"

// Config is the Kafka consumer's configuration, with ilagent's flags.
type Config struct {
	Brokers string // --kafka_brokers, a comma list of host:port; empty: no Kafka consumer
	GroupID string // --kafka_group_id; agents of one group share the partitions
	// Start is where a group without committed offsets starts: "latest" (only new records;
	// the default, as in ilagent; also when empty) or "earliest" (every retained record).
	Start string
	// Buffer commits a record once it is in the agent's buffer, not once the server took it
	// (--kafka_buffer, MQTT's --mqtt_buffer for Kafka; ilagent has none).
	Buffer bool
	Topics mapping.Topics

	// Not flags. Zero values mean the defaults.
	RetryBackoff time.Duration // the first wait before a failed message is tried again (1 s), doubling
	MaxBackoff   time.Duration // the longest wait (30 s)
}

// Flags registers the Kafka flags and the topic flags (shared with MQTT).
func (c *Config) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Brokers, "kafka_brokers", "", "Kafka brokers, host:port[,host:port…]; starts the Kafka consumer")
	fs.StringVar(&c.GroupID, "kafka_group_id", DefaultGroupID, "Kafka consumer group; agents of one group share the partitions")
	fs.StringVar(&c.Start, "kafka_start", "latest", "where a new consumer group starts: latest (only new records, as ilagent) or earliest (every retained record)")
	fs.BoolVar(&c.Buffer, "kafka_buffer", false, "commit records once they are in the agent's buffer file, and deliver them from there")
	c.Topics.Flags(fs)
}

// Enabled reports whether the Kafka consumer is asked for (--kafka_brokers).
func (c Config) Enabled() bool { return c.Brokers != "" }

func (c Config) brokers() []string {
	var out []string
	for b := range strings.SplitSeq(c.Brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Validate checks the configuration for meaning.
func (c Config) Validate() error {
	var errs []error
	if len(c.brokers()) == 0 {
		errs = append(errs, errors.New("--kafka_brokers is required"))
	}
	if c.GroupID == "" {
		errs = append(errs, errors.New("--kafka_group_id must not be empty"))
	}
	if c.Start != "" && c.Start != "earliest" && c.Start != "latest" {
		errs = append(errs, fmt.Errorf("--kafka_start %q is not earliest or latest", c.Start))
	}
	if len(c.Topics.All()) == 0 {
		errs = append(errs, errors.New("Kafka needs at least one of -e/--event_topic, -r/--heartbeat_topic, --policy_topic (or a stream rule's topic)"))
	}
	for _, t := range c.Topics.All() {
		if strings.ContainsAny(t, "+#/ ") {
			errs = append(errs, fmt.Errorf("%q is not a Kafka topic name", t))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	return c
}
