// Package mapping turns broker messages into what the agent sends: events for the Events API,
// and escalation-policy updates. It follows ilagent's consumer flags and defaults so that a
// user of the ilert agent can switch without rewriting their command line. It is pure: no I/O.
package mapping

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
)

// ErrFiltered is returned for a message that does not pass --filter_key/--filter_val. It is
// not a failure: the message is acknowledged and skipped.
var ErrFiltered = errors.New("mapping: the message does not pass the filter")

// ErrUnmappable is wrapped by every error about a message that can never be mapped (not JSON,
// a field of the wrong type, an event the server would refuse). Trying again cannot help: the
// message is logged, counted and acknowledged.
var ErrUnmappable = errors.New("mapping: the message cannot be mapped")

func unmappable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnmappable, fmt.Sprintf(format, args...))
}

// Options map a message's JSON payload onto an event. Paths are dot paths into the payload
// ("data.host"); only string values are taken from them.
type Options struct {
	EventKey       string // the integration key of every event, whatever the payload says
	MapKeyEtype    string // path of the event type (default: the payload's eventType)
	MapKeyAlertKey string // path of the alert key (default: the payload's alertKey)
	MapKeySummary  string // path of the summary (default: the payload's summary)
	// Values of the event-type field that mean ALERT, ACCEPT and RESOLVE.
	MapValEtypeAlert   string
	MapValEtypeAccept  string
	MapValEtypeResolve string
	// FilterKey names a field the payload must have; FilterVal, when set, the value it must hold.
	FilterKey string
	FilterVal string
	// ForwardMessagePayload puts the whole payload into customDetails.
	ForwardMessagePayload bool
}

// Flags registers the options under ilagent's flag names. The filter flags are shared with
// PolicyOptions.Flags: whichever registers them first, both read the same values.
func (o *Options) Flags(fs *flag.FlagSet) {
	fs.StringVar(&o.EventKey, "event_key", "", "integration key of every event, overriding the payload's")
	fs.StringVar(&o.MapKeyEtype, "map_key_etype", "", "dot path of the event type in the payload (default: eventType)")
	fs.StringVar(&o.MapKeyAlertKey, "map_key_alert_key", "", "dot path of the alert key in the payload (default: alertKey)")
	fs.StringVar(&o.MapKeySummary, "map_key_summary", "", "dot path of the summary in the payload (default: summary)")
	fs.StringVar(&o.MapValEtypeAlert, "map_val_etype_alert", "", "value of the event type field that means ALERT")
	fs.StringVar(&o.MapValEtypeAccept, "map_val_etype_accept", "", "value of the event type field that means ACCEPT")
	fs.StringVar(&o.MapValEtypeResolve, "map_val_etype_resolve", "", "value of the event type field that means RESOLVE")
	filterFlags(fs, &o.FilterKey, &o.FilterVal)
	fs.BoolVar(&o.ForwardMessagePayload, "forward_message_payload", false, "put the whole message payload into the event's customDetails")
}

func filterFlags(fs *flag.FlagSet, key, val *string) {
	sharedStringVar(fs, key, "", "only messages whose payload has this `field` (a top-level name or a dot path) are used", "filter_key")
	sharedStringVar(fs, val, "", "with --filter_key: only messages where that field holds this `value` are used", "filter_val")
}

// wireEvent is the part of a payload that already has the Events API's shape. Fields named
// like the API's must have its types; other fields are the payload's own business. It is not
// the server's decoder (alert.ParseEvent): a device's payload may use labels, severity or
// routingKey for its own ends, and the event type is mapped before it is normalised.
type wireEvent struct {
	IntegrationKey *string         `json:"integrationKey"`
	APIKey         *string         `json:"apiKey"`
	EventType      *string         `json:"eventType"`
	Summary        *string         `json:"summary"`
	Details        *string         `json:"details"`
	AlertKey       *string         `json:"alertKey"`
	IncidentKey    *string         `json:"incidentKey"`
	Priority       *string         `json:"priority"`
	Images         []client.Image  `json:"images"`
	Links          []client.Link   `json:"links"`
	CustomDetails  json.RawMessage `json:"customDetails"`
}

// Event maps a message to an event. It returns ErrFiltered for a message the filter skips,
// and an error wrapping ErrUnmappable for one that cannot become a valid event.
//
// As ilagent: the event type defaults to ALERT; an ALERT without a summary gets "New alert
// from <topic>"; customDetails, unless the payload has its own, is {"topic": …} for MQTT,
// {"messageKey": …, "topic": …} for Kafka, or the whole payload with ForwardMessagePayload.
func (o Options) Event(m consumer.Message) (client.Event, error) {
	obj, err := decodeObject(m.Payload)
	if err != nil {
		return client.Event{}, err
	}
	if !passes(obj, o.FilterKey, o.FilterVal) {
		return client.Event{}, ErrFiltered
	}
	var w wireEvent
	if err := json.Unmarshal(m.Payload, &w); err != nil {
		return client.Event{}, unmappable("the payload does not fit the event's fields: %v", err)
	}
	ev := client.Event{
		IntegrationKey: cmp.Or(deref(w.IntegrationKey), deref(w.APIKey)),
		EventType:      deref(w.EventType),
		Summary:        deref(w.Summary),
		Details:        deref(w.Details),
		AlertKey:       cmp.Or(deref(w.AlertKey), deref(w.IncidentKey)),
		Priority:       strings.ToUpper(strings.TrimSpace(deref(w.Priority))),
		Images:         w.Images,
		Links:          w.Links,
	}
	if c := bytes.TrimSpace(w.CustomDetails); len(c) > 0 && !bytes.Equal(c, []byte("null")) {
		ev.CustomDetails = c
	}
	if o.EventKey != "" {
		ev.IntegrationKey = o.EventKey
	}
	if s, ok := lookupString(obj, o.MapKeyAlertKey); ok {
		ev.AlertKey = s
	}
	if s, ok := lookupString(obj, o.MapKeySummary); ok {
		ev.Summary = s
	}
	if s, ok := lookupString(obj, o.MapKeyEtype); ok {
		ev.EventType = s
	}
	ev.EventType = o.eventType(ev.EventType)
	if ev.EventType == "ALERT" && strings.TrimSpace(ev.Summary) == "" {
		ev.Summary = "New alert from " + m.Topic
	}
	if ev.CustomDetails == nil {
		ev.CustomDetails, err = o.customDetails(m)
		if err != nil {
			return client.Event{}, err
		}
	}
	if err := ev.Validate(); err != nil {
		return client.Event{}, unmappable("%v", err)
	}
	return ev, nil
}

// eventType applies the value mapping to the type found in the payload. A value that none
// maps is kept as it is (ALERT, ACCEPT and RESOLVE in any case), so the server's rules judge it.
func (o Options) eventType(v string) string {
	t := v
	if o.MapValEtypeAlert != "" && v == o.MapValEtypeAlert {
		t = "ALERT"
	}
	if o.MapValEtypeAccept != "" && v == o.MapValEtypeAccept {
		t = "ACCEPT"
	}
	if o.MapValEtypeResolve != "" && v == o.MapValEtypeResolve {
		t = "RESOLVE"
	}
	t = strings.ToUpper(strings.TrimSpace(t))
	if t == "" {
		t = "ALERT"
	}
	return t
}

func (o Options) customDetails(m consumer.Message) (json.RawMessage, error) {
	if o.ForwardMessagePayload {
		var b bytes.Buffer
		if err := json.Compact(&b, m.Payload); err != nil {
			return nil, unmappable("the payload is not JSON: %v", err)
		}
		return b.Bytes(), nil
	}
	d := map[string]string{"topic": m.Topic}
	if m.Source == "kafka" {
		d["messageKey"] = m.Key
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, unmappable("encode customDetails: %v", err)
	}
	return b, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
