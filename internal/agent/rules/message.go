package rules

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/alert"
)

const (
	// maxPayload is the largest message the rules evaluate; larger ones are skipped (and
	// counted), so that one huge message cannot stall the consumer that feeds the rules.
	maxPayload = 256 << 10
	// maxStoredPayload is the largest payload kept with a key's state, for templates rendered
	// when no message is at hand (a heartbeat that went missing, a threshold held long
	// enough). A larger payload is not kept: templates see no payload then.
	maxStoredPayload = 4 << 10
)

// view is what paths, conditions and templates see of a message: topic, key, source, payload
// (the decoded JSON, or the text when the payload is not JSON) and levels (the topic's
// levels, so that plant/boiler-1/temperature has levels[1] == "boiler-1").
func view(topic, key, source string, payload any) map[string]any {
	return map[string]any{"topic": topic, "key": key, "source": source, "payload": payload, "levels": levels(topic)}
}

func levels(topic string) []any {
	if topic == "" {
		return nil
	}
	parts := strings.Split(topic, "/")
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out
}

// decodePayload returns a payload as paths read it: decoded JSON (numbers as json.Number, so
// that large ids keep their digits), else the text if it is UTF-8, else nothing.
func decodePayload(b []byte) any {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err == nil && dec.InputOffset() == int64(len(b)) {
		return v
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return nil
}

// number reads a rendered value as a number: JSON numbers, and text that holds one.
func number(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// alertKey makes a rendered dedup key fit the Events API: trimmed, and when longer than the
// API allows, cut and followed by a hash of the whole so that long keys stay distinct.
func alertKey(s string) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= alert.MaxAlertKeyLen {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return string([]rune(s)[:alert.MaxAlertKeyLen-17]) + "~" + hex.EncodeToString(sum[:8])
}

// summaryText makes a rendered summary fit the Events API.
func summaryText(s string) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > alert.MaxSummaryLen {
		s = string([]rune(s)[:alert.MaxSummaryLen-1]) + "…"
	}
	return s
}

// message is a broker message as the rules see it, decoded once for all of them.
type message struct {
	m    consumer.Message
	view map[string]any
	env  map[string]any // the condition data: {"event": view}
}

func newMessage(m consumer.Message) *message {
	v := view(m.Topic, m.Key, m.Source, decodePayload(m.Payload))
	return &message{m: m, view: v, env: map[string]any{"event": v}}
}

// data is the template data of a message for one rule: the view, the rule's name and, once
// known, the device and the value.
func (msg *message) data(r *rule) map[string]any {
	d := make(map[string]any, len(msg.view)+3)
	for k, v := range msg.view {
		d[k] = v
	}
	d["rule"] = r.name
	return d
}
