package e2e_test

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// mosquitto is the broker the machine runs; the agent's MQTT tests need it.
const mosquitto = "127.0.0.1:1883"

// publisher connects a paho client to the machine's Mosquitto, or skips the test (fails in
// CI) when there is none.
func publisher(t *testing.T) paho.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", mosquitto, 2*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Mosquitto is not running on %s: %v", mosquitto, err)
		}
		t.Skipf("Mosquitto is not running on %s (start it with mosquitto -d -c /etc/mosquitto/mosquitto.conf): %v", mosquitto, err)
	}
	conn.Close()
	opts := paho.NewClientOptions().AddBroker("tcp://" + mosquitto).SetClientID(fmt.Sprintf("e2e-pub-%d", time.Now().UnixNano()))
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to Mosquitto: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t *testing.T, c paho.Client, topic, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish to %s: %v", topic, tok.Error())
	}
}

// The daemon as users run it: MQTT events become alerts, and a stream rule on plain sensor
// readings opens an alert per device when a reading crosses its threshold and resolves it
// when the reading comes back.
func TestAgentMQTTAndStreamRules(t *testing.T) {
	pub := publisher(t)
	s := startAgentServer(t)
	base := fmt.Sprintf("e2e/%d", time.Now().UnixNano())
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	err := os.WriteFile(rules, []byte(fmt.Sprintf(`rules:
  - name: boiler-hot
    type: threshold
    integration_key: %s
    topic: %s/+/boiler
    device: levels[2]
    field: payload.temperature
    above: 90
    for: 0s
    summary: "Boiler {{device}} at {{value}} °C"
`, s.integrationKey, base)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, s.url(), filepath.Join(t.TempDir(), "agent.db"),
		"-m", "127.0.0.1", "-q", "1883", "-n", "e2e-agent-"+filepath.Base(base), "--mqtt_qos", "1",
		"-e", base+"/events", "--rules", rules)
	waitUntil(t, 15*time.Second, "the agent ready", func() bool { return a.ready(t) })

	publish(t, pub, base+"/events", fmt.Sprintf(`{"integrationKey":%q,"eventType":"ALERT","summary":"Pump 3 pressure low","alertKey":"pump-3"}`, s.integrationKey))
	waitUntil(t, 15*time.Second, "the MQTT event's alert", func() bool { return len(s.alertsByKey(t)["pump-3"]) == 1 })

	publish(t, pub, base+"/b1/boiler", `{"temperature": 72}`)
	publish(t, pub, base+"/b2/boiler", `{"temperature": 95}`)
	waitUntil(t, 15*time.Second, "the rule's alert for boiler b2", func() bool {
		for key, list := range s.alertsByKey(t) {
			if key != "pump-3" && len(list) == 1 && list[0].Status == "PENDING" {
				return true
			}
		}
		return false
	})
	var ruleKey string
	for key := range s.alertsByKey(t) {
		if key != "pump-3" {
			ruleKey = key
		}
	}
	if n := len(s.alertsByKey(t)); n != 2 {
		t.Fatalf("%d alert keys, want pump-3 and boiler b2's only (b1 is cool): %v", n, s.alertsByKey(t))
	}
	publish(t, pub, base+"/b2/boiler", `{"temperature": 60}`)
	waitUntil(t, 15*time.Second, "boiler b2's alert resolved", func() bool {
		list := s.alertsByKey(t)[ruleKey]
		return len(list) == 1 && list[0].Status == "RESOLVED"
	})
}

// ready reports whether the daemon's GET /ready answers 204 (every consumer ready).
func (a *agentProc) ready(t *testing.T) bool {
	t.Helper()
	resp, err := http.Get(a.base + "/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusNoContent
}
