package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func TestScheduleMessages(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		db.Now = func() time.Time { return now }
		f := storetest.NewFixture(t, db)
		msg := store.NewMessage{UserID: f.User.ID, Purpose: "COVERAGE", Method: "EMAIL", Target: "ada@example.com",
			Subject: "Bob asks you to cover", Body: "Bob asks you to cover Saturday.", DueAt: now, DedupKey: "coverage:1:asked:1"}

		t.Run("ErrInvalid", func(t *testing.T) {
			for _, bad := range []func(m *store.NewMessage){
				func(m *store.NewMessage) { m.Purpose = store.PurposeAlert },
				func(m *store.NewMessage) { m.Purpose = "" },
				func(m *store.NewMessage) { m.UserID = 0 },
				func(m *store.NewMessage) { m.Method = "" },
				func(m *store.NewMessage) { m.Subject = " " },
				func(m *store.NewMessage) { m.DueAt = time.Time{} },
			} {
				m := msg
				bad(&m)
				if n, err := db.ScheduleMessages(ctx, []store.NewMessage{msg, m}); !fault.Is(err, fault.Invalid) || n != 0 {
					t.Errorf("ScheduleMessages(%+v) = %d, %v, want Invalid", m, n, err)
				}
			}
		})

		t.Run("OnceByKey", func(t *testing.T) {
			noKey := msg
			noKey.DedupKey = ""
			n, err := db.ScheduleMessages(ctx, []store.NewMessage{msg, msg, noKey})
			if err != nil || n != 2 {
				t.Fatalf("ScheduleMessages = %d, %v, want 2 (the key once, the message without a key)", n, err)
			}
			if n, err := db.ScheduleMessages(ctx, []store.NewMessage{msg, noKey}); err != nil || n != 1 {
				t.Fatalf("again = %d, %v, want 1 (only the message without a key)", n, err)
			}
		})

		t.Run("SentWithoutAlert", func(t *testing.T) {
			outs, err := db.ClaimNotifications(ctx, now, now.Add(time.Minute), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(outs) != 3 {
				t.Fatalf("claimed %d, want 3", len(outs))
			}
			o := outs[0]
			if o.AlertID != 0 || o.Purpose != "COVERAGE" || o.Subject != msg.Subject || o.Body != msg.Body ||
				o.UserID != f.User.ID || o.UserName != "Ada Lovelace" || o.Attempt != 1 {
				t.Errorf("claimed %+v", o)
			}
			entry := &alert.Entry{Type: "NotificationLogEntry", Text: "ignored"}
			if err := db.FinishNotification(ctx, outs[0], store.SendOutcome{LogEntry: entry}); err != nil {
				t.Fatal(err)
			}
			if err := db.FinishNotification(ctx, outs[1], store.SendOutcome{Err: errors.New("refused"), LogEntry: entry}); err != nil {
				t.Fatal(err)
			}
			if err := db.FinishNotification(ctx, outs[2], store.SendOutcome{Err: errors.New("busy"), RetryAt: now.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			again, err := db.ClaimNotifications(ctx, now.Add(time.Hour), now.Add(time.Hour+time.Minute), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(again) != 1 || again[0].ID != outs[2].ID || again[0].Attempt != 2 {
				t.Errorf("claimed later %+v, want only the one to retry, at attempt 2", again)
			}
		})

		t.Run("ErrUnknownUser", func(t *testing.T) {
			m := msg
			m.UserID, m.DedupKey = 999, ""
			if _, err := db.ScheduleMessages(ctx, []store.NewMessage{m}); !fault.Is(err, fault.NotFound) {
				t.Errorf("ScheduleMessages for no user = %v, want NotFound", err)
			}
		})
	})
}

func TestReminderScanClaim(t *testing.T) {
	storetest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		a, b := storetest.MustOpen(t, dsn), storetest.MustOpen(t, dsn)
		claim, ok, err := a.ClaimReminderScan(ctx, now, now.Add(time.Minute))
		if err != nil || !ok {
			t.Fatalf("first claim = %v, %v, want the scan", ok, err)
		}
		if _, ok, err := b.ClaimReminderScan(ctx, now, now.Add(time.Minute)); err != nil || ok {
			t.Fatalf("claim while leased = %v, %v, want nothing", ok, err)
		}
		// The lease runs out: b takes over, and a can no longer complete.
		late := now.Add(2 * time.Minute)
		taken, ok, err := b.ClaimReminderScan(ctx, late, late.Add(time.Minute))
		if err != nil || !ok {
			t.Fatalf("claim after the lease = %v, %v, want the scan", ok, err)
		}
		if written, err := a.CompleteReminderScan(ctx, claim, store.ScanOutcome{Next: late}); err != nil || written {
			t.Fatalf("completing a lost claim = %v, %v, want nothing written", written, err)
		}
		if written, err := b.CompleteReminderScan(ctx, taken, store.ScanOutcome{Next: late.Add(time.Minute)}); err != nil || !written {
			t.Fatalf("completing = %v, %v, want written", written, err)
		}
		if _, ok, _ := a.ClaimReminderScan(ctx, late, late.Add(time.Minute)); ok {
			t.Errorf("the scan was claimed before it was due again")
		}
		if _, ok, _ := a.ClaimReminderScan(ctx, late.Add(time.Minute), late.Add(2*time.Minute)); !ok {
			t.Errorf("the scan was not claimable when due again")
		}
	})
}
