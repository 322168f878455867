package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/contact"
	"github.com/tocsinhq/tocsin/internal/engine"
	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/schedule"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// inbox is a channel that records each message with the (fake) time it was sent.
type inbox struct {
	clock *clock
	mu    sync.Mutex
	got   []sent
}

type sent struct {
	m  notify.Message
	at time.Time
}

func (b *inbox) Send(_ context.Context, m notify.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, sent{m, b.clock.Now()})
	return nil
}

func (b *inbox) all() []sent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]sent(nil), b.got...)
}

// links would put accept and resolve links in every message about an alert.
type links struct{}

func (links) AlertURL(id int64) string {
	return fmt.Sprintf("https://tocsin.example.com/alerts/%d", id)
}
func (links) ActionURL(id, n int64, action string) string {
	return fmt.Sprintf("https://tocsin.example.com/r/%s/%d/%d", action, id, n)
}

// duty is a world of users in schedules, some with duty rules, and engines that remind them.
type duty struct {
	t     *testing.T
	db    *store.DB
	clock *clock
	box   *inbox
	eng   *engine.Engine
}

func newDuty(t *testing.T, db *store.DB, start time.Time) *duty {
	d := &duty{t: t, db: db, clock: &clock{now: start}}
	d.box = &inbox{clock: d.clock}
	db.Now = d.clock.Now
	d.eng = d.engine(db)
	return d
}

// engine makes an engine over db (a store handle of the world's database).
func (d *duty) engine(db *store.DB) *engine.Engine {
	return engine.New(engine.Options{Store: db, Directory: &directory{}, Now: d.clock.Now, Links: links{},
		Channels: map[notify.Method]notify.Channel{notify.Email: d.box, notify.SMS: d.box}})
}

// user creates a user; each beforeMin adds an EMAIL duty rule to their address.
func (d *duty) user(name, zone string, beforeMins ...int) auth.Ref {
	d.t.Helper()
	ctx := context.Background()
	a := auth.Account{FirstName: name, LastName: "X", Email: strings.ToLower(name) + "@example.com", Role: auth.User, Timezone: zone}
	if err := d.db.CreateAccount(ctx, &a, ""); err != nil {
		d.t.Fatal(err)
	}
	if len(beforeMins) > 0 {
		c := contact.Contact{UserID: a.ID, Kind: contact.KindEmail, Target: a.Email}
		if err := d.db.CreateContact(ctx, &c); err != nil {
			d.t.Fatal(err)
		}
		for _, m := range beforeMins {
			r := contact.Rule{UserID: a.ID, Kind: contact.Duties, Method: contact.Email, ContactID: c.ID, Type: contact.OnCall, Minutes: m}
			if err := d.db.CreateRule(ctx, &r); err != nil {
				d.t.Fatal(err)
			}
		}
	}
	return auth.Ref{ID: a.ID, FirstName: a.FirstName, LastName: a.LastName}
}

// daily creates a schedule in zone whose users take turns of a calendar day from startsOn.
func (d *duty) daily(name, zone, startsOn string, users ...auth.Ref) int64 {
	d.t.Helper()
	s := &schedule.Schedule{Name: name, Timezone: zone, Type: schedule.Recurring,
		ScheduleLayers: []schedule.Layer{{Name: "layer", StartsOn: schedule.MustWall(startsOn), Users: users, Rotation: "P1D"}}}
	if err := d.db.CreateSchedule(context.Background(), s, false); err != nil {
		d.t.Fatal(err)
	}
	return s.ID
}

func (d *duty) override(scheduleID int64, u auth.Ref, start, end time.Time) {
	d.t.Helper()
	if _, err := d.db.AddOverride(context.Background(), scheduleID, &schedule.Override{User: u, Start: start, End: end}); err != nil {
		d.t.Fatal(err)
	}
}

// tick runs what is due now, on every engine given (or the world's), at once.
func (d *duty) tick(engines ...*engine.Engine) {
	if len(engines) == 0 {
		engines = []*engine.Engine{d.eng}
	}
	var wg sync.WaitGroup
	for _, e := range engines {
		wg.Go(func() {
			for e.Tick(context.Background()) {
			}
		})
	}
	wg.Wait()
}

// until moves the clock to t in steps of a quarter of an hour, running what is due at each.
func (d *duty) until(t time.Time, engines ...*engine.Engine) {
	for d.clock.Now().Before(t) {
		d.clock.Add(min(15*time.Minute, t.Sub(d.clock.Now())))
		d.tick(engines...)
	}
}

func (d *duty) pending() []store.PendingReminder {
	d.t.Helper()
	p, err := d.db.PendingReminders(context.Background(), d.clock.Now())
	if err != nil {
		d.t.Fatal(err)
	}
	return p
}

// reminders lists what was sent as "<target> at <time in zone>: <text>".
func (d *duty) reminders(zone string) []string {
	loc, _ := time.LoadLocation(zone)
	var out []string
	for _, s := range d.box.all() {
		out = append(out, fmt.Sprintf("%s at %s: %s", s.m.Target, s.at.In(loc).Format("01-02 15:04 MST"), s.m.Text))
	}
	return out
}

func (d *duty) expect(zone string, want ...string) {
	d.t.Helper()
	got := d.reminders(zone)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		d.t.Fatalf("sent\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestDutyReminders(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		// Berlin's clocks spring forward on Sunday, 29 March 2026. Ann and Bob take turns of a
		// day at 09:00: Ann on the 27th, Bob on the 28th, Ann on the 29th.
		d := newDuty(t, db, time.Date(2026, 3, 26, 12, 0, 0, 0, time.UTC))
		ann := d.user("Ann", "", 15)
		bob := d.user("Bob", "") // no duty rules
		id := d.daily("primary", "Europe/Berlin", "2026-03-23T09:00", ann, bob)

		d.tick()
		p := d.pending()
		if len(p) != 1 {
			t.Fatalf("pending reminders %+v, want Ann's one for the 27th", p)
		}
		start := time.Date(2026, 3, 27, 8, 0, 0, 0, time.UTC) // 09:00 CET
		if want := fmt.Sprintf("duty:%d:%d:%d:", id, ann.ID, start.Unix()); !strings.HasPrefix(p[0].DedupKey, want) ||
			!p[0].DueAt.Equal(start.Add(-15*time.Minute)) {
			t.Errorf("pending %+v, want key %s… due at 07:45Z", p[0], want)
		}

		t.Run("RescanSchedulesNothingNew", func(t *testing.T) {
			d.until(d.clock.Now().Add(time.Hour))
			if again := d.pending(); len(again) != 1 || again[0].ID != p[0].ID {
				t.Errorf("after rescans pending %+v, want the same one reminder %d", again, p[0].ID)
			}
		})

		t.Run("DueAtTheSameLocalTimeAcrossDST", func(t *testing.T) {
			d.until(time.Date(2026, 3, 30, 12, 0, 0, 0, time.UTC))
			d.expect("Europe/Berlin",
				"ann@example.com at 03-27 08:45 CET: Your on-call shift in primary starts at 09:00 CET on Friday, 27 March 2026.",
				"ann@example.com at 03-29 08:45 CEST: Your on-call shift in primary starts at 09:00 CEST on Sunday, 29 March 2026.")
		})

		t.Run("StandaloneWithoutAlertLinks", func(t *testing.T) {
			m := d.box.all()[0].m
			if m.AlertID != 0 || m.Purpose != store.PurposeDuty || m.Subject != "On call soon: primary" ||
				m.AcceptURL != "" || m.ResolveURL != "" || m.AlertURL != "" || m.Summary != "" || m.UserName != "Ann X" {
				t.Errorf("reminder message %+v, want a DUTY subject and text, without an alert or its links", m)
			}
		})
	})
}

func TestDutyReminderInUsersZone(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		d := newDuty(t, db, time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC))
		ann := d.user("Ann", "America/New_York", 60)
		// Ann alone, from 09:00 CET on the 3rd: Bob covers her first day.
		id := d.daily("primary", "Europe/Berlin", "2026-03-02T09:00", ann)
		d.override(id, d.user("Bob", ""), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC))
		d.until(time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC))
		d.expect("Europe/Berlin",
			"ann@example.com at 03-03 08:00 CET: Your on-call shift in primary starts at 03:00 EST on Tuesday, 3 March 2026.")
	})
}

func TestDutyReminderFollowsOverrides(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		// Ann is on call on even days of March from 09:00 UTC, Bob on odd ones.
		d := newDuty(t, db, time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
		ann := d.user("Ann", "", 15)
		bob := d.user("Bob", "", 30)
		id := d.daily("primary", "UTC", "2026-03-02T09:00", ann, bob)
		d.tick()
		if p := d.pending(); len(p) != 1 || !p[0].DueAt.Equal(time.Date(2026, 3, 4, 8, 45, 0, 0, time.UTC)) {
			t.Fatalf("pending %+v, want Ann's reminder at 08:45 on the 4th", p)
		}

		// Ann starts two hours early on the 4th: the reminder moves with her shift.
		d.override(id, ann, time.Date(2026, 3, 4, 7, 0, 0, 0, time.UTC), time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC))
		// Bob covers all of Ann's shift on the 6th, so she has no shift to be reminded of, and
		// his own runs from the 5th to the 7th: one shift, one reminder.
		d.override(id, bob, time.Date(2026, 3, 6, 9, 0, 0, 0, time.UTC), time.Date(2026, 3, 7, 9, 0, 0, 0, time.UTC))
		d.until(time.Date(2026, 3, 3, 10, 15, 0, 0, time.UTC))
		if p := d.pending(); len(p) != 1 || !p[0].DueAt.Equal(time.Date(2026, 3, 4, 6, 45, 0, 0, time.UTC)) {
			t.Fatalf("pending %+v, want only Ann's reminder, moved to 06:45", p)
		}
		d.until(time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC))
		d.expect("UTC",
			"ann@example.com at 03-04 06:45 UTC: Your on-call shift in primary starts at 07:00 UTC on Wednesday, 4 March 2026.",
			"bob@example.com at 03-05 08:30 UTC: Your on-call shift in primary starts at 09:00 UTC on Thursday, 5 March 2026.",
			"ann@example.com at 03-08 08:45 UTC: Your on-call shift in primary starts at 09:00 UTC on Sunday, 8 March 2026.")
	})
}

func TestDutyReminderChangesWithTheRule(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		d := newDuty(t, db, time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
		ann := d.user("Ann", "", 15)
		bob := d.user("Bob", "")
		d.daily("primary", "UTC", "2026-03-02T09:00", ann, bob)
		d.tick()
		rules, err := db.Rules(context.Background(), ann.ID, contact.Duties)
		if err != nil || len(rules) != 1 {
			t.Fatal(rules, err)
		}
		r := rules[0]
		r.Minutes = 60
		if err := db.UpdateRule(context.Background(), &r); err != nil {
			t.Fatal(err)
		}
		d.until(time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC))
		d.expect("UTC",
			"ann@example.com at 03-04 08:00 UTC: Your on-call shift in primary starts at 09:00 UTC on Wednesday, 4 March 2026.")
	})
}

func TestDutyRemindersTwoEngines(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		db := storetest.MustOpen(t, dsn)
		d := newDuty(t, db, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
		other := storetest.MustOpen(t, dsn)
		other.Now = d.clock.Now
		engines := []*engine.Engine{d.eng, d.engine(other), d.engine(db)}

		var want int
		for i := range 6 {
			a := d.user(fmt.Sprintf("A%d", i), "", 0, 15, 60)
			b := d.user(fmt.Sprintf("B%d", i), "", 30)
			d.daily(fmt.Sprintf("s%d", i), "UTC", fmt.Sprintf("2026-03-02T%02d:00", 12+i), a, b)
			want += 3 + 1 + 3 // a's shifts on the 2nd and the 4th (three rules each), b's on the 3rd
		}
		d.until(time.Date(2026, 3, 4, 23, 0, 0, 0, time.UTC), engines...)
		got := map[string]int{}
		for _, s := range d.box.all() {
			got[fmt.Sprintf("%s %s %d", s.m.Target, s.at.Format(time.RFC3339), s.m.ID)]++
		}
		if len(d.box.all()) != want || len(got) != want {
			t.Fatalf("sent %d reminders (%d distinct), want %d, each once:\n%s", len(d.box.all()), len(got), want, strings.Join(d.reminders("UTC"), "\n"))
		}
	})
}

func TestScheduledMessages(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		d := newDuty(t, db, time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
		ann, bob := d.user("Ann", ""), d.user("Bob", "")
		msg := func(u auth.Ref, key string) store.NewMessage {
			return store.NewMessage{UserID: u.ID, Purpose: "COVERAGE", Method: "SMS", Target: "+4915112345678",
				Subject: "Cover Saturday?", Body: "Bob asks you to cover Saturday.", DueAt: d.clock.Now().Add(time.Minute), DedupKey: key}
		}
		if n, err := db.ScheduleMessages(ctx, []store.NewMessage{msg(ann, "coverage:1"), msg(bob, "coverage:2"), msg(ann, "coverage:1")}); err != nil || n != 2 {
			t.Fatalf("ScheduleMessages = %d, %v, want 2", n, err)
		}
		if err := db.DeleteAccount(ctx, bob.ID); err != nil {
			t.Fatal(err)
		}
		d.until(d.clock.Now().Add(time.Hour))
		got := d.box.all()
		if len(got) != 1 {
			t.Fatalf("sent %+v, want one message: Ann's (Bob was deleted)", got)
		}
		m := got[0].m
		if m.UserID != ann.ID || m.Purpose != "COVERAGE" || m.Subject != "Cover Saturday?" || m.Text != "Bob asks you to cover Saturday." ||
			m.AlertID != 0 || m.AcceptURL != "" || !got[0].at.Equal(time.Date(2026, 3, 2, 10, 15, 0, 0, time.UTC)) {
			t.Errorf("sent %+v at %v, want Ann's message at the first tick after it fell due, without alert links", m, got[0].at)
		}
	})
}

// Ann's reminder is due at 08:00 for her 09:00 shift. At 07:50 an override moves her start to
// 08:30: the planned reminder no longer fits, and the one that would (07:30) is past. She is
// reminded at once, late, and once.
func TestReminderWhenShiftMovesEarlier(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		d := newDuty(t, db, time.Date(2026, 3, 3, 10, 0, 0, 0, time.UTC))
		ann := d.user("Ann", "", 60)
		bob := d.user("Bob", "")
		id := d.daily("primary", "UTC", "2026-03-02T09:00", ann, bob) // Ann on the 4th from 09:00
		d.until(time.Date(2026, 3, 4, 7, 50, 0, 0, time.UTC))
		if p := d.pending(); len(p) != 1 {
			t.Fatalf("pending %+v", p)
		}
		d.override(id, ann, time.Date(2026, 3, 4, 8, 30, 0, 0, time.UTC), time.Date(2026, 3, 4, 9, 0, 0, 0, time.UTC))
		d.clock.Add(time.Minute) // the scan runs every minute
		d.tick()
		d.until(time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC))
		d.expect("UTC", "ann@example.com at 03-04 07:51 UTC: Your on-call shift in primary starts at 08:30 UTC on Wednesday, 4 March 2026.")
	})
}
