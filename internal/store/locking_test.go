package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// Completing timers and accepting the alert take the alert, then its timers, in that order:
// on PostgreSQL the other order deadlocked, and one of the two was aborted.
func TestCompleteTimersAndAcceptDoNotDeadlock(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	db := storetest.MustOpen(t, dsn)
	ctx := context.Background()
	f := storetest.NewFixture(t, db)
	id := apply(t, db, f.Source, ev(alert.EventAlert, "a", "one"))[0].AlertID
	now := time.Now()
	timers, err := db.ClaimTimers(ctx, now, now.Add(time.Minute), 10)
	if err != nil || len(timers) != 1 {
		t.Fatalf("claim: %v %v", timers, err)
	}
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Only to order the two transactions: hold the timer row for a moment.
	hold, _ := raw.BeginTx(ctx, nil)
	if _, err := hold.ExecContext(ctx, `SELECT id FROM timers WHERE alert_id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() {
		_, err := db.CompleteTimers(ctx, []store.TimerDone{{Timer: timers[0], Outcome: store.TimerOutcome{}}})
		errs <- err
	}()
	time.Sleep(300 * time.Millisecond) // CompleteTimers waits on the timer row
	go func() {
		_, err := db.SetAlertStatus(ctx, id, alert.Accepted, f.User)
		errs <- err
	}()
	time.Sleep(300 * time.Millisecond) // the accept locked the alert and waits on the timer row
	hold.Commit()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("%v", err)
		}
	}
}
