package kafka_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tocsinhq/tocsin/internal/agent/agenttest"
	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/kafka"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
	"github.com/tocsinhq/tocsin/internal/agent/queue"
)

// BenchmarkBufferedIntake measures how fast the Kafka consumer with --kafka_buffer moves b.N
// records, produced beforehand to the two partitions of an in-process cluster, into the
// agent's buffer file (synced commits): from the consumer's start until the last record is
// in the file. Delivery to the server is not running, so this is the intake alone.
//
//	go test -run '^$' -bench BufferedIntake -benchtime 20000x ./internal/agent/kafka/
func BenchmarkBufferedIntake(b *testing.B) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "events"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	pr, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]*kgo.Record, b.N)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "events", Partition: int32(i % 2), Key: fmt.Appendf(nil, "m%d", i),
			Value: fmt.Appendf(nil, `{"text": "pressure high on pump %d", "alertKey": "pump-%d"}`, i, i)}
	}
	for len(recs) > 0 {
		n := min(len(recs), 5000)
		if err := pr.ProduceSync(context.Background(), recs[:n]...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		recs = recs[n:]
	}
	pr.Close()

	q, err := queue.Open(context.Background(), filepath.Join(b.TempDir(), "buffer.db"), queue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	cfg := kafka.Config{Brokers: c.ListenAddrs()[0], GroupID: "bench", Start: "earliest", Topics: mapping.Topics{Event: "events"}, Buffer: true}
	cn, err := kafka.New(cfg, byText, mapping.PolicyOptions{}, client.New("http://127.0.0.1:1", ""), q, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	began := time.Now()
	stop := agenttest.Run(b, cn)
	agenttest.Eventually(b, 5*time.Minute, "not all records buffered", func() bool {
		s, err := q.Stats(context.Background())
		return err == nil && s.Depth >= int64(b.N)
	})
	took := time.Since(began)
	b.StopTimer()
	stop()
	b.ReportMetric(float64(b.N)/took.Seconds(), "records/s")
}
