package queue_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	"github.com/tocsinhq/tocsin/internal/agent/queue"
)

// fast are options with short waits, so retries happen within a test.
func fast() queue.Options {
	return queue.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, Grace: time.Second}
}

func mustOpen(tb testing.TB, path string, o queue.Options) *queue.Queue {
	tb.Helper()
	q, err := queue.Open(context.Background(), path, o)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	tb.Cleanup(func() { q.Close() })
	return q
}

func tempFile(tb testing.TB) string {
	return filepath.Join(tb.TempDir(), "agent.db")
}

// run starts q.Run and returns a function that stops it and waits for it to return.
func run(tb testing.TB, q *queue.Queue, handlers map[string]queue.Handler) (stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- q.Run(ctx, handlers) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					tb.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				tb.Errorf("Run still running 10s after its context ended")
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

func pushEvent(tb testing.TB, q *queue.Queue, key, summary string) {
	tb.Helper()
	ev := client.Event{IntegrationKey: key, EventType: "ALERT", Summary: summary}
	if err := q.Append(context.Background(), consumer.Entry{Event: &ev}); err != nil {
		tb.Fatalf("Append(%s, %s): %v", key, summary, err)
	}
}

func decode(tb testing.TB, it queue.Item) client.Event {
	var ev client.Event
	if err := json.Unmarshal(it.Payload, &ev); err != nil {
		tb.Errorf("item %d: payload %q: %v", it.ID, it.Payload, err)
	}
	return ev
}

func stats(tb testing.TB, q *queue.Queue) queue.Stats {
	tb.Helper()
	s, err := q.Stats(context.Background())
	if err != nil {
		tb.Fatalf("Stats: %v", err)
	}
	return s
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("still waiting after 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitEmpty(tb testing.TB, q *queue.Queue) {
	tb.Helper()
	waitFor(tb, "the queue to drain", func() bool { return stats(tb, q).Depth == 0 })
}

// recorder is a handler that records the summaries it was given, per integration key, and
// answers with fail's error (nil when fail is nil).
type recorder struct {
	mu   sync.Mutex
	got  map[string][]string
	fail func(ev client.Event, it queue.Item) error
}

func (r *recorder) handle(tb testing.TB) queue.Handler {
	return func(ctx context.Context, it queue.Item) error {
		ev := decode(tb, it)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.got == nil {
			r.got = map[string][]string{}
		}
		r.got[ev.IntegrationKey] = append(r.got[ev.IntegrationKey], ev.Summary)
		if r.fail != nil {
			return r.fail(ev, it)
		}
		return nil
	}
}

func (r *recorder) calls(key string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[key])
}

func unavailable() error {
	return &client.StatusError{Status: http.StatusServiceUnavailable, Body: "down"}
}

func TestFIFOPerKey(t *testing.T) {
	q := mustOpen(t, tempFile(t), queue.Options{BatchSize: 7})
	var want = map[string][]string{}
	for i := range 120 {
		key := fmt.Sprintf("key-%d", i%3)
		s := fmt.Sprintf("%s #%d", key, i)
		pushEvent(t, q, key, s)
		want[key] = append(want[key], s)
	}
	var r recorder
	run(t, q, map[string]queue.Handler{queue.KindEvent: r.handle(t)})
	waitEmpty(t, q)
	for key, w := range want {
		if got := r.calls(key); !slices.Equal(got, w) {
			t.Errorf("%s delivered %v, want %v", key, got, w)
		}
	}
	if got := stats(t, q).Deliveries[queue.Tally{Kind: queue.KindEvent, Outcome: queue.Delivered}]; got != 120 {
		t.Errorf("delivered counter = %d, want 120", got)
	}
}

// A key whose head keeps failing holds back its own followers and nobody else's.
func TestFailingKeyDoesNotBlockOthers(t *testing.T) {
	q := mustOpen(t, tempFile(t), fast())
	r := recorder{fail: func(ev client.Event, _ queue.Item) error {
		if ev.IntegrationKey == "down" {
			return unavailable()
		}
		return nil
	}}
	for i := range 5 {
		pushEvent(t, q, "down", fmt.Sprintf("d%d", i))
		pushEvent(t, q, "up", fmt.Sprintf("u%d", i))
	}
	run(t, q, map[string]queue.Handler{queue.KindEvent: r.handle(t)})
	waitFor(t, "the healthy key to drain", func() bool { return len(r.calls("up")) == 5 })
	waitFor(t, "a few retries of the failing key", func() bool { return len(r.calls("down")) >= 3 })
	for _, s := range r.calls("down") {
		if s != "d0" {
			t.Fatalf("the failing key's follower %q was tried while its head d0 was failing (calls %v)", s, r.calls("down"))
		}
	}
	if got := stats(t, q).Depth; got != 5 {
		t.Errorf("depth = %d, want the failing key's 5 items", got)
	}
}

func TestBackoff(t *testing.T) {
	t.Run("Doubles", func(t *testing.T) {
		o := queue.Options{MinBackoff: 40 * time.Millisecond, MaxBackoff: 160 * time.Millisecond}
		q := mustOpen(t, tempFile(t), o)
		var mu sync.Mutex
		var at []time.Time
		fails := 5
		h := func(ctx context.Context, it queue.Item) error {
			mu.Lock()
			defer mu.Unlock()
			at = append(at, time.Now())
			if len(at) <= fails {
				return unavailable()
			}
			return nil
		}
		pushEvent(t, q, "k", "s")
		run(t, q, map[string]queue.Handler{queue.KindEvent: h})
		waitEmpty(t, q)
		// Waits: 40, 80, 160, 160, 160 ms, each less up to a quarter at random.
		want := []time.Duration{40, 80, 160, 160, 160}
		mu.Lock()
		defer mu.Unlock()
		if len(at) != fails+1 {
			t.Fatalf("%d attempts, want %d", len(at), fails+1)
		}
		for i, w := range want {
			gap, min := at[i+1].Sub(at[i]), w*time.Millisecond*3/4
			if gap < min {
				t.Errorf("wait before attempt %d = %s, want at least %s", i+2, gap, min)
			}
			if gap > w*time.Millisecond+time.Second {
				t.Errorf("wait before attempt %d = %s, want about %s", i+2, gap, w*time.Millisecond)
			}
		}
	})
	t.Run("HonoursRetryAfter", func(t *testing.T) {
		q := mustOpen(t, tempFile(t), fast())
		var calls atomic.Int32
		var first, second atomic.Int64
		h := func(ctx context.Context, it queue.Item) error {
			if calls.Add(1) == 1 {
				first.Store(time.Now().UnixNano())
				return &client.StatusError{Status: http.StatusTooManyRequests, RetryAfter: 400 * time.Millisecond}
			}
			second.Store(time.Now().UnixNano())
			return nil
		}
		pushEvent(t, q, "k", "s")
		run(t, q, map[string]queue.Handler{queue.KindEvent: h})
		waitEmpty(t, q)
		if gap := time.Duration(second.Load() - first.Load()); gap < 400*time.Millisecond {
			t.Errorf("retried %s after a 429 with Retry-After 400ms", gap)
		}
	})
}

func TestDrop(t *testing.T) {
	t.Run("PermanentError", func(t *testing.T) {
		q := mustOpen(t, tempFile(t), fast())
		r := recorder{fail: func(ev client.Event, _ queue.Item) error {
			switch ev.Summary {
			case "unknown key":
				return &client.StatusError{Status: http.StatusNotFound, Body: "no such integration key"}
			case "undecodable":
				return queue.Permanent(errors.New("bad payload"))
			}
			return nil
		}}
		pushEvent(t, q, "k", "unknown key")
		pushEvent(t, q, "k", "undecodable")
		pushEvent(t, q, "k", "fine")
		run(t, q, map[string]queue.Handler{queue.KindEvent: r.handle(t)})
		waitEmpty(t, q)
		if got, want := r.calls("k"), []string{"unknown key", "undecodable", "fine"}; !slices.Equal(got, want) {
			t.Errorf("calls %v, want %v (each once)", got, want)
		}
		s := stats(t, q)
		if got := s.Deliveries[queue.Tally{Kind: queue.KindEvent, Outcome: queue.Rejected}]; got != 2 {
			t.Errorf("rejected counter = %d, want 2", got)
		}
		if got := s.Deliveries[queue.Tally{Kind: queue.KindEvent, Outcome: queue.Retried}]; got != 0 {
			t.Errorf("retry counter = %d, want 0", got)
		}
	})
	t.Run("MaxRetries", func(t *testing.T) {
		o := fast()
		o.MaxRetries = 3
		q := mustOpen(t, tempFile(t), o)
		r := recorder{fail: func(ev client.Event, _ queue.Item) error {
			if ev.Summary == "doomed" {
				return unavailable()
			}
			return nil
		}}
		pushEvent(t, q, "k", "doomed")
		pushEvent(t, q, "k", "next")
		run(t, q, map[string]queue.Handler{queue.KindEvent: r.handle(t)})
		waitEmpty(t, q)
		if got, want := r.calls("k"), []string{"doomed", "doomed", "doomed", "next"}; !slices.Equal(got, want) {
			t.Errorf("calls %v, want %v", got, want)
		}
		s := stats(t, q)
		if got := s.Deliveries[queue.Tally{Kind: queue.KindEvent, Outcome: queue.MaxRetries}]; got != 1 {
			t.Errorf("max_retries counter = %d, want 1", got)
		}
		if got := s.Deliveries[queue.Tally{Kind: queue.KindEvent, Outcome: queue.Retried}]; got != 2 {
			t.Errorf("retry counter = %d, want 2", got)
		}
	})
	t.Run("NoHandler", func(t *testing.T) {
		q := mustOpen(t, tempFile(t), fast())
		if err := q.Append(context.Background(), consumer.Entry{Policy: []byte(`{"data":{"email":"a@example.com"}}`)}); err != nil {
			t.Fatal(err)
		}
		run(t, q, map[string]queue.Handler{})
		waitEmpty(t, q)
		if got := stats(t, q).Deliveries[queue.Tally{Kind: queue.KindPolicy, Outcome: queue.Rejected}]; got != 1 {
			t.Errorf("rejected policy counter = %d, want 1", got)
		}
	})
}

func TestPersistence(t *testing.T) {
	t.Run("ItemsSurviveReopen", func(t *testing.T) {
		path := tempFile(t)
		q := mustOpen(t, path, fast())
		for i := range 10 {
			pushEvent(t, q, "k", fmt.Sprint(i))
		}
		if err := q.Append(context.Background(), consumer.Entry{Policy: []byte(`{"p":1}`)}); err != nil {
			t.Fatal(err)
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
		q = mustOpen(t, path, fast())
		if got := stats(t, q).Depth; got != 11 {
			t.Fatalf("depth after reopen = %d, want 11", got)
		}
		var r recorder
		var policies atomic.Int32
		run(t, q, map[string]queue.Handler{queue.KindEvent: r.handle(t), queue.KindPolicy: func(ctx context.Context, it queue.Item) error {
			if string(it.Payload) != `{"p":1}` {
				t.Errorf("policy payload %q", it.Payload)
			}
			policies.Add(1)
			return nil
		}})
		waitEmpty(t, q)
		if got, want := r.calls("k"), []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}; !slices.Equal(got, want) {
			t.Errorf("delivered %v, want %v", got, want)
		}
		if policies.Load() != 1 {
			t.Errorf("policy handler called %d times, want 1", policies.Load())
		}
	})
	t.Run("RetryCountSurvivesReopen", func(t *testing.T) {
		path := tempFile(t)
		o := fast()
		o.MaxRetries = 4
		var calls atomic.Int32
		failing := map[string]queue.Handler{queue.KindEvent: func(ctx context.Context, it queue.Item) error {
			calls.Add(1)
			return unavailable()
		}}
		q := mustOpen(t, path, o)
		pushEvent(t, q, "k", "doomed")
		stop := run(t, q, failing)
		waitFor(t, "two failed attempts", func() bool { return calls.Load() >= 2 })
		stop()
		q.Close()
		before := calls.Load()

		q = mustOpen(t, path, o)
		var attemptsSeen []int
		var mu sync.Mutex
		run(t, q, map[string]queue.Handler{queue.KindEvent: func(ctx context.Context, it queue.Item) error {
			mu.Lock()
			attemptsSeen = append(attemptsSeen, it.Attempts)
			mu.Unlock()
			return unavailable()
		}})
		waitEmpty(t, q)
		mu.Lock()
		defer mu.Unlock()
		if got, want := int(before)+len(attemptsSeen), 4; got != want {
			t.Errorf("%d attempts before and %d after the reopen, want %d in all", before, len(attemptsSeen), want)
		}
		if len(attemptsSeen) > 0 && attemptsSeen[0] != int(before) {
			t.Errorf("the first attempt after the reopen saw Attempts = %d, want %d", attemptsSeen[0], before)
		}
	})
}

// Run polls nothing: a push into an idle queue wakes it.
func TestPushWakesRun(t *testing.T) {
	q := mustOpen(t, tempFile(t), queue.Options{})
	var r recorder
	run(t, q, map[string]queue.Handler{queue.KindEvent: r.handle(t)})
	time.Sleep(50 * time.Millisecond) // Run is idle
	began := time.Now()
	pushEvent(t, q, "k", "s")
	waitFor(t, "the pushed event to be delivered", func() bool { return len(r.calls("k")) == 1 })
	if took := time.Since(began); took > time.Second {
		t.Errorf("delivered %s after the push, want at once", took)
	}
}

func TestStats(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var mu sync.Mutex
	o := queue.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	q := mustOpen(t, tempFile(t), o)
	if s := stats(t, q); s.Depth != 0 || s.OldestAge != 0 {
		t.Errorf("empty queue: depth %d, oldest age %s; want 0, 0", s.Depth, s.OldestAge)
	}
	pushEvent(t, q, "k", "first")
	mu.Lock()
	now = now.Add(90 * time.Second)
	mu.Unlock()
	pushEvent(t, q, "j", "second")
	s := stats(t, q)
	if s.Depth != 2 || s.OldestAge != 90*time.Second {
		t.Errorf("depth %d, oldest age %s; want 2, 1m30s", s.Depth, s.OldestAge)
	}
}

// When Run is told to stop, a delivery in flight finishes and its item is deleted, and items
// not yet started stay for the next run.
func TestShutdownFinishesDeliveryInFlight(t *testing.T) {
	q := mustOpen(t, tempFile(t), queue.Options{Grace: 5 * time.Second, BatchSize: 10})
	started := make(chan struct{})
	release := make(chan struct{})
	var calls atomic.Int32
	h := func(ctx context.Context, it queue.Item) error {
		if calls.Add(1) == 1 {
			close(started)
			<-release
		}
		return nil
	}
	for i := range 5 {
		pushEvent(t, q, "k", fmt.Sprint(i))
	}
	stop := run(t, q, map[string]queue.Handler{queue.KindEvent: h})
	<-started
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	time.Sleep(50 * time.Millisecond)
	close(release)
	<-stopped
	if got := calls.Load(); got != 1 {
		t.Errorf("%d deliveries, want only the one in flight", got)
	}
	if got := stats(t, q).Depth; got != 4 {
		t.Errorf("depth after the shutdown = %d, want 4", got)
	}
}

func TestPushAfterClose(t *testing.T) {
	q := mustOpen(t, tempFile(t), queue.Options{})
	q.Close()
	if err := q.Append(context.Background(), consumer.Entry{Event: &client.Event{IntegrationKey: "k"}}); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
}

// Pushes from many goroutines at once are grouped into transactions and all stored.
func TestConcurrentPushes(t *testing.T) {
	q := mustOpen(t, tempFile(t), queue.Options{})
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := range 20 {
				pushEvent(t, q, fmt.Sprintf("k%d", w), fmt.Sprint(i))
			}
		})
	}
	wg.Wait()
	if got := stats(t, q).Depth; got != 640 {
		t.Fatalf("depth = %d, want 640", got)
	}
	var r recorder
	run(t, q, map[string]queue.Handler{queue.KindEvent: r.handle(t)})
	waitEmpty(t, q)
	for w := range 32 {
		key := fmt.Sprintf("k%d", w)
		got := r.calls(key)
		for i, s := range got {
			if s != fmt.Sprint(i) {
				t.Fatalf("%s delivered %v, want 0..19 in order", key, got)
			}
		}
	}
}

// A partition row without items (a file edited by hand, say) is forgotten, not retried in a
// loop that would keep a core busy.
func TestEmptyPartitionForgotten(t *testing.T) {
	q := mustOpen(t, tempFile(t), queue.Options{})
	if _, err := q.DB().Exec(`INSERT INTO queue_partitions (kind, key) VALUES ('event', 'ghost')`); err != nil {
		t.Fatal(err)
	}
	run(t, q, map[string]queue.Handler{})
	waitFor(t, "the empty partition to be forgotten", func() bool {
		var n int
		if err := q.DB().QueryRow(`SELECT COUNT(*) FROM queue_partitions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

// When the deliveries cannot be recorded (a full disk, say), the items already delivered are
// not sent again while the agent runs: only the recording is tried again, with a growing
// wait, until it works.
func TestRecordingFailure(t *testing.T) {
	t.Run("DeliveredOnce", func(t *testing.T) {
		q := mustOpen(t, tempFile(t), fast())
		if _, err := q.DB().Exec(`CREATE TRIGGER full BEFORE DELETE ON queue_items BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
			t.Fatal(err)
		}
		var calls atomic.Int32
		pushEvent(t, q, "k", "s")
		run(t, q, map[string]queue.Handler{queue.KindEvent: func(ctx context.Context, it queue.Item) error {
			calls.Add(1)
			return nil
		}})
		waitFor(t, "the delivery", func() bool { return calls.Load() >= 1 })
		time.Sleep(2500 * time.Millisecond)
		if got := calls.Load(); got != 1 {
			t.Errorf("%d deliveries while the recording failed, want 1", got)
		}
		if got := stats(t, q).Depth; got != 1 {
			t.Errorf("depth = %d while the recording failed, want 1", got)
		}
		if _, err := q.DB().Exec(`DROP TRIGGER full`); err != nil {
			t.Fatal(err)
		}
		waitEmpty(t, q)
		if got := calls.Load(); got != 1 {
			t.Errorf("%d deliveries, want 1", got)
		}
	})
	t.Run("RetryStateRecorded", func(t *testing.T) {
		o := fast()
		o.MaxRetries = 3
		q := mustOpen(t, tempFile(t), o)
		if _, err := q.DB().Exec(`CREATE TRIGGER full BEFORE UPDATE ON queue_partitions BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var attempts []int
		pushEvent(t, q, "k", "doomed")
		run(t, q, map[string]queue.Handler{queue.KindEvent: func(ctx context.Context, it queue.Item) error {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, it.Attempts)
			return unavailable()
		}})
		seen := func() []int {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(attempts)
		}
		waitFor(t, "the first attempt", func() bool { return len(seen()) >= 1 })
		time.Sleep(time.Second)
		if got := seen(); len(got) != 1 {
			t.Errorf("attempts %v while the retry state could not be recorded, want one", got)
		}
		if _, err := q.DB().Exec(`DROP TRIGGER full`); err != nil {
			t.Fatal(err)
		}
		waitEmpty(t, q)
		if got, want := seen(), []int{0, 1, 2}; !slices.Equal(got, want) {
			t.Errorf("attempts %v, want %v: dropped after --max_retries", got, want)
		}
	})
}

// An Append is stored whole or not at all: when one of its entries cannot be stored, none of
// them is, however many there are, so that sending them again keeps their order.
func TestAppendAllOrNothing(t *testing.T) {
	q := mustOpen(t, tempFile(t), queue.Options{})
	if _, err := q.DB().Exec(`CREATE TRIGGER refuse BEFORE INSERT ON queue_items WHEN NEW.key = 'bad' BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	entry := func(key, summary string) consumer.Entry {
		return consumer.Entry{Event: &client.Event{IntegrationKey: key, EventType: "ALERT", Summary: summary}}
	}
	for _, at := range []int{0, 150, 599} {
		var entries []consumer.Entry
		for i := range 600 {
			key := "k"
			if i == at {
				key = "bad"
			}
			entries = append(entries, entry(key, fmt.Sprint(i)))
		}
		if err := q.Append(context.Background(), entries...); err == nil {
			t.Fatalf("bad entry at %d: Append succeeded", at)
		}
		time.Sleep(50 * time.Millisecond) // nothing of this Append may be committed later either
		var n int
		if err := q.DB().QueryRow(`SELECT COUNT(*) FROM queue_items`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 || stats(t, q).Depth != 0 {
			t.Fatalf("bad entry at %d: %d entries stored (depth %d) after the Append failed, want none", at, n, stats(t, q).Depth)
		}
	}
	// Appends from many goroutines at once still share commits, and each is stored whole.
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			var entries []consumer.Entry
			for i := range 100 {
				entries = append(entries, entry(fmt.Sprintf("k%d", w), fmt.Sprint(i)))
			}
			if err := q.Append(context.Background(), entries...); err != nil {
				t.Errorf("Append: %v", err)
			}
		})
	}
	wg.Wait()
	if got := stats(t, q).Depth; got != 1600 {
		t.Errorf("depth = %d, want 1600", got)
	}
}

// With more keys ready than workers, every key makes progress: a key that still has items
// does not take its worker back before the keys waiting behind it had a turn.
func TestFairness(t *testing.T) {
	q := mustOpen(t, tempFile(t), queue.Options{Workers: 2, BatchSize: 1})
	const keys, per = 6, 20
	for i := range per {
		for k := range keys {
			pushEvent(t, q, fmt.Sprintf("k%d", k), fmt.Sprint(i))
		}
	}
	var mu sync.Mutex
	var order []string
	run(t, q, map[string]queue.Handler{queue.KindEvent: func(ctx context.Context, it queue.Item) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, it.Key)
		return nil
	}})
	waitEmpty(t, q)
	mu.Lock()
	defer mu.Unlock()
	// When the first key is done, every other key has had a fair share of the deliveries.
	n := map[string]int{}
	for _, k := range order {
		n[k]++
		if n[k] == per {
			break
		}
	}
	for k := range keys {
		if key := fmt.Sprintf("k%d", k); n[key] < per/4 {
			t.Errorf("when the first key was done, %s had %d deliveries of %d (all: %v)", key, n[key], per, n)
		}
	}
}

// Each delivered item is deleted before the next is sent: an agent killed while it sends the
// 10th item of a batch has only that one to send again, not the nine before it. The file is
// read from outside while the 10th delivery hangs, as a restart after a kill -9 would read it.
func TestDeliveredItemsAreGoneAtOnce(t *testing.T) {
	path := tempFile(t)
	q := mustOpen(t, path, queue.Options{Grace: 5 * time.Second, BatchSize: 50})
	for i := range 20 {
		pushEvent(t, q, "k", fmt.Sprint(i))
	}
	tenth, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	h := func(ctx context.Context, it queue.Item) error {
		if calls.Add(1) == 10 {
			close(tenth)
			<-release
		}
		return nil
	}
	run(t, q, map[string]queue.Handler{queue.KindEvent: h})
	<-tenth
	defer close(release)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var left int
	if err := db.QueryRow(`SELECT COUNT(*) FROM queue_items`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 11 {
		t.Fatalf("%d items on disk while the 10th is sent, want 11 (the 10th and the ten after it)", left)
	}
}
