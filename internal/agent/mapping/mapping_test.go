package mapping_test

import (
	"encoding/json"
	"errors"
	"flag"
	"reflect"
	"testing"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
)

const key = "il1api0123456789abcdefghij"

func mqttMsg(payload string) consumer.Message {
	return consumer.Message{Source: "mqtt", Topic: "plant/line1/alarm", Payload: []byte(payload)}
}

func TestEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts mapping.Options
		msg  consumer.Message
		want client.Event
	}{
		{
			name: "DefaultsOfABareAlert",
			msg:  mqttMsg(`{"integrationKey": "` + key + `"}`),
			want: client.Event{IntegrationKey: key, EventType: "ALERT", Summary: "New alert from plant/line1/alarm",
				CustomDetails: json.RawMessage(`{"topic":"plant/line1/alarm"}`)},
		},
		{
			name: "KafkaDefaultDetailsNameTheMessageKey",
			msg:  consumer.Message{Source: "kafka", Topic: "events", Key: "pump-7", Payload: []byte(`{"apiKey": "` + key + `", "summary": "pressure"}`)},
			want: client.Event{IntegrationKey: key, EventType: "ALERT", Summary: "pressure",
				CustomDetails: json.RawMessage(`{"messageKey":"pump-7","topic":"events"}`)},
		},
		{
			name: "PayloadInTheEventsShape",
			msg: mqttMsg(`{"integrationKey": "` + key + `", "eventType": "resolve", "alertKey": "pump-7", "priority": "low",
				"details": "back to normal", "links": [{"href": "https://example.com/pump", "text": "pump"}], "customDetails": {"bar": 2}}`),
			want: client.Event{IntegrationKey: key, EventType: "RESOLVE", AlertKey: "pump-7", Priority: "LOW", Details: "back to normal",
				Links: []client.Link{{Href: "https://example.com/pump", Text: "pump"}}, CustomDetails: json.RawMessage(`{"bar": 2}`)},
		},
		{
			name: "EventKeyOverridesThePayload",
			opts: mapping.Options{EventKey: "il1api-from-the-flag-000000"},
			msg:  mqttMsg(`{"integrationKey": "` + key + `", "summary": "hot"}`),
			want: client.Event{IntegrationKey: "il1api-from-the-flag-000000", EventType: "ALERT", Summary: "hot",
				CustomDetails: json.RawMessage(`{"topic":"plant/line1/alarm"}`)},
		},
		{
			name: "DotPathsAndValueMapping",
			opts: mapping.Options{EventKey: key, MapKeyEtype: "state.kind", MapKeyAlertKey: "device.id", MapKeySummary: "text",
				MapValEtypeAlert: "on", MapValEtypeAccept: "ack", MapValEtypeResolve: "off"},
			msg: mqttMsg(`{"state": {"kind": "off"}, "device": {"id": "pump-7"}, "text": "pump stopped", "summary": "ignored"}`),
			want: client.Event{IntegrationKey: key, EventType: "RESOLVE", AlertKey: "pump-7", Summary: "pump stopped",
				CustomDetails: json.RawMessage(`{"topic":"plant/line1/alarm"}`)},
		},
		{
			name: "ValueMappingToAccept",
			opts: mapping.Options{EventKey: key, MapKeyEtype: "s", MapValEtypeAlert: "on", MapValEtypeAccept: "ack", MapValEtypeResolve: "off"},
			msg:  mqttMsg(`{"s": "ack", "alertKey": "a1"}`),
			want: client.Event{IntegrationKey: key, EventType: "ACCEPT", AlertKey: "a1", CustomDetails: json.RawMessage(`{"topic":"plant/line1/alarm"}`)},
		},
		{
			name: "ValueMappingAppliesToThePayloadsEventType",
			opts: mapping.Options{EventKey: key, MapValEtypeAlert: "firing"},
			msg:  mqttMsg(`{"eventType": "firing", "summary": "disk full"}`),
			want: client.Event{IntegrationKey: key, EventType: "ALERT", Summary: "disk full", CustomDetails: json.RawMessage(`{"topic":"plant/line1/alarm"}`)},
		},
		{
			name: "ATopLevelFieldWithADotWinsOverThePath",
			opts: mapping.Options{EventKey: key, MapKeySummary: "a.b"},
			msg:  mqttMsg(`{"a.b": "flat", "a": {"b": "nested"}}`),
			want: client.Event{IntegrationKey: key, EventType: "ALERT", Summary: "flat", CustomDetails: json.RawMessage(`{"topic":"plant/line1/alarm"}`)},
		},
		{
			name: "NonStringValuesAreNotTaken",
			opts: mapping.Options{EventKey: key, MapKeySummary: "temp", MapKeyAlertKey: "device"},
			msg:  mqttMsg(`{"temp": 81.5, "device": {"id": 7}}`),
			want: client.Event{IntegrationKey: key, EventType: "ALERT", Summary: "New alert from plant/line1/alarm",
				CustomDetails: json.RawMessage(`{"topic":"plant/line1/alarm"}`)},
		},
		{
			name: "ForwardMessagePayload",
			opts: mapping.Options{EventKey: key, ForwardMessagePayload: true},
			msg:  mqttMsg(`{"temp": 81.5,  "device": {"id": 12345678901234567890}}`),
			want: client.Event{IntegrationKey: key, EventType: "ALERT", Summary: "New alert from plant/line1/alarm",
				CustomDetails: json.RawMessage(`{"temp":81.5,"device":{"id":12345678901234567890}}`)},
		},
		{
			name: "ExplicitCustomDetailsWinOverForwarding",
			opts: mapping.Options{EventKey: key, ForwardMessagePayload: true},
			msg:  mqttMsg(`{"temp": 81.5, "customDetails": {"env": "prod"}}`),
			want: client.Event{IntegrationKey: key, EventType: "ALERT", Summary: "New alert from plant/line1/alarm",
				CustomDetails: json.RawMessage(`{"env": "prod"}`)},
		},
		{
			name: "FilterPasses",
			opts: mapping.Options{EventKey: key, FilterKey: "site", FilterVal: "berlin"},
			msg:  mqttMsg(`{"site": "berlin"}`),
			want: client.Event{IntegrationKey: key, EventType: "ALERT", Summary: "New alert from plant/line1/alarm",
				CustomDetails: json.RawMessage(`{"topic":"plant/line1/alarm"}`)},
		},
		{
			name: "FilterOnANumber",
			opts: mapping.Options{EventKey: key, FilterKey: "line", FilterVal: "3"},
			msg:  mqttMsg(`{"line": 3}`),
			want: client.Event{IntegrationKey: key, EventType: "ALERT", Summary: "New alert from plant/line1/alarm",
				CustomDetails: json.RawMessage(`{"topic":"plant/line1/alarm"}`)},
		},
		{
			name: "FilterKeyOnly",
			opts: mapping.Options{EventKey: key, FilterKey: "alarm"},
			msg:  mqttMsg(`{"alarm": null}`),
			want: client.Event{IntegrationKey: key, EventType: "ALERT", Summary: "New alert from plant/line1/alarm",
				CustomDetails: json.RawMessage(`{"topic":"plant/line1/alarm"}`)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.opts.Event(tc.msg)
			if err != nil {
				t.Fatalf("Event: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestEventErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    mapping.Options
		payload string
		want    error
	}{
		{"ErrFilteredWithoutTheKey", mapping.Options{EventKey: key, FilterKey: "site"}, `{"other": 1}`, mapping.ErrFiltered},
		{"ErrFilteredByValue", mapping.Options{EventKey: key, FilterKey: "site", FilterVal: "berlin"}, `{"site": "paris"}`, mapping.ErrFiltered},
		{"ErrFilteredByAnObject", mapping.Options{EventKey: key, FilterKey: "site", FilterVal: "berlin"}, `{"site": {"berlin": 1}}`, mapping.ErrFiltered},
		{"ErrUnmappableNotJSON", mapping.Options{EventKey: key}, `temperature=81`, mapping.ErrUnmappable},
		{"ErrUnmappableNotAnObject", mapping.Options{EventKey: key}, `[1, 2]`, mapping.ErrUnmappable},
		{"ErrUnmappableTwoValues", mapping.Options{EventKey: key}, `{} {}`, mapping.ErrUnmappable},
		{"ErrUnmappableNoIntegrationKey", mapping.Options{}, `{"summary": "x"}`, mapping.ErrUnmappable},
		{"ErrUnmappableResolveWithoutAlertKey", mapping.Options{EventKey: key}, `{"eventType": "RESOLVE"}`, mapping.ErrUnmappable},
		{"ErrUnmappableUnknownType", mapping.Options{EventKey: key, MapKeyEtype: "s", MapValEtypeAlert: "on"}, `{"s": "maybe"}`, mapping.ErrUnmappable},
		{"ErrUnmappableSummaryOfAnotherType", mapping.Options{EventKey: key}, `{"summary": 42}`, mapping.ErrUnmappable},
		{"ErrUnmappableBadPriority", mapping.Options{EventKey: key}, `{"priority": "urgent"}`, mapping.ErrUnmappable},
		{"ErrUnmappableCustomDetailsNotAnObject", mapping.Options{EventKey: key}, `{"customDetails": [1]}`, mapping.ErrUnmappable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.opts.Event(mqttMsg(tc.payload))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if errors.Is(err, mapping.ErrFiltered) && errors.Is(err, mapping.ErrUnmappable) {
				t.Fatalf("a message is both filtered and unmappable: %v", err)
			}
		})
	}
}

const shiftPayload = `{"location": "powerplant", "slot": "three50", "eventType": "active",
	"data": {"email": "ada@example.com", "shift": "1"}}`

func TestPolicy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    mapping.PolicyOptions
		payload string
		want    mapping.PolicyUpdate
	}{
		{"Defaults", mapping.PolicyOptions{PolicyRoutingKeys: "location"}, shiftPayload,
			mapping.PolicyUpdate{Email: "ada@example.com", Level: 1, RoutingKey: "powerplant"}},
		{"RoutingKeysJoinedSkippingMissing", mapping.PolicyOptions{PolicyRoutingKeys: "location, nonexistent ,slot"}, shiftPayload,
			mapping.PolicyUpdate{Email: "ada@example.com", Level: 1, RoutingKey: "powerplantthree50"}},
		{"CustomPathsAndANumericShift", mapping.PolicyOptions{PolicyRoutingKeys: "site", MapKeyEmail: "who.mail", MapKeyShift: "level"},
			`{"site": "s1", "who": {"mail": "bob@example.com"}, "level": 3}`,
			mapping.PolicyUpdate{Email: "bob@example.com", Level: 3, RoutingKey: "s1"}},
		{"NoShiftIsLevelZero", mapping.PolicyOptions{PolicyRoutingKeys: "site"}, `{"site": "s1", "data": {"email": "a@b.c"}}`,
			mapping.PolicyUpdate{Email: "a@b.c", Level: 0, RoutingKey: "s1"}},
		{"NegativeOffset", mapping.PolicyOptions{PolicyRoutingKeys: "location", ShiftOffset: -1}, shiftPayload,
			mapping.PolicyUpdate{Email: "ada@example.com", Level: 0, RoutingKey: "powerplant"}},
		{"OffsetClampedAtZero", mapping.PolicyOptions{PolicyRoutingKeys: "location", ShiftOffset: -5}, shiftPayload,
			mapping.PolicyUpdate{Email: "ada@example.com", Level: 0, RoutingKey: "powerplant"}},
		{"PositiveOffset", mapping.PolicyOptions{PolicyRoutingKeys: "location", ShiftOffset: 2}, shiftPayload,
			mapping.PolicyUpdate{Email: "ada@example.com", Level: 3, RoutingKey: "powerplant"}},
		{"FilterPasses", mapping.PolicyOptions{PolicyRoutingKeys: "location", FilterKey: "eventType", FilterVal: "active"}, shiftPayload,
			mapping.PolicyUpdate{Email: "ada@example.com", Level: 1, RoutingKey: "powerplant"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.opts.Policy([]byte(tc.payload))
			if err != nil {
				t.Fatalf("Policy: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPolicyErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    mapping.PolicyOptions
		payload string
		want    error
	}{
		{"ErrFiltered", mapping.PolicyOptions{PolicyRoutingKeys: "location", FilterKey: "eventType", FilterVal: "inactive"}, shiftPayload, mapping.ErrFiltered},
		{"ErrUnmappableNotJSON", mapping.PolicyOptions{PolicyRoutingKeys: "location"}, `shift=1`, mapping.ErrUnmappable},
		{"ErrUnmappableNoEmail", mapping.PolicyOptions{PolicyRoutingKeys: "location", MapKeyEmail: "wrong.path"}, shiftPayload, mapping.ErrUnmappable},
		{"ErrUnmappableEmptyEmail", mapping.PolicyOptions{PolicyRoutingKeys: "site"}, `{"site": "s", "data": {"email": " "}}`, mapping.ErrUnmappable},
		{"ErrUnmappableShiftNotANumber", mapping.PolicyOptions{PolicyRoutingKeys: "location"}, `{"location": "p", "data": {"email": "a@b.c", "shift": "late"}}`, mapping.ErrUnmappable},
		{"ErrUnmappableShiftAFraction", mapping.PolicyOptions{PolicyRoutingKeys: "location"}, `{"location": "p", "data": {"email": "a@b.c", "shift": 1.5}}`, mapping.ErrUnmappable},
		{"ErrUnmappableNoRoutingKeysConfigured", mapping.PolicyOptions{}, shiftPayload, mapping.ErrUnmappable},
		{"ErrUnmappableNoRoutingKeyField", mapping.PolicyOptions{PolicyRoutingKeys: "nonexistent"}, shiftPayload, mapping.ErrUnmappable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.opts.Policy([]byte(tc.payload)); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHeartbeat(t *testing.T) {
	for _, tc := range []struct {
		payload, want string
		err           error
	}{
		{`{"integrationKey": "il1hbt123"}`, "il1hbt123", nil},
		{`{"apiKey": "monitor-key"}`, "monitor-key", nil},
		{`{}`, "", mapping.ErrUnmappable},
		{`{"integrationKey": 7}`, "", mapping.ErrUnmappable},
		{`ping`, "", mapping.ErrUnmappable},
	} {
		got, err := mapping.Heartbeat([]byte(tc.payload))
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("Heartbeat(%s) = %q, %v; want %q, %v", tc.payload, got, err, tc.want, tc.err)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/+/c", "a/b/c", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"#", "a/b", true},
		{"#", "$SYS/broker", false},
		{"+/broker", "$SYS/broker", false},
		{"$SYS/#", "$SYS/broker", true},
		{"events", "events", true},
		{"events", "events2", false},
	} {
		if got := mapping.Match(tc.filter, tc.topic); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestKind(t *testing.T) {
	// As ilagent: heartbeat before policy before event, so a catch-all event topic does not
	// swallow heartbeats and policy messages.
	topics := mapping.Topics{Event: "plant/#", Heartbeat: "plant/hbt", Policy: "plant/shifts/+"}
	for topic, want := range map[string]mapping.Kind{
		"plant/hbt":          mapping.KindHeartbeat,
		"plant/shifts/north": mapping.KindPolicy,
		"plant/line1/alarm":  mapping.KindEvent,
		"office/alarm":       mapping.KindOther,
	} {
		if got := topics.Kind(topic); got != want {
			t.Errorf("Kind(%q) = %s, want %s", topic, got, want)
		}
	}
	if got := (mapping.Topics{}).Kind("plant/hbt"); got != mapping.KindOther {
		t.Errorf("no topics: Kind = %s, want other", got)
	}
}

func TestValidFilter(t *testing.T) {
	for filter, ok := range map[string]bool{"a/b": true, "a/+/c": true, "a/#": true, "#": true, "": false, "a/#/c": false, "a/b#": false, "a/b+": false} {
		if err := mapping.ValidFilter(filter); (err == nil) != ok {
			t.Errorf("ValidFilter(%q) = %v", filter, err)
		}
	}
}

// TestFlags parses an ilagent command line: the shared flags (topics for MQTT and Kafka, the
// filter for events and policy messages) are registered once and reach every part.
func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	var mqttTopics, kafkaTopics mapping.Topics
	var ev mapping.Options
	var pol mapping.PolicyOptions
	mqttTopics.Flags(fs)
	ev.Flags(fs)
	pol.Flags(fs)
	kafkaTopics.Flags(fs)
	err := fs.Parse([]string{"-e", "plant/#", "--heartbeat_topic", "plant/hbt", "--policy_topic", "shifts",
		"--event_key", key, "--map_key_etype", "state", "--map_key_alert_key", "device.id", "--map_key_summary", "text",
		"--map_val_etype_alert", "on", "--map_val_etype_accept", "ack", "--map_val_etype_resolve", "off",
		"--filter_key", "site", "--filter_val", "berlin", "--forward_message_payload",
		"--policy_routing_keys", "location,slot", "--map_key_shift", "data.level", "--shift_offset", "-1"})
	if err != nil {
		t.Fatal(err)
	}
	wantTopics := mapping.Topics{Event: "plant/#", Heartbeat: "plant/hbt", Policy: "shifts"}
	if !reflect.DeepEqual(mqttTopics, wantTopics) || !reflect.DeepEqual(kafkaTopics, wantTopics) {
		t.Errorf("topics: mqtt %+v, kafka %+v, want %+v", mqttTopics, kafkaTopics, wantTopics)
	}
	wantEv := mapping.Options{EventKey: key, MapKeyEtype: "state", MapKeyAlertKey: "device.id", MapKeySummary: "text",
		MapValEtypeAlert: "on", MapValEtypeAccept: "ack", MapValEtypeResolve: "off", FilterKey: "site", FilterVal: "berlin", ForwardMessagePayload: true}
	if ev != wantEv {
		t.Errorf("options: got %+v, want %+v", ev, wantEv)
	}
	wantPol := mapping.PolicyOptions{PolicyRoutingKeys: "location,slot", MapKeyEmail: "data.email", MapKeyShift: "data.level", ShiftOffset: -1,
		FilterKey: "site", FilterVal: "berlin"}
	if pol != wantPol {
		t.Errorf("policy options: got %+v, want %+v", pol, wantPol)
	}
}
