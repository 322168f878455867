package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// An SMS reply answers the latest page about an alert, even when a reminder (a message about
// no alert) went to the same phone after it.
func TestSMSReplyAfterAReminder(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		const phone = "+4915112345678"
		res := apply(t, db, f.Source, ev(alert.EventAlert, "k", "disk full"))
		now := time.Now()
		timers, err := db.ClaimTimers(ctx, now, now.Add(time.Minute), 10)
		if err != nil || len(timers) != 1 {
			t.Fatalf("claim: %v %v", timers, err)
		}
		page := store.NewNotification{UserID: f.User.ID, Method: "SMS", Target: phone, DueAt: now}
		if ok, err := db.CompleteTimer(ctx, timers[0], store.TimerOutcome{Notifications: []store.NewNotification{page}}); !ok || err != nil {
			t.Fatalf("complete: %v %v", ok, err)
		}
		send := func() {
			t.Helper()
			outs, err := db.ClaimNotifications(ctx, time.Now(), time.Now().Add(time.Minute), 10)
			if err != nil || len(outs) != 1 {
				t.Fatalf("claim notifications: %v %v", outs, err)
			}
			if err := db.FinishNotification(ctx, outs[0], store.SendOutcome{}); err != nil {
				t.Fatal(err)
			}
		}
		send()
		time.Sleep(5 * time.Millisecond) // the reminder is sent later than the page
		if n, err := db.ScheduleMessages(ctx, []store.NewMessage{{UserID: f.User.ID, Purpose: "DUTY", Method: "SMS",
			Target: phone, Subject: "On call soon", Body: "from 09:00", DueAt: time.Now()}}); n != 1 || err != nil {
			t.Fatalf("schedule reminder: %d %v", n, err)
		}
		send()
		a, err := db.RespondByPhone(ctx, phone, 0, 0, alert.Accepted, "SMS", "twilio-sms:SM1")
		if err != nil || a.ID != res[0].AlertID || a.Status != alert.Accepted {
			t.Fatalf("reply after a reminder: %+v %v", a, err)
		}
		// The same reply once more (a captured request sent again) changes nothing.
		if _, err := db.RespondByPhone(ctx, phone, 0, 0, alert.Resolved, "SMS", "twilio-sms:SM1"); !fault.Is(err, fault.Invalid) {
			t.Fatalf("the same reply again: %v, want Invalid", err)
		}
		if a, _ := db.Alert(ctx, res[0].AlertID); a.Status != alert.Accepted {
			t.Fatalf("the reply sent again changed the alert to %s", a.Status)
		}
	})
}
