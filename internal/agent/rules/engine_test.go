package rules_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/consumer"
)

const boilerRules = `
rules:
  - name: boiler-hot
    type: threshold
    integration_key: ` + key + `
    topic: plant/+/boiler
    device: levels[1]
    field: payload.temperature
    above: 90
    for: 60s
`

func TestThreshold(t *testing.T) {
	t.Run("FiresAfterForAndResolves", func(t *testing.T) {
		h := newHarness(t, boilerRules)
		h.send("plant/b1/boiler", reading("temperature", 95))
		h.advance(30 * time.Second)
		h.send("plant/b1/boiler", reading("temperature", 96))
		h.advance(29 * time.Second)
		h.expect()
		h.advance(time.Second)
		ev := h.expect("ALERT boiler-hot/b1")[0]
		if want := "boiler-hot: 96 is above 90 on b1 for 1m"; ev.Summary != want {
			t.Errorf("summary = %q, want %q", ev.Summary, want)
		}
		if d := details(t, ev); d["value"] != 96.0 || d["above"] != 90.0 || d["device"] != "b1" || d["topic"] != "plant/b1/boiler" {
			t.Errorf("customDetails = %v", d)
		}
		h.send("plant/b1/boiler", reading("temperature", 97))
		h.advance(time.Minute)
		h.expect()
		h.send("plant/b1/boiler", reading("temperature", 80))
		ev = h.expect("RESOLVE boiler-hot/b1")[0]
		if d := details(t, ev); d["value"] != 80.0 {
			t.Errorf("RESOLVE customDetails = %v", d)
		}
	})

	t.Run("ABreakRestartsTheDuration", func(t *testing.T) {
		h := newHarness(t, boilerRules)
		h.send("plant/b1/boiler", reading("temperature", 95))
		h.advance(50 * time.Second)
		h.send("plant/b1/boiler", reading("temperature", 85))
		h.send("plant/b1/boiler", reading("temperature", 95))
		h.advance(50 * time.Second)
		h.expect()
		h.advance(10 * time.Second)
		h.expect("ALERT boiler-hot/b1")
	})

	t.Run("Below", func(t *testing.T) {
		h := newHarness(t, rulesFile(lines(
			"  - name: tank-low",
			"    type: threshold",
			"    integration_key: "+key,
			"    topic: tank/level",
			"    field: payload",
			"    below: 10",
		)))
		h.send("tank/level", "12.5") // a plain number, not a JSON object
		h.expect()
		h.send("tank/level", "9.5")
		ev := h.expect("ALERT tank-low")[0]
		if want := "tank-low: 9.5 is below 10 on tank/level"; ev.Summary != want {
			t.Errorf("summary = %q, want %q", ev.Summary, want)
		}
	})

	t.Run("MessagesWithoutTheNumberAreSkipped", func(t *testing.T) {
		h := newHarness(t, boilerRules)
		h.send("plant/b1/boiler", reading("temperature", 95))
		h.send("plant/b1/boiler", reading("temperature", "broken"))
		h.send("plant/b1/boiler", `{"pressure": 3}`)
		h.send("plant/b1/boiler", `not json`)
		h.advance(time.Minute)
		h.expect("ALERT boiler-hot/b1") // the breach went on: unusable messages do not end it
		if got := h.eng.Status().Details["skipped"]; got != int64(3) {
			t.Errorf("skipped = %v, want 3", got)
		}
	})

	t.Run("OtherTopicsAreIgnored", func(t *testing.T) {
		h := newHarness(t, boilerRules)
		h.send("plant/b1/boiler/extra", reading("temperature", 95))
		h.send("plant/boiler", reading("temperature", 95))
		h.advance(2 * time.Minute)
		h.expect()
	})
}

func TestDedupPerDevice(t *testing.T) {
	h := newHarness(t, rulesFile(lines(
		"  - name: hot",
		"    type: threshold",
		"    integration_key: "+key,
		"    topic: sensors/#",
		"    device: payload.sensor.id",
		"    field: payload.sensor.temp",
		"    above: 30",
		"    dedup_key: 'temp-{{device}}'",
		"    summary: '{{device}} is at {{value}} °C ({{payload.sensor.room}})'",
	)))
	h.send("sensors/a", `{"sensor": {"id": "s1", "temp": 31, "room": "hall"}}`)
	h.send("sensors/b", `{"sensor": {"id": "s2", "temp": 35, "room": "lab"}}`)
	h.send("sensors/b", `{"sensor": {"id": "s2", "temp": 36, "room": "lab"}}`)
	h.send("sensors/c", `{"sensor": {"temp": 99}}`) // no device: not evaluated
	evs := h.expect("ALERT temp-s1", "ALERT temp-s2")
	if evs[1].Summary != "s2 is at 35 °C (lab)" {
		t.Errorf("summary = %q", evs[1].Summary)
	}
	h.send("sensors/a", `{"sensor": {"id": "s1", "temp": 20}}`)
	h.expect("RESOLVE temp-s1")
	h.advance(time.Hour)
	h.expect()
}

func TestMissingHeartbeat(t *testing.T) {
	t.Run("PerDevice", func(t *testing.T) {
		h := newHarness(t, rulesFile(lines(
			"  - name: sensor-silent",
			"    type: missing_heartbeat",
			"    integration_key: "+key,
			"    topic: sensors/+/status",
			"    device: payload.id",
			"    timeout: 5m",
		)))
		h.send("sensors/x/status", `{"id": "s1"}`)
		h.advance(2 * time.Minute)
		h.send("sensors/y/status", `{"id": "s2"}`)
		h.advance(2*time.Minute + 59*time.Second)
		h.expect()
		h.advance(time.Second)
		ev := h.expect("ALERT sensor-silent/s1")[0]
		if want := "sensor-silent: no message from s1 for more than 5m"; ev.Summary != want {
			t.Errorf("summary = %q, want %q", ev.Summary, want)
		}
		if d := details(t, ev); d["silentSeconds"] != 300.0 || d["lastSeen"] != "2026-03-01T12:00:00Z" {
			t.Errorf("customDetails = %v", d)
		}
		h.send("sensors/x/status", `{"id": "s1"}`)
		h.expect("RESOLVE sensor-silent/s1")
		h.advance(2 * time.Minute)
		h.expect("ALERT sensor-silent/s2")
	})

	t.Run("TopicWatchedFromTheStart", func(t *testing.T) {
		h := newHarness(t, rulesFile(lines(
			"  - name: gateway-silent",
			"    type: missing_heartbeat",
			"    integration_key: "+key,
			"    topic: gateway/status",
			"    timeout: 2m",
		)))
		h.advance(time.Minute + 59*time.Second)
		h.expect()
		h.advance(time.Second)
		ev := h.expect("ALERT gateway-silent")[0]
		if want := "gateway-silent: no message on gateway/status for more than 2m"; ev.Summary != want {
			t.Errorf("summary = %q, want %q", ev.Summary, want)
		}
		h.send("gateway/status", "online")
		h.expect("RESOLVE gateway-silent")
	})

	t.Run("ForgetAfter", func(t *testing.T) {
		h := newHarness(t, silentRule("1m", "    forget_after: 1h"))
		h.send("sensors/old", "{}")
		h.advance(time.Minute)
		h.expect("ALERT silent/old")
		h.advance(time.Hour)
		if got := h.eng.Status().Details["keys"]; got != 0 {
			t.Errorf("keys = %v after forget_after, want 0", got)
		}
		h.send("sensors/old", "{}") // back: a new watch, nothing to resolve
		h.advance(30 * time.Second)
		h.expect()
	})
}

func TestRate(t *testing.T) {
	rules := rulesFile(lines(
		"  - name: errors",
		"    type: rate",
		"    integration_key: "+key,
		"    topic: app/+/log",
		"    match: event.payload.level == 'error'",
		"    device: levels[1]",
		"    more_than: 3",
		"    window: 10s",
	))
	h := newHarness(t, rules)
	for range 3 {
		h.send("app/api/log", `{"level": "error"}`)
		h.send("app/api/log", `{"level": "info"}`) // does not match
		h.send("app/web/log", `{"level": "error"}`)
		h.advance(time.Second)
	}
	h.expect()
	h.send("app/api/log", `{"level": "ERROR"}`) // ICL compares text without case
	ev := h.expect("ALERT errors/api")[0]
	if want := "errors: 4 messages in 10s on api (more than 3)"; ev.Summary != want {
		t.Errorf("summary = %q, want %q", ev.Summary, want)
	}
	if d := details(t, ev); d["count"] != 4.0 || d["windowSeconds"] != 10.0 {
		t.Errorf("customDetails = %v", d)
	}
	// The first message leaves the window 10 s after it came; then 3 are left.
	h.advance(6 * time.Second)
	h.expect()
	h.advance(time.Second)
	h.expect("RESOLVE errors/api")
	h.advance(time.Minute)
	h.expect()
	if got := h.eng.Status().Details["keys"]; got != 0 {
		t.Errorf("keys = %v once the windows are empty, want 0", got)
	}
}

func TestSuppress(t *testing.T) {
	rules := hotRule("    suppress: 10m")
	t.Run("NoNewAlertWithinTheWindow", func(t *testing.T) {
		h := newHarness(t, rules)
		h.send("t", "95")
		h.expect("ALERT hot")
		h.send("t", "80")
		h.expect("RESOLVE hot")
		for range 5 { // flapping
			h.advance(time.Minute)
			h.send("t", "95")
			h.send("t", "85")
		}
		h.send("t", "95")
		h.advance(4*time.Minute + 59*time.Second)
		h.expect()
		h.advance(time.Second) // the window is over and the value is still too high
		h.expect("ALERT hot")
	})
	t.Run("ClearedWithinTheWindow", func(t *testing.T) {
		h := newHarness(t, rules)
		h.send("t", "95")
		h.send("t", "80")
		h.expect("ALERT hot", "RESOLVE hot")
		h.advance(time.Minute)
		h.send("t", "95")
		h.advance(time.Minute)
		h.send("t", "85")
		h.advance(time.Hour)
		h.expect()
	})
}

func TestMinFiring(t *testing.T) {
	h := newHarness(t, hotRule("    min_firing: 5m"))
	h.send("t", "95")
	h.expect("ALERT hot")
	h.advance(time.Minute)
	h.send("t", "80")
	h.advance(3*time.Minute + 59*time.Second)
	h.expect()
	h.advance(time.Second)
	h.expect("RESOLVE hot")
}

const compositeRules = `
rules:
  - name: temp-high
    type: threshold
    silent: true
    topic: plant/+/temperature
    device: levels[1]
    field: payload
    above: 90
    dedup_key: "{{device}}"
  - name: pressure-high
    type: threshold
    silent: true
    topic: plant/+/pressure
    device: levels[1]
    field: payload
    above: 8
    dedup_key: "{{device}}"
  - name: boiler-danger
    type: composite
    integration_key: ` + key + `
    op: and
    rules: [temp-high, pressure-high]
  - name: boiler-warning
    type: composite
    integration_key: ` + key + `
    op: or
    rules: [temp-high, pressure-high]
    summary: "{{dedup_key}}: {{firing}} (temperature {{rules.temp-high.value}}, pressure {{rules.pressure-high.value}})"
`

func TestComposite(t *testing.T) {
	h := newHarness(t, compositeRules)
	h.send("plant/b1/temperature", "95")
	ev := h.expect("ALERT boiler-warning/b1")[0]
	if want := "b1: temp-high (temperature 95, pressure )"; ev.Summary != want {
		t.Errorf("summary = %q, want %q", ev.Summary, want)
	}
	h.send("plant/b2/pressure", "9")
	h.expect("ALERT boiler-warning/b2")
	h.send("plant/b1/pressure", "9")
	evs := h.expect("ALERT boiler-danger/b1")
	if want := "boiler-danger: temp-high, pressure-high for b1"; evs[0].Summary != want {
		t.Errorf("summary = %q, want %q", evs[0].Summary, want)
	}
	if d := details(t, evs[0]); d["op"] != "and" || d["dedupKey"] != "b1" || d["device"] != "b1" {
		t.Errorf("customDetails = %v", d)
	}
	h.send("plant/b1/temperature", "70")
	h.expect("RESOLVE boiler-danger/b1") // the or still holds: pressure
	h.send("plant/b1/pressure", "7")
	h.expect("RESOLVE boiler-warning/b1")
	h.send("plant/b2/pressure", "1")
	h.expect("RESOLVE boiler-warning/b2")
	h.advance(time.Hour)
	h.expect()
}

func TestCompositeOfComposites(t *testing.T) {
	h := newHarness(t, rulesFile(lines(
		"  - name: a",
		"    type: threshold",
		"    silent: true",
		"    topic: a/+",
		"    device: levels[1]",
		"    field: payload",
		"    above: 1",
		"    dedup_key: '{{device}}'",
		"  - name: b",
		"    type: rate",
		"    silent: true",
		"    topic: b/+",
		"    device: levels[1]",
		"    more_than: 1",
		"    window: 1m",
		"    dedup_key: '{{device}}'",
		"  - name: c",
		"    type: missing_heartbeat",
		"    silent: true",
		"    topic: c/+",
		"    device: levels[1]",
		"    timeout: 1m",
		"    dedup_key: '{{device}}'",
		"  - name: outer",
		"    type: composite",
		"    integration_key: "+key,
		"    op: or",
		"    rules: [inner, c]",
		"    dedup_key: 'outer-{{dedup_key}}'",
		"  - name: inner",
		"    type: composite",
		"    silent: true",
		"    op: and",
		"    rules: [a, b]",
	)))
	h.send("a/x", "5")
	h.send("b/x", "{}")
	h.expect()
	h.send("b/x", "{}")
	h.expect("ALERT outer-x")
	h.advance(time.Minute) // b's window empties: inner clears, and so outer
	h.expect("RESOLVE outer-x")
	h.send("c/x", "{}")
	h.advance(time.Minute) // c goes missing
	h.expect("ALERT outer-x")
}

func TestRestart(t *testing.T) {
	t.Run("AFiringRuleDoesNotAlertTwice", func(t *testing.T) {
		h := newHarness(t, boilerRules)
		h.send("plant/b1/boiler", reading("temperature", 95))
		h.advance(time.Minute)
		h.expect("ALERT boiler-hot/b1")
		h.restart(boilerRules)
		h.send("plant/b1/boiler", reading("temperature", 99))
		h.advance(time.Minute)
		h.expect()
		h.send("plant/b1/boiler", reading("temperature", 70))
		h.expect("RESOLVE boiler-hot/b1")
	})

	t.Run("TransitionsAreSavedWithoutATick", func(t *testing.T) {
		h := newHarness(t, hotRule())
		h.send("t", "95")
		h.expect("ALERT hot")
		h.restart(hotRule())
		h.send("t", "96")
		h.tick()
		h.expect()
	})

	t.Run("AHeartbeatMissedBeforeTheRestartFiresOnTime", func(t *testing.T) {
		rules := silentRule("5m")
		h := newHarness(t, rules)
		h.send("sensors/s1", "{}")
		h.advance(time.Second) // the tick saves the last message's time
		h.clock.Add(30 * time.Second)
		h.restart(rules)
		h.advance(4*time.Minute + 28*time.Second)
		h.expect()
		h.advance(time.Second)
		h.expect("ALERT silent/s1")
	})

	t.Run("AHeartbeatDueDuringTheRestartWaitsForTheGrace", func(t *testing.T) {
		rules := silentRule("5m")
		h := newHarness(t, rules)
		h.send("sensors/s1", "{}")
		h.send("sensors/s2", "{}")
		h.advance(time.Second)
		h.clock.Add(10 * time.Minute) // the agent was down past the deadline
		h.restart(rules)
		h.advance(30 * time.Second)
		h.send("sensors/s2", "{}") // s2 was alive after all
		h.advance(29 * time.Second)
		h.expect()
		h.advance(time.Second)
		h.expect("ALERT silent/s1")
	})

	t.Run("RateCountsSurvive", func(t *testing.T) {
		rules := rulesFile(lines(
			"  - name: flood",
			"    type: rate",
			"    integration_key: "+key,
			"    topic: t",
			"    more_than: 2",
			"    window: 1m",
		))
		h := newHarness(t, rules)
		h.send("t", "{}")
		h.send("t", "{}")
		h.advance(time.Second)
		h.restart(rules)
		h.send("t", "{}")
		h.expect("ALERT flood")
	})

	t.Run("ARemovedRuleResolves", func(t *testing.T) {
		h := newHarness(t, boilerRules)
		h.send("plant/b1/boiler", reading("temperature", 95))
		h.send("plant/b2/boiler", reading("temperature", 95))
		h.advance(time.Minute)
		h.expect("ALERT boiler-hot/b1", "ALERT boiler-hot/b2")
		h.restart(rulesFile(lines(
			"  - name: other",
			"    type: rate",
			"    integration_key: "+key,
			"    topic: x",
			"    more_than: 1",
			"    window: 1m",
		)))
		evs := h.buf.take()
		got := map[string]bool{}
		for _, ev := range evs {
			got[ev.EventType+" "+ev.AlertKey] = true
		}
		if len(evs) != 2 || !got["RESOLVE boiler-hot/b1"] || !got["RESOLVE boiler-hot/b2"] {
			t.Fatalf("events = %v, want the RESOLVE of both keys", evs)
		}
		h.restart(boilerRules) // the state is gone: the breach starts over
		h.send("plant/b1/boiler", reading("temperature", 95))
		h.advance(59 * time.Second)
		h.expect()
	})

	t.Run("ANewThresholdKeepsTheState", func(t *testing.T) {
		h := newHarness(t, boilerRules)
		h.send("plant/b1/boiler", reading("temperature", 95))
		h.advance(time.Minute)
		h.expect("ALERT boiler-hot/b1")
		h.restart(replace(boilerRules, "above: 90", "above: 94"))
		h.tick()
		h.expect()
		h.restart(replace(boilerRules, "above: 90", "above: 99"))
		h.tick()
		h.expect("RESOLVE boiler-hot/b1")
	})
}

func TestDelivery(t *testing.T) {
	rules := hotRule()
	t.Run("AFailedPushIsRetried", func(t *testing.T) {
		h := newHarness(t, rules)
		h.buf.fail(errors.New("disk full"))
		h.send("t", "95")
		h.expect()
		if st := h.eng.Status(); st.Ready || st.Error == "" || st.Details["pending"] != 1 {
			t.Errorf("status = %+v, want not ready with one pending event", st)
		}
		h.send("t", "80") // the ALERT is not out yet: the RESOLVE waits for it
		h.advance(time.Second)
		h.expect()
		h.buf.fail(nil)
		h.advance(time.Second)
		h.expect("ALERT hot")
		h.advance(time.Second)
		h.expect("RESOLVE hot")
		if st := h.eng.Status(); !st.Ready || st.Details["pending"] != 0 {
			t.Errorf("status = %+v, want ready", st)
		}
	})
	t.Run("APendingEventSurvivesACrash", func(t *testing.T) {
		h := newHarness(t, rules)
		h.buf.fail(errors.New("disk full"))
		h.send("t", "95")
		h.buf.fail(nil)
		h.restart(rules)
		h.expect()
		h.tick()
		h.expect("ALERT hot")
		h.restart(rules)
		h.tick()
		h.expect()
	})
	t.Run("CancelledContext", func(t *testing.T) {
		h := newHarness(t, rules)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h.eng.Observe(ctx, consumer.Message{Topic: "t", Payload: []byte("95")})
		h.expect()
		h.tick()
		h.expect("ALERT hot")
	})
}

func TestMaxKeys(t *testing.T) {
	h := newHarness(t, silentRule("1m", "    max_keys: 2"))
	h.send("sensors/a", "{}")
	h.send("sensors/b", "{}")
	h.send("sensors/c", "{}")
	h.send("sensors/a", "{}")
	h.advance(time.Minute)
	h.expect("ALERT silent/a", "ALERT silent/b")
	if st := h.eng.Status(); st.Details["keys"] != 2 || st.Details["droppedKeys"] != int64(1) {
		t.Errorf("status = %+v, want 2 keys and 1 dropped", st.Details)
	}
}

func TestRunSavesOnShutdown(t *testing.T) {
	rules := silentRule("1m")
	h := newHarness(t, rules)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.eng.Run(ctx) }()
	h.send("sensors/a", "{}")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	h.restart(rules)
	h.advance(time.Minute)
	h.expect("ALERT silent/a")
	if st := h.eng.Status(); st.Component != "rules" || !st.Ready {
		t.Errorf("status = %+v", st)
	}
}

// TestTopicFilters checks that rules match topics as the consumers do (mapping.Match), for
// MQTT filters and Kafka topic names.
func TestTopicFilters(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"plant/+/boiler", "plant/b1/boiler", true},
		{"plant/#", "plant", true},
		{"#", "orders.eu", true}, // a Kafka topic
		{"orders.eu", "orders.us", false},
		{"#", "$SYS/broker/uptime", false},
	} {
		h := newHarness(t, rulesFile(lines(
			"  - name: any",
			"    type: rate",
			"    integration_key: "+key,
			"    topic: '"+c.filter+"'",
			"    more_than: 0",
			"    window: 1m",
		)))
		h.send(c.topic, "{}")
		if got := len(h.buf.take()) == 1; got != c.want {
			t.Errorf("filter %q on topic %q: matched %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
}
