package ingest

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// A batch holding one bad event: the batch's transaction fails, the good events are committed
// one by one, and only the bad event's caller gets an error.
func TestCommitIsolatesTheBadEvent(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		f := storetest.NewFixture(t, db)
		gone := *f.Source
		gone.ID += 1000 // deleted meanwhile: its insert breaks a foreign key
		c := &Committer{db: db, log: testLog(t)}
		var batch []*job
		for i := range 8 {
			src := f.Source
			if i == 3 {
				src = &gone
			}
			ev := &alert.Event{Type: alert.EventAlert, AlertKey: fmt.Sprintf("k%d", i), Summary: "s"}
			batch = append(batch, &job{work: store.EventWork{Source: src, Event: ev}, arrived: time.Now(), done: make(chan outcome, 1)})
		}
		c.commit(batch)
		for i, j := range batch {
			o := <-j.done
			if i == 3 {
				if !fault.Is(o.err, fault.NotFound) {
					t.Fatalf("the bad event: %v, want NotFound", o.err)
				}
				continue
			}
			if o.err != nil || o.res.Code != alert.CodeCreated {
				t.Fatalf("event %d: %+v %v", i, o.res, o.err)
			}
		}
		if n, _ := db.CountAlerts(t.Context(), store.AlertFilter{}); n != 7 {
			t.Fatalf("%d alerts, want the 7 good ones", n)
		}
	})
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError}))
}
