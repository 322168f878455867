package rules

import (
	"errors"
	"strings"

	"github.com/tocsinhq/tocsin/internal/agent/mapping"
)

// topicFilter is a rule's topic: an MQTT topic filter, matched as the consumers match theirs
// (mapping.Match). Kafka topics have no '/', so a filter without wildcards names one Kafka
// topic and "#" names them all.
type topicFilter struct {
	text string
	wild bool // the filter has + or #
}

func parseTopicFilter(s string) (topicFilter, error) {
	if s == "" {
		return topicFilter{}, errors.New("topic: the topic filter is empty")
	}
	if strings.HasPrefix(s, "$share/") {
		return topicFilter{}, errors.New("topic: write the topic without $share/GROUP/: rules see the messages of every subscription")
	}
	if err := mapping.ValidFilter(s); err != nil {
		return topicFilter{}, errors.New(strings.TrimPrefix(err.Error(), "mapping: "))
	}
	return topicFilter{text: s, wild: strings.ContainsAny(s, "+#")}, nil
}

func (f *topicFilter) match(topic string) bool { return mapping.Match(f.text, topic) }
