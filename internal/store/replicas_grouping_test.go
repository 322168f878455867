package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tocsinhq/tocsin/internal/alert"
	"github.com/tocsinhq/tocsin/internal/store"
	"github.com/tocsinhq/tocsin/internal/store/storetest"
)

// Two replicas receiving ALERTs for a ONE_OPEN_ALERT_ALLOWED source at once open one alert.
func TestGroupingAcrossReplicas(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	db1, db2 := storetest.MustOpen(t, dsn), storetest.MustOpen(t, dsn)
	f := storetest.NewFixture(t, db1)
	src := groupingSource(t, db1, f, alert.OneOpenAlertAllowed, "", nil)
	for round := range 20 {
		var wg sync.WaitGroup
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := []*store.DB{db1, db2}[i]
				e := ev(alert.EventAlert, fmt.Sprintf("r%d-%d", round, i), "storm")
				if _, err := db.ApplyEvents(ctx, []store.EventWork{{Source: src, Event: &e}}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		n, _ := db1.CountAlerts(ctx, store.AlertFilter{States: []alert.Status{alert.Pending, alert.Accepted}})
		if n != 1 {
			t.Fatalf("round %d: %d open alerts on a ONE_OPEN_ALERT_ALLOWED source, want 1", round, n)
		}
		// Resolve them all for the next round.
		list, _ := db1.Alerts(ctx, store.AlertFilter{States: []alert.Status{alert.Pending}}, store.Page{Max: 100})
		for _, a := range list {
			r := ev(alert.EventResolve, a.AlertKey, "")
			apply(t, db1, src, r)
		}
	}
}

// Replicas grouping events into the same open alerts at once neither deadlock nor fail.
func TestIntelligentGroupingAcrossReplicas(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	db1, db2 := storetest.MustOpen(t, dsn), storetest.MustOpen(t, dsn)
	f := storetest.NewFixture(t, db1)
	th := 0.5
	src := groupingSource(t, db1, f, alert.IntelligentGrouping, "PT1H", &th)
	// Open alerts with distinct texts.
	for i := range 10 {
		apply(t, db1, src, ev(alert.EventAlert, fmt.Sprintf("k%d", i), fmt.Sprintf("topic %c%c%c unique words here", 'a'+i, 'b'+i, 'c'+i)))
	}
	var mu sync.Mutex
	errs := 0
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := []*store.DB{db1, db2}[g%2]
			for r := range 30 {
				const nPer = 4
				var works []store.EventWork
				for j := range nPer {
					i := (g*7 + r*3 + j*5) % 10
					e := ev(alert.EventAlert, fmt.Sprintf("k%d", i), "x")
					if j%2 == 0 {
						e = ev(alert.EventAlert, fmt.Sprintf("n%d-%d-%d", g, r, j), fmt.Sprintf("topic %c%c%c unique words here", 'a'+i, 'b'+i, 'c'+i))
					}
					works = append(works, store.EventWork{Source: src, Event: &e})
				}
				if _, err := db.ApplyEvents(ctx, works); err != nil {
					mu.Lock()
					errs++
					if errs < 4 {
						t.Log(err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if errs > 0 {
		t.Fatalf("%d of 240 batches failed", errs)
	}
}
