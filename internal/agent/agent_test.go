package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/internal/agent"
	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/queue"
)

// upstream is a fake tocsin server: it records what it is sent and answers with status.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string       // "METHOD /path"
	events   []client.Event // those answered 202
	status   atomic.Int32
}

func startUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.status.Store(http.StatusAccepted)
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		status := int(u.status.Load())
		u.mu.Lock()
		u.requests = append(u.requests, r.Method+" "+r.URL.Path)
		if r.URL.Path == "/api/events" && status == http.StatusAccepted {
			var ev client.Event
			json.Unmarshal(b, &ev)
			u.events = append(u.events, ev)
		}
		u.mu.Unlock()
		w.WriteHeader(status)
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) got() ([]string, []client.Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.requests...), append([]client.Event(nil), u.events...)
}

// fakeConsumer is a consumer whose readiness and failure the test sets.
type fakeConsumer struct {
	status consumer.Status
	err    error // returned by Run at once when set
}

func (f *fakeConsumer) Run(ctx context.Context) error {
	if f.err != nil {
		return f.err
	}
	<-ctx.Done()
	return nil
}

func (f *fakeConsumer) Status() consumer.Status { return f.status }

type setup struct {
	daemon *agent.Daemon
	queue  *queue.Queue
	up     *upstream
	proxy  *httptest.Server // the daemon's Handler
	reg    *prometheus.Registry
}

func newSetup(t *testing.T, cfg agent.Config, consumers ...consumer.Consumer) *setup {
	t.Helper()
	s := &setup{up: startUpstream(t)}
	var err error
	s.queue, err = queue.Open(context.Background(), filepath.Join(t.TempDir(), "agent.db"),
		queue.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.queue.Close() })
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s.reg = cfg.Registry
	s.daemon, err = agent.New(cfg, client.New(s.up.URL, ""), s.queue, consumers, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.proxy = httptest.NewServer(s.daemon.Handler())
	t.Cleanup(s.proxy.Close)
	return s
}

func (s *setup) depth(t *testing.T) int64 {
	t.Helper()
	st, err := s.queue.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Depth
}

func request(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPostEvent(t *testing.T) {
	t.Run("Queued", func(t *testing.T) {
		s := newSetup(t, agent.Config{})
		code, body := request(t, "POST", s.proxy.URL+"/api/events",
			`{"apiKey":"il1api123","eventType":"alert","summary":"disk full","alertKey":"db-1/disk","priority":"HIGH"}`)
		if code != http.StatusAccepted {
			t.Fatalf("status %d, want 202; body %s", code, body)
		}
		var got struct {
			Queued   bool   `json:"queued"`
			AlertKey string `json:"alertKey"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || !got.Queued || got.AlertKey != "db-1/disk" {
			t.Errorf("body %s, want queued true and alertKey db-1/disk", body)
		}
		if d := s.depth(t); d != 1 {
			t.Errorf("depth %d, want 1", d)
		}
	})
	t.Run("AlertKeyMadeUpWhenMissing", func(t *testing.T) {
		s := newSetup(t, agent.Config{})
		_, b1 := request(t, "POST", s.proxy.URL+"/api/events", `{"integrationKey":"k","eventType":"ALERT","summary":"one"}`)
		_, b2 := request(t, "POST", s.proxy.URL+"/api/events", `{"integrationKey":"k","eventType":"ALERT","summary":"two"}`)
		var a1, a2 struct {
			AlertKey string `json:"alertKey"`
		}
		json.Unmarshal([]byte(b1), &a1)
		json.Unmarshal([]byte(b2), &a2)
		if a1.AlertKey == "" || a1.AlertKey == a2.AlertKey {
			t.Errorf("alert keys %q and %q, want two different ones", a1.AlertKey, a2.AlertKey)
		}
	})
	for _, tc := range []struct {
		name, body string
		status     int
		wantErr    string
	}{
		{"NotJSON", `disk full`, 400, "not a valid event"},
		{"NoIntegrationKey", `{"eventType":"ALERT","summary":"s"}`, 400, "integrationKey is required"},
		{"BadEventType", `{"integrationKey":"k","eventType":"EXPLODE","summary":"s"}`, 400, "eventType"},
		{"NoSummary", `{"integrationKey":"k","eventType":"ALERT"}`, 400, "summary is required"},
		{"ResolveWithoutKey", `{"integrationKey":"k","eventType":"RESOLVE"}`, 400, "alertKey is required"},
		{"BadPriority", `{"integrationKey":"k","eventType":"ALERT","summary":"s","priority":"URGENT"}`, 400, "priority"},
		{"TooLarge", `{"integrationKey":"k","eventType":"ALERT","summary":"s","details":"` + strings.Repeat("x", 17<<10) + `"}`, 413, "larger than"},
	} {
		t.Run("Err"+tc.name, func(t *testing.T) {
			s := newSetup(t, agent.Config{})
			code, body := request(t, "POST", s.proxy.URL+"/api/events", tc.body)
			if code != tc.status {
				t.Errorf("status %d, want %d; body %s", code, tc.status, body)
			}
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, tc.wantErr) {
				t.Errorf("body %s, want an error naming %q", body, tc.wantErr)
			}
			if d := s.depth(t); d != 0 {
				t.Errorf("depth %d after a refused event, want 0", d)
			}
		})
	}
}

func TestPingForwarded(t *testing.T) {
	s := newSetup(t, agent.Config{})
	for _, tc := range []struct{ method, path, upstream string }{
		{"GET", "/api/heartbeats/il1hbt123", "GET /api/heartbeats/il1hbt123"},
		{"HEAD", "/api/heartbeats/il1hbt123", "GET /api/heartbeats/il1hbt123"},
		{"POST", "/api/pings/monitor-key", "HEAD /api/pings/monitor-key"},
		{"HEAD", "/api/pings/monitor-key", "HEAD /api/pings/monitor-key"},
	} {
		before, _ := s.up.got()
		code, _ := request(t, tc.method, s.proxy.URL+tc.path, "")
		if code != http.StatusAccepted {
			t.Errorf("%s %s: status %d, want 202", tc.method, tc.path, code)
		}
		after, _ := s.up.got()
		if len(after) != len(before)+1 || after[len(after)-1] != tc.upstream {
			t.Errorf("%s %s: the server got %v, want one more: %s", tc.method, tc.path, after[len(before):], tc.upstream)
		}
	}
	t.Run("ServerRefuses", func(t *testing.T) {
		s.up.status.Store(http.StatusNotFound)
		code, body := request(t, "GET", s.proxy.URL+"/api/pings/unknown", "")
		if code != http.StatusBadGateway || !strings.Contains(body, `"error"`) || !strings.Contains(body, "404") {
			t.Errorf("status %d body %s, want 502 with an error naming the server's 404", code, body)
		}
	})
}

func TestHealthAndReady(t *testing.T) {
	mqtt := &fakeConsumer{status: consumer.Status{Component: "mqtt", Ready: true}}
	kafka := &fakeConsumer{status: consumer.Status{Component: "kafka", Error: "no broker", Details: map[string]any{"subscribed": false}}}
	s := newSetup(t, agent.Config{}, mqtt, kafka)
	if code, _ := request(t, "GET", s.proxy.URL+"/health", ""); code != http.StatusNoContent {
		t.Errorf("/health: %d, want 204", code)
	}
	code, body := request(t, "GET", s.proxy.URL+"/ready", "")
	var got []consumer.Status
	json.Unmarshal([]byte(body), &got)
	if code != http.StatusServiceUnavailable || len(got) != 1 || got[0].Component != "kafka" || got[0].Error != "no broker" {
		t.Errorf("/ready: %d %s, want 503 listing kafka only", code, body)
	}
	kafka.status.Ready = true
	if code, body := request(t, "GET", s.proxy.URL+"/ready", ""); code != http.StatusNoContent {
		t.Errorf("/ready with every consumer ready: %d %s, want 204", code, body)
	}

	t.Run("ShuttingDown", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.daemon.Run(ctx); err != nil {
			t.Fatalf("Run: %v", err)
		}
		if code, _ := request(t, "GET", s.proxy.URL+"/health", ""); code != http.StatusServiceUnavailable {
			t.Errorf("/health after shutdown: %d, want 503", code)
		}
		code, body := request(t, "GET", s.proxy.URL+"/ready", "")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"daemon"`) {
			t.Errorf("/ready after shutdown: %d %s, want 503 naming the daemon", code, body)
		}
	})
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	lag := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tocsin_agent_kafka_lag", Help: "test"})
	reg.MustRegister(lag)
	lag.Set(7)
	s := newSetup(t, agent.Config{Registry: reg})
	request(t, "POST", s.proxy.URL+"/api/events", `{"integrationKey":"k","eventType":"ALERT","summary":"s"}`)
	request(t, "POST", s.proxy.URL+"/api/events", `{"integrationKey":"k","eventType":"ALERT"}`)
	code, body := request(t, "GET", s.proxy.URL+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"tocsin_agent_queue_depth 1",
		"tocsin_agent_queue_oldest_age_seconds ",
		`tocsin_agent_deliveries_total{kind="event",outcome="delivered"} 0`,
		`tocsin_agent_proxy_events_total{outcome="queued"} 1`,
		`tocsin_agent_proxy_events_total{outcome="invalid"} 1`,
		"tocsin_agent_kafka_lag 7",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// runDaemon starts Run and returns a function that stops it and returns Run's error.
func runDaemon(t *testing.T, d *agent.Daemon) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(15 * time.Second):
				err = errors.New("Run still running 15s after its context ended")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after 10s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The daemon as a whole: the proxy on its port, delivery in order once the server is back,
// and heartbeats from the loop.
func TestRun(t *testing.T) {
	port := freePort(t)
	s := newSetup(t, agent.Config{Port: port, Bind: "127.0.0.1", Heartbeat: "il1hbt-loop", HeartbeatEvery: 50 * time.Millisecond})
	s.up.status.Store(http.StatusServiceUnavailable) // the server is down at first
	stop := runDaemon(t, s.daemon)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(t, "the proxy to listen", func() bool {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusNoContent
	})
	for i := range 20 {
		body := fmt.Sprintf(`{"integrationKey":"k%d","eventType":"ALERT","summary":"%d","alertKey":"a"}`, i%2, i)
		resp, err := http.Post(base+"/api/events", "application/json", bytes.NewBufferString(body))
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST event %d: %v %v", i, err, resp)
		}
		resp.Body.Close()
	}
	s.up.status.Store(http.StatusAccepted) // back up
	waitFor(t, "the buffered events to drain", func() bool { return s.depth(t) == 0 })
	_, events := s.up.got()
	got, want := map[string][]string{}, map[string][]string{}
	for i := range 20 {
		k := fmt.Sprintf("k%d", i%2)
		want[k] = append(want[k], fmt.Sprint(i))
	}
	for _, ev := range events {
		got[ev.IntegrationKey] = append(got[ev.IntegrationKey], ev.Summary)
	}
	for k := range want {
		if !slices.Equal(got[k], want[k]) {
			t.Errorf("%s: the server took %v, want %v (each once, in order)", k, got[k], want[k])
		}
	}
	pings := func() int {
		reqs, _ := s.up.got()
		n := 0
		for _, r := range reqs {
			if r == "GET /api/heartbeats/il1hbt-loop" {
				n++
			}
		}
		return n
	}
	waitFor(t, "heartbeat pings from the loop, one at start and more every 50ms", func() bool { return pings() >= 3 })
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := http.Get(base + "/health"); err == nil {
		t.Errorf("the proxy still answers after Run returned")
	}
}

func TestRunStopsWhenAConsumerFails(t *testing.T) {
	broken := &fakeConsumer{status: consumer.Status{Component: "mqtt"}, err: errors.New("bad TLS certificate")}
	s := newSetup(t, agent.Config{}, broken)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.daemon.Run(ctx) }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "bad TLS certificate") || !strings.Contains(err.Error(), "mqtt") {
			t.Errorf("Run = %v, want the mqtt consumer's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after a consumer failed")
	}
}

func TestRunProxyPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := newSetup(t, agent.Config{Port: ln.Addr().(*net.TCPAddr).Port, Bind: "127.0.0.1"})
	if err := s.daemon.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "proxy") {
		t.Errorf("Run = %v, want an error about the proxy's port", err)
	}
}

// Policy messages go to Config.PolicyHandler; its retryable errors are retried.
func TestPolicyHandler(t *testing.T) {
	var calls atomic.Int32
	got := make(chan string, 1)
	s := newSetup(t, agent.Config{PolicyHandler: func(ctx context.Context, payload []byte) error {
		if calls.Add(1) == 1 {
			return &client.StatusError{Status: http.StatusBadGateway}
		}
		got <- string(payload)
		return nil
	}})
	if err := s.queue.Append(context.Background(), consumer.Entry{Policy: []byte(`{"data":{"email":"a@example.com","shift":1}}`)}); err != nil {
		t.Fatal(err)
	}
	runDaemon(t, s.daemon)
	select {
	case p := <-got:
		if p != `{"data":{"email":"a@example.com","shift":1}}` {
			t.Errorf("payload %s", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the policy handler was not called again after a retryable failure")
	}
}

type recordingObserver struct{ got *[]string }

func (o recordingObserver) Observe(ctx context.Context, m consumer.Message) {
	*o.got = append(*o.got, m.Topic)
}

func TestFanout(t *testing.T) {
	var a, b []string
	o := agent.Fanout(recordingObserver{&a}, recordingObserver{&b})
	o.Observe(context.Background(), consumer.Message{Topic: "sensors/1"})
	if len(a) != 1 || len(b) != 1 {
		t.Errorf("observers saw %v and %v, want the message once each", a, b)
	}
}
