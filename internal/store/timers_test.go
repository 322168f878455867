package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// A batch of timers is completed together, and each timer's outcome is written only when its
// claim still holds and its alert still waits: a cancelled timer, one another replica took
// over and one of an accepted alert write nothing, while the others in the batch do.
func TestCompleteTimersInABatch(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		res := apply(t, db, f.Source, ev(alert.EventAlert, "a", "one"), ev(alert.EventAlert, "b", "two"), ev(alert.EventAlert, "c", "three"))
		ids := []int64{res[0].AlertID, res[1].AlertID, res[2].AlertID}
		now := time.Now()
		timers, err := db.ClaimTimers(ctx, now, now.Add(time.Minute), 10)
		if err != nil || len(timers) != 3 {
			t.Fatalf("claim: %v %v", timers, err)
		}
		slices.SortFunc(timers, func(a, b store.Timer) int { return int(a.AlertID - b.AlertID) })
		apply(t, db, f.Source, ev(alert.EventAccept, "b", "")) // cancels b's timer
		page := func(target string) store.NewNotification {
			return store.NewNotification{UserID: f.User.ID, Method: "EMAIL", Target: target, DueAt: now}
		}
		took := timers[2]
		took.Lease++ // as if another replica had claimed c after this claim's lease ran out
		outcome := store.TimerOutcome{
			Notifications: []store.NewNotification{page("x@example.com"), page("y@example.com")},
			Log:           []alert.Entry{{Type: "AlertEscalatedToLevelLogEntry", Text: "Notifying escalation level 1"}},
			Next:          &store.Timer{Kind: store.TimerEscalate, Level: 1, DueAt: now.Add(time.Hour)},
		}
		written, err := db.CompleteTimers(ctx, []store.TimerDone{{timers[0], outcome}, {timers[1], outcome}, {took, outcome}})
		if err != nil || !slices.Equal(written, []bool{true, false, false}) {
			t.Fatalf("written %v, %v; want only the first", written, err)
		}
		for i, want := range []int{2, 0, 0} {
			ns, err := db.Notifications(ctx, ids[i])
			if err != nil || len(ns) != want {
				t.Fatalf("alert %d: %d notifications (%v), want %d", i, len(ns), err, want)
			}
		}
		if logs := logTexts(t, db, ids[0], "AlertEscalatedToLevelLogEntry"); len(logs) != 1 {
			t.Fatalf("log of the first alert: %v", logs)
		}
		// The accepted alert's UPDATE timer is written although the alert no longer waits; the
		// follow-up of the first is due in an hour.
		later := now.Add(2 * time.Hour)
		next, err := db.ClaimTimers(ctx, later, later.Add(time.Minute), 10)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, tm := range next {
			kinds = append(kinds, tm.Kind)
			if tm.Kind == store.TimerUpdate && (tm.AlertID != ids[1] || tm.Payload != "ALERT_ACCEPTED") {
				t.Fatalf("update timer: %+v", tm)
			}
			if tm.Kind == store.TimerEscalate && (tm.AlertID != ids[0] || tm.Level != 1) {
				t.Fatalf("next timer: %+v", tm)
			}
		}
		slices.Sort(kinds)
		if !slices.Equal(kinds, []string{store.TimerEscalate, store.TimerStart, store.TimerUpdate}) {
			t.Fatalf("timers after the batch: %v (c's START is claimable again once its lease ran out)", kinds)
		}
		var update store.Timer
		for _, tm := range next {
			if tm.Kind == store.TimerUpdate {
				update = tm
			}
		}
		ok, err := db.CompleteTimer(ctx, update, store.TimerOutcome{Notifications: []store.NewNotification{
			{Purpose: store.PurposeUpdate, UserID: f.User.ID, Method: "EMAIL", Target: "u@example.com", DueAt: now}}})
		if !ok || err != nil {
			t.Fatalf("update timer: %v %v", ok, err)
		}
	})
}

// A batch of attempts is recorded together: deliveries, retries and failures, each only while
// its claim holds, with the log entries of those recorded.
func TestFinishNotificationsInABatch(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		res := apply(t, db, f.Source, ev(alert.EventAlert, "a", "one"))
		now := time.Now()
		timers, err := db.ClaimTimers(ctx, now, now.Add(time.Minute), 10)
		if err != nil || len(timers) != 1 {
			t.Fatalf("claim: %v %v", timers, err)
		}
		var pages []store.NewNotification
		for _, target := range []string{"sent", "retry", "failed", "lost"} {
			pages = append(pages, store.NewNotification{UserID: f.User.ID, Method: "EMAIL", Target: target, DueAt: now})
		}
		if ok, err := db.CompleteTimer(ctx, timers[0], store.TimerOutcome{Notifications: pages}); !ok || err != nil {
			t.Fatalf("complete: %v %v", ok, err)
		}
		outs, err := db.ClaimNotifications(ctx, time.Now(), time.Now().Add(time.Minute), 10)
		if err != nil || len(outs) != 4 {
			t.Fatalf("claim notifications: %v %v", outs, err)
		}
		entry := func(text string) *alert.Entry { return &alert.Entry{Type: "NotificationLogEntry", Text: text} }
		var done []store.Finished
		for _, o := range outs {
			if o.Summary != "one" || o.UserName == "" || o.Source == "" {
				t.Fatalf("claimed notification without its alert's fields: %+v", o)
			}
			var out store.SendOutcome
			switch o.Target {
			case "sent":
				out = store.SendOutcome{LogEntry: entry("sent")}
			case "retry":
				out = store.SendOutcome{Err: errString("busy"), RetryAt: now.Add(time.Hour)}
			case "failed":
				out = store.SendOutcome{Err: errString("bounced"), LogEntry: entry("failed")}
			case "lost":
				o.Lease++ // another replica's claim now
				out = store.SendOutcome{LogEntry: entry("lost")}
			}
			done = append(done, store.Finished{Outgoing: o, Outcome: out})
		}
		if err := db.FinishNotifications(ctx, done); err != nil {
			t.Fatal(err)
		}
		ns, err := db.Notifications(ctx, res[0].AlertID)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"sent": store.NotificationSuccess, "retry": store.NotificationScheduled,
			"failed": store.NotificationError, "lost": store.NotificationScheduled}
		for _, n := range ns {
			if n.Status != want[n.Target] {
				t.Fatalf("%s: status %s, want %s", n.Target, n.Status, want[n.Target])
			}
		}
		texts := logTexts(t, db, res[0].AlertID, "NotificationLogEntry")
		slices.Sort(texts)
		if !slices.Equal(texts, []string{"failed", "sent"}) {
			t.Fatalf("log entries %v, want those of the attempts recorded", texts)
		}
	})
}

type errString string

func (e errString) Error() string { return string(e) }

// logTexts returns the texts of an alert's log entries of one type.
func logTexts(t *testing.T, db *store.DB, alertID int64, typ string) []string {
	t.Helper()
	logs, err := db.LogEntries(context.Background(), alertID, nil, store.Page{Max: 100})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, l := range logs {
		if l.LogEntryType == typ {
			texts = append(texts, l.Text)
		}
	}
	return texts
}
