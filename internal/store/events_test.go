package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/auth"
	"github.com/tocsinhq/tocsin/internal/escalation"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func apply(t *testing.T, db *store.DB, src *alert.Source, evs ...alert.Event) []store.EventResult {
	t.Helper()
	works := make([]store.EventWork, len(evs))
	for i := range evs {
		works[i] = store.EventWork{Source: src, Event: &evs[i]}
	}
	res, err := db.ApplyEvents(context.Background(), works)
	if err != nil {
		t.Fatalf("ApplyEvents: %v", err)
	}
	return res
}

func ev(typ alert.EventType, key, summary string) alert.Event {
	return alert.Event{Type: typ, AlertKey: key, Summary: summary}
}

func TestApplyEventsLifecycle(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)

		opened := apply(t, db, f.Source, ev(alert.EventAlert, "Disk-1", "disk full"))[0]
		if opened.Code != alert.CodeCreated || opened.AlertID == 0 || opened.AlertKey != "Disk-1" {
			t.Fatalf("first ALERT: %+v", opened)
		}
		// Same key in another case adds to the open alert.
		again := apply(t, db, f.Source, ev(alert.EventAlert, "DISK-1", "still full"))[0]
		if again.Code != alert.CodeAppended || again.AlertID != opened.AlertID {
			t.Fatalf("second ALERT: %+v, want added to %d", again, opened.AlertID)
		}
		a, err := db.Alert(ctx, opened.AlertID)
		if err != nil {
			t.Fatal(err)
		}
		if a.EventCount != 2 || a.Summary != "disk full" || a.Status != alert.Pending || a.Priority != alert.High {
			t.Fatalf("alert after two events: %+v", a)
		}
		if r := apply(t, db, f.Source, ev(alert.EventAccept, "disk-1", ""))[0]; r.Code != alert.CodeAccepted {
			t.Fatalf("ACCEPT: %+v", r)
		}
		if r := apply(t, db, f.Source, ev(alert.EventAccept, "disk-1", ""))[0]; r.Code != alert.CodeAlreadyAccepted ||
			r.AlertID != opened.AlertID || r.AlertKey != "Disk-1" {
			t.Fatalf("second ACCEPT: %+v, want the alert named as stored", r)
		}
		comment := ev(alert.EventComment, "disk-1", "")
		comment.Comments = []alert.Comment{{Creator: "cron", Content: "cleanup started"}}
		if r := apply(t, db, f.Source, comment)[0]; r.Code != alert.CodeCommented {
			t.Fatalf("COMMENT: %+v", r)
		}
		if r := apply(t, db, f.Source, ev(alert.EventResolve, "disk-1", ""))[0]; r.Code != alert.CodeResolved {
			t.Fatalf("RESOLVE: %+v", r)
		}
		if r := apply(t, db, f.Source, ev(alert.EventResolve, "disk-1", ""))[0]; r.Code != alert.CodeNoOpenAlert {
			t.Fatalf("RESOLVE of a resolved alert: %+v", r)
		}
		// A resolved alert is never reopened: the next ALERT opens a new one.
		reopened := apply(t, db, f.Source, ev(alert.EventAlert, "disk-1", "full again"))[0]
		if reopened.Code != alert.CodeCreated || reopened.AlertID == opened.AlertID {
			t.Fatalf("ALERT after RESOLVE: %+v", reopened)
		}
		a, _ = db.Alert(ctx, opened.AlertID)
		if a.Status != alert.Resolved || a.ResolvedOn == nil || a.AcceptedAt == nil {
			t.Fatalf("resolved alert: %+v", a)
		}
		entries, err := db.LogEntries(ctx, opened.AlertID, nil, store.Page{Max: 100})
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for _, e := range entries {
			types = append(types, e.LogEntryType)
		}
		want := []string{alert.LogReceived, alert.LogReceived, alert.LogSourceResponse, alert.LogCommentBySystem, alert.LogSourceResponse}
		if fmt.Sprint(types) != fmt.Sprint(want) {
			t.Fatalf("timeline: got %v, want %v", types, want)
		}
		if entries[3].Text != "cron: cleanup started" {
			t.Fatalf("comment text: %q", entries[3].Text)
		}
		only, _ := db.LogEntries(ctx, opened.AlertID, []string{"ALERT_UPDATES"}, store.Page{Max: 100})
		if len(only) != 0 {
			t.Fatalf("filter ALERT_UPDATES: got %d entries, want none", len(only))
		}
	})
}

func TestApplyEventsWithoutKey(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		f := storetest.NewFixture(t, db)
		res := apply(t, db, f.Source, ev(alert.EventAlert, "", "a"), ev(alert.EventAlert, "", "b"))
		if res[0].AlertID == res[1].AlertID || res[0].AlertKey == "" || res[0].AlertKey == res[1].AlertKey {
			t.Fatalf("ALERT without key must open a new alert with its own key each time: %+v", res)
		}
		// The generated key works for the follow-up.
		if r := apply(t, db, f.Source, ev(alert.EventResolve, res[0].AlertKey, ""))[0]; r.Code != alert.CodeResolved || r.AlertID != res[0].AlertID {
			t.Fatalf("RESOLVE by generated key: %+v", r)
		}
	})
}

func TestApplyEventsSameKeyInOneBatch(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		res := apply(t, db, f.Source, ev(alert.EventAlert, "k", "1"), ev(alert.EventAlert, "K", "2"), ev(alert.EventAlert, "k", "3"))
		if res[0].Code != alert.CodeCreated || res[1].AlertID != res[0].AlertID || res[2].AlertID != res[0].AlertID {
			t.Fatalf("%+v", res)
		}
		if n, _ := db.CountAlerts(ctx, store.AlertFilter{}); n != 1 {
			t.Fatalf("got %d alerts, want 1", n)
		}
	})
}

func TestApplyEventsRoutingKey(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		routed := &escalation.Policy{Name: "db team", RoutingKey: "db", EscalationRules: []escalation.Rule{{EscalationTimeout: 5, Users: []auth.Ref{{ID: f.User.ID}}}}}
		if err := db.CreatePolicy(ctx, routed); err != nil {
			t.Fatal(err)
		}
		e := ev(alert.EventAlert, "r1", "db down")
		e.RoutingKey = "db"
		u := ev(alert.EventAlert, "r2", "unknown route")
		u.RoutingKey = "nope"
		res := apply(t, db, f.Source, e, u)
		a, _ := db.Alert(ctx, res[0].AlertID)
		if a.EscalationPolicy.ID != routed.ID {
			t.Fatalf("routed alert has policy %d, want %d", a.EscalationPolicy.ID, routed.ID)
		}
		b, _ := db.Alert(ctx, res[1].AlertID)
		if b.EscalationPolicy.ID != f.Policy.ID {
			t.Fatalf("unrouted alert has policy %d, want the source's %d", b.EscalationPolicy.ID, f.Policy.ID)
		}
		entries, _ := db.LogEntries(ctx, res[1].AlertID, nil, store.Page{Max: 10})
		if len(entries) != 2 || entries[1].LogEntryType != alert.LogNotRouted {
			t.Fatalf("unrouted alert timeline: %+v", entries)
		}
	})
}

func TestApplyEventsBatchIsAtomic(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		gone := *f.Source
		gone.ID = f.Source.ID + 1000 // no such source: the insert breaks its foreign key
		e1, e2 := ev(alert.EventAlert, "ok", "fine"), ev(alert.EventAlert, "bad", "broken")
		_, err := db.ApplyEvents(ctx, []store.EventWork{{Source: f.Source, Event: &e1}, {Source: &gone, Event: &e2}})
		if err == nil {
			t.Fatal("a batch with an event for a missing source must fail")
		}
		if n, _ := db.CountAlerts(ctx, store.AlertFilter{}); n != 0 {
			t.Fatalf("a failed batch left %d alerts behind", n)
		}
	})
}

// Two replicas (two connection pools) receiving the same key at once open one alert.
func TestApplyEventsConcurrentReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db1 := storetest.MustOpen(t, dsn)
		db2 := storetest.MustOpen(t, dsn)
		f := storetest.NewFixture(t, db1)
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := db1
				if i%2 == 1 {
					db = db2
				}
				e := ev(alert.EventAlert, "shared", "storm")
				if _, err := db.ApplyEvents(ctx, []store.EventWork{{Source: f.Source, Event: &e}}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		list, err := db1.Alerts(ctx, store.AlertFilter{}, store.Page{Max: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].EventCount != 20 {
			t.Fatalf("got %d alerts (first has %d events), want 1 alert with 20 events", len(list), list[0].EventCount)
		}
	})
}

// A key opened, resolved and opened again within one batch: two alerts, in order.
func TestApplyEventsReopenWithinBatch(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		res := apply(t, db, f.Source, ev(alert.EventAlert, "k", "1"), ev(alert.EventResolve, "k", ""), ev(alert.EventAlert, "k", "2"),
			ev(alert.EventAccept, "k", ""))
		codes := []string{res[0].Code, res[1].Code, res[2].Code, res[3].Code}
		if fmt.Sprint(codes) != fmt.Sprint([]string{alert.CodeCreated, alert.CodeResolved, alert.CodeCreated, alert.CodeAccepted}) {
			t.Fatalf("codes %v", codes)
		}
		if res[0].AlertID == res[2].AlertID || res[1].AlertID != res[0].AlertID || res[3].AlertID != res[2].AlertID {
			t.Fatalf("ids %+v", res)
		}
		first, _ := db.Alert(ctx, res[0].AlertID)
		second, _ := db.Alert(ctx, res[2].AlertID)
		if first.Status != alert.Resolved || second.Status != alert.Accepted {
			t.Fatalf("statuses %s, %s", first.Status, second.Status)
		}
		// This batch went event by event; its timelines read as the set-wise ones do.
		for _, a := range []alert.Alert{first, second} {
			entries, _ := db.LogEntries(ctx, a.ID, nil, store.Page{Max: 10})
			if len(entries) != 2 || entries[0].LogEntryType != alert.LogReceived || entries[1].LogEntryType != alert.LogSourceResponse ||
				!strings.HasPrefix(entries[0].Text, "Alert created by alert source nightly: ") {
				t.Fatalf("timeline of alert %d: %+v", a.ID, entries)
			}
		}
	})
}

// Events for an existing alert and a new one, with every kind of change, in one batch.
func TestApplyEventsMixedBatch(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		old := apply(t, db, f.Source, ev(alert.EventAlert, "old", "before"))[0]
		comment := ev(alert.EventComment, "new", "")
		comment.Comments = []alert.Comment{{Content: "hello"}}
		res := apply(t, db, f.Source,
			ev(alert.EventAlert, "OLD", "again"), ev(alert.EventAlert, "new", "fresh"), ev(alert.EventAccept, "old", ""),
			ev(alert.EventAlert, "new", "fresh again"), comment, ev(alert.EventResolve, "old", ""), ev(alert.EventAlert, "old", "reborn"))
		if res[0].AlertID != old.AlertID || res[2].AlertID != old.AlertID || res[5].AlertID != old.AlertID {
			t.Fatalf("events for the old alert: %+v", res)
		}
		if res[6].Code != alert.CodeCreated || res[6].AlertID == old.AlertID || res[6].AlertKey != "old" {
			t.Fatalf("ALERT after RESOLVE in the batch: %+v", res[6])
		}
		o, _ := db.Alert(ctx, old.AlertID)
		n, _ := db.Alert(ctx, res[1].AlertID)
		if o.Status != alert.Resolved || o.EventCount != 2 || o.AcceptedAt == nil || o.ResolvedOn == nil {
			t.Fatalf("old alert: %+v", o)
		}
		if n.Status != alert.Pending || n.EventCount != 2 || n.Summary != "fresh" {
			t.Fatalf("new alert: %+v", n)
		}
		entries, _ := db.LogEntries(ctx, n.ID, nil, store.Page{Max: 10})
		if len(entries) != 3 || entries[1].Vars["eventCount"] != "2" || entries[2].Text != "hello" {
			t.Fatalf("new alert timeline: %+v", entries)
		}
	})
}

// BenchmarkApplyEvents measures the store side of the group commit: batches of 64 new alerts.
func BenchmarkApplyEvents(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			dsn := storetest.SQLiteDSN(b)
			if name == "postgres" {
				dsn = storetest.PostgresDSN(b)
			}
			db := storetest.MustOpen(b, dsn)
			f := storetest.NewFixture(b, db)
			n := 0
			b.ResetTimer()
			for b.Loop() {
				works := make([]store.EventWork, 64)
				for i := range works {
					n++
					works[i] = store.EventWork{Source: f.Source, Event: &alert.Event{Type: alert.EventAlert, AlertKey: fmt.Sprint("k", n), Summary: "s"}}
				}
				if _, err := db.ApplyEvents(context.Background(), works); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// A user resolving an alert while an ACCEPT event for it commits on another connection: the
// alert ends resolved whatever the order, never accepted again.
func TestResolveRacesAcceptEvent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db1 := storetest.MustOpen(t, dsn)
		db2 := storetest.MustOpen(t, dsn)
		f := storetest.NewFixture(t, db1)
		for i := range 30 {
			key := fmt.Sprintf("race-%d", i)
			id := apply(t, db1, f.Source, ev(alert.EventAlert, key, "s"))[0].AlertID
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				if _, err := db1.SetAlertStatus(ctx, id, alert.Resolved, f.User); err != nil {
					t.Error(err)
				}
			}()
			go func() {
				defer wg.Done()
				e := ev(alert.EventAccept, key, "")
				if _, err := db2.ApplyEvents(ctx, []store.EventWork{{Source: f.Source, Event: &e}}); err != nil {
					t.Error(err)
				}
			}()
			wg.Wait()
			a, err := db1.Alert(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != alert.Resolved {
				t.Fatalf("round %d: alert %d is %s after a resolve and an accept", i, id, a.Status)
			}
			if r := apply(t, db1, f.Source, ev(alert.EventAlert, key, "again"))[0]; r.Code != alert.CodeCreated {
				t.Fatalf("round %d: the resolved alert's key is still taken: %+v", i, r)
			}
		}
	})
}
