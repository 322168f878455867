package alert_test

import (
	"strings"
	"testing"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
)

func TestParseEvent(t *testing.T) {
	t.Run("IlertGoBody", func(t *testing.T) {
		// The exact body ilert-go v3.19 sends: apiKey alias, empty href/alt strings.
		body := `{"apiKey":"il1api1","eventType":"ALERT","summary":"s","alertKey":"k","priority":"HIGH","images":[{"src":"s","href":"","alt":""}],"links":[{"text":"t","href":"h"}],"labels":{"a":"b"},"customDetails":{"x":1}}`
		ev, err := alert.ParseEvent([]byte(body), "")
		if err != nil {
			t.Fatal(err)
		}
		if ev.IntegrationKey != "il1api1" || ev.Type != alert.EventAlert || ev.AlertKey != "k" || ev.Priority != alert.High {
			t.Fatalf("got %+v", ev)
		}
		if len(ev.Images) != 1 || len(ev.Links) != 1 || ev.Labels["a"] != "b" || string(ev.CustomDetails) != `{"x":1}` {
			t.Fatalf("got %+v", ev)
		}
	})
	t.Run("RustNullsAndIncidentKey", func(t *testing.T) {
		body := `{"integrationKey":"k1","eventType":"resolve","summary":null,"details":null,"incidentKey":" Disk-1 ","priority":"","images":null,"links":null,"customDetails":null,"severity":0,"labels":null,"routingKey":""}`
		ev, err := alert.ParseEvent([]byte(body), "")
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != alert.EventResolve || ev.AlertKey != "Disk-1" || ev.CustomDetails != nil || ev.Severity != nil || ev.Priority != "" {
			t.Fatalf("got %+v", ev)
		}
	})
	t.Run("BlankAlertKeyFallsBackToIncidentKey", func(t *testing.T) {
		ev, err := alert.ParseEvent([]byte(`{"integrationKey":"k","eventType":"RESOLVE","alertKey":" ","incidentKey":"legacy"}`), "")
		if err != nil || ev.AlertKey != "legacy" {
			t.Fatalf("got %+v, %v", ev, err)
		}
	})
	t.Run("KeyFromPathWins", func(t *testing.T) {
		ev, err := alert.ParseEvent([]byte(`{"integrationKey":"body","eventType":"ALERT","summary":"s"}`), "path")
		if err != nil || ev.IntegrationKey != "path" {
			t.Fatalf("got %+v, %v", ev, err)
		}
	})
	bad := []struct{ name, body, want string }{
		{"NotJSON", `{"eventType":`, "cut short"},
		{"Malformed", `{"eventType" "ALERT"}`, "malformed JSON"},
		{"WrongType", `{"integrationKey":"k","eventType":"ALERT","summary":5}`, "summary"},
		{"NoKey", `{"eventType":"ALERT","summary":"s"}`, "integrationKey is required"},
		{"NoType", `{"integrationKey":"k","summary":"s"}`, "eventType is required"},
		{"BadType", `{"integrationKey":"k","eventType":"EXPLODE","summary":"s"}`, "not one of"},
		{"AlertNoSummary", `{"integrationKey":"k","eventType":"ALERT"}`, "summary is required"},
		{"AcceptNoKey", `{"integrationKey":"k","eventType":"ACCEPT"}`, "alertKey is required"},
		{"BadPriority", `{"integrationKey":"k","eventType":"ALERT","summary":"s","priority":"URGENT"}`, "priority"},
		{"BadSeverity", `{"integrationKey":"k","eventType":"ALERT","summary":"s","severity":9}`, "severity"},
		{"LongKey", `{"integrationKey":"k","eventType":"ALERT","summary":"s","alertKey":"` + strings.Repeat("x", 256) + `"}`, "alertKey"},
		{"CustomDetailsNotObject", `{"integrationKey":"k","eventType":"ALERT","summary":"s","customDetails":[1]}`, "customDetails"},
		{"ImageWithoutSrc", `{"integrationKey":"k","eventType":"ALERT","summary":"s","images":[{"href":"h"}]}`, "images[0]"},
		{"EmptyComment", `{"integrationKey":"k","eventType":"COMMENT","alertKey":"a"}`, "COMMENT"},
		{"BlankComment", `{"integrationKey":"k","eventType":"COMMENT","alertKey":"a","details":"   "}`, "COMMENT"},
		{"TwoObjects", `{"integrationKey":"k","eventType":"ALERT","summary":"s"} {}`, "single"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := alert.ParseEvent([]byte(tc.body), "")
			if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an Invalid error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	pending := &alert.Alert{ID: 1, Status: alert.Pending}
	accepted := &alert.Alert{ID: 1, Status: alert.Accepted}
	tests := []struct {
		typ      alert.EventType
		open     *alert.Alert
		wantAct  alert.Action
		wantCode string
	}{
		{alert.EventAlert, nil, alert.ActOpen, alert.CodeCreated},
		{alert.EventAlert, pending, alert.ActAppend, alert.CodeAppended},
		{alert.EventAlert, accepted, alert.ActAppend, alert.CodeAppended},
		{alert.EventAccept, nil, alert.ActNone, alert.CodeNoOpenAlert},
		{alert.EventAccept, pending, alert.ActAccept, alert.CodeAccepted},
		{alert.EventAccept, accepted, alert.ActNone, alert.CodeAlreadyAccepted},
		{alert.EventResolve, nil, alert.ActNone, alert.CodeNoOpenAlert},
		{alert.EventResolve, pending, alert.ActResolve, alert.CodeResolved},
		{alert.EventResolve, accepted, alert.ActResolve, alert.CodeResolved},
		{alert.EventComment, nil, alert.ActNone, alert.CodeNoOpenAlert},
		{alert.EventComment, accepted, alert.ActComment, alert.CodeCommented},
	}
	for _, tc := range tests {
		act, code := alert.Decide(&alert.Event{Type: tc.typ}, tc.open)
		if act != tc.wantAct || code != tc.wantCode {
			t.Errorf("%s with open=%v: got %v %s, want %v %s", tc.typ, tc.open, act, code, tc.wantAct, tc.wantCode)
		}
	}
}

func TestPriorityFor(t *testing.T) {
	tests := []struct {
		rule, itype string
		event       alert.Priority
		want        alert.Priority
	}{
		{alert.RuleHigh, "API", "", alert.High},
		{alert.RuleHigh, "API", alert.Low, alert.Low}, // honoured on HIGH sources
		{alert.RuleLow, "API", alert.High, alert.Low}, // ignored on LOW sources
		{alert.RuleLow, "GRAFANA", alert.High, alert.High},
		{alert.RuleHighDuringSupportHours, "API", alert.Low, alert.High},
		{alert.RuleLowDuringSupportHours, "API", "", alert.Low},
	}
	for _, tc := range tests {
		got := alert.PriorityFor(&alert.Source{AlertPriorityRule: tc.rule, IntegrationType: tc.itype}, &alert.Event{Priority: tc.event})
		if got != tc.want {
			t.Errorf("rule %s type %s event %q: got %s, want %s", tc.rule, tc.itype, tc.event, got, tc.want)
		}
	}
}

func TestCanTransition(t *testing.T) {
	if changed, err := alert.CanTransition(alert.Pending, alert.Accepted); !changed || err != nil {
		t.Errorf("PENDING→ACCEPTED: %v %v", changed, err)
	}
	if changed, err := alert.CanTransition(alert.Accepted, alert.Accepted); changed || err != nil {
		t.Errorf("ACCEPTED→ACCEPTED must be a no-op: %v %v", changed, err)
	}
	if _, err := alert.CanTransition(alert.Resolved, alert.Accepted); !fault.Is(err, fault.Invalid) {
		t.Errorf("RESOLVED→ACCEPTED must be refused: %v", err)
	}
}

func TestParsePeriod(t *testing.T) {
	good := map[string]string{"PT4H": "4h0m0s", "PT90M": "1h30m0s", "P1D": "24h0m0s", "P1DT2H": "26h0m0s", "PT30S": "30s",
		"P366D": "8784h0m0s", "P52W": "8736h0m0s", "PT31622400S": "8784h0m0s"}
	for in, want := range good {
		d, err := alert.ParsePeriod(in)
		if err != nil || d.String() != want {
			t.Errorf("%s: got %v %v, want %s", in, d, err, want)
		}
	}
	// The last ones wrapped around to short periods when multiplied unchecked.
	for _, in := range []string{"", "P", "PT", "4H", "PT-1H", "P0D", "P400D", "P366DT1S", "P213504D", "PT5124096H", "P30501W",
		"PT99999999999999999999S"} {
		if _, err := alert.ParsePeriod(in); err == nil {
			t.Errorf("%q: want an error", in)
		}
	}
}

func TestSourceChosenIntegrationKey(t *testing.T) {
	for key, ok := range map[string]bool{
		"":                                     true, // generated
		"il1api1":                              false,
		"0123456789012345678901234":            false, // all digits: would read as an id
		"my-own-key-with-28-characters":        true,
		strings.Repeat("k", alert.MaxKeyLen+1): false,
	} {
		s := alert.Source{Name: "s", IntegrationType: "API", EscalationPolicy: []byte(`{"id":1}`), IntegrationKey: key}
		s.Normalize()
		if err := s.Validate(); (err == nil) != ok {
			t.Errorf("key %q: error %v, want ok=%v", key, err, ok)
		}
	}
}
