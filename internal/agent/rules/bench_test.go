package rules_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tocsinhq/tocsin/internal/agent/consumer"
)

// BenchmarkObserve measures messages per second through a threshold, a rate and a
// missing-heartbeat rule, over 1000 devices, without transitions (the steady state).
func BenchmarkObserve(b *testing.B) {
	h := newHarness(b, rulesFile(lines(
		"  - name: hot",
		"    type: threshold",
		"    integration_key: "+key,
		"    topic: plant/+/telemetry",
		"    device: payload.device",
		"    field: payload.temperature",
		"    above: 90",
		"    for: 1m",
		"  - name: flood",
		"    type: rate",
		"    integration_key: "+key,
		"    topic: plant/+/telemetry",
		"    match: event.payload.level == 'error'",
		"    device: payload.device",
		"    more_than: 1000000000",
		"    window: 1m",
		"  - name: silent",
		"    type: missing_heartbeat",
		"    integration_key: "+key,
		"    topic: plant/#",
		"    device: payload.device",
		"    timeout: 5m",
		"    max_keys: 2000",
	)))
	msgs := make([]consumer.Message, 1000)
	for i := range msgs {
		msgs[i] = consumer.Message{Source: "mqtt", Topic: fmt.Sprintf("plant/line%d/telemetry", i%10),
			Payload: fmt.Appendf(nil, `{"device": "dev-%d", "temperature": %d, "level": "error", "humidity": 41.5}`, i, 20+i%60)}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		h.eng.Observe(ctx, msgs[i%len(msgs)])
	}
	b.StopTimer()
	if evs := h.buf.take(); len(evs) != 0 {
		b.Fatalf("%d events in the steady state", len(evs))
	}
}
