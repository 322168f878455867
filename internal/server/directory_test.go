package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/engine"
	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/rules"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
	"github.com/tocsinhq/tocsin/internal/supporthours"
)

type sent struct {
	mu   sync.Mutex
	msgs []notify.Message
}

func (s *sent) Send(_ context.Context, m notify.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *sent) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// The nightly-job scenario through the store, the engine and the server's directory, with a
// fake clock: a LOW alert from Saturday 03:00 in Berlin is raised on Monday at 08:00, and when
// that Monday is a holiday, on Tuesday at 08:00; the high-priority rule then pages.
func TestAutoRaiseOverTheWeekEnd(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		exceptions []supporthours.Exception
		raise      time.Time
	}{
		"Weekend": {nil, time.Date(2026, 11, 23, 8, 0, 0, 0, berlin)},
		"Holiday": {[]supporthours.Exception{{Name: "closed", Start: "2026-11-23", End: "2026-11-23", SupportStatus: supporthours.Outside}},
			time.Date(2026, 11, 24, 8, 0, 0, 0, berlin)},
	} {
		t.Run(name, func(t *testing.T) {
			storetest.EachDB(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				var mu sync.Mutex
				now := time.Date(2026, 11, 21, 3, 0, 0, 0, berlin) // a Saturday
				clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
				set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
				db.Now = clock
				f := storetest.NewFixture(t, db)
				day := &supporthours.Range{Start: "08:00", End: "17:00"}
				h := supporthours.Hours{Name: "office", TimeZone: "Europe/Berlin", Exceptions: c.exceptions,
					SupportDays: map[string]*supporthours.Range{"MONDAY": day, "TUESDAY": day, "WEDNESDAY": day, "THURSDAY": day, "FRIDAY": day}}
				if err := db.CreateSupportHours(ctx, &h); err != nil {
					t.Fatal(err)
				}
				src := f.Source
				src.AlertPriorityRule, src.AutoRaiseAlerts = alert.RuleHighDuringSupportHours, true
				src.SupportHours = json.RawMessage(fmt.Sprintf(`{"id":%d}`, h.ID))
				rs, err := rules.Compile(ctx, src, db, nil)
				if err != nil {
					t.Fatal(err)
				}
				if at, ok := rs.NextRaise(clock()); ok {
					src.RaiseAt = &at
				}
				if err := db.UpdateSource(ctx, src, nil); err != nil {
					t.Fatal(err)
				}
				out := rs.Apply(alert.Event{Type: alert.EventAlert, AlertKey: "nightly", Summary: "3 jobs failed"}, clock())
				res, err := db.ApplyEvents(ctx, []store.EventWork{{Source: src, Event: &out.Event, Priority: out.Priority}})
				if err != nil {
					t.Fatal(err)
				}
				ch := &sent{}
				eng := engine.New(engine.Options{Store: db, Directory: directory{db: db, now: clock}, Now: clock,
					Channels: map[notify.Method]notify.Channel{notify.Email: ch}})
				run := func(at time.Time) {
					set(at)
					for eng.Tick(ctx) {
					}
				}
				priority := func() alert.Priority {
					a, err := db.Alert(ctx, res[0].AlertID)
					if err != nil {
						t.Fatal(err)
					}
					return a.Priority
				}
				run(clock())
				if p := priority(); p != alert.Low || ch.count() != 1 {
					t.Fatalf("Saturday 03:00: %s with %d messages, want LOW with the one low-priority email", p, ch.count())
				}
				for _, at := range []time.Time{time.Date(2026, 11, 21, 10, 0, 0, 0, berlin), c.raise.Add(-time.Minute)} {
					if run(at); priority() != alert.Low {
						t.Fatalf("raised at %s, before %s", at, c.raise)
					}
				}
				run(c.raise)
				if p := priority(); p != alert.High || ch.count() != 2 {
					t.Fatalf("at %s: %s with %d messages, want HIGH and paged again", c.raise, p, ch.count())
				}
			})
		})
	}
}
