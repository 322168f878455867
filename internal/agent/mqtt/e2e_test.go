package mqtt_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/agenttest"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
)

// TestEndToEnd runs the consumer between the machine's Mosquitto and a real tocsin: an event
// message opens an alert, a resolve message closes it, and a shift message puts a user on a
// level of an escalation policy.
func TestEndToEnd(t *testing.T) {
	tc := agenttest.StartTocsin(t)
	ctx := context.Background()
	var ada, policy struct {
		ID int64 `json:"id"`
	}
	tc.Call(t, http.MethodPost, "/api/users", map[string]any{"firstName": "Ada", "lastName": "Shift", "email": "ada@example.com", "role": "RESPONDER"}, &ada)
	tc.Call(t, http.MethodPost, "/api/escalation-policies", map[string]any{"name": "north", "routingKey": "plant-north",
		"escalationRules": []any{
			map[string]any{"escalationTimeout": 10, "users": []any{map[string]any{"id": 1}}},
			map[string]any{"escalationTimeout": 20, "users": []any{map[string]any{"id": 1}}},
		}}, &policy)

	base := unique(t)
	cfg := testConfig(t, mapping.Topics{Event: base + "/alarms/+", Policy: base + "/shifts"})
	m := mapping.Options{EventKey: tc.IntegrationKey, MapKeyEtype: "state", MapValEtypeAlert: "on", MapValEtypeResolve: "off",
		MapKeyAlertKey: "device", MapKeySummary: "text"}
	p := mapping.PolicyOptions{PolicyRoutingKeys: "plant,area"}
	start(t, cfg, m, p, tc.Client(), nil)

	publish(t, brokerHost, brokerPort, base+"/alarms/boiler", `{"state": "on", "device": "boiler-1", "text": "boiler pressure high"}`)
	agenttest.Eventually(t, 10*time.Second, "no alert", func() bool {
		n, err := tc.CountAlerts(ctx)
		return err == nil && n == 1
	})
	var alerts []struct {
		Summary string `json:"summary"`
		Status  string `json:"status"`
	}
	tc.Call(t, http.MethodGet, fmt.Sprintf("/api/alerts?sources=%d", tc.SourceID), nil, &alerts)
	if len(alerts) != 1 || alerts[0].Summary != "boiler pressure high" || alerts[0].Status == "RESOLVED" {
		t.Fatalf("alerts: %+v", alerts)
	}
	publish(t, brokerHost, brokerPort, base+"/alarms/boiler", `{"state": "off", "device": "boiler-1"}`)
	agenttest.Eventually(t, 10*time.Second, "the alert was not resolved", func() bool {
		tc.Call(t, http.MethodGet, fmt.Sprintf("/api/alerts?sources=%d", tc.SourceID), nil, &alerts)
		return len(alerts) == 1 && alerts[0].Status == "RESOLVED"
	})

	publish(t, brokerHost, brokerPort, base+"/shifts", `{"plant": "plant", "area": "-north", "data": {"email": "ada@example.com", "shift": "1"}}`)
	var got struct {
		EscalationRules []struct {
			EscalationTimeout int `json:"escalationTimeout"`
			Users             []struct {
				ID int64 `json:"id"`
			} `json:"users"`
		} `json:"escalationRules"`
	}
	agenttest.Eventually(t, 10*time.Second, "the level was not updated", func() bool {
		tc.Call(t, http.MethodGet, fmt.Sprintf("/api/escalation-policies/%d", policy.ID), nil, &got)
		l := got.EscalationRules[1]
		return len(l.Users) == 1 && l.Users[0].ID == ada.ID
	})
	if got.EscalationRules[1].EscalationTimeout != 20 || got.EscalationRules[0].Users[0].ID != 1 {
		t.Errorf("the policy: %+v", got)
	}
}
