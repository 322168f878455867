package mapping

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"slices"
	"strings"
)

// Kind is what a message is for, by its topic.
type Kind string

const (
	KindEvent     Kind = "event"     // becomes an event
	KindHeartbeat Kind = "heartbeat" // a heartbeat ping
	KindPolicy    Kind = "policy"    // an escalation-policy update
	KindOther     Kind = "other"     // none of those: only the observers see it
)

// Topics are the topics a consumer reads. MQTT topics may be filters with + and #; Kafka
// topics are plain names. MQTT and Kafka share the flags, as in ilagent.
type Topics struct {
	Event     string // -e/--event_topic
	Heartbeat string // -r/--heartbeat_topic
	Policy    string // --policy_topic
	// Observe are more topics read only so that the observers (the stream rules) see their
	// messages; they are not flags of their own.
	Observe []string
}

// Flags registers the topic flags. The MQTT and Kafka configurations both call it; the flags
// are registered once and every Topics bound to them reads the same values.
func (t *Topics) Flags(fs *flag.FlagSet) {
	sharedStringVar(fs, &t.Event, "", "`topic` of event messages (MQTT: wildcards + and # allowed)", "e", "event_topic")
	sharedStringVar(fs, &t.Heartbeat, "", "`topic` of heartbeat messages {\"integrationKey\": \"…\"}", "r", "heartbeat_topic")
	sharedStringVar(fs, &t.Policy, "", "`topic` of escalation-policy update messages", "policy_topic")
}

// All lists the topics to subscribe to, each once.
func (t Topics) All() []string {
	var out []string
	for _, s := range append([]string{t.Event, t.Heartbeat, t.Policy}, t.Observe...) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Kind classifies a message by the topic it came on, as ilagent does: the heartbeat topic
// first, then the policy topic, then the event topic. Each is matched as an MQTT topic filter,
// which for a name without wildcards (every Kafka topic) is an exact match.
func (t Topics) Kind(topic string) Kind {
	switch {
	case t.Heartbeat != "" && Match(t.Heartbeat, topic):
		return KindHeartbeat
	case t.Policy != "" && Match(t.Policy, topic):
		return KindPolicy
	case t.Event != "" && Match(t.Event, topic):
		return KindEvent
	}
	return KindOther
}

// Match reports whether an MQTT topic filter matches a topic name: + matches one level, #
// (last) the rest, including none. Filters starting with a wildcard do not match topics
// starting with $ (MQTT 3.1.1, 4.7.2).
func Match(filter, topic string) bool {
	if filter == topic {
		return true
	}
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	fs, ts := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, f := range fs {
		if f == "#" {
			return i == len(fs)-1
		}
		if i >= len(ts) || (f != "+" && f != ts[i]) {
			return false
		}
	}
	return len(fs) == len(ts)
}

// ValidFilter checks an MQTT topic filter: not empty, # only as the whole last level, + only
// as a whole level.
func ValidFilter(filter string) error {
	if filter == "" {
		return fmt.Errorf("mapping: an empty topic")
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("mapping: topic %q: # must be the whole last level", filter)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("mapping: topic %q: + must be a whole level", filter)
		}
	}
	return nil
}

// Heartbeat reads a heartbeat message, {"integrationKey": "…"} (or ilert's alias apiKey),
// and returns the key to ping. A message without a key wraps ErrUnmappable.
func Heartbeat(payload []byte) (string, error) {
	if _, err := decodeObject(payload); err != nil {
		return "", err
	}
	var w struct {
		IntegrationKey *string `json:"integrationKey"`
		APIKey         *string `json:"apiKey"`
	}
	if err := json.Unmarshal(payload, &w); err != nil {
		return "", unmappable("the heartbeat's integrationKey is not a string: %v", err)
	}
	key := strings.TrimSpace(cmp.Or(deref(w.IntegrationKey), deref(w.APIKey)))
	if key == "" {
		return "", unmappable("the heartbeat has no integrationKey")
	}
	return key, nil
}
