package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/fault"
	"github.com/tocsinhq/tocsin/internal/ingest"
	"github.com/tocsinhq/tocsin/internal/metrics"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

func TestCommitterBatchesConcurrentEvents(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		m := metrics.New()
		c := ingest.New(db, m, ingest.Options{MaxWait: 5 * time.Millisecond})
		defer c.Close()
		const n = 200
		var wg sync.WaitGroup
		results := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev := alert.Event{Type: alert.EventAlert, AlertKey: fmt.Sprintf("k%d", i), Summary: "s"}
				res, err := c.Submit(ctx, store.EventWork{Source: f.Source, Event: &ev})
				if err != nil {
					t.Error(err)
					return
				}
				results[i] = res.Code
			}()
		}
		wg.Wait()
		for i, code := range results {
			if code != alert.CodeCreated {
				t.Fatalf("event %d: code %q", i, code)
			}
		}
		if got, _ := db.CountAlerts(ctx, store.AlertFilter{}); got != n {
			t.Fatalf("%d alerts committed, want %d", got, n)
		}
		// Fewer transactions than events: the events were grouped.
		var sampleCount uint64
		if mf, err := m.Registry.Gather(); err == nil {
			for _, fam := range mf {
				if fam.GetName() == "tocsin_commit_batch_size" {
					sampleCount = fam.GetMetric()[0].GetHistogram().GetSampleCount()
				}
			}
		}
		if sampleCount == 0 || sampleCount >= n {
			t.Fatalf("%d commits for %d events: want fewer commits than events", sampleCount, n)
		}
	})
}

func TestCommitterFailsOnlyTheBadEvent(t *testing.T) {
	storetest.EachDB(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := storetest.NewFixture(t, db)
		c := ingest.New(db, nil, ingest.Options{Writers: 1, MaxWait: 20 * time.Millisecond})
		defer c.Close()
		gone := *f.Source
		gone.ID += 1000 // a source that no longer exists
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				src := f.Source
				if i == 5 {
					src = &gone
				}
				ev := alert.Event{Type: alert.EventAlert, AlertKey: fmt.Sprintf("k%d", i), Summary: "s"}
				_, errs[i] = c.Submit(ctx, store.EventWork{Source: src, Event: &ev})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if i == 5 {
				if !fault.Is(err, fault.NotFound) {
					t.Fatalf("event for a deleted source: got %v, want NotFound", err)
				}
			} else if err != nil {
				t.Fatalf("event %d failed with the bad one: %v", i, err)
			}
		}
		if got, _ := db.CountAlerts(ctx, store.AlertFilter{}); got != 9 {
			t.Fatalf("%d alerts, want 9", got)
		}
	})
}

func TestCommitterCloseFlushesAndRefuses(t *testing.T) {
	db := storetest.MustOpen(t, storetest.SQLiteDSN(t))
	f := storetest.NewFixture(t, db)
	c := ingest.New(db, nil, ingest.Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := alert.Event{Type: alert.EventAlert, AlertKey: fmt.Sprintf("k%d", i), Summary: "s"}
			if _, err := c.Submit(ctx, store.EventWork{Source: f.Source, Event: &ev}); err == nil {
				mu.Lock()
				accepted++
				mu.Unlock()
			} else if !fault.Is(err, fault.Unavailable) {
				t.Errorf("event %d: %v", i, err)
			}
		}()
	}
	time.Sleep(time.Millisecond)
	c.Close()
	wg.Wait()
	if got, _ := db.CountAlerts(ctx, store.AlertFilter{}); got != accepted {
		t.Fatalf("%d alerts stored, %d events acknowledged", got, accepted)
	}
	ev := alert.Event{Type: alert.EventAlert, AlertKey: "late", Summary: "s"}
	if _, err := c.Submit(ctx, store.EventWork{Source: f.Source, Event: &ev}); !fault.Is(err, fault.Unavailable) {
		t.Fatalf("Submit after Close: %v, want Unavailable", err)
	}
}
