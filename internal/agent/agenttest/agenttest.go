// Package agenttest holds what the agent's consumer tests share: a fake server answering like
// the Events API and the ping endpoints, a real tocsin, a fake buffer, an observer that
// records, and helpers to run a consumer, poll and read metrics.
package agenttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/bench"
)

// Tocsin is a real tocsin, in-process on a temporary SQLite database, with an ADMIN's API key
// and an alert source (see bench.StartTocsin).
type Tocsin struct{ *bench.Tocsin }

// StartTocsin starts tocsin until the test ends.
func StartTocsin(tb testing.TB) *Tocsin {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tc, err := bench.StartTocsin(ctx, "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tc.Close() })
	return &Tocsin{tc}
}

// Client is an agent client of the server with the API key.
func (t *Tocsin) Client() *client.Client { return client.New(t.Server.URL, t.APIKey) }

// Call sends a REST API request with the API key and decodes the 2xx answer into out.
func (t *Tocsin) Call(tb testing.TB, method, path string, in, out any) {
	tb.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			tb.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, t.Server.URL+path, body)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+t.APIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		tb.Fatalf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		tb.Fatalf("%s %s: decode %s: %v", method, path, b, err)
	}
}

// Run runs c until the test ends or stop is called; an error from Run fails the test.
func Run(tb testing.TB, c consumer.Consumer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("Run: %v", err)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

// Server answers like the Events API (POST /api/events) and the ping endpoints, with a
// status the test sets, and records what it took.
type Server struct {
	URL string

	mu       sync.Mutex
	status   int // of POST /api/events; 202 unless set
	delay    time.Duration
	events   []client.Event
	attempts int
	pings    []string
}

// NewServer starts a fake server until the test ends.
func NewServer(tb testing.TB) *Server {
	f := &Server{status: http.StatusAccepted}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/events", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		delay := f.delay
		f.mu.Unlock()
		time.Sleep(delay)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.attempts++
		if f.status != http.StatusAccepted {
			http.Error(w, `{"message": "not now"}`, f.status)
			return
		}
		var ev client.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.events = append(f.events, ev)
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(`{}`))
	})
	ping := func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.pings = append(f.pings, r.PathValue("key"))
		w.WriteHeader(http.StatusAccepted)
	}
	mux.HandleFunc("/api/pings/{key}", ping)
	mux.HandleFunc("/api/heartbeats/{key}", ping)
	hs := httptest.NewServer(mux)
	tb.Cleanup(hs.Close)
	f.URL = hs.URL
	return f
}

// SetStatus sets the answer to events from now on; 202 takes them.
func (f *Server) SetStatus(s int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = s
}

// SetDelay makes each event take d.
func (f *Server) SetDelay(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay = d
}

// Events returns the events taken, in order.
func (f *Server) Events() []client.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]client.Event(nil), f.events...)
}

// Summaries returns the summaries of the events taken, in order.
func (f *Server) Summaries() []string {
	var out []string
	for _, e := range f.Events() {
		out = append(out, e.Summary)
	}
	return out
}

// FailedAttempts counts the events answered with another status than 202.
func (f *Server) FailedAttempts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts - len(f.events)
}

// Pings returns the keys pinged, in order.
func (f *Server) Pings() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.pings...)
}

// ErrDiskFull is what a failing Buffer push returns.
var ErrDiskFull = errors.New("disk full")

// Buffer is the agent's buffer as the consumers see it. Fail, when set, decides whether a push
// fails; n counts the entries pushed, from 1.
type Buffer struct {
	Fail func(n int) bool

	mu       sync.Mutex
	n        int
	events   []client.Event
	policies []string
}

// Append implements consumer.Buffer. It keeps all the entries or, when the push of one fails,
// none (as one commit of the agent's queue would).
func (b *Buffer) Append(_ context.Context, entries ...consumer.Entry) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	failed := false
	for range entries {
		b.n++
		failed = failed || (b.Fail != nil && b.Fail(b.n))
	}
	if failed {
		return ErrDiskFull
	}
	for _, e := range entries {
		if e.Event != nil {
			b.events = append(b.events, *e.Event)
		} else {
			b.policies = append(b.policies, string(e.Policy))
		}
	}
	return nil
}

// Summaries returns the summaries of the events buffered, in order.
func (b *Buffer) Summaries() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.events {
		out = append(out, e.Summary)
	}
	return out
}

// Policies returns the policy messages buffered, in order.
func (b *Buffer) Policies() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.policies...)
}

// Recorder is an observer that records the messages it sees.
type Recorder struct {
	mu   sync.Mutex
	msgs []consumer.Message
}

// Observe implements consumer.Observer.
func (r *Recorder) Observe(_ context.Context, m consumer.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
}

// Messages returns the messages seen, in order.
func (r *Recorder) Messages() []consumer.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]consumer.Message(nil), r.msgs...)
}

// Eventually polls cond until it holds, and fails the test when it does not within the time.
func Eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("after %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Counter sums the counters called name in reg whose labels include labels.
func Counter(tb testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}
