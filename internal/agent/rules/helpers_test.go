package rules_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/tocsinhq/tocsin/internal/agent/client"
	"github.com/tocsinhq/tocsin/internal/agent/consumer"
	agentrules "github.com/tocsinhq/tocsin/internal/agent/rules"
)

const key = "il1api0123456789abcdefghij" // an integration key

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a fake clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// buffer is a fake consumer.Buffer that records the events pushed, or fails with err.
type buffer struct {
	mu     sync.Mutex
	events []client.Event
	err    error
}

func (b *buffer) Append(_ context.Context, entries ...consumer.Entry) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	for _, e := range entries {
		if e.Event == nil {
			return errors.New("only events expected")
		}
		b.events = append(b.events, *e.Event)
	}
	return nil
}

func (b *buffer) fail(err error) {
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
}

// take returns the events pushed since the last take.
func (b *buffer) take() []client.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.events
	b.events = nil
	return out
}

// openDB opens a SQLite file the way the agent does: WAL, synchronous writes, one writer.
func openDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

func mustParse(tb testing.TB, text string) *agentrules.Set {
	tb.Helper()
	set, err := agentrules.Parse([]byte(text), "rules.yaml")
	if err != nil {
		tb.Fatalf("Parse: %v", err)
	}
	return set
}

// harness is an engine on a temporary SQLite file with a fake clock and a fake buffer.
type harness struct {
	t     testing.TB
	clock *clock
	buf   *buffer
	path  string
	db    *sql.DB
	set   *agentrules.Set
	eng   *agentrules.Engine
}

func newHarness(t testing.TB, rules string) *harness {
	t.Helper()
	h := &harness{t: t, clock: &clock{t: t0}, buf: &buffer{}, path: filepath.Join(t.TempDir(), "agent.db"), set: mustParse(t, rules)}
	h.open()
	t.Cleanup(func() { h.db.Close() })
	return h
}

func (h *harness) open() {
	h.t.Helper()
	h.db = openDB(h.t, h.path)
	eng, err := agentrules.New(h.set, h.db, h.buf, h.clock.Now, nil)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	h.eng = eng
}

// restart stops the engine as a kill would (nothing saved beyond what is saved), closes the
// database and starts a new engine on it with rules.
func (h *harness) restart(rules string) {
	h.t.Helper()
	if err := h.db.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.set = mustParse(h.t, rules)
	h.open()
}

func (h *harness) send(topic, payload string) {
	h.eng.Observe(context.Background(), consumer.Message{Source: "mqtt", Topic: topic, Payload: []byte(payload), At: h.clock.Now()})
}

func (h *harness) tick() {
	h.t.Helper()
	if err := h.eng.Tick(context.Background()); err != nil {
		h.t.Fatalf("Tick: %v", err)
	}
}

// advance moves the clock and ticks.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.clock.Add(d)
	h.tick()
}

// expect checks the events pushed since the last check, each written "TYPE alertKey".
func (h *harness) expect(want ...string) []client.Event {
	h.t.Helper()
	evs := h.buf.take()
	got := make([]string, len(evs))
	for i, ev := range evs {
		got[i] = ev.EventType + " " + ev.AlertKey
		if ev.IntegrationKey == "" {
			h.t.Errorf("event %s has no integration key", got[i])
		}
		if err := ev.Validate(); err != nil {
			h.t.Errorf("event %s is not valid: %v", got[i], err)
		}
	}
	// Keys that change in the same tick may come in any order.
	sorted := slices.Sorted(slices.Values(got))
	if !slices.Equal(sorted, slices.Sorted(slices.Values(want))) {
		h.t.Fatalf("events = %q, want %q", got, want)
	}
	return evs
}

func details(tb testing.TB, ev client.Event) map[string]any {
	tb.Helper()
	var d map[string]any
	if err := json.Unmarshal(ev.CustomDetails, &d); err != nil {
		tb.Fatalf("customDetails %s: %v", ev.CustomDetails, err)
	}
	return d
}

func reading(field string, v any) string {
	b, _ := json.Marshal(map[string]any{field: v})
	return string(b)
}

// hotRule is a threshold rule "hot": the payload of topic t above 90, with extra settings.
func hotRule(extra ...string) string {
	return rulesFile(lines(append([]string{
		"  - name: hot",
		"    type: threshold",
		"    integration_key: " + key,
		"    topic: t",
		"    field: payload",
		"    above: 90",
	}, extra...)...))
}

// silentRule is a missing-heartbeat rule "silent" per device (the topic's second level) on
// sensors/+, with extra settings.
func silentRule(timeout string, extra ...string) string {
	return rulesFile(lines(append([]string{
		"  - name: silent",
		"    type: missing_heartbeat",
		"    integration_key: " + key,
		"    topic: sensors/+",
		"    device: levels[1]",
		"    timeout: " + timeout,
	}, extra...)...))
}

func replace(s, old, new string) string { return strings.Replace(s, old, new, 1) }

func lines(s ...string) string { return strings.Join(s, "\n") + "\n" }

func rulesFile(body string) string { return fmt.Sprintf("rules:\n%s", body) }
