package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/engine"
	"github.com/tocsinhq/tocsin/internal/notify"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// An AUTO_RESOLVE timer and an ESCALATE timer of the same alert claimed in one batch (both
// overdue after a restart): the alert is resolved, and level 2 is not paged.
func TestAutoResolveAndEscalationInOneBatch(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0}, {1}}, 5, nil)
		w.source.AutoResolutionTimeout = "PT10M"
		if err := db.UpdateSource(context.Background(), w.source, nil); err != nil {
			t.Fatal(err)
		}
		a := w.event(alert.EventAlert, "k", "")
		w.at(0)  // level 1 paged; ESCALATE due at 5, AUTO_RESOLVE at 10
		w.at(30) // replica was down from minute 1 to 30: both overdue, one batch
		if got := w.status(a.AlertID); got != alert.Resolved {
			t.Fatalf("status %s", got)
		}
		u1 := fmt.Sprintf("EMAIL:user%d@example.com", w.users[1].ID)
		for _, s := range w.ch.targets() {
			if s == u1 {
				t.Fatalf("level 2 paged for an alert resolved in the same batch: %v; timeline %v", w.ch.targets(), w.logTypes(a.AlertID))
			}
		}
	})
}

// A page whose send is under way when the alert is accepted, and that fails retryably (or is
// held back by a rate limit), is cancelled, not sent again after the accept.
func TestNoRetryAfterAccept(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0}}, 30, nil)
		var a store.EventResult
		tries := 0
		w.ch.fail = func(m notify.Message) error {
			tries++
			if tries == 1 { // the user accepts while the first attempt is with the provider
				if _, err := db.SetAlertStatus(context.Background(), a.AlertID, alert.Accepted, w.users[0]); err != nil {
					t.Error(err)
				}
				return notify.Retryable(errors.New("421 try later"))
			}
			return nil
		}
		a = w.event(alert.EventAlert, "k", "")
		w.at(0)
		if got := w.status(a.AlertID); got != alert.Accepted {
			t.Fatalf("status %s", got)
		}
		w.at(10)
		if len(w.ch.targets()) > 0 {
			t.Fatalf("paged %v after the alert was accepted (attempt %d)", w.ch.targets(), tries)
		}
	})
}

type slowDir struct {
	*directory
	d time.Duration
}

func (s slowDir) Deliveries(ctx context.Context, users []int64, p alert.Priority) (map[int64][]engine.Delivery, error) {
	time.Sleep(s.d)
	return s.directory.Deliveries(ctx, users, p)
}

type slowCh struct {
	d time.Duration
	n *atomic.Int32
}

func (c slowCh) Send(ctx context.Context, m notify.Message) error {
	c.n.Add(1)
	select {
	case <-time.After(c.d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The notifications' lease counts from their claim, not from the start of the pass (before
// the timers were worked out, which can take a while): a send within its own timeout ends
// inside the lease, and another replica does not page the same person again.
func TestLeaseCountsFromTheClaim(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db, [][]int{{0}}, 30, nil)
		db.Now = time.Now
		lease := 4 * time.Second
		var sends atomic.Int32
		a := engine.New(engine.Options{Store: db, Directory: slowDir{w.dir, 2500 * time.Millisecond}, Lease: lease,
			Channels: map[notify.Method]notify.Channel{notify.Email: slowCh{1900 * time.Millisecond, &sends}}})
		b := engine.New(engine.Options{Store: db, Directory: w.dir, Lease: lease,
			Channels: map[notify.Method]notify.Channel{notify.Email: slowCh{0, &sends}}})
		w.event(alert.EventAlert, "k", "")
		done := make(chan struct{})
		go func() { defer close(done); a.Tick(context.Background()) }()
		for {
			select {
			case <-done:
				if n := sends.Load(); n != 1 {
					t.Fatalf("one page sent %d times, no replica crashed", n)
				}
				return
			case <-time.After(50 * time.Millisecond):
				b.Tick(context.Background())
			}
		}
	})
}

// A policy that loses levels while an alert escalates along it: the escalation to a level
// that no longer exists ends it (it used to fail on every claim, forever).
func TestPolicyShrinksMidEscalation(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db, [][]int{{0}, {1}, {2}}, 5, nil)
		a := w.event(alert.EventAlert, "k", "")
		w.at(0)
		alertRow, _ := db.Alert(ctx, a.AlertID)
		p, err := db.Policy(ctx, alertRow.EscalationPolicy.ID)
		if err != nil {
			t.Fatal(err)
		}
		p.EscalationRules = p.EscalationRules[:1]
		if err := db.UpdatePolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
		for m := 5; m < 120; m += 2 {
			w.at(time.Duration(m))
		}
		if types := w.logTypes(a.AlertID); !slices.Contains(types, engine.LogEscalationEnd) {
			t.Fatalf("after 2 hours the escalation neither went on nor ended: %v", types)
		}
	})
}
