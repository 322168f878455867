package kafka_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/internal/agent/agenttest"
	"github.com/tocsinhq/tocsin/internal/agent/kafka"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
)

// TestEndToEnd: records in the in-process Kafka become alerts in a real tocsin.
func TestEndToEnd(t *testing.T) {
	tc := agenttest.StartTocsin(t)
	c := cluster(t)
	produce(t, c, "events", 0, `{"device": "pump-1", "text": "pump 1 dry"}`, `{"device": "pump-2", "text": "pump 2 dry"}`)
	produce(t, c, "events", 1, `{"device": "pump-1", "text": "pump 1 dry again"}`)

	reg := prometheus.NewRegistry()
	m := mapping.Options{EventKey: tc.IntegrationKey, MapKeyAlertKey: "device", MapKeySummary: "text"}
	cn, err := kafka.New(testConfig(c, "e2e"), m, mapping.PolicyOptions{}, tc.Client(), nil, nil, reg,
		slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	agenttest.Run(t, cn)
	agenttest.Eventually(t, 15*time.Second, "the records were not delivered", func() bool {
		return agenttest.Counter(t, reg, "tocsin_agent_consumer_messages_total", map[string]string{"outcome": "delivered"}) == 3
	})
	// Two alerts: the third record has pump 1's alert key and joins its open alert.
	if n, err := tc.CountAlerts(context.Background()); err != nil || n != 2 {
		t.Errorf("alerts: %d, %v; want 2", n, err)
	}
}
