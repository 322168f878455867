package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// groupingSource switches the fixture's source to an alert creation mode.
func groupingSource(t *testing.T, db *store.DB, f storetest.Fixture, mode, window string, threshold *float64) *alert.Source {
	t.Helper()
	src := *f.Source
	src.AlertCreation, src.AlertGroupingWindow, src.ScoreThreshold = mode, window, threshold
	if err := db.UpdateSource(context.Background(), &src, nil); err != nil {
		t.Fatal(err)
	}
	return &src
}

// grouped checks which alert each result went to: want holds, per result, the index of the
// result that opened its alert.
func grouped(t *testing.T, res []store.EventResult, want ...int) {
	t.Helper()
	for i, w := range want {
		if res[i].AlertID != res[w].AlertID || (i == w) != res[i].Opened {
			t.Fatalf("event %d: %+v, want it in the alert of event %d (%+v)", i, res[i], w, res[w])
		}
	}
}

func TestGroupUntilAccepted(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		f := storetest.NewFixture(t, db)
		src := groupingSource(t, db, f, alert.OnePendingAlertAllowed, "", nil)
		var res []store.EventResult
		res = append(res, apply(t, db, src, ev(alert.EventAlert, "a", "disk full"), ev(alert.EventAlert, "b", "cpu hot"))...)
		res = append(res, apply(t, db, src, ev(alert.EventAlert, "c", "mem low"))...)
		grouped(t, res, 0, 0, 0)
		if res[1].Code != alert.CodeAppended {
			t.Fatalf("a grouped event answers %s, want %s", res[1].Code, alert.CodeAppended)
		}
		a, _ := db.Alert(context.Background(), res[0].AlertID)
		if a.EventCount != 3 {
			t.Fatalf("the group has %d events, want 3", a.EventCount)
		}
		apply(t, db, src, ev(alert.EventAccept, "a", ""))
		res = append(res, apply(t, db, src, ev(alert.EventAlert, "d", "disk full"), ev(alert.EventAlert, "e", "x"))...)
		grouped(t, res, 0, 0, 0, 3, 3) // accepted: a new alert opens, and groups in turn
	})
}

func TestGroupUntilResolved(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		f := storetest.NewFixture(t, db)
		src := groupingSource(t, db, f, alert.OneOpenAlertAllowed, "", nil)
		res := apply(t, db, src, ev(alert.EventAlert, "a", "one"))
		apply(t, db, src, ev(alert.EventAccept, "a", ""))
		res = append(res, apply(t, db, src, ev(alert.EventAlert, "b", "two"))...)
		apply(t, db, src, ev(alert.EventResolve, "a", ""))
		res = append(res, apply(t, db, src, ev(alert.EventAlert, "c", "three"))...)
		grouped(t, res, 0, 0, 2)
	})
}

func TestGroupPerWindow(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		f := storetest.NewFixture(t, db)
		src := groupingSource(t, db, f, alert.OneAlertGroupedPerWindow, "PT5M", nil)
		start := time.Now()
		at := func(d time.Duration) { db.Now = func() time.Time { return start.Add(d) } }
		at(0)
		res := apply(t, db, src, ev(alert.EventAlert, "a", "one"))
		at(4 * time.Minute)
		res = append(res, apply(t, db, src, ev(alert.EventAlert, "b", "two"))...)
		at(6 * time.Minute) // the first alert opened more than five minutes ago
		res = append(res, apply(t, db, src, ev(alert.EventAlert, "c", "three"), ev(alert.EventAlert, "d", "four"))...)
		grouped(t, res, 0, 0, 2, 2)
	})
}

func TestIntelligentGrouping(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		f := storetest.NewFixture(t, db)
		threshold := 0.7
		src := groupingSource(t, db, f, alert.IntelligentGrouping, "PT1H", &threshold)
		res := apply(t, db, src,
			ev(alert.EventAlert, "1", "Disk 91% full on db-7 (/var/lib/postgresql)"),
			ev(alert.EventAlert, "2", "Payment API p99 latency above 2s"))
		res = append(res, apply(t, db, src,
			ev(alert.EventAlert, "3", "Disk 93% full on db-7 (/var/lib/postgresql)"),
			ev(alert.EventAlert, "4", "Payment API p99 latency above 3s"),
			ev(alert.EventAlert, "5", "Certificate for shop.example.com expires in 5 days"))...)
		grouped(t, res, 0, 1, 0, 1, 4)
	})
}

// An alert key still finds its own open alert first, and ACCEPT and RESOLVE address an alert
// by the key it opened with.
func TestGroupingKeepsKeys(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		f := storetest.NewFixture(t, db)
		src := groupingSource(t, db, f, alert.OneOpenAlertAllowed, "", nil)
		res := apply(t, db, src, ev(alert.EventAlert, "a", "one"), ev(alert.EventAlert, "b", "two"), ev(alert.EventAlert, "a", "three"))
		grouped(t, res, 0, 0, 0)
		if r := apply(t, db, src, ev(alert.EventResolve, "b", ""))[0]; r.Code != alert.CodeNoOpenAlert {
			t.Fatalf("RESOLVE by a grouped event's key: %+v, want %s", r, alert.CodeNoOpenAlert)
		}
		if r := apply(t, db, src, ev(alert.EventResolve, "a", ""))[0]; r.Code != alert.CodeResolved || r.AlertID != res[0].AlertID {
			t.Fatalf("RESOLVE by the alert's key: %+v", r)
		}
	})
}

// In a maintenance window an event that would open an alert opens none; events to open alerts
// still count.
func TestMaintenanceOpensNothing(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		f := storetest.NewFixture(t, db)
		open := apply(t, db, f.Source, ev(alert.EventAlert, "a", "before"))[0]
		works := []store.EventWork{
			{Source: f.Source, Event: &alert.Event{Type: alert.EventAlert, AlertKey: "b", Summary: "during"}, InMaintenance: true},
			{Source: f.Source, Event: &alert.Event{Type: alert.EventAlert, AlertKey: "a", Summary: "again"}, InMaintenance: true},
		}
		res, err := db.ApplyEvents(context.Background(), works)
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Code != alert.CodeInMaintenance || res[0].AlertID != 0 {
			t.Errorf("new key in maintenance: %+v", res[0])
		}
		if res[1].Code != alert.CodeAppended || res[1].AlertID != open.AlertID {
			t.Errorf("open key in maintenance: %+v", res[1])
		}
		if n, _ := db.CountAlerts(context.Background(), store.AlertFilter{}); n != 1 {
			t.Errorf("%d alerts, want 1", n)
		}
	})
}

// Whether an ALERT is grouped does not depend on whether the RESOLVE before it was in the same batch.
func TestGroupingAfterResolveInBatch(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		src := groupingSource(t, db, f, alert.OneOpenAlertAllowed, "", nil)
		older := apply(t, db, src, ev(alert.EventAlert, "older", "one"))[0]
		// A second open alert on the source: opened by hand.
		newer, err := db.CreateManualAlert(ctx, store.ManualAlert{Summary: "by hand", SourceID: src.ID}, f.User)
		if err != nil {
			t.Fatal(err)
		}
		// One batch: resolve the newer alert, then an ALERT that should join the remaining open one.
		res := apply(t, db, src, ev(alert.EventResolve, newer.AlertKey, ""), ev(alert.EventAlert, "x", "two"))
		if res[1].AlertID != older.AlertID {
			t.Fatalf("ALERT after RESOLVE in one batch: %+v, want it grouped into the open alert %d", res[1], older.AlertID)
		}
	})
}
