package mqtt_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tocsinhq/tocsin/internal/agent/agenttest"
	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
	"github.com/tocsinhq/tocsin/internal/agent/mqtt"
	"github.com/tocsinhq/tocsin/internal/agent/queue"
)

// BenchmarkBufferedThroughput measures messages per second from MQTT at QoS 1 through the
// agent's durable buffer (--mqtt_buffer: a message is acknowledged once it is committed to the
// buffer file) to a server that answers 202 at once, as the Events API does. b.N messages are
// published at QoS 1 as fast as the machine's Mosquitto takes them, with at most window of
// them not yet in the buffer; the clock stops when the server has every one, each exactly once
// (the benchmark fails otherwise).
//
// msgs/s is end to end, first publication to the last message received; pushed-msgs/s is first
// publication to the last message acknowledged into the buffer.
//
//	go test -run '^$' -bench BufferedThroughput -benchtime 5000x ./internal/agent/mqtt/
func BenchmarkBufferedThroughput(b *testing.B) {
	requireBroker(b)
	srv := newEventCounter(b)
	benchmarkBuffered(b, client.New(srv.URL, ""), integrationKey, srv)
}

// BenchmarkBufferedThroughputTocsin is BenchmarkBufferedThroughput delivering to a real tocsin
// in-process (SQLite), which answers 202 only once the event is committed; each message opens
// an alert.
//
//	go test -run '^$' -bench BufferedThroughputTocsin -benchtime 5000x ./internal/agent/mqtt/
func BenchmarkBufferedThroughputTocsin(b *testing.B) {
	requireBroker(b)
	tc := agenttest.StartTocsin(b)
	benchmarkBuffered(b, tc.Client(), tc.IntegrationKey, tocsinCounter{tc})
}

// receiver is the server end of a run, as the benchmark sees it.
type receiver interface {
	// Arrived counts the alert keys received so far, each once however often it came.
	Arrived(tb testing.TB) int
	// Check fails tb unless exactly the keys were received, each once.
	Check(tb testing.TB, keys []string)
}

func benchmarkBuffered(b *testing.B, c *client.Client, key string, rcv receiver) {
	log := slog.New(slog.NewTextHandler(b.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	run := benchName()
	topic := run + "/events"
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%d", run, i)
	}

	// The queue as the daemon opens it (--max_retries 100, --max_backoff 60s) and delivers it.
	q, err := queue.Open(context.Background(), filepath.Join(b.TempDir(), "agent.db"),
		queue.Options{MaxRetries: 100, MaxBackoff: time.Minute, Log: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() }) // after the delivery loop and the consumer: cleanups run last first
	runQueue(b, q, map[string]queue.Handler{queue.KindEvent: func(ctx context.Context, it queue.Item) error {
		var ev client.Event
		if err := json.Unmarshal(it.Payload, &ev); err != nil {
			return queue.Permanent(err)
		}
		return c.SendEvent(ctx, ev)
	}})

	buf := &pushCounter{Queue: q, want: int64(b.N), all: make(chan struct{}), ahead: make(chan struct{}, window)}
	cfg := mqtt.Config{Host: brokerHost, Port: brokerPort, ClientID: run + "-agent", QoS: 1, Buffer: true,
		Topics: mapping.Topics{Event: topic}}
	cn, err := mqtt.New(cfg, mapping.Options{EventKey: key}, mapping.PolicyOptions{}, c, buf, nil, prometheus.NewRegistry(), log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { dropBenchSession(cfg.ClientID) })
	stopConsumer := agenttest.Run(b, cn)
	agenttest.Eventually(b, 10*time.Second, "the consumer is not ready", func() bool { return cn.Status().Ready })

	payloads := make([][]byte, b.N)
	for i, k := range keys {
		payloads[i] = fmt.Appendf(nil, `{"eventType": "ALERT", "alertKey": %q, "summary": "pump %d pressure low"}`, k, i)
	}
	pub := newPublisher(b, run+"-pub")

	b.ResetTimer()
	began := time.Now()
	publishAll(b, pub, topic, payloads, buf)
	waitArrived(b, rcv, buf, b.N, began)
	took := time.Since(began)
	b.StopTimer()

	var pushed time.Duration
	select {
	case <-buf.all:
		pushed = buf.at.Sub(began)
	default:
		b.Fatalf("the server has every message, the buffer counted %d pushes of %d", buf.n.Load(), b.N)
	}
	// Stopped, so that a message the broker sends twice cannot be pushed after the count.
	stopConsumer()
	if n := buf.n.Load(); n != int64(b.N) {
		b.Errorf("the consumer pushed %d events into the buffer, want %d", n, b.N)
	}
	rcv.Check(b, keys)

	b.ReportMetric(float64(b.N)/took.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N)/pushed.Seconds(), "pushed-msgs/s")
}

// requireBroker skips the benchmark when the machine's Mosquitto is not running (and fails it
// in CI, which has one).
func requireBroker(tb testing.TB) {
	tb.Helper()
	addr := net.JoinHostPort(brokerHost, fmt.Sprint(brokerPort))
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("Mosquitto is not running on %s: %v", addr, err)
		}
		tb.Skipf("Mosquitto is not running on %s (start it with mosquitto -d -c /etc/mosquitto/mosquitto.conf): %v", addr, err)
	}
	conn.Close()
}

// benchName is a name no other run uses, for the topic, the client ids and the alert keys.
func benchName() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "tocsin-bench-" + hex.EncodeToString(b)
}

// runQueue delivers q's items with handlers until the benchmark ends.
func runQueue(tb testing.TB, q *queue.Queue, handlers map[string]queue.Handler) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := q.Run(ctx, handlers); err != nil {
			tb.Errorf("queue: Run: %v", err)
		}
	})
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// dropBenchSession removes the broker's persistent session of a client id.
func dropBenchSession(clientID string) {
	opts := paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://%s:%d", brokerHost, brokerPort)).
		SetClientID(clientID).SetCleanSession(true)
	cl := paho.NewClient(opts)
	if tok := cl.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		cl.Disconnect(100)
	}
}

func newPublisher(tb testing.TB, clientID string) paho.Client {
	tb.Helper()
	opts := paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://%s:%d", brokerHost, brokerPort)).
		SetClientID(clientID).SetCleanSession(true).SetWriteTimeout(15 * time.Second)
	cl := paho.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		tb.Fatalf("publisher: connect: %v", tok.Error())
	}
	tb.Cleanup(func() { cl.Disconnect(100) })
	return cl
}

// window is how many published messages may wait to be in the buffer. Mosquitto keeps at most
// max_queued_messages (1000 by default) per subscriber past the 20 in flight, and drops the
// rest without a word: a publisher further ahead of the consumer loses messages.
const window = 256

// publishAll publishes payloads to topic at QoS 1, with up to window of them not yet in buf,
// and returns once the broker acknowledged the last.
func publishAll(tb testing.TB, cl paho.Client, topic string, payloads [][]byte, buf *pushCounter) {
	tb.Helper()
	pending := make(chan paho.Token, window)
	failed := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for tok := range pending {
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				select {
				case failed <- fmt.Errorf("publish to %s: no PUBACK: %v", topic, tok.Error()):
				default:
				}
			}
		}
	})
	// Once the last publication is acknowledged, or the benchmark fails.
	acked := sync.OnceFunc(func() {
		close(pending)
		wg.Wait()
	})
	defer acked()
	stalled := time.NewTimer(time.Hour)
	defer stalled.Stop()
	for i, p := range payloads {
		stalled.Reset(30 * time.Second)
		select {
		case buf.ahead <- struct{}{}:
		case err := <-failed:
			tb.Fatal(err)
		case <-stalled.C:
			tb.Fatalf("after 30 s the buffer still has only %d of the %d messages published: lost by the broker?", buf.n.Load(), i)
		}
		pending <- cl.Publish(topic, 1, false, p)
	}
	acked()
	select {
	case err := <-failed:
		tb.Fatal(err)
	default:
	}
}

// waitArrived waits until rcv has want alert keys; it fails when none arrives for 30 s.
func waitArrived(tb testing.TB, rcv receiver, buf *pushCounter, want int, began time.Time) {
	tb.Helper()
	last, lastAt := -1, time.Now()
	for {
		n := rcv.Arrived(tb)
		if n >= want {
			return
		}
		if n != last {
			last, lastAt = n, time.Now()
		}
		if time.Since(lastAt) > 30*time.Second {
			tb.Fatalf("after %s the server has %d of %d messages and the buffer took %d",
				time.Since(began).Round(time.Millisecond), n, want, buf.n.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// pushCounter is the agent's queue, counting the events pushed and when the last arrived, and
// freeing a place in the publisher's window for each.
type pushCounter struct {
	*queue.Queue
	want  int64
	n     atomic.Int64
	at    time.Time // when the want-th push was committed; read after all is closed
	all   chan struct{}
	ahead chan struct{}
}

func (p *pushCounter) Append(ctx context.Context, entries ...consumer.Entry) error {
	if err := p.Queue.Append(ctx, entries...); err != nil {
		return err
	}
	for range entries {
		select {
		case <-p.ahead:
		default: // a message sent again frees nothing
		}
		if p.n.Add(1) == p.want {
			p.at = time.Now()
			close(p.all)
		}
	}
	return nil
}

// eventCounter answers events like the Events API (202) and counts them by alert key.
type eventCounter struct {
	URL string

	mu    sync.Mutex
	keys  map[string]int
	total int
}

func newEventCounter(tb testing.TB) *eventCounter {
	s := &eventCounter{keys: map[string]int{}}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/events" {
			http.NotFound(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var ev client.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.keys[ev.AlertKey]++
		s.total++
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"alertKey": %q, "responseCode": "NEW_ALERT_CREATED"}`, ev.AlertKey)
	}))
	tb.Cleanup(hs.Close)
	s.URL = hs.URL
	return s
}

func (s *eventCounter) Arrived(testing.TB) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

func (s *eventCounter) Check(tb testing.TB, keys []string) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total != len(keys) || len(s.keys) != len(keys) {
		tb.Errorf("the server took %d events with %d distinct alert keys, want %d of each", s.total, len(s.keys), len(keys))
	}
	for _, k := range keys {
		if n := s.keys[k]; n != 1 {
			tb.Errorf("alert key %s arrived %d times, want once", k, n)
			return
		}
	}
}

// tocsinCounter reads what a real tocsin took: each new alert key opens an alert, and an
// event with a key whose alert is open is added to it (and counted apart).
type tocsinCounter struct{ tc *agenttest.Tocsin }

func (t tocsinCounter) Arrived(tb testing.TB) int {
	return int(t.received(tb, "NEW_ALERT_CREATED"))
}

// received reads tocsin's counter of events taken with an Events API response code.
func (t tocsinCounter) received(tb testing.TB, code string) float64 {
	var m dto.Metric
	if err := t.tc.Server.Metrics.EventsReceived.WithLabelValues(code).Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func (t tocsinCounter) Check(tb testing.TB, keys []string) {
	tb.Helper()
	n, err := t.tc.CountAlerts(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if n != len(keys) {
		tb.Errorf("tocsin has %d alerts, want one per message: %d", n, len(keys))
	}
	// Every response code: an event sent twice is EVENT_ADDED_TO_ALERT, not a new alert.
	if got := agenttest.Counter(tb, t.tc.Server.Metrics.Registry, "tocsin_events_received_total", nil); got != float64(len(keys)) {
		tb.Errorf("tocsin took %v events, want %d (each message once)", got, len(keys))
	}
}
