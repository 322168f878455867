package heartbeat_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/heartbeat"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func TestGrace(t *testing.T) {
	last := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		intervalSec int
		grace       time.Duration
	}{
		{1, 5 * time.Second}, // only with a lowered minimum, in tests
		{25, 5 * time.Second},
		{50, 5 * time.Second},
		{60, 6 * time.Second},
		{300, 30 * time.Second},
		{86400, 144 * time.Minute},
		{2678400, 74*time.Hour + 24*time.Minute},
	} {
		if got := heartbeat.Grace(tc.intervalSec); got != tc.grace {
			t.Errorf("Grace(%d) = %s, want %s", tc.intervalSec, got, tc.grace)
		}
		want := last.Add(time.Duration(tc.intervalSec)*time.Second + tc.grace)
		if got := heartbeat.Deadline(last, tc.intervalSec); !got.Equal(want) {
			t.Errorf("Deadline(%d) = %s, want %s", tc.intervalSec, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	valid := func() heartbeat.Monitor {
		return heartbeat.Monitor{Name: " backup ", IntervalSec: 25, SourceID: 1, Teams: []auth.TeamRef{{ID: 1}, {ID: 2}}}
	}
	m := valid()
	m.Normalize()
	if err := m.Validate(heartbeat.MinIntervalSec); err != nil || m.Name != "backup" {
		t.Fatalf("valid monitor: %v (name %q)", err, m.Name)
	}
	for name, edit := range map[string]func(m *heartbeat.Monitor){
		"ErrNameRequired":     func(m *heartbeat.Monitor) { m.Name = "" },
		"ErrNameTooLong":      func(m *heartbeat.Monitor) { m.Name = strings.Repeat("n", heartbeat.MaxNameLen+1) },
		"ErrIntervalTooShort": func(m *heartbeat.Monitor) { m.IntervalSec = 24 },
		"ErrIntervalTooLong":  func(m *heartbeat.Monitor) { m.IntervalSec = heartbeat.MaxIntervalSec + 1 },
		"ErrSummaryTooLong":   func(m *heartbeat.Monitor) { m.AlertSummary = strings.Repeat("s", alert.MaxSummaryLen+1) },
		"ErrSourceRequired":   func(m *heartbeat.Monitor) { m.SourceID = 0 },
		"ErrTeamID":           func(m *heartbeat.Monitor) { m.Teams = []auth.TeamRef{{Name: "ops"}} },
		"ErrTeamTwice":        func(m *heartbeat.Monitor) { m.Teams = []auth.TeamRef{{ID: 3}, {ID: 3}} },
	} {
		t.Run(name, func(t *testing.T) {
			m := valid()
			edit(&m)
			m.Normalize()
			if err := m.Validate(heartbeat.MinIntervalSec); !fault.Is(err, fault.Invalid) {
				t.Fatalf("got %v, want Invalid", err)
			}
		})
	}
	t.Run("LoweredMinimum", func(t *testing.T) {
		w := heartbeat.New(heartbeat.Options{MinIntervalSec: 1})
		m := valid()
		m.IntervalSec = 1
		if err := w.Validate(&m); err != nil {
			t.Fatalf("interval 1 with the minimum lowered to 1: %v", err)
		}
		m.IntervalSec = 0
		if err := w.Validate(&m); !fault.Is(err, fault.Invalid) {
			t.Fatalf("interval 0: got %v, want Invalid", err)
		}
	})
}

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

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// sent is an event a recorder took.
type sent struct {
	source int64
	ev     alert.Event
}

// recorder stands in for the Events API: it keeps what is submitted, or fails with fail.
// during, when set, runs inside the submission, as another request would run meanwhile.
type recorder struct {
	mu     sync.Mutex
	sent   []sent
	fail   error
	during func()
}

func (r *recorder) SubmitHeartbeatEvent(ctx context.Context, sourceID int64, ev alert.Event) error {
	r.mu.Lock()
	fail, during := r.fail, r.during
	r.during = nil
	r.mu.Unlock()
	if during != nil {
		during()
	}
	if fail != nil {
		return fail
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, sent{sourceID, ev})
	return nil
}

// take returns what was submitted since the last take.
func (r *recorder) take() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sent
	r.sent = nil
	return out
}

func (r *recorder) setFail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail = err
}

// rig is a Watcher on a real database with a fake clock and a recorder for its events.
type rig struct {
	t      *testing.T
	db     *store.DB
	w      *heartbeat.Watcher
	clock  *clock
	events *recorder
	f      storetest.Fixture
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newRig makes a rig on db, or on st when it is not nil, with its own clock unless c is given.
func newRig(t *testing.T, db *store.DB, f storetest.Fixture, st heartbeat.Store, c *clock) *rig {
	t.Helper()
	if c == nil {
		c = &clock{t: t0}
	}
	if st == nil {
		st = db
	}
	w := heartbeat.New(heartbeat.Options{Store: st, Now: c.Now, Lease: time.Minute})
	return &rig{t: t, db: db, w: w, clock: c, events: &recorder{}, f: f}
}

func (r *rig) monitor(name string, intervalSec int, summary string) heartbeat.Monitor {
	r.t.Helper()
	m := heartbeat.Monitor{Name: name, IntervalSec: intervalSec, AlertSummary: summary, SourceID: r.f.Source.ID}
	if err := r.w.Validate(&m); err != nil {
		r.t.Fatal(err)
	}
	if err := r.db.CreateHeartbeatMonitor(context.Background(), &m); err != nil {
		r.t.Fatal(err)
	}
	return m
}

func (r *rig) ping(m heartbeat.Monitor) {
	r.t.Helper()
	if err := r.w.Ping(context.Background(), m.IntegrationKey); err != nil {
		r.t.Fatalf("ping %s: %v", m.Name, err)
	}
}

func (r *rig) round() {
	r.t.Helper()
	if err := r.w.Round(context.Background(), r.events); err != nil {
		r.t.Fatalf("round: %v", err)
	}
}

func (r *rig) state(m heartbeat.Monitor) heartbeat.State {
	r.t.Helper()
	got, err := r.db.HeartbeatMonitor(context.Background(), m.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	return got.State
}

// expect checks the events submitted since the last check: their types, each for monitor m
// on source.
func (r *rig) expect(m heartbeat.Monitor, source int64, types ...alert.EventType) []sent {
	r.t.Helper()
	got := r.events.take()
	if len(got) != len(types) {
		r.t.Fatalf("%d events submitted, want %v: %+v", len(got), types, got)
	}
	for i, s := range got {
		if s.ev.Type != types[i] || s.ev.AlertKey != heartbeat.AlertKey(m.ID) || s.source != source {
			r.t.Fatalf("event %d: %s key %q to source %d, want %s key %q to source %d", i, s.ev.Type, s.ev.AlertKey, s.source,
				types[i], heartbeat.AlertKey(m.ID), source)
		}
	}
	return got
}

func TestLifecycle(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, storetest.NewFixture(t, db), nil, nil)
		m := r.monitor("backup", 60, "")
		deadline := func() time.Time { return heartbeat.Deadline(r.clock.Now(), 60) }

		t.Run("UnknownUntilFirstPing", func(t *testing.T) {
			r.clock.Advance(24 * time.Hour)
			r.round()
			r.expect(m, 0)
			if s := r.state(m); s != heartbeat.Unknown {
				t.Fatalf("state %s before any ping", s)
			}
			r.ping(m)
			r.round()
			if s := r.state(m); s != heartbeat.Healthy {
				t.Fatalf("state %s after the first ping", s)
			}
			got, _ := db.HeartbeatMonitor(context.Background(), m.ID)
			if got.LastPingAt == nil || !got.LastPingAt.Equal(r.clock.Now()) {
				t.Fatalf("last ping %v, want %v", got.LastPingAt, r.clock.Now())
			}
		})

		t.Run("HealthyWhilePinged", func(t *testing.T) {
			for range 10 { // every 65 s: later than the interval, within its grace of 6 s
				r.clock.Advance(65 * time.Second)
				r.round()
				r.ping(m)
				r.round()
			}
			r.expect(m, 0)
			if s := r.state(m); s != heartbeat.Healthy {
				t.Fatalf("state %s", s)
			}
		})

		t.Run("OverdueAtTheDeadline", func(t *testing.T) {
			due := deadline()
			r.clock.Set(due.Add(-time.Millisecond))
			r.round()
			r.expect(m, 0)
			r.clock.Set(due)
			r.round()
			ev := r.expect(m, r.f.Source.ID, alert.EventAlert)[0].ev
			if ev.Summary != "Heartbeat backup is overdue" || !strings.Contains(ev.Details, "every 1m0s") {
				t.Fatalf("ALERT event %+v", ev)
			}
			if s := r.state(m); s != heartbeat.Overdue {
				t.Fatalf("state %s", s)
			}
			r.clock.Advance(time.Hour)
			r.round()
			r.expect(m, 0) // one alert, not one per round
		})

		t.Run("ResolvedByTheNextPing", func(t *testing.T) {
			r.ping(m)
			r.round()
			r.expect(m, r.f.Source.ID, alert.EventResolve)
			if s := r.state(m); s != heartbeat.Healthy {
				t.Fatalf("state %s", s)
			}
		})

		t.Run("ItsOwnSummary", func(t *testing.T) {
			m.AlertSummary = "The nightly backup did not run"
			if err := db.UpdateHeartbeatMonitor(context.Background(), &m); err != nil {
				t.Fatal(err)
			}
			r.clock.Set(deadline())
			r.round()
			if ev := r.expect(m, r.f.Source.ID, alert.EventAlert)[0].ev; ev.Summary != "The nightly backup did not run" {
				t.Fatalf("summary %q", ev.Summary)
			}
		})
	})
}

func TestFailedEventTriedAgain(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, storetest.NewFixture(t, db), nil, nil)
		m := r.monitor("backup", 60, "")
		r.ping(m)
		r.round()
		r.clock.Set(heartbeat.Deadline(r.clock.Now(), 60))
		r.events.setFail(errors.New("the database did not answer"))
		r.round()
		if s := r.state(m); s != heartbeat.Healthy {
			t.Fatalf("state %s after the ALERT failed", s)
		}
		r.events.setFail(nil)
		r.clock.Advance(30 * time.Second)
		r.round()
		r.expect(m, 0) // the failed claim still holds
		r.clock.Advance(31 * time.Second)
		r.round()
		r.expect(m, r.f.Source.ID, alert.EventAlert)
		if s := r.state(m); s != heartbeat.Overdue {
			t.Fatalf("state %s", s)
		}
	})
}

// loseStateWrites is the store, except that its next state write is lost, as in a crash
// between submitting a monitor's event and writing its state.
type loseStateWrites struct {
	*store.DB
	lose int
}

func (l *loseStateWrites) SetHeartbeatState(ctx context.Context, c heartbeat.Claim, to heartbeat.State) (bool, error) {
	if l.lose > 0 {
		l.lose--
		return false, errors.New("crashed")
	}
	return l.DB.SetHeartbeatState(ctx, c, to)
}

func TestLostStateWriteRepeatsTheEvent(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		st := &loseStateWrites{DB: db}
		r := newRig(t, db, storetest.NewFixture(t, db), st, nil)
		m := r.monitor("backup", 60, "")
		r.ping(m)
		r.round()
		r.clock.Set(heartbeat.Deadline(r.clock.Now(), 60))
		st.lose = 1
		r.round()
		r.expect(m, r.f.Source.ID, alert.EventAlert)
		if s := r.state(m); s != heartbeat.Healthy {
			t.Fatalf("state %s after the write was lost", s)
		}
		r.clock.Advance(time.Minute + time.Second)
		r.round()
		// The ALERT again: its alert key folds it into the alert the first one opened.
		r.expect(m, r.f.Source.ID, alert.EventAlert)
		if s := r.state(m); s != heartbeat.Overdue {
			t.Fatalf("state %s", s)
		}
	})
}

// A ping that is written while the monitor's ALERT is on its way does not leave the alert
// open: the monitor becomes OVERDUE all the same, and the next round resolves it.
func TestPingWhileAlerting(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, storetest.NewFixture(t, db), nil, nil)
		m := r.monitor("backup", 60, "")
		r.ping(m)
		r.round()
		r.clock.Set(heartbeat.Deadline(r.clock.Now(), 60))
		r.events.during = func() {
			r.ping(m)
			if err := r.w.Flush(context.Background()); err != nil {
				t.Error(err)
			}
		}
		r.round()
		r.expect(m, r.f.Source.ID, alert.EventAlert)
		r.round()
		r.expect(m, r.f.Source.ID, alert.EventResolve)
		if s := r.state(m); s != heartbeat.Healthy {
			t.Fatalf("state %s", s)
		}
	})
}

// Replicas share the monitors: each overdue monitor raises one ALERT, whichever replica got
// its pings, and a ping on either resolves it.
func TestReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		db1, db2 := storetest.MustOpen(t, dsn), storetest.MustOpen(t, dsn)
		f := storetest.NewFixture(t, db1)
		r1 := newRig(t, db1, f, nil, nil)
		r2 := newRig(t, db2, f, nil, r1.clock)
		var monitors []heartbeat.Monitor
		for _, name := range []string{"a", "b", "c", "d"} {
			m := r1.monitor(name, 60, "")
			r1.ping(m)
			monitors = append(monitors, m)
		}
		r1.round()
		r1.clock.Set(heartbeat.Deadline(r1.clock.Now(), 60))
		var wg sync.WaitGroup
		wg.Go(r1.round)
		wg.Go(r2.round)
		wg.Wait()
		alerts := map[string]int{}
		for _, s := range append(r1.events.take(), r2.events.take()...) {
			alerts[s.ev.AlertKey]++
		}
		for _, m := range monitors {
			if n := alerts[heartbeat.AlertKey(m.ID)]; n != 1 {
				t.Errorf("%s: %d ALERTs, want 1", m.Name, n)
			}
		}
		r2.ping(monitors[0])
		r2.round()
		r2.expect(monitors[0], f.Source.ID, alert.EventResolve)
		r1.round()
		r1.expect(monitors[0], 0)
	})
}

func TestPingKeys(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRig(t, db, storetest.NewFixture(t, db), nil, nil)
		m := r.monitor("backup", 60, "")
		for _, key := range []string{"", "unknown", strings.Repeat("k", 300)} {
			if err := r.w.Ping(ctx, key); !fault.Is(err, fault.NotFound) {
				t.Errorf("ping %q: got %v, want NotFound", key, err)
			}
		}
		r.ping(m)
		if _, err := db.DeleteHeartbeatMonitor(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		r.ping(m) // the key is remembered for a second
		r.round()
		r.clock.Advance(time.Second)
		if err := r.w.Ping(ctx, m.IntegrationKey); !fault.Is(err, fault.NotFound) {
			t.Fatalf("ping of a deleted monitor a second later: got %v, want NotFound", err)
		}
	})
}

// The loop writes a monitor's first ping, and resolves an overdue monitor's alert, as soon as
// the ping comes, without waiting for its tick; and it writes the pings it holds when it stops.
func TestRun(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		c := &clock{t: t0}
		w := heartbeat.New(heartbeat.Options{Store: db, Now: c.Now, Tick: time.Hour})
		events := &recorder{}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.Run(runCtx, events)
		}()
		defer func() {
			stop()
			<-done
		}()
		m := heartbeat.Monitor{Name: "backup", IntervalSec: 60, SourceID: f.Source.ID}
		if err := db.CreateHeartbeatMonitor(ctx, &m); err != nil {
			t.Fatal(err)
		}
		waitFor := func(what string, cond func(heartbeat.Monitor) bool) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			for {
				got, err := db.HeartbeatMonitor(ctx, m.ID)
				if err != nil {
					t.Fatal(err)
				}
				if cond(got) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("still waiting for %s: %+v", what, got)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		if err := w.Ping(ctx, m.IntegrationKey); err != nil {
			t.Fatal(err)
		}
		waitFor("HEALTHY after the first ping", func(m heartbeat.Monitor) bool { return m.State == heartbeat.Healthy })

		// Overdue, settled by a round of this test's own; then a ping wakes the loop.
		c.Set(heartbeat.Deadline(t0, 60))
		if err := w.Round(ctx, events); err != nil {
			t.Fatal(err)
		}
		if len(events.take()) != 1 {
			t.Fatal("no ALERT")
		}
		c.Advance(time.Minute)
		if err := w.Ping(ctx, m.IntegrationKey); err != nil {
			t.Fatal(err)
		}
		waitFor("HEALTHY after the ping of an overdue monitor", func(m heartbeat.Monitor) bool { return m.State == heartbeat.Healthy })
		if got := events.take(); len(got) != 1 || got[0].ev.Type != alert.EventResolve {
			t.Fatalf("events %+v, want one RESOLVE", got)
		}

		// A ping of a HEALTHY monitor waits for the tick, an hour away, or the stop.
		c.Advance(10 * time.Second)
		last := c.Now()
		if err := w.Ping(ctx, m.IntegrationKey); err != nil {
			t.Fatal(err)
		}
		stop()
		<-done
		if got, _ := db.HeartbeatMonitor(ctx, m.ID); got.LastPingAt == nil || !got.LastPingAt.Equal(last) {
			t.Fatalf("last ping %v after the loop stopped, want %v", got.LastPingAt, last)
		}
	})
}

// countingStore counts the lookups of monitors by key.
type countingStore struct {
	*store.DB
	mu      sync.Mutex
	lookups int
}

func (s *countingStore) HeartbeatMonitorByKey(ctx context.Context, key string) (heartbeat.Monitor, error) {
	s.mu.Lock()
	s.lookups++
	s.mu.Unlock()
	return s.DB.HeartbeatMonitorByKey(ctx, key)
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups
}

// Pings with keys no monitor could have cost no lookup, and a stream of made-up keys does
// not push the keys of real monitors out of memory.
func TestPingsOfUnknownKeys(t *testing.T) {
	db := storetest.MustOpen(t, storetest.SQLiteDSN(t))
	st := &countingStore{DB: db}
	r := newRig(t, db, storetest.NewFixture(t, db), st, nil)
	m := r.monitor("backup", 60, "")
	ctx := context.Background()
	for _, key := range []string{"", "short", strings.Repeat("a", 42) + "!", strings.Repeat("a", 44), "../" + m.IntegrationKey[3:]} {
		if err := r.w.Ping(ctx, key); !fault.Is(err, fault.NotFound) {
			t.Fatalf("ping %q: %v, want NotFound", key, err)
		}
	}
	if n := st.count(); n != 0 {
		t.Fatalf("%d lookups for keys no monitor could have", n)
	}
	r.ping(m)
	for i := range 25000 {
		key := fmt.Sprintf("%043d", i)
		if err := r.w.Ping(ctx, key); !fault.Is(err, fault.NotFound) {
			t.Fatalf("ping %q: %v, want NotFound", key, err)
		}
	}
	if err := r.w.Ping(ctx, fmt.Sprintf("%043d", 24999)); !fault.Is(err, fault.NotFound) { // remembered
		t.Fatal(err)
	}
	before := st.count()
	r.ping(m)
	if n := st.count(); n != before || n != 1+25000 {
		t.Fatalf("%d lookups, then %d after pinging the real monitor again: its key was pushed out of memory", before, n)
	}
}

// A monitor deleted while its ALERT is being opened: the delete saw it HEALTHY and resolved
// nothing, so the watcher resolves the alert it just opened.
func TestDeleteWhileAlerting(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, storetest.NewFixture(t, db), nil, nil)
		m := r.monitor("backup", 60, "")
		r.ping(m)
		r.round()
		r.clock.Set(heartbeat.Deadline(r.clock.Now(), 60))
		r.events.during = func() {
			if _, err := db.DeleteHeartbeatMonitor(context.Background(), m.ID); err != nil {
				t.Error(err)
			}
		}
		r.round()
		r.expect(m, r.f.Source.ID, alert.EventAlert, alert.EventResolve)
	})
}

// An OVERDUE monitor moved to source B keeps its alert on source A. Deleting B deletes the
// monitor with it; the alert on A is resolved, since no ping can resolve it any more.
func TestDeleteNewSourceResolvesOldAlert(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		r := newRig(t, db, f, nil, nil)
		m := r.monitor("backup", 60, "")
		r.ping(m)
		r.round()
		r.clock.Set(heartbeat.Deadline(r.clock.Now(), 60))
		r.round()
		r.expect(m, f.Source.ID, alert.EventAlert) // the alert is on source A
		b := *f.Source
		b.ID, b.Name, b.IntegrationKey = 0, "other", ""
		if err := db.CreateSource(ctx, &b, nil); err != nil {
			t.Fatal(err)
		}
		m.SourceID = b.ID
		if err := db.UpdateHeartbeatMonitor(ctx, &m); err != nil {
			t.Fatal(err)
		}
		orphans, err := db.DeleteSource(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(orphans) != 1 || orphans[0].ID != m.ID || orphans[0].OverdueSourceID != f.Source.ID {
			t.Fatalf("deleting the source answered %+v, want the monitor whose alert is on source %d", orphans, f.Source.ID)
		}
	})
}
