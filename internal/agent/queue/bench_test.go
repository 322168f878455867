package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/queue"
)

// BenchmarkDrain measures the agent draining a backlog of 100,000 buffered events into a
// server that answers 202 at once (an httptest server): the drain rate, and the peak heap
// while draining, sampled with runtime.ReadMemStats. One iteration is the whole backlog:
//
//	go test -run '^$' -bench Drain -benchtime 1x ./internal/agent/queue
func BenchmarkDrain(b *testing.B) {
	const backlog = 100_000
	for _, keys := range []int{1, 16} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusAccepted)
				w.Write([]byte(`{"responseCode":"NEW_ALERT_CREATED"}`))
			}))
			defer srv.Close()
			c := client.New(srv.URL, "")
			handlers := map[string]queue.Handler{queue.KindEvent: func(ctx context.Context, it queue.Item) error {
				var ev client.Event
				if err := json.Unmarshal(it.Payload, &ev); err != nil {
					return queue.Permanent(err)
				}
				return c.SendEvent(ctx, ev)
			}}
			var peak, base uint64
			var took time.Duration
			for b.Loop() {
				b.StopTimer()
				q := fill(b, backlog, keys)
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base = ms.HeapAlloc
				b.StartTimer()

				began := time.Now()
				ctx, cancel := context.WithCancel(context.Background())
				var wg sync.WaitGroup
				wg.Go(func() { q.Run(ctx, handlers) })
				tick := time.NewTicker(10 * time.Millisecond)
				for {
					<-tick.C
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
					s, err := q.Stats(context.Background())
					if err != nil {
						b.Fatal(err)
					}
					if s.Depth == 0 {
						break
					}
				}
				took = time.Since(began)
				tick.Stop()
				cancel()
				wg.Wait()
				b.StopTimer()
				q.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(backlog)/took.Seconds(), "events/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "heap-growth-MiB")
		})
	}
}

// fill opens a new queue holding n events spread over keys integration keys.
func fill(b *testing.B, n, keys int) *queue.Queue {
	q, err := queue.Open(context.Background(), tempFile(b), queue.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	const pushers = 64
	for p := range pushers {
		wg.Go(func() {
			for i := p; i < n; i += pushers {
				ev := client.Event{IntegrationKey: fmt.Sprintf("il1api%026d", i%keys), EventType: "ALERT",
					Summary: fmt.Sprintf("disk full on host-%d", i), AlertKey: fmt.Sprintf("host-%d/disk", i),
					Details: "the disk of the host is full; free some space or grow the volume"}
				if err := q.Append(context.Background(), consumer.Entry{Event: &ev}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return q
}
