package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/engine"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// clock is a fake clock shared by the store and the engine.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// directory pages each user by the deliveries given, or by email at once.
type directory struct {
	onCall     map[int64]int64
	deliveries map[int64][]engine.Delivery
	updates    map[int64][]engine.Delivery // by user; every update type
	raises     []time.Time                 // when every auto-raising source raises its alerts
}

func (d *directory) UpdateDeliveries(_ context.Context, users []int64, update string) (map[int64][]engine.Delivery, error) {
	out := map[int64][]engine.Delivery{}
	for _, u := range users {
		for _, del := range d.updates[u] {
			del.Target += ":" + update
			out[u] = append(out[u], del)
		}
	}
	return out, nil
}

func (d *directory) OnCall(_ context.Context, ids []int64, _ time.Time) (map[int64]int64, error) {
	out := map[int64]int64{}
	for _, id := range ids {
		if u, ok := d.onCall[id]; ok {
			out[id] = u
		}
	}
	return out, nil
}

func (d *directory) TeamMembers(context.Context, []int64) ([]int64, error) { return nil, nil }

// NextRaise raises every source at each of d.raises after t.
func (d *directory) NextRaise(_ context.Context, _ int64, after time.Time) (time.Time, bool, error) {
	for _, at := range d.raises {
		if at.After(after) {
			return at, true, nil
		}
	}
	return time.Time{}, false, nil
}

func (d *directory) Deliveries(_ context.Context, users []int64, p alert.Priority) (map[int64][]engine.Delivery, error) {
	out := map[int64][]engine.Delivery{}
	for _, u := range users {
		if ds, ok := d.deliveries[u]; ok {
			out[u] = ds
		} else {
			out[u] = []engine.Delivery{{Method: notify.Email, Target: fmt.Sprintf("user%d@example.com", u)}}
		}
	}
	return out, nil
}

// recorder is a channel that records what it is asked to send, failing as told.
type recorder struct {
	mu   sync.Mutex
	sent []notify.Message
	fail func(m notify.Message) error
}

func (r *recorder) Send(_ context.Context, m notify.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		if err := r.fail(m); err != nil {
			return err
		}
	}
	r.sent = append(r.sent, m)
	return nil
}

func (r *recorder) targets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.sent {
		out = append(out, string(m.Method)+":"+m.Target)
	}
	return out
}

type world struct {
	t      *testing.T
	db     *store.DB
	clock  *clock
	dir    *directory
	ch     *recorder
	eng    *engine.Engine
	users  []auth.Account
	source *alert.Source
}

// newWorld makes users and a source whose policy has the given levels of users (by index).
func newWorld(t *testing.T, db *store.DB, levels [][]int, timeout int, edit func(p *escalation.Policy)) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, db: db, clock: &clock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}, dir: &directory{onCall: map[int64]int64{}, deliveries: map[int64][]engine.Delivery{}}, ch: &recorder{}}
	db.Now = w.clock.Now
	for i := range 4 {
		u := auth.Account{FirstName: "U", LastName: fmt.Sprint(i), Email: fmt.Sprintf("u%d@example.com", i), Role: auth.User}
		if err := db.CreateAccount(ctx, &u, ""); err != nil {
			t.Fatal(err)
		}
		w.users = append(w.users, u)
	}
	p := &escalation.Policy{Name: "p", Frequency: 1}
	for _, lv := range levels {
		r := escalation.Rule{EscalationTimeout: timeout}
		for _, i := range lv {
			if i < 0 { // a schedule with nobody on call yet
				id := storetest.NewSchedules(t, db, w.users[0].ID, "2099-01-05T09:00", 1)[0]
				r.Schedules = append(r.Schedules, escalation.ScheduleRef{ID: id})
			} else {
				r.Users = append(r.Users, auth.Ref{ID: w.users[i].ID})
			}
		}
		p.EscalationRules = append(p.EscalationRules, r)
	}
	if edit != nil {
		edit(p)
	}
	if err := db.CreatePolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	w.source = &alert.Source{Name: "s", IntegrationType: "API", EscalationPolicy: json.RawMessage(fmt.Sprintf(`{"id":%d}`, p.ID))}
	if err := db.CreateSource(ctx, w.source, nil); err != nil {
		t.Fatal(err)
	}
	w.eng = engine.New(engine.Options{Store: db, Directory: w.dir, Now: w.clock.Now,
		Channels: map[notify.Method]notify.Channel{notify.Email: w.ch, notify.SMS: w.ch},
		Retry:    engine.Retry{Attempts: 3, Base: time.Minute, Max: 4 * time.Minute}})
	return w
}

func (w *world) event(typ alert.EventType, key string, prio alert.Priority) store.EventResult {
	w.t.Helper()
	ev := alert.Event{Type: typ, AlertKey: key, Summary: "disk full", Priority: prio}
	res, err := w.db.ApplyEvents(context.Background(), []store.EventWork{{Source: w.source, Event: &ev}})
	if err != nil {
		w.t.Fatal(err)
	}
	return res[0]
}

// at moves the clock to minute m after the start and runs what is due.
func (w *world) at(m time.Duration) {
	w.t.Helper()
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	w.clock.Add(start.Add(m * time.Minute).Sub(w.clock.Now()))
	for w.eng.Tick(context.Background()) {
	}
}

// expect checks what was sent so far, in any order (a tick sends concurrently).
func (w *world) expect(want ...string) {
	w.t.Helper()
	got := w.ch.targets()
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if strings.Join(got, " ") != strings.Join(want, " ") {
		w.t.Fatalf("sent %v, want %v", got, want)
	}
}

func (w *world) logTypes(alertID int64) []string {
	entries, err := w.db.LogEntries(context.Background(), alertID, nil, store.Page{Max: 100})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.LogEntryType)
	}
	return out
}

func TestEscalation(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0}, {1}}, 5, nil)
		a := w.event(alert.EventAlert, "k", "")
		w.at(0)
		w.expect(fmt.Sprintf("EMAIL:user%d@example.com", w.users[0].ID))
		w.at(4)
		w.expect(fmt.Sprintf("EMAIL:user%d@example.com", w.users[0].ID))
		w.at(5) // level 1's timeout: level 2 is paged
		w.expect(fmt.Sprintf("EMAIL:user%d@example.com", w.users[0].ID), fmt.Sprintf("EMAIL:user%d@example.com", w.users[1].ID))
		w.at(10) // the last level's timeout: the escalation ends, nobody else is paged
		w.at(60)
		if n := len(w.ch.targets()); n != 2 {
			t.Fatalf("%d messages, want 2", n)
		}
		types := strings.Join(w.logTypes(a.AlertID), " ")
		for _, want := range []string{engine.LogEscalated, engine.LogNotification, engine.LogEscalationEnd} {
			if !strings.Contains(types, want) {
				t.Fatalf("timeline %s lacks %s", types, want)
			}
		}
		ns, _ := db.Notifications(context.Background(), a.AlertID)
		if len(ns) != 2 || ns[0].Status != store.NotificationSuccess || ns[1].User.ID != w.users[1].ID {
			t.Fatalf("notifications: %+v", ns)
		}
	})
}

func TestAcceptStopsEverything(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0}, {1}}, 5, nil)
		// User 0 asked for email at once and an SMS after 2 minutes.
		w.dir.deliveries[w.users[0].ID] = []engine.Delivery{{Method: notify.Email, Target: "e0"}, {Method: notify.SMS, Target: "+4915100000000", Delay: 2 * time.Minute}}
		a := w.event(alert.EventAlert, "k", "")
		w.at(0)
		w.expect("EMAIL:e0")
		w.at(1)
		if _, err := db.SetAlertStatus(context.Background(), a.AlertID, alert.Accepted, w.users[0]); err != nil {
			t.Fatal(err)
		}
		w.at(2) // the SMS and level 2 would have gone out now
		w.at(30)
		w.expect("EMAIL:e0")
		ns, _ := db.Notifications(context.Background(), a.AlertID)
		if len(ns) != 1 {
			t.Fatalf("the pending SMS must be cancelled: %+v", ns)
		}
	})
}

func TestDelayNobodyOnCallAndRepeat(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		// Level 1 is a schedule with nobody on call, level 2 user 2; delayMin 3, repeated once.
		w := newWorld(t, db, [][]int{{-1}, {2}}, 5, func(p *escalation.Policy) {
			p.DelayMin, p.Repeating, p.Frequency = 3, true, 1
		})
		u2 := fmt.Sprintf("EMAIL:user%d@example.com", w.users[2].ID)
		a := w.event(alert.EventAlert, "k", "")
		w.at(0)
		w.at(2)
		w.expect() // delayMin
		w.at(3)    // level 1 has nobody: level 2 at once
		w.expect(u2)
		w.at(8) // repeat: level 1 (nobody) then level 2 again
		w.expect(u2, u2)
		w.at(13) // no more rounds
		w.at(60)
		w.expect(u2, u2)
		if types := strings.Join(w.logTypes(a.AlertID), " "); !strings.Contains(types, engine.LogNobodyOnCall) {
			t.Fatalf("timeline lacks nobody-on-call: %s", types)
		}
	})
}

func TestLowPriorityDoesNotEscalate(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0}, {1}}, 5, nil)
		w.event(alert.EventAlert, "k", alert.Low)
		w.at(0)
		w.at(60)
		w.expect(fmt.Sprintf("EMAIL:user%d@example.com", w.users[0].ID))
	})
}

func TestRetriesAndFailures(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0, 1, 2}}, 5, nil)
		w.dir.deliveries[w.users[0].ID] = []engine.Delivery{{Method: notify.Email, Target: "flaky"}}
		w.dir.deliveries[w.users[1].ID] = []engine.Delivery{{Method: notify.Email, Target: "bounces"}}
		w.dir.deliveries[w.users[2].ID] = []engine.Delivery{{Method: notify.Voice, Target: "+4915100000001"}} // no voice channel
		tries := 0
		w.ch.fail = func(m notify.Message) error {
			switch m.Target {
			case "flaky":
				if tries++; tries < 3 {
					return notify.Retryable(errors.New("try later"))
				}
			case "bounces":
				return errors.New("550 no such user")
			}
			return nil
		}
		a := w.event(alert.EventAlert, "k", "")
		w.at(0)
		w.at(1)
		w.at(3)
		w.at(9)
		w.expect("EMAIL:flaky")
		ns, _ := db.Notifications(context.Background(), a.AlertID)
		byTarget := map[string]store.Notification{}
		for _, n := range ns {
			byTarget[n.Target] = n
		}
		if n := byTarget["flaky"]; n.Status != store.NotificationSuccess || n.Attempt != 3 {
			t.Fatalf("retried notification: %+v", n)
		}
		if n := byTarget["bounces"]; n.Status != store.NotificationError || !strings.Contains(n.ErrorMessage, "550") || n.Attempt != 1 {
			t.Fatalf("permanent failure: %+v", n)
		}
		if n := byTarget["+4915100000001"]; n.Status != store.NotificationError || !strings.Contains(n.ErrorMessage, "not configured") {
			t.Fatalf("unconfigured channel: %+v", n)
		}
	})
}

// Work that fell due while tocsin was down runs as soon as an engine starts.
func TestOverdueWorkRunsAfterRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		db := storetest.MustOpen(t, dsn)
		w := newWorld(t, db, [][]int{{0}, {1}}, 5, nil)
		w.event(alert.EventAlert, "k", "")
		w.at(0)
		db.Close()
		// Restarted an hour later: level 2 was due at minute 5.
		db2 := storetest.MustOpen(t, dsn)
		db2.Now = w.clock.Now
		w.clock.Add(time.Hour)
		ch := &recorder{}
		eng := engine.New(engine.Options{Store: db2, Directory: w.dir, Now: w.clock.Now, Channels: map[notify.Method]notify.Channel{notify.Email: ch}})
		eng.Tick(context.Background())
		if got := ch.targets(); len(got) != 1 || got[0] != fmt.Sprintf("EMAIL:user%d@example.com", w.users[1].ID) {
			t.Fatalf("after restart: %v", got)
		}
	})
}

// People paged are told when the alert escalates past them and when it is accepted.
func TestUpdates(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0}, {1}}, 5, nil)
		w.dir.deliveries[w.users[0].ID] = []engine.Delivery{{Method: notify.Email, Target: "page0"}}
		w.dir.deliveries[w.users[1].ID] = []engine.Delivery{{Method: notify.Email, Target: "page1"}}
		w.dir.updates = map[int64][]engine.Delivery{
			w.users[0].ID: {{Method: notify.SMS, Target: "upd0"}},
			w.users[1].ID: {{Method: notify.SMS, Target: "upd1"}},
		}
		a := w.event(alert.EventAlert, "k", "")
		w.at(0)
		w.at(5)
		w.expect("EMAIL:page0", "EMAIL:page1", "SMS:upd0:ALERT_ESCALATED")
		w.event(alert.EventAccept, "k", "")
		w.at(6)
		w.expect("EMAIL:page0", "EMAIL:page1", "SMS:upd0:ALERT_ESCALATED", "SMS:upd0:ALERT_ACCEPTED", "SMS:upd1:ALERT_ACCEPTED")
		if _, err := db.SetAlertStatus(context.Background(), a.AlertID, alert.Resolved, w.users[1]); err != nil {
			t.Fatal(err)
		}
		w.at(7)
		w.expect("EMAIL:page0", "EMAIL:page1", "SMS:upd0:ALERT_ESCALATED", "SMS:upd0:ALERT_ACCEPTED", "SMS:upd1:ALERT_ACCEPTED",
			"SMS:upd0:ALERT_RESOLVED", "SMS:upd1:ALERT_RESOLVED")
	})
}

// Rate limits hold messages back without using up their attempts.
func TestRateLimits(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0, 1, 2, 3}}, 5, nil)
		for i, u := range w.users {
			w.dir.deliveries[u.ID] = []engine.Delivery{{Method: notify.SMS, Target: fmt.Sprintf("+4915100000%03d", i)}}
		}
		w.eng = engine.New(engine.Options{Store: db, Directory: w.dir, Now: w.clock.Now,
			Channels: map[notify.Method]notify.Channel{notify.SMS: w.ch},
			Limits:   engine.Limits{PerMethod: map[notify.Method]int{notify.SMS: 2}}})
		a := w.event(alert.EventAlert, "k", "")
		w.at(0)
		if n := len(w.ch.targets()); n != 2 {
			t.Fatalf("%d SMS at once, want the 2 a minute allows", n)
		}
		w.at(1) // the cap refills: the other two go out
		if n := len(w.ch.targets()); n != 4 {
			t.Fatalf("%d SMS after a minute, want 4", n)
		}
		ns, _ := db.Notifications(context.Background(), a.AlertID)
		for _, n := range ns {
			if n.Status != store.NotificationSuccess || n.Attempt != 1 {
				t.Fatalf("a held-back message must not use up attempts: %+v", n)
			}
		}
	})
}

// An alert resolves itself after its source's autoResolutionTimeout without an event; each
// event moves the deadline, and accepting the alert does not stop it.
func TestAutoResolve(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0}}, 30, nil)
		w.source.AutoResolutionTimeout = "PT10M"
		if err := db.UpdateSource(context.Background(), w.source, nil); err != nil {
			t.Fatal(err)
		}
		a := w.event(alert.EventAlert, "k", "")
		w.at(5)
		w.event(alert.EventAlert, "k", "") // the timeout now runs from minute 5
		w.event(alert.EventAccept, "k", "")
		w.at(14)
		if got := w.status(a.AlertID); got != alert.Accepted {
			t.Fatalf("at minute 14: %s, want ACCEPTED (the last event was at minute 5)", got)
		}
		w.at(16)
		if got := w.status(a.AlertID); got != alert.Resolved {
			t.Fatalf("at minute 16: %s, want RESOLVED", got)
		}
		if !slices.Contains(w.logTypes(a.AlertID), store.LogAutoResolved) {
			t.Fatalf("log %v lacks %s", w.logTypes(a.AlertID), store.LogAutoResolved)
		}
		b := w.event(alert.EventAlert, "k2", "")
		w.event(alert.EventResolve, "k2", "")
		w.at(40)
		if types := w.logTypes(b.AlertID); slices.Contains(types, store.LogAutoResolved) {
			t.Fatalf("a resolved alert was auto-resolved again: %v", types)
		}
	})
}

// The timeout in force when an alert last received an event counts: one set after the alert
// opened starts with its next event, and one removed stops with it.
func TestAutoResolveTimeoutChanged(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0}}, 30, nil)
		setTimeout := func(p string) {
			w.source.AutoResolutionTimeout = p
			if err := db.UpdateSource(context.Background(), w.source, nil); err != nil {
				t.Fatal(err)
			}
		}
		a := w.event(alert.EventAlert, "k", "") // no timeout yet
		setTimeout("PT10M")
		w.at(1)
		w.event(alert.EventAlert, "k", "")
		w.at(12)
		if got := w.status(a.AlertID); got != alert.Resolved {
			t.Fatalf("at minute 12: %s, want RESOLVED (timeout set, event at minute 1)", got)
		}
		b := w.event(alert.EventAlert, "k2", "") // with the timeout
		setTimeout("")
		w.at(13)
		w.event(alert.EventAlert, "k2", "")
		w.at(60)
		if got := w.status(b.AlertID); got != alert.Pending {
			t.Fatalf("at minute 60: %s, want PENDING (the timeout was removed before its last event)", got)
		}
	})
}

// At a support-hours boundary the source's pending LOW alerts become HIGH, are logged, and
// page from the first level by the high-priority rules; the raise then moves to the next
// boundary.
func TestAutoRaise(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db, [][]int{{0}, {1}}, 5, nil)
		start := w.clock.Now()
		w.dir.raises = []time.Time{start.Add(60 * time.Minute), start.Add(24*time.Hour + 60*time.Minute)}
		w.dir.deliveries[w.users[0].ID] = []engine.Delivery{{Method: notify.Email, Target: "page0"}}
		w.source.AlertPriorityRule = alert.RuleLow
		raise := w.dir.raises[0]
		w.source.RaiseAt = &raise
		if err := db.UpdateSource(ctx, w.source, nil); err != nil {
			t.Fatal(err)
		}
		low := w.event(alert.EventAlert, "low", "")
		accepted := w.event(alert.EventAlert, "accepted", "")
		w.at(0)
		w.event(alert.EventAccept, "accepted", "")
		w.expect("EMAIL:page0", "EMAIL:page0")
		w.at(30) // LOW alerts do not escalate
		w.expect("EMAIL:page0", "EMAIL:page0")
		w.at(60)
		if a, _ := db.Alert(ctx, low.AlertID); a.Priority != alert.High {
			t.Fatalf("pending alert after the raise: %s, want HIGH", a.Priority)
		}
		if a, _ := db.Alert(ctx, accepted.AlertID); a.Priority != alert.Low {
			t.Fatalf("accepted alert after the raise: %s, want LOW (only pending alerts are raised)", a.Priority)
		}
		if !slices.Contains(w.logTypes(low.AlertID), store.LogRaisedBySystem) {
			t.Fatalf("log %v lacks %s", w.logTypes(low.AlertID), store.LogRaisedBySystem)
		}
		w.expect("EMAIL:page0", "EMAIL:page0", "EMAIL:page0") // paged again, as HIGH
		w.at(65)                                              // and now it escalates
		w.expect("EMAIL:page0", "EMAIL:page0", "EMAIL:page0", fmt.Sprintf("EMAIL:user%d@example.com", w.users[1].ID))
		// The raise moved to the next day's boundary.
		next := w.dir.raises[1]
		due, err := db.ClaimRaises(ctx, next.Add(-time.Minute), next, 10)
		if err != nil || len(due) != 0 {
			t.Fatalf("a raise claimable before the next boundary: %v %v", due, err)
		}
		if due, err = db.ClaimRaises(ctx, next, next.Add(time.Minute), 10); err != nil || len(due) != 1 || !due[0].DueAt.Equal(next) {
			t.Fatalf("the next raise: %v %v, want one at %s", due, err, next)
		}
	})
}

func (w *world) status(id int64) alert.Status {
	w.t.Helper()
	a, err := w.db.Alert(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return a.Status
}

// blocker is a channel whose sends wait until it is released.
type blocker struct {
	started chan struct{}
	release chan struct{}
}

func (b *blocker) Send(ctx context.Context, _ notify.Message) error {
	b.started <- struct{}{}
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// A send that hangs does not hold back the record of the sends that finished beside it: were
// the replica to die now, those would not go out again.
func TestFinishedSendsRecordedWhileOneHangs(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0, 1}}, 5, nil)
		slow := &blocker{started: make(chan struct{}, 1), release: make(chan struct{})}
		w.eng = engine.New(engine.Options{Store: db, Directory: w.dir, Now: w.clock.Now,
			Channels: map[notify.Method]notify.Channel{notify.Email: w.ch, notify.SMS: slow},
			Retry:    engine.Retry{Attempts: 3, Base: time.Minute, Max: 4 * time.Minute}})
		w.dir.deliveries[w.users[0].ID] = []engine.Delivery{{Method: notify.SMS, Target: "+4915100000000"}}
		a := w.event(alert.EventAlert, "k", "")

		ticked := make(chan struct{})
		go func() {
			defer close(ticked)
			for w.eng.Tick(context.Background()) {
			}
		}()
		<-slow.started
		status := func() map[string]string {
			ns, err := db.Notifications(context.Background(), a.AlertID)
			if err != nil {
				t.Error(err)
			}
			out := map[string]string{}
			for _, n := range ns {
				out[n.Method] = string(n.Status)
			}
			return out
		}
		deadline := time.Now().Add(10 * time.Second)
		for status()["EMAIL"] != string(store.NotificationSuccess) {
			if time.Now().After(deadline) {
				close(slow.release)
				t.Fatalf("the email's send ended but is not recorded while the SMS hangs: %v", status())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := status()["SMS"]; got == string(store.NotificationSuccess) {
			t.Fatalf("the hanging SMS is recorded as %s", got)
		}
		close(slow.release)
		<-ticked
		if got := status(); got["SMS"] != string(store.NotificationSuccess) || got["EMAIL"] != string(store.NotificationSuccess) {
			t.Fatalf("notifications %v, want both SUCCESS", got)
		}
	})
}

// A webhook's URL is often its own secret: the alert's timeline names only its host.
func TestWebhookURLNotOnTheTimeline(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0}}, 5, nil)
		const hook = "https://hooks.example.com/services/T0000/B0000/s3cretTok3n"
		w.eng = engine.New(engine.Options{Store: db, Directory: w.dir, Now: w.clock.Now,
			Channels: map[notify.Method]notify.Channel{notify.Webhook: w.ch},
			Retry:    engine.Retry{Attempts: 3, Base: time.Minute, Max: 4 * time.Minute}})
		w.dir.deliveries[w.users[0].ID] = []engine.Delivery{{Method: notify.Webhook, Target: hook}}
		a := w.event(alert.EventAlert, "k", "")
		w.at(0)
		w.expect("WEBHOOK:" + hook) // sent to the whole URL
		entries, err := db.LogEntries(context.Background(), a.AlertID, nil, store.Page{Max: 100})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range entries {
			if strings.Contains(e.Text, "s3cretTok3n") || strings.Contains(e.Text, "/services/") {
				t.Fatalf("the timeline shows the webhook's URL: %q", e.Text)
			}
			found = found || strings.Contains(e.Text, "by WEBHOOK at https://hooks.example.com/")
		}
		if !found {
			t.Fatalf("no notification entry naming the webhook's host: %+v", entries)
		}
	})
}
