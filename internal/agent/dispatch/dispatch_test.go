package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tocsinhq/tocsin/internal/agent/agenttest"
	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/dispatch"
	"github.com/tocsinhq/tocsin/internal/agent/mapping"
)

const key = "il1api0123456789abcdefghij"

var topics = mapping.Topics{Event: "events", Heartbeat: "hbt", Policy: "shifts"}

// TestHandle checks each outcome and whether the message is done (acknowledged).
func TestHandle(t *testing.T) {
	srv := agenttest.NewServer(t)
	reg := prometheus.NewRegistry()
	d, err := dispatch.New(dispatch.Config{Source: "mqtt", Topics: topics, Events: mapping.Options{EventKey: key, FilterKey: "site"},
		Policies: mapping.PolicyOptions{PolicyRoutingKeys: "site"}, Client: client.New(srv.URL, "")}, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msg := func(topic, payload string) consumer.Message {
		return consumer.Message{Source: "mqtt", Topic: topic, Payload: []byte(payload)}
	}
	for _, tc := range []struct {
		name    string
		status  int
		msg     consumer.Message
		outcome string
		done    bool
	}{
		{"Delivered", 202, msg("events", `{"site": "a"}`), dispatch.Delivered, true},
		{"Filtered", 202, msg("events", `{"other": 1}`), dispatch.Filtered, true},
		{"Unmappable", 202, msg("events", `{"site": "a", "eventType": "COMMENT"}`), dispatch.Unmappable, true},
		{"RejectedByTheServer", http.StatusBadRequest, msg("events", `{"site": "a"}`), dispatch.Rejected, true},
		{"RetryWhenTheServerIsDown", http.StatusServiceUnavailable, msg("events", `{"site": "a"}`), dispatch.Retry, false},
		{"RetryWhenThrottled", http.StatusTooManyRequests, msg("events", `{"site": "a"}`), dispatch.Retry, false},
		{"Heartbeat", 202, msg("hbt", `{"integrationKey": "il1hbt1"}`), dispatch.Delivered, true},
		{"OtherTopic", 202, msg("elsewhere", `{}`), dispatch.Other, true},
		{"PolicyWithoutAnAPIKeyIsRejected", 202, msg("shifts", `{"site": "a", "data": {"email": "a@b.c"}}`), dispatch.Rejected, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.SetStatus(tc.status)
			before := agenttest.Counter(t, reg, "tocsin_agent_consumer_messages_total", map[string]string{"outcome": tc.outcome})
			if done := d.Handle(ctx, tc.msg, ""); done != tc.done {
				t.Errorf("done = %v, want %v", done, tc.done)
			}
			if got := agenttest.Counter(t, reg, "tocsin_agent_consumer_messages_total", map[string]string{"outcome": tc.outcome}); got != before+1 {
				t.Errorf("%s counted %v times, want %v", tc.outcome, got, before+1)
			}
		})
	}
}

// With the buffer on, a ping the server cannot take now is acknowledged as missed, not tried
// again: held back, it would hold back every message behind it (MQTT sends it first again),
// and a late ping says nothing about now. Without the buffer it is not acknowledged.
func TestHeartbeatDuringAnOutage(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // connections are refused: the server is down
	for _, tc := range []struct {
		name     string
		buffered bool
		outcome  string
		done     bool
	}{
		{"Buffered", true, dispatch.Missed, true},
		{"Unbuffered", false, dispatch.Retry, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			d, err := dispatch.New(dispatch.Config{Source: "mqtt", Topics: topics, Events: mapping.Options{EventKey: key},
				Client: client.New(down.URL, ""), Buffered: tc.buffered, Buffer: &agenttest.Buffer{}}, reg)
			if err != nil {
				t.Fatal(err)
			}
			hb := consumer.Message{Source: "mqtt", Topic: "hbt", Payload: []byte(`{"integrationKey": "il1hbt1"}`)}
			ev := consumer.Message{Source: "mqtt", Topic: "events", Payload: []byte(`{"summary": "after the ping"}`)}
			want := 0
			if tc.done {
				want = 2 // the ping, and the event behind it, buffered
			}
			if done := d.HandleAll(context.Background(), []consumer.Message{hb, ev}, nil, nil); done != want {
				t.Errorf("%d done, want %d", done, want)
			}
			if got := agenttest.Counter(t, reg, "tocsin_agent_consumer_messages_total", map[string]string{"outcome": tc.outcome}); got != 1 {
				t.Errorf("%s counted %v times, want 1", tc.outcome, got)
			}
		})
	}
}

// A ping cut short by the agent's own shutdown is not missed: it comes again after the restart.
func TestHeartbeatAtShutdown(t *testing.T) {
	srv := agenttest.NewServer(t)
	reg := prometheus.NewRegistry()
	d, err := dispatch.New(dispatch.Config{Source: "mqtt", Topics: topics, Events: mapping.Options{EventKey: key},
		Client: client.New(srv.URL, ""), Buffered: true, Buffer: &agenttest.Buffer{}}, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	hb := consumer.Message{Source: "mqtt", Topic: "hbt", Payload: []byte(`{"integrationKey": "il1hbt1"}`)}
	if done := d.HandleAll(ctx, []consumer.Message{hb}, nil, nil); done != 0 {
		t.Errorf("%d done at shutdown, want 0", done)
	}
	if got := agenttest.Counter(t, reg, "tocsin_agent_consumer_messages_total", map[string]string{"outcome": dispatch.Missed}); got != 0 {
		t.Errorf("missed counted %v times, want 0", got)
	}
}

// TestSharedRegistry: the MQTT and the Kafka consumer register their counters in the agent's
// one registry.
func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, source := range []string{"mqtt", "kafka"} {
		if _, err := dispatch.New(dispatch.Config{Source: source, Topics: topics, Client: client.New("http://127.0.0.1:1", "")}, reg); err != nil {
			t.Fatalf("%s: %v", source, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := dispatch.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	var got []time.Duration
	for range 6 {
		got = append(got, b.Next())
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		w *= time.Millisecond
		if got[i] > w || got[i] < w*3/4 {
			t.Errorf("wait %d: %v, want %v less up to a quarter", i, got[i], w)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Errorf("after Reset: %v", d)
	}
}

// TestStableID: an ALERT without an alert key gets the message's stable id as its key, so an
// ALERT the broker sends again joins the alert it opened.
func TestStableID(t *testing.T) {
	srv := agenttest.NewServer(t)
	d, err := dispatch.New(dispatch.Config{Source: "kafka", Topics: topics, Events: mapping.Options{EventKey: key},
		Client: client.New(srv.URL, "")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, payload := range []string{`{"summary": "no key"}`, `{"summary": "own key", "alertKey": "pump-1"}`, `{"summary": "no key"}`} {
		d.Handle(context.Background(), consumer.Message{Source: "kafka", Topic: "events", Payload: []byte(payload)}, "events/0/7")
	}
	d.Handle(context.Background(), consumer.Message{Source: "kafka", Topic: "events", Payload: []byte(`{"summary": "no id"}`)}, "")
	var got []string
	for _, ev := range srv.Events() {
		got = append(got, ev.AlertKey)
	}
	if want := []string{"events/0/7", "pump-1", "events/0/7", ""}; !slices.Equal(got, want) {
		t.Errorf("alert keys %q, want %q", got, want)
	}
}

// TestObserversSeeEachMessageOnce: a message that fails for now and comes again is shown to
// the observers once, when it is done; messages of every kind and outcome are shown.
func TestObserversSeeEachMessageOnce(t *testing.T) {
	srv := agenttest.NewServer(t)
	obs := &agenttest.Recorder{}
	d, err := dispatch.New(dispatch.Config{Source: "mqtt", Topics: topics, Events: mapping.Options{EventKey: key},
		Client: client.New(srv.URL, ""), Observers: []consumer.Observer{obs}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ev := consumer.Message{Source: "mqtt", Topic: "events", Payload: []byte(`{"summary": "hot"}`)}
	srv.SetStatus(http.StatusServiceUnavailable)
	for range 3 {
		d.Handle(ctx, ev, "")
	}
	if got := len(obs.Messages()); got != 0 {
		t.Fatalf("observed %d times while failing", got)
	}
	srv.SetStatus(http.StatusAccepted)
	d.Handle(ctx, ev, "")
	d.Handle(ctx, consumer.Message{Source: "mqtt", Topic: "sensors/temp", Payload: []byte(`21.5`)}, "")
	d.Handle(ctx, consumer.Message{Source: "mqtt", Topic: "events", Payload: []byte(`not json`)}, "")
	var got []string
	for _, m := range obs.Messages() {
		got = append(got, m.Topic)
	}
	if want := []string{"events", "sensors/temp", "events"}; !slices.Equal(got, want) {
		t.Errorf("observed %q, want %q", got, want)
	}
}

// batches is a buffer that records the size of each Append, failing the one told.
type batches struct {
	agenttest.Buffer
	sizes  []int
	failAt int // the Append, from 1, that fails; 0: none
}

func (b *batches) Append(ctx context.Context, entries ...consumer.Entry) error {
	b.sizes = append(b.sizes, len(entries))
	if len(b.sizes) == b.failAt {
		return agenttest.ErrDiskFull
	}
	return b.Buffer.Append(ctx, entries...)
}

// TestHandleAll: consecutive messages bound for the buffer are appended together, a message
// handled otherwise (a ping, a skip) comes between them in order, and after a failed append
// nothing later is done, sent or observed.
func TestHandleAll(t *testing.T) {
	msgs := []consumer.Message{
		{Source: "mqtt", Topic: "events", Payload: []byte(`{"summary": "e1"}`)},
		{Source: "mqtt", Topic: "events", Payload: []byte(`{"summary": "e2"}`)},
		{Source: "mqtt", Topic: "hbt", Payload: []byte(`{"integrationKey": "il1hbt1"}`)},
		{Source: "mqtt", Topic: "events", Payload: []byte(`{"summary": "e3"}`)},
		{Source: "mqtt", Topic: "events", Payload: []byte(`not json`)},
		{Source: "mqtt", Topic: "events", Payload: []byte(`{"summary": "e4"}`)},
		{Source: "mqtt", Topic: "events", Payload: []byte(`{"summary": "e5"}`)},
		{Source: "mqtt", Topic: "hbt", Payload: []byte(`{"integrationKey": "il1hbt2"}`)},
	}
	for _, tc := range []struct {
		name     string
		failAt   int
		done     int
		sizes    []int
		buffered []string
		pings    []string
		observed int
	}{
		{"AllDone", 0, 8, []int{2, 1, 2}, []string{"e1", "e2", "e3", "e4", "e5"}, []string{"il1hbt1", "il1hbt2"}, 8},
		{"FirstAppendFails", 1, 0, []int{2}, nil, nil, 0},
		{"LastAppendFails", 3, 5, []int{2, 1, 2}, []string{"e1", "e2", "e3"}, []string{"il1hbt1"}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := agenttest.NewServer(t)
			buf := &batches{failAt: tc.failAt}
			obs := &agenttest.Recorder{}
			d, err := dispatch.New(dispatch.Config{Source: "mqtt", Topics: topics, Events: mapping.Options{EventKey: key},
				Client: client.New(srv.URL, ""), Buffered: true, Buffer: buf, Observers: []consumer.Observer{obs}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if done := d.HandleAll(context.Background(), msgs, nil, nil); done != tc.done {
				t.Errorf("done = %d, want %d", done, tc.done)
			}
			if !slices.Equal(buf.sizes, tc.sizes) {
				t.Errorf("appends of %v entries, want %v", buf.sizes, tc.sizes)
			}
			if got := buf.Summaries(); !slices.Equal(got, tc.buffered) {
				t.Errorf("buffered %q, want %q", got, tc.buffered)
			}
			if got := srv.Pings(); !slices.Equal(got, tc.pings) {
				t.Errorf("pinged %q, want %q", got, tc.pings)
			}
			if got := len(obs.Messages()); got != tc.observed {
				t.Errorf("observed %d messages, want %d", got, tc.observed)
			}
		})
	}
}

// TestHandleAllStops: HandleAll asks stop before each message (each run of buffered ones)
// and leaves the messages it did not start undone, unsent and unobserved.
func TestHandleAllStops(t *testing.T) {
	srv := agenttest.NewServer(t)
	obs := &agenttest.Recorder{}
	d, err := dispatch.New(dispatch.Config{Source: "kafka", Topics: topics, Events: mapping.Options{EventKey: key},
		Client: client.New(srv.URL, ""), Observers: []consumer.Observer{obs}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []consumer.Message
	for i := range 5 {
		msgs = append(msgs, consumer.Message{Source: "kafka", Topic: "events", Payload: []byte(fmt.Sprintf(`{"summary": "e%d"}`, i))})
	}
	asked := 0
	stop := func() bool {
		asked++
		return len(srv.Events()) == 2
	}
	if done := d.HandleAll(context.Background(), msgs, nil, stop); done != 2 {
		t.Errorf("done = %d, want 2", done)
	}
	if got, want := srv.Summaries(), []string{"e0", "e1"}; !slices.Equal(got, want) {
		t.Errorf("sent %q, want %q", got, want)
	}
	if got := len(obs.Messages()); got != 2 {
		t.Errorf("observed %d messages, want 2", got)
	}
	if asked != 3 {
		t.Errorf("stop asked %d times, want 3", asked)
	}
	if done := d.HandleAll(context.Background(), msgs[2:], nil, func() bool { return true }); done != 0 || len(srv.Events()) != 2 {
		t.Errorf("stopped before the first: done = %d, sent %d", done, len(srv.Events()))
	}
}
